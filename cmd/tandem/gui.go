package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/driver/desktop"
	"github.com/godbus/dbus/v5"

	"github.com/tandemsync/tandem/assets"
	"github.com/tandemsync/tandem/ui"
)

// The app's identity, as in FyneApp.toml. A plain `go build` does not read that file, so the
// binary states it itself; TestAppMetadataMatchesFyneAppToml keeps the two equal.
const (
	appID      = "io.tandemsync.tandem"
	appName    = "Tandem"
	appVersion = "0.1.0"
	appBuild   = 1
)

// NamedAgent is one agent to show, with its window title, e.g. "Tandem — Blue".
type NamedAgent struct {
	Title string
	Agent ui.Agent
}

// runGUI opens one main window per agent and runs the app until every window is closed or
// the process is interrupted. It must run on the main goroutine.
func runGUI(agents []NamedAgent) error {
	if len(agents) == 0 {
		return errors.New("open the app: no agent to show")
	}
	a := newApp()
	showAgents(a, agents)
	runFyne(a)
	return nil
}

// runGUIProblem opens a window that tells the operator what keeps the agent from starting
// and what to do; Try again calls open, and once it succeeds the agent's main window
// replaces the problem's. It must run on the main goroutine.
func runGUIProblem(p ui.Problem, open func(ctx context.Context) (NamedAgent, error)) error {
	a := newApp()
	var opened NamedAgent
	w := ui.NewProblemWindow(a, p, func(ctx context.Context) (err error) {
		opened, err = open(ctx)
		return err
	}, func() { showAgents(a, []NamedAgent{opened}) })
	w.SetIcon(assets.Icon())
	w.Show()
	runFyne(a)
	return nil
}

func newApp() fyne.App {
	app.SetMetadata(fyne.AppMetadata{
		ID: appID, Name: appName, Version: appVersion, Build: appBuild, Icon: assets.Icon(), Release: true,
		// The ui posts every background result with fyne.Do, so Fyne's old locking is not needed.
		Migrations: map[string]bool{"fyneDo": true},
	})
	a := app.NewWithID(appID)
	a.SetIcon(assets.Icon())
	return a
}

// showAgents opens one main window per agent.
func showAgents(a fyne.App, agents []NamedAgent) {
	var windows []fyne.Window
	for _, na := range agents {
		w := ui.NewWindow(a, na.Agent, ui.Options{Title: na.Title})
		w.SetIcon(assets.Icon())
		w.Show()
		windows = append(windows, w)
	}
	if len(windows) != 1 {
		return // the demo's two windows close as usual, so it ends with them
	}
	// One agent: where the desktop shows a system tray, closing the window keeps the agent
	// syncing there, as an operator expects of a background service; Quit in the tray menu
	// ends it. Without a tray a hidden window would leave an agent only kill can end, so
	// closing asks, then quits.
	w := windows[0]
	if desk, ok := a.(desktop.App); ok && trayAvailable() {
		desk.SetSystemTrayIcon(assets.Icon())
		desk.SetSystemTrayMenu(fyne.NewMenu("Tandem",
			fyne.NewMenuItem("Show Tandem", func() { w.Show(); w.RequestFocus() }),
		)) // Fyne adds Quit
		w.SetCloseIntercept(w.Hide)
		return
	}
	ui.ConfirmQuit(w, a.Quit)
}

// trayAvailable says whether the desktop shows tray icons: on Linux, whether a
// StatusNotifierWatcher answers on the session bus (what Fyne's tray registers with).
func trayAvailable() bool {
	conn, err := dbus.SessionBusPrivate()
	if err != nil {
		return false
	}
	defer conn.Close()
	if err := conn.Auth(nil); err != nil {
		return false
	}
	if err := conn.Hello(); err != nil {
		return false
	}
	var has bool
	err = conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.kde.StatusNotifierWatcher").Store(&has)
	return err == nil && has
}

// runFyne runs the app until it quits; Ctrl-C or SIGTERM closes it as closing its windows would.
func runFyne(a fyne.App) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	ran := make(chan struct{})
	defer close(ran)
	go func() {
		select {
		case <-sig:
			fyne.Do(a.Quit)
		case <-ran:
		}
	}()
	a.Run()
}

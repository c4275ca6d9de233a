package ui

import (
	"context"
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Problem is something that keeps the agent from starting, told to the operator in a window
// rather than only on stderr: what is wrong, and what to do.
type Problem struct {
	Title string
	What  string // what is wrong, e.g. the error
	ToDo  string // what the operator can do about it
}

// DataDirInUseProblem is the Problem of an app whose data directory another agent holds (the
// user service, tandem serve, or Tandem's own window opened before): opened from the
// applications menu, the app would otherwise end without a word.
func DataDirInUseProblem(dir string, err error) Problem {
	return Problem{
		Title: "The data directory is in use",
		What:  fmt.Sprintf("Another Tandem agent runs on %s:\n%v", dir, err),
		ToDo: "Use that agent, or stop it and press Try again: a Tandem window already open (or its icon in the system tray), the user service (systemctl --user stop tandem) or tandem serve.\n\n" +
			"For a second agent, open Tandem on a directory of its own:\n" +
			"    tandem --data-dir ~/tandem-second --name Second",
	}
}

// KeychainProblem is the Problem of an agent that found no OS keychain answering.
func KeychainProblem(err error) Problem {
	return Problem{
		Title: "No keychain answers",
		What:  fmt.Sprintf("Tandem keeps this agent's private key and the tracker credentials in the OS keychain, and the keychain did not answer:\n%v", err),
		ToDo: "Start or unlock the keychain of your desktop session (GNOME Keyring, or KeePassXC with Secret Service enabled), then press Try again.\n\n" +
			"On a server without a desktop session, run the agent headless with a passphrase-encrypted secrets file instead:\n" +
			"    TANDEM_SECRETS_PASSPHRASE=… tandem serve --secrets-file",
	}
}

// problemView is the content of a problem window; tests drive it.
type problemView struct {
	what    *widget.Label
	retry   *widget.Button
	quit    *widget.Button
	status  *widget.Label
	content fyne.CanvasObject
	pending chan struct{} // closed when a retry finished (for tests); replaced per retry
}

// newProblemView shows p; Try again runs retry off the UI goroutine and calls fixed on the
// UI goroutine when it succeeds; Quit calls quit.
func newProblemView(p Problem, retry func(ctx context.Context) error, fixed, quit func()) *problemView {
	v := &problemView{pending: make(chan struct{})}
	close(v.pending)
	title := widget.NewLabelWithStyle(p.Title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	title.SizeName = theme.SizeNameHeadingText
	v.what = widget.NewLabel(p.What)
	v.what.Wrapping = fyne.TextWrapWord
	todo := widget.NewLabel(p.ToDo)
	todo.Wrapping = fyne.TextWrapWord
	v.status = widget.NewLabel("")
	v.status.Wrapping = fyne.TextWrapWord
	v.quit = widget.NewButton("Quit", quit)
	v.retry = widget.NewButtonWithIcon("Try again", theme.ViewRefreshIcon(), func() {
		v.retry.Disable()
		v.status.SetText("Trying again…")
		done := make(chan struct{})
		v.pending = done
		go func() {
			defer close(done)
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			err := retry(ctx)
			fyne.Do(func() {
				v.retry.Enable()
				if err != nil {
					v.status.Importance = widget.DangerImportance
					v.status.SetText("Still not working: " + err.Error())
					return
				}
				v.status.SetText("")
				fixed()
			})
		}()
	})
	v.retry.Importance = widget.HighImportance
	v.content = container.NewPadded(container.NewVBox(
		title,
		widget.NewLabelWithStyle("What is wrong", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), v.what,
		widget.NewLabelWithStyle("What to do", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), todo,
		v.status,
		container.NewHBox(v.retry, v.quit),
	))
	return v
}

// NewProblemWindow opens a window on app that tells p. Try again runs retry; when it succeeds
// the window closes and fixed runs (on the UI goroutine), e.g. to open the main window.
func NewProblemWindow(app fyne.App, p Problem, retry func(ctx context.Context) error, fixed func()) fyne.Window {
	w := app.NewWindow("Tandem — " + p.Title)
	v := newProblemView(p, retry, func() {
		fixed()
		w.Close()
	}, app.Quit)
	w.SetContent(v.content)
	w.Resize(fyne.NewSize(640, 420))
	return w
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/secrets"
	"github.com/tandemsync/tandem/core/store"
	"github.com/tandemsync/tandem/ui"
)

// serveInBackground runs a.Serve until the returned stop is called.
func serveInBackground(a *agent.Agent) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.Serve(ctx)
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// serveHook, when a test sets it, sees the agent `tandem serve` runs (the crash test drives
// the embedded tracker of a running agent through it).
var serveHook func(*agent.Agent)

// serverGC sets the garbage collector for a headless agent (serve, and bench, which measures
// it): GOGC 400 rather than 100, so collections come a quarter as often. At full speed the
// collector was a fifth of the agent's CPU; the heap may now grow to five times what is live
// between collections (tens of MB for an agent with 10,000 items), with a soft limit of 1 GiB
// past which it collects harder. GOGC or GOMEMLIMIT in the environment win. The desktop app
// keeps Go's defaults: on a workstation its resident memory counts more.
func serverGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(1 << 30)
	}
}

func runServe(ctx context.Context, af agentFlags) error {
	serverGC()
	opt := af.options()
	// The first line says where the secrets are, before anything can go wrong with them.
	slog.Info("tandem serve starting", "secrets", af.secretsDescription(), "data", af.dir)
	a, err := agent.Open(ctx, opt)
	if err != nil {
		return err
	}
	defer a.Close()
	if serveHook != nil {
		serveHook(a)
	}
	slog.Info("agent running", "id", a.ID().String(), "url", a.URL(), "name", a.Name())
	return a.Serve(ctx)
}

func runApp(ctx context.Context, af agentFlags) error {
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return errors.New("no display to open the app on; run `tandem serve` for a headless agent or `tandem demo --headless`")
	}
	var a *agent.Agent
	defer func() {
		if a != nil {
			a.Close()
		}
	}()
	stop := func() {}
	defer func() { stop() }()
	open := func(ctx context.Context) (NamedAgent, error) {
		var err error
		if a, err = agent.Open(ctx, af.options()); err != nil {
			return NamedAgent{}, err
		}
		stop = serveInBackground(a)
		return NamedAgent{Title: "Tandem — " + a.Name(), Agent: a}, nil
	}
	na, err := open(ctx)
	if errors.Is(err, secrets.ErrUnavailable) {
		// Not only a line on stderr: a window says what is wrong and what to do.
		return runGUIProblem(ui.KeychainProblem(err), open)
	}
	if errors.Is(err, store.ErrLocked) {
		dir, _ := filepath.Abs(af.dir)
		return runGUIProblem(ui.DataDirInUseProblem(dir, err), open)
	}
	if err != nil {
		return err
	}
	return runGUI([]NamedAgent{na})
}

// demoKeys is the OS keychain when one answers; otherwise the demo says so and keeps its
// throwaway keys in memory.
func demoKeys(ctx context.Context) agent.Keys {
	kc := secrets.NewKeychain("tandem-demo")
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := kc.Probe(pctx); err != nil {
		fmt.Printf("No OS keychain is reachable (%v).\nThe demo keeps its throwaway keys in memory only.\n", err)
		return secrets.NewMemory()
	}
	return kc
}

// demoOperators are the people the demo's two windows stand for, so comments and new items
// show who wrote them on either side.
var demoOperators = map[string]item.User{
	"Blue": {ID: "bea", Name: "Bea Blue", Email: "bea@blue.example"},
	"Red":  {ID: "rob", Name: "Rob Red", Email: "rob@red.example"},
}

func runDemo(ctx context.Context, headless bool) error {
	if !headless && os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		fmt.Println("No display found: running the headless demo instead.")
		headless = true
	}
	root, err := os.MkdirTemp("", "tandem-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	keys := demoKeys(ctx)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	start := time.Now()
	open := func(name, prefix string) (*agent.Agent, error) {
		opt := agent.Options{Dir: root + "/" + name, Name: name, Listen: "127.0.0.1:0", Prefix: prefix, Keys: keys, Logger: log, Poll: time.Second,
			Operator: demoOperators[name]}
		if headless {
			opt.OnApplied = func(_ string, ap engine.Applied) {
				var parts []string
				switch {
				case ap.Created:
					parts = append(parts, "created")
				case len(ap.Fields) > 0:
					parts = append(parts, "updated "+strings.Join(ap.Fields, ", "))
				}
				if ap.Comments > 0 {
					parts = append(parts, fmt.Sprintf("added %d comment(s)", ap.Comments))
				}
				what := strings.Join(parts, "; ")
				fmt.Printf("%7.2fs  %-4s %-8s <- %-8s %s  (%.1f ms after it was sent)\n",
					time.Since(start).Seconds(), name, ap.Local, ap.Source, strings.TrimSpace(what), float64(time.Since(ap.Sent).Microseconds())/1000)
			}
		}
		return agent.Open(ctx, opt)
	}
	blue, err := open("Blue", "BLUE")
	if err != nil {
		return err
	}
	defer blue.RemoveKey(context.Background())
	defer blue.Close()
	red, err := open("Red", "RED")
	if err != nil {
		return err
	}
	defer red.RemoveKey(context.Background())
	defer red.Close()
	stopBlue, stopRed := serveInBackground(blue), serveInBackground(red)
	defer stopBlue()
	defer stopRed()

	inv, err := blue.Invite(ctx, agent.InviteRequest{})
	if err != nil {
		return err
	}
	info, err := red.Accept(ctx, inv.Code)
	if err != nil {
		return err
	}
	fmt.Printf("Blue %s at %s\nRed  %s at %s\nPaired over pinned mutual TLS; both sides show the verification code %s.\n",
		blue.ID().Short(), blue.URL(), red.ID().Short(), red.URL(), info.VerificationCode)
	if !headless {
		return runGUI([]NamedAgent{{Title: "Tandem — Blue", Agent: blue}, {Title: "Tandem — Red", Agent: red}})
	}
	fmt.Println("Headless demo: sample items are created and edited on both sides every few seconds; press Ctrl-C to stop.")
	return demoActivity(ctx, blue, red)
}

// demoActivity makes a change on alternate sides every few seconds, so the headless demo shows
// syncs both ways.
func demoActivity(ctx context.Context, blue, red *agent.Agent) error {
	first, err := blue.CreateItem(ctx, item.Item{Title: "Printer on floor 3 jams", Description: "Reported by reception.", Status: "open", Priority: "high", Labels: []string{"hardware"}})
	if err != nil {
		return err
	}
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	for step := 0; ; step++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		var err error
		switch step % 4 {
		case 0:
			_, err = blue.AddComment(ctx, first.Key, item.Comment{Author: item.User{Name: "Bea Blue"}, Body: fmt.Sprintf("Still happening (%d).", step)})
		case 1:
			err = editTwin(ctx, red, first.Title, func(it *item.Item) { it.Status = "in progress" })
		case 2:
			_, err = red.CreateItem(ctx, item.Item{Title: fmt.Sprintf("Red asks: VPN drops #%d", step), Status: "open", Priority: "medium"})
		case 3:
			err = editTwin(ctx, red, first.Title, func(it *item.Item) { it.Priority = "highest" })
		}
		if err != nil {
			fmt.Println("demo step:", err)
		}
	}
}

func editTwin(ctx context.Context, a *agent.Agent, title string, edit func(*item.Item)) error {
	items, err := a.Items(ctx)
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.Title == title {
			edit(&it)
			_, err := a.UpdateItem(ctx, it)
			return err
		}
	}
	return nil
}

var _ ui.Agent = (*agent.Agent)(nil)

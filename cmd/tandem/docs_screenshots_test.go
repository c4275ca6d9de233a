package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules"
)

// refusing is the default incoming rule but for titles that say "jam", which it refuses: a
// permanent failure, as an operator's incomplete rule gives.
var refusing = strings.Replace(strings.Replace(rules.DefaultIncoming, "import \"tandem\"", "import (\n\t\"errors\"\n\t\"strings\"\n\t\"tandem\"\n)", 1),
	"\tif replica.Title != \"\" {", "\tif strings.Contains(replica.Title, \"jam\") {\n\t\treturn errors.New(\"incoming rule: titles about jams need a queue; map them in the rule\")\n\t}\n\tif replica.Title != \"\" {", 1)

// prepareDocsAgent syncs items from Blue to Red over the last hour (on Red's history clock),
// with failures at Red, a retry and a skip, and returns Red's data directory, an item's key at
// Red whose timeline has every step, and a stop function.
func prepareDocsAgent(t *testing.T, root string) (dir, key string) {
	ctx := context.Background()
	var offset atomic.Int64
	offset.Store(int64(-55 * time.Minute))
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	blue, err := agent.Open(ctx, agent.Options{Dir: filepath.Join(root, "blue"), Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Logger: quiet, NoSync: true, Poll: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(root, "red")
	red, err := agent.Open(ctx, agent.Options{Dir: dir, Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Logger: quiet, NoSync: true, Poll: 100 * time.Millisecond, HistoryClock: clock})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, a := range []*agent.Agent{blue, red} {
		wg.Add(1)
		go func() { defer wg.Done(); a.Serve(sctx) }()
	}
	defer func() {
		stop()
		wg.Wait()
		blue.RemoveKey(ctx)
		blue.Close()
		red.Close()
	}()
	inv, err := blue.Invite(ctx, agent.InviteRequest{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := red.Accept(ctx, inv.Code)
	if err != nil {
		t.Fatal(err)
	}
	conn := info.ID
	if err := red.SetRules(conn, agent.RuleSources{Outgoing: rules.DefaultOutgoing, Incoming: refusing}); err != nil {
		t.Fatal(err)
	}
	titles := []string{"VPN drops every hour", "Printer on floor %d jams", "Badge reader offline", "Laptop battery swollen", "Paper jam in tray %d", "Wi-Fi slow in room %d"}
	var jam item.Item
	for round := range 11 {
		for i := range 6 + round%4*3 {
			title := titles[(round+i)%len(titles)]
			if strings.Contains(title, "%d") {
				title = fmt.Sprintf(title, round*10+i)
			}
			it, err := blue.CreateItem(ctx, item.Item{Title: title, Description: "Reported at the front desk.", Status: "open", Priority: "medium"})
			if err != nil {
				t.Fatal(err)
			}
			if jam.Key == "" && strings.Contains(title, "jams") && round >= 3 {
				jam = it
			}
		}
		time.Sleep(1500 * time.Millisecond)
		offset.Add(int64(5 * time.Minute))
	}
	// The jam item: the rule is fixed, its failure retried; another jam is skipped.
	waitUntil(t, "red's failures", func() bool {
		p, _ := red.QueuePage(ctx, agent.QueueQuery{States: []string{agent.QueueFailed}}, 0, 1)
		return p.Total >= 8
	})
	p, _ := red.QueuePage(ctx, agent.QueueQuery{States: []string{agent.QueueFailed}, Item: jam.Key}, 0, 1)
	if len(p.Entries) != 1 {
		t.Fatalf("the jam item %s has no failed event at red", jam.Key)
	}
	if err := red.SetRules(conn, agent.RuleSources{Outgoing: rules.DefaultOutgoing, Incoming: rules.DefaultIncoming}); err != nil {
		t.Fatal(err)
	}
	if err := red.Retry(ctx, conn, "in", p.Entries[0].Seq); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the retried jam applied", func() bool {
		tl, _ := red.Timeline(ctx, jam.Key)
		for _, r := range tl {
			if r.Outcome == agent.OutcomeApplied && r.Kind == "create" {
				return true
			}
		}
		if len(tl) > 0 {
			t.Logf("timeline of %s: %+v", jam.Key, tl[len(tl)-1])
		}
		return false
	})
	if err := red.SetRules(conn, agent.RuleSources{Outgoing: rules.DefaultOutgoing, Incoming: refusing}); err != nil {
		t.Fatal(err)
	}
	jam.Priority = "high"
	if _, err := blue.UpdateItem(ctx, jam); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the jam's update failed", func() bool {
		p, _ := red.QueuePage(ctx, agent.QueueQuery{States: []string{agent.QueueFailed}, Item: jam.Key}, 0, 1)
		return p.Total == 1
	})
	return dir, jam.Key
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 60s", what)
		}
	}
}

// xdo runs xdotool on display.
func xdo(t *testing.T, display string, args ...string) {
	t.Helper()
	cmd := exec.Command("xdotool", args...)
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xdotool %v: %v %s", args, err, out)
	}
}

// TestDocsScreenshots runs the real app on an agent with a synced hour behind it (failures, a
// retry, a skip) and writes the Overview, the Queue's failed tab and an item's History
// timeline to docs/. It runs only with TANDEM_UPDATE_SCREENSHOT=1.
func TestDocsScreenshots(t *testing.T) {
	if os.Getenv("TANDEM_UPDATE_SCREENSHOT") != "1" {
		t.Skip("set TANDEM_UPDATE_SCREENSHOT=1 to write docs/overview.png, docs/queue.png and docs/history.png")
	}
	root := t.TempDir()
	bin := filepath.Join(root, "tandem")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir, key := prepareDocsAgent(t, root)
	t.Cleanup(func() { // after the app stops: cleanups run last first
		if a, err := agent.Open(context.Background(), agent.Options{Dir: dir}); err == nil {
			a.RemoveKey(context.Background())
			a.Close()
		}
	})
	display := startXvfb(t)
	win, _ := startApp(t, bin, display, nil, "--data-dir", dir, "--listen", freeAddr(t), "--name", "Red")
	xdo(t, display, "windowmove", win, "0", "0")
	xdo(t, display, "windowsize", win, "1100", "760")
	time.Sleep(3 * time.Second)
	shoot := func(name string) {
		shot, err := screenshot(t, display, root)
		if err != nil {
			t.Fatal(err)
		}
		writePNG(t, filepath.Join(os.Getenv("TANDEM_DOCS_DIR"), name), crop(shot, windowBounds(t, display, win)))
	}
	if os.Getenv("TANDEM_DOCS_DIR") == "" {
		os.Setenv("TANDEM_DOCS_DIR", filepath.Join("..", "..", "docs"))
	}
	shoot("overview.png")
	click := func(x, y int) {
		xdo(t, display, "mousemove", "--window", win, fmt.Sprint(x), fmt.Sprint(y))
		time.Sleep(300 * time.Millisecond)
		xdo(t, display, "click", "1")
		time.Sleep(1500 * time.Millisecond)
	}
	// The n-th navigation button, from the top.
	nav := func(n int) { click(60, 72+n*40) }
	nav(3)          // Queue
	click(411, 75)  // its Failed tab
	click(500, 240) // the first failed event
	shoot("queue.png")
	nav(4)         // History
	click(300, 75) // the search box
	xdo(t, display, "type", key)
	xdo(t, display, "key", "Return")
	time.Sleep(2 * time.Second)
	shoot("history.png")
}

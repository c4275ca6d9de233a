package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/secrets"
)

// drainEvents is how many events queue while the partner is stopped. The test lives here,
// not in core/agent, because under -race it would take many minutes.
const drainEvents = 50000

// served is an agent serving in the background until stop.
type served struct {
	*agent.Agent
	stop func()
}

func serveInProcess(t *testing.T, opt agent.Options) *served {
	t.Helper()
	opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := agent.Open(context.Background(), opt)
	if err != nil {
		t.Fatalf("open agent %s: %v", opt.Name, err)
	}
	stopServe := serveInBackground(a)
	stopped := false
	s := &served{Agent: a, stop: func() {
		if !stopped {
			stopped = true
			stopServe()
			a.Close()
		}
	}}
	t.Cleanup(s.stop)
	return s
}

func TestPartnerStoppedLongDrainsEveryEventInOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("drains 50,000 events")
	}
	keys := secrets.NewMemory() // the keychain is not what this test is about
	ctx := context.Background()
	blue := serveInProcess(t, agent.Options{Dir: t.TempDir(), Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys})
	var applied atomic.Int64
	redOpt := agent.Options{Dir: t.TempDir(), Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Keys: keys,
		OnApplied: func(string, engine.Applied) { applied.Add(1) }}
	red := serveInProcess(t, redOpt)
	inv, err := blue.Invite(ctx, agent.InviteRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := red.Accept(ctx, inv.Code); err != nil {
		t.Fatal(err)
	}
	redOpt.Listen = strings.TrimPrefix(red.URL(), "https://")
	red.stop()

	// A long stretch without the partner: every change waits in Blue's outbox.
	for done := 0; done < drainEvents; {
		n := min(500, drainEvents-done)
		writes := make([]engine.Write, n)
		for i := range writes {
			writes[i] = engine.Write{Item: item.Item{Title: fmt.Sprintf("drain %05d", done+i), Status: "open"}}
		}
		if _, err := blue.Local().Apply(ctx, writes); err != nil {
			t.Fatal(err)
		}
		done += n
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		c, err := blue.Connections(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(c) == 1 && c[0].Outbox == drainEvents {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("blue's outbox while red is stopped: %+v, want %d events", c, drainEvents)
		}
		time.Sleep(time.Second)
	}

	red = serveInProcess(t, redOpt)
	deadline = time.Now().Add(10 * time.Minute)
	for applied.Load() < drainEvents {
		if time.Now().After(deadline) {
			t.Fatalf("red applied %d of %d events", applied.Load(), drainEvents)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// In order: red numbered its items as it applied them, so RED-n is the n-th change.
	items, err := red.Local().List(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != drainEvents {
		t.Fatalf("red has %d items, want %d", len(items), drainEvents)
	}
	for _, it := range items { // newest first
		var n int
		if _, err := fmt.Sscanf(it.Title, "drain %d", &n); err != nil || it.Key != fmt.Sprintf("RED-%d", n+1) {
			t.Fatalf("red's %s is %q: applied out of order or twice", it.Key, it.Title)
		}
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		b, _ := blue.Connections(ctx)
		r, _ := red.Connections(ctx)
		if len(b) == 1 && len(r) == 1 && b[0].Outbox == 0 && r[0].Inbox == 0 && r[0].Outbox == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queues not empty: blue %+v red %+v", b, r)
		}
	}
}

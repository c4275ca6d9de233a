package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/secrets"
	"github.com/tandemsync/tandem/core/store"
)

// testKeys is the real OS keychain when one is reachable (make test runs gnome-keyring under
// dbus-run-session and sets TANDEM_REQUIRE_KEYCHAIN=1), else process memory.
func testKeys(t *testing.T) Keys {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	kc := secrets.NewKeychain("tandem-test-" + hex.EncodeToString(b[:]))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kc.Probe(ctx); err != nil {
		if os.Getenv("TANDEM_REQUIRE_KEYCHAIN") == "1" {
			t.Fatalf("keychain required but unavailable: %v", err)
		}
		t.Logf("no OS keychain (%v); keys stay in memory", err)
		return secrets.NewMemory()
	}
	return kc
}

// running is an agent serving in the background.
type running struct {
	*Agent
	stop func()
}

func start(t *testing.T, opt Options) *running {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opt.Poll == 0 {
		opt.Poll = 200 * time.Millisecond
	}
	a, err := Open(context.Background(), opt)
	if err != nil {
		t.Fatalf("open agent %s: %v", opt.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Serve(ctx)
	}()
	r := &running{Agent: a}
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		if err := a.Close(); err != nil {
			t.Errorf("close %s: %v", opt.Name, err)
		}
	}
	t.Cleanup(func() { a.RemoveKey(context.Background()) })
	t.Cleanup(r.stop)
	return r
}

func pair(t *testing.T, inviter, invitee *running) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	inv, err := inviter.Invite(ctx, InviteRequest{})
	if err != nil {
		t.Fatalf("invite: %v", err)
	}
	info, err := invitee.Accept(ctx, inv.Code)
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	return info.ID
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v: %s", what, within, detail)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// content is what must be equal on both sides of a twin.
func content(it item.Item) string {
	var comments []string
	for _, c := range it.Comments {
		comments = append(comments, c.Body)
	}
	sort.Strings(comments)
	return fmt.Sprintf("%q|%q|%q|%q|%v|%v", it.Title, it.Description, it.Status, it.Priority, it.Labels, comments)
}

func byTitle(t *testing.T, a *running) map[string]item.Item {
	t.Helper()
	items, err := a.Items(context.Background())
	if err != nil {
		t.Fatalf("list items: %v", err)
	}
	m := make(map[string]item.Item, len(items))
	for _, it := range items {
		m[strings.SplitN(it.Title, " ~", 2)[0]] = it
	}
	return m
}

func sameContent(t *testing.T, blue, red *running, want int) func() (bool, string) {
	return func() (bool, string) {
		b, r := byTitle(t, blue), byTitle(t, red)
		if len(b) != want || len(r) != want {
			return false, fmt.Sprintf("blue has %d items, red %d, want %d each", len(b), len(r), want)
		}
		for k, bi := range b {
			ri, ok := r[k]
			if !ok {
				return false, fmt.Sprintf("red lacks %s", k)
			}
			if content(bi) != content(ri) {
				return false, fmt.Sprintf("%s differs:\n blue %s\n red  %s", k, content(bi), content(ri))
			}
		}
		return true, ""
	}
}

func sentTotal(a *running) uint64 {
	o, _ := a.Overview(context.Background())
	return o.Sent
}

func TestTwoAgentsSyncEndToEnd(t *testing.T) {
	keys := testKeys(t)
	blueDir, redDir := t.TempDir(), t.TempDir()
	blueOpt := Options{Dir: blueDir, Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys}
	redOpt := Options{Dir: redDir, Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Keys: keys}
	blue, red := start(t, blueOpt), start(t, redOpt)
	pair(t, blue, red)
	ctx := context.Background()
	// Each must come back on the address its partner pinned.
	blueOpt.Listen = strings.TrimPrefix(blue.URL(), "https://")
	redOpt.Listen = strings.TrimPrefix(red.URL(), "https://")

	const total = 200
	localChanges := 0
	var sent uint64
	create := func(from, to int) {
		for i := from; i < to; i++ {
			it, err := blue.CreateItem(ctx, item.Item{Title: fmt.Sprintf("item %03d", i), Description: "first text", Status: "open", Priority: "medium", Labels: []string{"e2e"}})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			localChanges++
			if i%2 == 0 {
				it.Description = "edited in blue"
				it.Priority = "high"
				if _, err := blue.UpdateItem(ctx, it); err != nil {
					t.Fatalf("update: %v", err)
				}
				localChanges++
			}
			if i%5 == 0 {
				if _, err := blue.AddComment(ctx, it.Key, item.Comment{Author: item.User{Name: "Bea Blue"}, Body: "comment from blue " + it.Key}); err != nil {
					t.Fatalf("comment: %v", err)
				}
				localChanges++
			}
		}
	}
	create(0, total/2)

	// Close and reopen both agents in the middle: nothing is lost or applied twice.
	sent += sentTotal(blue) + sentTotal(red)
	blue.stop()
	red.stop()
	blue, red = start(t, blueOpt), start(t, redOpt)
	create(total/2, total)
	eventually(t, 90*time.Second, "200 items equal in red", sameContent(t, blue, red, total))

	// Edits made in Red come back to Blue.
	redItems := byTitle(t, red)
	for i := 0; i < 20; i++ {
		it := redItems[fmt.Sprintf("item %03d", i*7)]
		it.Status = "in progress"
		it.Labels = []string{"e2e", "red"}
		if _, err := red.UpdateItem(ctx, it); err != nil {
			t.Fatalf("red update: %v", err)
		}
		if _, err := red.AddComment(ctx, it.Key, item.Comment{Author: item.User{Name: "Rob Red"}, Body: "reply from red"}); err != nil {
			t.Fatalf("red comment: %v", err)
		}
		localChanges += 2
	}
	eventually(t, 60*time.Second, "red's edits in blue", sameContent(t, blue, red, total))
	blueItems := byTitle(t, blue)
	if got := blueItems["item 007"].Status; got != "in progress" {
		t.Errorf("blue item 007 status: got %q, want %q", got, "in progress")
	}

	// No echo: once quiet, nothing more is sent, and the total is bounded by the changes made
	// (at most one event per local change, plus one receipt per created item).
	eventually(t, 30*time.Second, "queues drained", func() (bool, string) {
		b, _ := blue.Overview(ctx)
		r, _ := red.Overview(ctx)
		return b.Queued == 0 && r.Queued == 0, fmt.Sprintf("blue queued %d, red queued %d", b.Queued, r.Queued)
	})
	before := sent + sentTotal(blue) + sentTotal(red)
	time.Sleep(1500 * time.Millisecond)
	after := sent + sentTotal(blue) + sentTotal(red)
	if after != before {
		t.Errorf("events kept flowing while nobody changed anything: %d then %d (echo loop)", before, after)
	}
	if bound := uint64(localChanges + total); after > bound {
		t.Errorf("events sent: got %d, want at most %d (local changes %d + receipts %d)", after, bound, localChanges, total)
	}
	t.Logf("events sent %d for %d local changes and %d creates", after, localChanges, total)

	// Nothing applied twice: each red item has exactly the comments blue has.
	for k, bi := range byTitle(t, blue) {
		ri := byTitle(t, red)[k]
		if len(bi.Comments) != len(ri.Comments) {
			t.Errorf("%s: blue has %d comments, red %d", k, len(bi.Comments), len(ri.Comments))
		}
	}
	b, _ := blue.Overview(ctx)
	if b.Twins != total || b.Failed != 0 {
		t.Errorf("blue overview: twins %d failed %d, want %d and 0", b.Twins, b.Failed, total)
	}
}

func TestPartnerDownEventsWait(t *testing.T) {
	keys := testKeys(t)
	blue := start(t, Options{Dir: t.TempDir(), Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys})
	redOpt := Options{Dir: t.TempDir(), Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Keys: keys}
	red := start(t, redOpt)
	pair(t, blue, red)
	// Red must come back on the same address, which is the one Blue pinned.
	redOpt.Listen = strings.TrimPrefix(red.URL(), "https://")
	red.stop()
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if _, err := blue.CreateItem(ctx, item.Item{Title: fmt.Sprintf("while down %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, "events waiting in blue's outbox", func() (bool, string) {
		c, _ := blue.Connections(ctx)
		return len(c) == 1 && c[0].Outbox == 10 && c[0].LastError != "", fmt.Sprintf("%+v", c)
	})
	red = start(t, redOpt)
	eventually(t, 30*time.Second, "items flow once red is back", func() (bool, string) {
		items, _ := red.Items(ctx)
		return len(items) == 10, fmt.Sprintf("red has %d items", len(items))
	})
}

func TestSecondAgentOnSameDirectory(t *testing.T) {
	keys := testKeys(t)
	dir := t.TempDir()
	start(t, Options{Dir: dir, Keys: keys})
	done := make(chan error, 1)
	go func() {
		_, err := Open(context.Background(), Options{Dir: dir, Keys: keys})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, store.ErrLocked) {
			t.Fatalf("second agent: got %v, want ErrLocked", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("second agent on the same directory hung")
	}
}

func TestOverviewCountsAreReal(t *testing.T) {
	keys := testKeys(t)
	a := start(t, Options{Dir: t.TempDir(), Keys: keys})
	ctx := context.Background()
	for i := range 3 {
		if _, err := a.CreateItem(ctx, item.Item{Title: fmt.Sprint("x", i)}); err != nil {
			t.Fatal(err)
		}
	}
	o, err := a.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if o.Items != 3 || o.Connections != 0 {
		t.Errorf("overview: got items %d connections %d, want 3 and 0", o.Items, o.Connections)
	}
	if !slices.Contains(a.Statuses(), "open") {
		t.Errorf("statuses %v lack open", a.Statuses())
	}
}

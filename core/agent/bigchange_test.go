package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/item"
)

// Changes too big to travel together go in as many requests as they need, over real HTTPS;
// a change too big for any request waits for the operator, named in words, and does not hold
// up the changes behind it.
func TestBigChangesSplitAndATooBigOneWaitsForTheOperator(t *testing.T) {
	keys := testKeys(t)
	blue := start(t, Options{Dir: t.TempDir(), Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys})
	redOpt := Options{Dir: t.TempDir(), Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Keys: keys}
	red := start(t, redOpt)
	pair(t, blue, red)
	redOpt.Listen = strings.TrimPrefix(red.URL(), "https://")
	red.stop() // the changes queue while Red is away, and go in one delivery when it is back
	createBigChanges(t, blue)
	red = start(t, redOpt)
	bigChangesArrive(t, blue, red, []string{"big 0", "big 1", "big 2", "small"})
}

// The same when the partner pulls (it has no listener): an answer carries what the puller can
// read, and a change too big for one waits for the operator at the side that made it. A pull
// acknowledges everything up to the last change it stored, so the changes behind the one that
// waits wait with it (served past it, it would be acknowledged unsent), until the operator
// skips it.
func TestBigChangesSplitWhenThePartnerPulls(t *testing.T) {
	blue, red := firewalledPair(t)
	ctx := context.Background()
	inv, err := red.Invite(ctx, InviteRequest{Expires: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p, err := blue.Accept(ctx, inv.Code)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := red.Accept(ctx, p.ReplyCode); err != nil {
		t.Fatal(err)
	}
	createBigChanges(t, blue)
	bigChangesArrive(t, blue, red, []string{"big 0", "big 1", "big 2"})
	time.Sleep(time.Second) // several pulls
	if _, ok := byTitle(t, red)["small"]; ok {
		t.Fatal("the change behind the failed one was served past it")
	}
	n, err := blue.QueueBulk(ctx, QueueQuery{Direction: "out", States: []string{QueueFailed}}, BulkSkip, nil)
	if err != nil || n != 1 {
		t.Fatalf("the operator skips the huge change: %d, %v", n, err)
	}
	eventually(t, 30*time.Second, "the change behind it at red", func() (bool, string) {
		got := byTitle(t, red)
		_, ok := got["small"]
		return ok && len(got) == 4, fmt.Sprintf("red has %d items", len(got))
	})
	// Red acknowledges what it stored with its next pull, which follows at once.
	eventually(t, 10*time.Second, "blue's outbox empty after the skip", func() (bool, string) {
		q, err := blue.Queue(ctx, blue.mustConn(t), "out")
		return err == nil && len(q) == 0, fmt.Sprintf("blue's outbox: %+v, %v", q, err)
	})
}

// createBigChanges makes at blue three 3 MB items (9 MB together, over the 8 MB of one
// request), one of 9 MB, and a small one, and waits until they are queued.
func createBigChanges(t *testing.T, blue *running) {
	t.Helper()
	ctx := context.Background()
	create := func(title string, size int) {
		t.Helper()
		if _, err := blue.CreateItem(ctx, item.Item{Title: title, Description: strings.Repeat("d", size)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		create(fmt.Sprint("big ", i), 3<<20)
	}
	create("huge", 9<<20)
	create("small", 10)
}

// bigChangesArrive waits for the changes want at red, and the huge one failed at blue, waiting
// for the operator with a reason in words.
func bigChangesArrive(t *testing.T, blue, red *running, want []string) {
	t.Helper()
	ctx := context.Background()
	eventually(t, 60*time.Second, "the changes at red", func() (bool, string) {
		got := byTitle(t, red)
		for _, w := range want {
			if _, ok := got[w]; !ok {
				return false, fmt.Sprintf("red has %d items, not %q yet", len(got), w)
			}
		}
		return len(got) == len(want), fmt.Sprintf("red has %d items, want %d", len(got), len(want))
	})
	eventually(t, 20*time.Second, "the huge change waiting for the operator", func() (bool, string) {
		q, err := blue.QueuePage(ctx, QueueQuery{Direction: "out", States: []string{QueueFailed}}, 0, 10)
		if err != nil || len(q.Entries) != 1 {
			return false, fmt.Sprintf("blue's failed events: %+v, %v", q.Entries, err)
		}
		return q.Entries[0].ItemKey != "" && strings.Contains(q.Entries[0].LastError, "over the 8 MB a partner accepts"), fmt.Sprintf("%+v", q.Entries[0])
	})
	if _, ok := byTitle(t, red)["huge"]; ok {
		t.Error("red has the huge item")
	}
}

// mustConn is the agent's only connection's id.
func (r *running) mustConn(t *testing.T) string {
	t.Helper()
	c, err := r.Connections(context.Background())
	if err != nil || len(c) != 1 {
		t.Fatalf("connections: %+v, %v", c, err)
	}
	return c[0].ID
}

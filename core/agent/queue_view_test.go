package agent

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/queue"
)

type permanentTestErr struct{}

func (permanentTestErr) Error() string   { return "rule error: line 3: no status Foo" }
func (permanentTestErr) Permanent() bool { return true }

// The Queue screen's pages come from the real queues: both keys of each event, states with
// "blocked" behind a failure, filters, orders, every connection, and bulk actions with
// progress and cancellation.
func TestQueuePagesAndBulk(t *testing.T) {
	keys := testKeys(t)
	ctx := context.Background()
	blue := start(t, Options{Dir: t.TempDir(), Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys})
	red := start(t, Options{Dir: t.TempDir(), Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Keys: keys})
	connID := pair(t, blue, red)
	first, err := blue.CreateItem(ctx, item.Item{Title: "Synced first"})
	if err != nil {
		t.Fatal(err)
	}
	var remote string
	eventually(t, 30*time.Second, "the first item linked", func() (bool, string) {
		remote, _ = blue.Twin(connID, first.Key)
		return remote != "", "no twin yet"
	})
	if infos, _ := blue.Connections(ctx); infos[0].Twins != 1 {
		t.Errorf("blue counts %d twins, want 1", infos[0].Twins)
	}
	if o, _ := blue.Overview(ctx); o.Items != 1 || o.Twins != 1 {
		t.Errorf("blue's overview: %d items, %d twins; want 1 and 1", o.Items, o.Twins)
	}
	red.stop() // from here Blue's events wait in its outbox

	first.Title = "Edited while Red is away"
	if _, err := blue.UpdateItem(ctx, first); err != nil {
		t.Fatal(err)
	}
	var later []item.Item
	for i := range 3 {
		it, err := blue.CreateItem(ctx, item.Item{Title: fmt.Sprintf("Waiting %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		later = append(later, it)
	}
	out := QueueQuery{Connection: connID, Direction: "out"}
	eventually(t, 30*time.Second, "4 events in Blue's outbox", func() (bool, string) {
		p, err := blue.QueuePage(ctx, out, 0, 10)
		return err == nil && p.Total == 4, fmt.Sprintf("%+v %v", p, err)
	})
	p, _ := blue.QueuePage(ctx, out, 0, 10)
	if e := p.Entries[0]; e.Local != first.Key || e.Remote != remote || e.Kind != "update" || e.State != QueuePending {
		t.Errorf("the edit of a linked item: got %+v, want local %s, remote %s, a pending update", e, first.Key, remote)
	}
	if e := p.Entries[1]; e.Local != later[0].Key || e.Remote != "" || e.Kind != "create" {
		t.Errorf("a new item: got %+v, want local %s, no remote key yet, a create", e, later[0].Key)
	}

	// The create of later[1] fails for good; a second change of it waits behind it.
	c, _ := blue.conn(connID)
	failSeq := p.Entries[2].Seq
	if err := blue.st.DB().Update(func(tx *bolt.Tx) error {
		_, err := c.out.Fail(tx, failSeq, permanentTestErr{}, time.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	later[1].Title = "Changed after its create failed"
	if _, err := blue.UpdateItem(ctx, later[1]); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the second change blocked", func() (bool, string) {
		p, _ := blue.QueuePage(ctx, QueueQuery{Direction: "out", States: []string{QueueBlocked}}, 0, 10)
		return p.Total == 1 && p.Entries[0].BlockedBy == failSeq && p.Entries[0].Local == later[1].Key, fmt.Sprintf("%+v", p)
	})
	// The Tracker screen's sync states: linked with a waiting edit, new and waiting, failed.
	states, err := blue.ItemSync(ctx, []string{first.Key, later[0].Key, later[1].Key, "NOPE-1"})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]ItemSync{
		first.Key:    {Connection: connID, Partner: "Red", Remote: remote, State: ItemPending},
		later[0].Key: {Connection: connID, Partner: "Red", State: ItemPending},
		later[1].Key: {Connection: connID, Partner: "Red", State: ItemFailed},
		"NOPE-1":     {Connection: connID, Partner: "Red", State: ItemNotLinked},
	} {
		if got := states[key]; len(got) != 1 || got[0] != want {
			t.Errorf("sync state of %s: got %+v, want %+v", key, got, want)
		}
	}
	failed, err := blue.QueuePage(ctx, QueueQuery{States: []string{QueueFailed, QueueRetrying}}, 0, 10)
	if err != nil || failed.Total != 1 || failed.Entries[0].Seq != failSeq || failed.Entries[0].LastError == "" {
		t.Fatalf("failed tab of every connection: got %+v, %v", failed, err)
	}
	byItem, _ := blue.QueuePage(ctx, QueueQuery{Item: later[1].Key}, 0, 10)
	if byItem.Total != 2 {
		t.Errorf("item filter %s: got %d events, want 2", later[1].Key, byItem.Total)
	}
	newest, _ := blue.QueuePage(ctx, QueueQuery{Order: QueueNewest}, 0, 1)
	if newest.Total != 5 || newest.Entries[0].Local != later[1].Key || newest.Entries[0].State != QueueBlocked {
		t.Errorf("newest first: got %+v", newest)
	}
	if _, err := blue.QueuePage(ctx, QueueQuery{States: []string{"stuck"}}, 0, 1); err == nil {
		t.Error("an unknown state was accepted")
	}

	// Retry all failed of the filter: one event, recorded, the blocked one still waits behind it.
	var steps [][2]int
	n, err := blue.QueueBulk(ctx, QueueQuery{Connection: connID}, BulkRetry, func(done, total int) { steps = append(steps, [2]int{done, total}) })
	if err != nil || n != 1 || len(steps) != 2 || steps[1] != [2]int{1, 1} {
		t.Fatalf("retry all failed: %d, %v, progress %v", n, err, steps)
	}

	// A bulk skip of 1,200 events reports progress per chunk and stops when cancelled.
	var bulk []queue.Event
	for i := range 1200 {
		bulk = append(bulk, queue.Event{ItemKey: fmt.Sprintf("BULK-%d", i), Kind: "update"})
	}
	if err := blue.st.DB().Update(func(tx *bolt.Tx) error { _, err := c.out.Append(tx, bulk); return err }); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	var calls []int
	n, err = blue.QueueBulk(cctx, QueueQuery{Item: "BULK-"}, BulkSkip, func(done, total int) {
		calls = append(calls, done)
		if total != 1200 {
			t.Errorf("bulk skip total %d, want 1200", total)
		}
		if done >= bulkChunk {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || n != bulkChunk {
		t.Fatalf("cancelled bulk skip: %d, %v; want %d done and context.Canceled (progress %v)", n, err, bulkChunk, calls)
	}
	left, _ := blue.QueuePage(ctx, QueueQuery{Item: "BULK-"}, 0, 1)
	if left.Total != 1200-bulkChunk {
		t.Errorf("after the cancelled skip %d BULK events wait, want %d", left.Total, 1200-bulkChunk)
	}
	if err := blue.Skip(ctx, connID, "out", 999999); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("skip of an unknown event: %v", err)
	}
}

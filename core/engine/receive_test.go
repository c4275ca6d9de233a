package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/queue"
	"github.com/tandemsync/tandem/core/trackers/local"
)

// creates are the partner's create events for its items A-from..A-to, titled by their keys.
func creates(from, to int) []queue.Event {
	var evs []queue.Event
	for n := from; n <= to; n++ {
		key := fmt.Sprint("A-", n)
		payload, _ := json.Marshal(engine.Change{Source: key, Replica: item.Replica{Title: key, Status: "open"}})
		evs = append(evs, queue.Event{Seq: uint64(n), ID: queue.NewID(), ItemKey: key, Kind: engine.KindCreate, Payload: payload})
	}
	return evs
}

// A small batch is applied in the transaction that receives it (the apply loop does not even
// run here): the item exists, with its receipt queued, when Receive returns. A batch received
// again is skipped. Events waiting in the inbox go first: a small batch behind them waits too.
func TestSmallBatchAppliedAsReceived(t *testing.T) {
	b := newSide(t, "B", &direct{down: true}, plainRules{}) // not served: no apply loop
	ctx := context.Background()
	count := func() int { n, _ := b.tracker.Count(ctx); return n }
	inbox := func() int { s, _ := b.in.Stats(); return s.Pending + s.Failed }
	first := creates(1, 1)
	if _, err := b.eng.Receive(ctx, first); err != nil {
		t.Fatal(err)
	}
	if count() != 1 || inbox() != 0 {
		t.Fatalf("after a one-event batch: %d items, %d events in the inbox; want 1 and 0", count(), inbox())
	}
	if s, _ := b.out.Stats(); s.Pending != 1 {
		t.Errorf("%d events in the outbox, want the receipt", s.Pending)
	}
	if _, err := b.eng.Receive(ctx, first); err != nil {
		t.Fatal(err)
	}
	if count() != 1 || inbox() != 0 {
		t.Errorf("the batch received again: %d items, %d inbox events; want 1 and 0", count(), inbox())
	}

	if _, err := b.eng.Receive(ctx, creates(2, 40)); err != nil { // a big batch: stored
		t.Fatal(err)
	}
	if _, err := b.eng.Receive(ctx, creates(41, 41)); err != nil { // behind it
		t.Fatal(err)
	}
	if count() != 1 || inbox() != 40 {
		t.Fatalf("after a big batch and a small one: %d items, %d inbox events; want 1 and 40", count(), inbox())
	}
	serveSides(t, b)
	waitFor(t, "the inbox applied", func() bool { return count() == 41 })
	for n := 1; n <= 41; n++ {
		if it := get(t, b, fmt.Sprint("B-", n)); it.Title != fmt.Sprint("A-", n) {
			t.Errorf("B-%d is %q: applied out of order", n, it.Title)
		}
	}
}

// editingTracker makes an operator's edit of an item right after the engine read it to plan
// an apply, once armed: the edit lands between the plan and the apply's transaction.
type editingTracker struct {
	*local.Tracker
	armed *atomic.Bool
	edit  func(item.Item) item.Item
}

func (e editingTracker) Get(ctx context.Context, key string) (item.Item, error) {
	it, err := e.Tracker.Get(ctx, key)
	if err == nil && e.armed.CompareAndSwap(true, false) {
		if _, err := e.Tracker.Update(ctx, e.edit(it)); err != nil {
			return it, err
		}
	}
	return it, err
}

// An operator's edit made while the partner's change to the same item is being planned is
// neither overwritten nor taken for part of the applied state: the apply is planned again
// from the edited item, and the edit reaches the partner.
func TestEditDuringAnApplyIsKeptAndSent(t *testing.T) {
	armed := &atomic.Bool{}
	a, b, _, _ := pairSides(t, plainRules{}, func(tr *local.Tracker) engine.Tracker {
		return editingTracker{Tracker: tr, armed: armed, edit: func(it item.Item) item.Item { it.Priority = "high"; return it }}
	})
	ctx := context.Background()
	it, _ := a.tracker.Create(ctx, item.Item{Title: "t", Status: "open", Priority: "low"})
	waitFor(t, "A learns its twin", func() bool { r, _ := a.eng.Twin(it.Key); return r == "B-1" })
	armed.Store(true)
	it.Title = "t2"
	a.tracker.Update(ctx, it)
	waitFor(t, "the title at B and B's edit at A", func() bool {
		ai, bi := get(t, a, it.Key), get(t, b, "B-1")
		return bi.Title == "t2" && bi.Priority == "high" && ai.Priority == "high"
	})
	if armed.Load() {
		t.Error("the edit was never made: the test did not test anything")
	}
}

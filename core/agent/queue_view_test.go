package agent

import (
	"errors"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/queue"
	"github.com/tandemsync/tandem/core/store"
)

// The Queue screen's states come from a real queue: an event after a failed event of the
// same item is blocked behind the first failure; other items' events stay pending.
func TestQueueEntriesShowBlockedEvents(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q, err := queue.Open(st, "out/c")
	if err != nil {
		t.Fatal(err)
	}
	var evs []queue.Event
	for _, key := range []string{"A", "B", "A", "A", "B"} {
		evs = append(evs, queue.Event{ID: queue.NewID(), ItemKey: key, Kind: "update"})
	}
	err = st.DB().Update(func(tx *bolt.Tx) error {
		stored, err := q.Append(tx, evs)
		if err != nil {
			return err
		}
		// A's first event fails, and so does its third (a retry that failed again).
		if _, err := q.Fail(tx, stored[0].Seq, errors.New("rt answered 503"), time.Now()); err != nil {
			return err
		}
		_, err = q.Fail(tx, stored[3].Seq, errors.New("rt answered 503"), time.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	listed, err := q.List(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	got := queueEntries("c", "out", listed)
	type row struct {
		Item, State string
		BlockedBy   uint64
	}
	var rows []row
	for _, e := range got {
		rows = append(rows, row{e.ItemKey, e.State, e.BlockedBy})
	}
	first := listed[0].Seq
	want := []row{
		{"A", QueueFailed, 0},
		{"B", QueuePending, 0},
		{"A", QueueBlocked, first},
		{"A", QueueFailed, 0},
		{"B", QueuePending, 0},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("queue entries:\n got %+v\nwant %+v", rows, want)
	}
	if got[0].LastError == "" || got[0].NextRetry.IsZero() || got[0].Attempts != 1 {
		t.Errorf("failed entry lacks its error, retry time or attempts: %+v", got[0])
	}
}

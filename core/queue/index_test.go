package queue

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/store"
)

// expected works out every event's state from the events alone, the slow obvious way, to check
// the index against.
func expected(t *testing.T, q *Queue) []Entry {
	t.Helper()
	evs, err := q.List(0, 0)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	first := map[string]uint64{}
	out := make([]Entry, len(evs))
	for i, e := range evs {
		e.Payload = nil
		en := Entry{Event: e, State: own(e)}
		f, held := first[e.ItemKey]
		switch {
		case e.Failed && !held:
			first[e.ItemKey] = e.Seq
		case !e.Failed && held:
			en.State, en.BlockedBy = StateBlocked, f
		}
		out[i] = en
	}
	return out
}

func describe(es []Entry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "%d:%s:%s", e.Seq, e.ItemKey, e.State)
		if e.BlockedBy != 0 {
			fmt.Fprintf(&b, "<%d", e.BlockedBy)
		}
		b.WriteString(" ")
	}
	return b.String()
}

// checkIndex compares every page, filter and count the index answers with the slow way.
func checkIndex(t *testing.T, q *Queue, step string) {
	t.Helper()
	want := expected(t, q)
	filters := []Filter{{}, {Order: NewestFirst}, {Order: ItemAscending}, {Order: ItemDescending}}
	for _, s := range States {
		filters = append(filters, Filter{States: []State{s}}, Filter{States: []State{s}, Order: NewestFirst})
	}
	filters = append(filters,
		Filter{States: []State{StateFailed, StateRetrying}},
		Filter{States: []State{StateFailed, StateRetrying}, Order: NewestFirst},
		Filter{Item: "A"}, Filter{Item: "B-1", Order: NewestFirst}, Filter{Item: "B", States: []State{StateBlocked}},
		Filter{Item: "A\x00", Order: ItemDescending}, Filter{Item: "zzz"},
		Filter{Item: "B-1", Exact: true}, Filter{Item: "A-1", Exact: true, States: []State{StateBlocked, StatePending}})
	for _, f := range filters {
		var w []Entry
		for _, e := range want {
			if f.wants(e.State) && strings.HasPrefix(e.ItemKey, f.Item) && (!f.Exact || e.ItemKey == f.Item) {
				w = append(w, e)
			}
		}
		switch f.Order {
		case NewestFirst:
			slices.Reverse(w)
		case ItemAscending:
			sort.SliceStable(w, func(i, j int) bool { return w[i].ItemKey < w[j].ItemKey })
		case ItemDescending:
			slices.Reverse(w)
			sort.SliceStable(w, func(i, j int) bool { return w[i].ItemKey > w[j].ItemKey })
		}
		n, err := q.Count(f)
		if err != nil || n != len(w) {
			t.Fatalf("%s: Count(%+v) = %d, %v; want %d", step, f, n, err, len(w))
		}
		// The whole range in one page, and in pages of 3.
		all, err := q.Page(f, 0, len(w)+5)
		if err != nil {
			t.Fatalf("%s: Page(%+v): %v", step, f, err)
		}
		if got, exp := describe(all), describe(w); got != exp {
			t.Fatalf("%s: Page(%+v)\n got %s\nwant %s", step, f, got, exp)
		}
		var paged []Entry
		for off := 0; off < len(w)+3; off += 3 {
			p, err := q.Page(f, off, 3)
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, p...)
		}
		if got, exp := describe(paged), describe(w); got != exp {
			t.Fatalf("%s: Page(%+v) in pages of 3\n got %s\nwant %s", step, f, got, exp)
		}
	}
	c, err := q.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if c.Total() != len(want) {
		t.Fatalf("%s: Counts total %d, want %d", step, c.Total(), len(want))
	}
	if len(want) > 0 && !c.Oldest.Equal(want[0].Created) {
		t.Fatalf("%s: Oldest %v, want %v", step, c.Oldest, want[0].Created)
	}
}

// TestIndexFollowsEveryChange drives a queue through random appends, failures, retries, acks
// and skips, and after each step checks every count, filter, order and page against the
// events themselves.
func TestIndexFollowsEveryChange(t *testing.T) {
	st, q := newQueue(t, "out/c1")
	rng := rand.New(rand.NewPCG(1, 2))
	items := []string{"A-1", "A-2", "B-1", "B-10", "A\x00x", "C"}
	n := 0
	for step := 0; step < 400; step++ {
		evs, _ := q.List(0, 0)
		pick := func() (Event, bool) {
			if len(evs) == 0 {
				return Event{}, false
			}
			return evs[rng.IntN(len(evs))], true
		}
		var what string
		switch op := rng.IntN(10); {
		case op < 4 || len(evs) == 0:
			var batch []Event
			for range 1 + rng.IntN(3) {
				n++
				batch = append(batch, ev(items[rng.IntN(len(items))], n))
			}
			appendEvents(t, st, q, batch...)
			what = fmt.Sprintf("append %d", len(batch))
		case op < 6:
			e, _ := pick()
			var cause error = transientErr{}
			if rng.IntN(2) == 0 {
				cause = permanentErr{}
			}
			fail(t, st, q, e.Seq, cause, t0)
			what = fmt.Sprintf("fail %d (%v)", e.Seq, cause)
		case op < 7:
			e, _ := pick()
			if err := q.Retry(e.Seq); err != nil {
				t.Fatal(err)
			}
			what = fmt.Sprintf("retry %d", e.Seq)
		case op < 8:
			e, _ := pick()
			if rng.IntN(2) == 0 {
				ack(t, st, q, e.Seq)
				what = fmt.Sprintf("ack %d", e.Seq)
				break
			}
			// Several at once, as the apply loop acks a batch: its counts are written once.
			batch := []Event{e}
			for range rng.IntN(3) {
				if o, _ := pick(); !slices.ContainsFunc(batch, func(b Event) bool { return b.Seq == o.Seq }) {
					batch = append(batch, o)
				}
			}
			if err := st.DB().Update(func(tx *bolt.Tx) error { return q.AckEvents(tx, batch...) }); err != nil {
				t.Fatal(err)
			}
			what = fmt.Sprintf("ack %d events from %d", len(batch), e.Seq)
		case op < 9:
			e, _ := pick()
			if _, err := q.Skip(e.Seq); err != nil {
				t.Fatal(err)
			}
			what = fmt.Sprintf("skip %d", e.Seq)
		default:
			e, _ := pick()
			if err := st.DB().Update(func(tx *bolt.Tx) error { return q.AckThrough(tx, e.Seq) }); err != nil {
				t.Fatal(err)
			}
			what = fmt.Sprintf("ack through %d", e.Seq)
		}
		checkIndex(t, q, fmt.Sprintf("step %d (%s)", step, what))
		if step == 200 {
			if _, err := q.RetryAll(); err != nil {
				t.Fatal(err)
			}
			checkIndex(t, q, "retry all")
		}
	}
}

// TestIndexRebuiltForOldQueues: a queue written before the index existed (or by another index
// version) gets its index on open.
func TestIndexRebuiltForOldQueues(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q, err := Open(st, "in/c1")
	if err != nil {
		t.Fatal(err)
	}
	evs := appendEvents(t, st, q, ev("A", 1), ev("A", 2), ev("B", 1), ev("A", 3))
	fail(t, st, q, evs[0].Seq, permanentErr{}, t0)
	want := describe(expected(t, q))
	err = st.DB().Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(rootBucket).Bucket([]byte("in/c1"))
		for _, n := range [][]byte{itemsBucket, statesBucket, heldBucket, countsBucket} {
			if err := b.DeleteBucket(n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = openStore(t, dir)
	defer st.Close()
	if q, err = Open(st, "in/c1"); err != nil {
		t.Fatal(err)
	}
	got, err := q.Page(Filter{}, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if describe(got) != want {
		t.Fatalf("after rebuild: got %s, want %s", describe(got), want)
	}
	c, _ := q.Counts()
	if c.Failed != 1 || c.Blocked != 2 || c.Pending != 1 {
		t.Fatalf("counts after rebuild = %+v, want 1 failed, 2 blocked, 1 pending", c)
	}
}

func TestOnChange(t *testing.T) {
	st, q := newQueue(t, "out/c1")
	calls := 0
	q.OnChange(func() { calls++ })
	evs := appendEvents(t, st, q, ev("A", 1))
	fail(t, st, q, evs[0].Seq, transientErr{}, t0)
	ack(t, st, q, evs[0].Seq)
	ack(t, st, q, evs[0].Seq) // nothing left to change
	if calls != 3 {
		t.Fatalf("OnChange called %d times, want 3 (append, fail, ack)", calls)
	}
	q.OnChange(nil)
	appendEvents(t, st, q, ev("A", 2))
	if calls != 3 {
		t.Fatalf("OnChange called after it was cleared")
	}
}

func TestParseState(t *testing.T) {
	for _, s := range States {
		if got, ok := ParseState(s.String()); !ok || got != s {
			t.Errorf("ParseState(%q) = %v, %v", s.String(), got, ok)
		}
	}
	if _, ok := ParseState("stuck"); ok {
		t.Error("ParseState accepted an unknown state")
	}
	if k, seq := splitItemEntry(itemEntry("A\x00B", 7)); k != "A\x00B" || seq != 7 {
		t.Errorf("splitItemEntry = %q, %d", k, seq)
	}
	_ = store.U64
}

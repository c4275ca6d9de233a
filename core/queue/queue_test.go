package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatalf("store.Open(%s): %v", dir, err)
	}
	return st
}

func newQueue(t testing.TB, name string) (*store.Store, *Queue) {
	t.Helper()
	st := openStore(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	q, err := Open(st, name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	return st, q
}

// ev builds an event for item with id "<item>-<n>".
func ev(item string, n int) Event {
	return Event{ID: fmt.Sprintf("%s-%d", item, n), ItemKey: item, Kind: "update", Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

func appendEvents(t testing.TB, st *store.Store, q *Queue, evs ...Event) []Event {
	t.Helper()
	var got []Event
	err := st.DB().Update(func(tx *bolt.Tx) error {
		var err error
		got, err = q.Append(tx, evs)
		return err
	})
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return got
}

func appendUnique(t testing.TB, st *store.Store, q *Queue, evs ...Event) []Event {
	t.Helper()
	var got []Event
	err := st.DB().Update(func(tx *bolt.Tx) error {
		var err error
		got, err = q.AppendUnique(tx, evs)
		return err
	})
	if err != nil {
		t.Fatalf("AppendUnique: %v", err)
	}
	return got
}

func fail(t testing.TB, st *store.Store, q *Queue, seq uint64, cause error, now time.Time) Event {
	t.Helper()
	var got Event
	err := st.DB().Update(func(tx *bolt.Tx) error {
		var err error
		got, err = q.Fail(tx, seq, cause, now)
		return err
	})
	if err != nil {
		t.Fatalf("Fail(%d): %v", seq, err)
	}
	return got
}

func ack(t testing.TB, st *store.Store, q *Queue, seqs ...uint64) {
	t.Helper()
	if err := st.DB().Update(func(tx *bolt.Tx) error { return q.Ack(tx, seqs...) }); err != nil {
		t.Fatalf("Ack(%v): %v", seqs, err)
	}
}

// ids is the list of event ids, for compact comparisons.
func ids(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func ready(t testing.TB, q *Queue, now time.Time) []string {
	t.Helper()
	evs, err := q.Ready(now, 0)
	if err != nil {
		t.Fatalf("Ready: %v", err)
	}
	return ids(evs)
}

func checkIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got == nil {
		got = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

type transientErr struct{ after time.Duration }

func (e transientErr) Error() string             { return "partner busy" }
func (e transientErr) RetryAfter() time.Duration { return e.after }

type permanentErr struct{}

func (permanentErr) Error() string   { return "rule error: line 3: no field Foo" }
func (permanentErr) Permanent() bool { return true }

type notPermanentErr struct{}

func (notPermanentErr) Error() string   { return "status 503" }
func (notPermanentErr) Permanent() bool { return false }

func TestAppendAssignsOrder(t *testing.T) {
	st, q := newQueue(t, "out/c1")
	q.now = func() time.Time { return t0 }
	first := appendEvents(t, st, q, ev("A", 1), ev("B", 1))
	second := appendEvents(t, st, q, ev("A", 2), Event{ItemKey: "C", Kind: "create", Created: t0.Add(-time.Hour)})

	all := append(first, second...)
	for i, e := range all {
		if want := uint64(i + 1); e.Seq != want {
			t.Errorf("event %d: got Seq %d, want %d", i, e.Seq, want)
		}
	}
	if !first[0].Created.Equal(t0) {
		t.Errorf("zero Created: got %v, want %v", first[0].Created, t0)
	}
	if c := second[1].Created; !c.Equal(t0.Add(-time.Hour)) {
		t.Errorf("given Created: got %v, want it kept (%v)", c, t0.Add(-time.Hour))
	}
	if id := second[1].ID; len(id) != 32 {
		t.Errorf("empty ID: got %q, want a 32-character hex id", id)
	}
	got, err := q.Ready(t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, "Ready", ids(got), "A-1", "B-1", "A-2", second[1].ID)
	if string(got[2].Payload) != `{"n":2}` {
		t.Errorf("payload: got %s, want {\"n\":2}", got[2].Payload)
	}
	limited, err := q.Ready(t0, 2)
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, "Ready limit 2", ids(limited), "A-1", "B-1")
}

func TestAppendResetsDeliveryState(t *testing.T) {
	st, q := newQueue(t, "in/c1")
	e := ev("A", 1)
	e.Seq, e.Failed, e.Permanent, e.Attempts, e.LastError = 99, true, true, 4, "boom"
	got := appendEvents(t, st, q, e)[0]
	if got.Seq != 1 || got.Failed || got.Permanent || got.Attempts != 0 || got.LastError != "" {
		t.Errorf("got %+v, want Seq 1 and no delivery state", got)
	}
}

func TestReadyBlocksOnlyTheFailedItem(t *testing.T) {
	tests := []struct {
		name  string
		cause error
		at    time.Duration // when Ready is asked, after the failure
		want  []string
	}{
		{"transient, before retry time", transientErr{}, 0, []string{"B-1", "C-1"}},
		{"transient, retry time has come", transientErr{}, 2 * time.Second, []string{"A-1", "B-1", "C-1"}},
		{"Retry-After honoured", transientErr{after: time.Minute}, 30 * time.Second, []string{"B-1", "C-1"}},
		{"Retry-After passed", transientErr{after: time.Minute}, time.Minute, []string{"A-1", "B-1", "C-1"}},
		{"permanent waits for the operator", permanentErr{}, 365 * 24 * time.Hour, []string{"B-1", "C-1"}},
		{"Permanent() false is transient", notPermanentErr{}, 2 * time.Second, []string{"A-1", "B-1", "C-1"}},
		{"wrapped permanent", fmt.Errorf("apply: %w", permanentErr{}), 365 * 24 * time.Hour, []string{"B-1", "C-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, q := newQueue(t, "out/c1")
			stored := appendEvents(t, st, q, ev("A", 1), ev("B", 1), ev("A", 2), ev("C", 1), ev("A", 3))
			fail(t, st, q, stored[0].Seq, tc.cause, t0)
			// never pass A-1, even when A-1 itself is due again.
			checkIDs(t, "Ready", ready(t, q, t0.Add(tc.at)), tc.want...)
		})
	}
}

func TestReadyAfterAckUnblocks(t *testing.T) {
	st, q := newQueue(t, "out/c1")
	stored := appendEvents(t, st, q, ev("A", 1), ev("B", 1), ev("A", 2))
	fail(t, st, q, stored[0].Seq, transientErr{}, t0)
	checkIDs(t, "Ready due", ready(t, q, t0.Add(time.Hour)), "A-1", "B-1")
	ack(t, st, q, stored[0].Seq, stored[1].Seq)
	checkIDs(t, "Ready after ack", ready(t, q, t0), "A-2")
}

// A failed attempt that acted on an item's later events with its first (an engine folds an
// item's consecutive changes into one write) brings them along when it is retried, so the
// retry writes, and looks for, what the failed attempt wrote; the item's events the attempt
// did not act on still wait.
func TestReadyBringsAFailedAttemptsEventsAlong(t *testing.T) {
	st, q := newQueue(t, "in/c1")
	stored := appendEvents(t, st, q, ev("A", 1), ev("B", 1), ev("A", 2), ev("C", 1), ev("A", 3))
	if err := st.DB().Update(func(tx *bolt.Tx) error { return q.Start(tx, stored[0].Seq, stored[2].Seq) }); err != nil {
		t.Fatal(err)
	}
	fail(t, st, q, stored[0].Seq, transientErr{}, t0)
	checkIDs(t, "Ready before the retry time", ready(t, q, t0), "B-1", "C-1")
	got, err := q.Ready(t0.Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, "Ready at the retry time", ids(got), "A-1", "B-1", "A-2", "C-1")
	if len(got) == 4 && (!got[0].Retried() || !got[2].InFlight) {
		t.Errorf("the retry's events: %+v and %+v; want A-1 retried and A-2 still in flight", got[0], got[2])
	}
}

func TestFailSchedule(t *testing.T) {
	st, q := newQueue(t, "out/c1")
	seq := appendEvents(t, st, q, ev("A", 1))[0].Seq
	for attempt := 1; attempt <= 14; attempt++ {
		got := fail(t, st, q, seq, transientErr{}, t0)
		base := min(time.Second<<(attempt-1), 15*time.Minute)
		lo, hi := time.Duration(float64(base)*0.8), time.Duration(float64(base)*1.2)
		if wait := got.NextRetry.Sub(t0); wait < lo || wait > hi {
			t.Errorf("attempt %d: got wait %v, want within [%v, %v]", attempt, wait, lo, hi)
		}
		if got.Attempts != attempt || !got.Failed || got.Permanent || got.LastError != "partner busy" {
			t.Errorf("attempt %d: got %+v, want Attempts %d, Failed, LastError %q", attempt, got, attempt, "partner busy")
		}
	}

	// Retry-After longer than the backoff wins; shorter loses to the backoff.
	seq2 := appendEvents(t, st, q, ev("B", 1))[0].Seq
	if got := fail(t, st, q, seq2, transientErr{after: 90 * time.Second}, t0); !got.NextRetry.Equal(t0.Add(90 * time.Second)) {
		t.Errorf("Retry-After 90s: got NextRetry %v, want %v", got.NextRetry, t0.Add(90*time.Second))
	}
	got := fail(t, st, q, seq2, transientErr{after: time.Millisecond}, t0) // attempt 2: backoff ~2s
	if wait := got.NextRetry.Sub(t0); wait < 1600*time.Millisecond || wait > 2400*time.Millisecond {
		t.Errorf("Retry-After 1ms on attempt 2: got wait %v, want the backoff (1.6s to 2.4s)", wait)
	}

	// A permanent failure clears any retry time and waits.
	got = fail(t, st, q, seq2, permanentErr{}, t0)
	if !got.Permanent || !got.NextRetry.IsZero() || got.Attempts != 3 {
		t.Errorf("permanent: got %+v, want Permanent, no NextRetry, Attempts 3", got)
	}

	// Failing an event that is not there is an error, not a silent success.
	err := st.DB().Update(func(tx *bolt.Tx) error {
		_, err := q.Fail(tx, 999, transientErr{}, t0)
		return err
	})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Fail(999): got %v, want ErrNotFound", err)
	}
}

func TestFailInTheAppendTransaction(t *testing.T) {
	st, q := newQueue(t, "out/c1")
	err := st.DB().Update(func(tx *bolt.Tx) error {
		stored, err := q.Append(tx, []Event{ev("A", 1)})
		if err != nil {
			return err
		}
		_, err = q.Fail(tx, stored[0].Seq, permanentErr{}, t0)
		return err
	})
	if err != nil {
		t.Fatalf("Append then Fail in one transaction: %v", err)
	}
	evs, err := q.List(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || !evs[0].Permanent {
		t.Errorf("got %+v, want one permanent failed event", evs)
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		base    time.Duration
	}{
		{-1, time.Second}, {0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second},
		{10, 512 * time.Second}, {11, 15 * time.Minute}, {30, 15 * time.Minute}, {64, 15 * time.Minute},
		{1 << 30, 15 * time.Minute},
	}
	for _, tc := range tests {
		lo, hi := time.Duration(float64(tc.base)*0.8), time.Duration(float64(tc.base)*1.2)
		minSeen, maxSeen := time.Duration(1<<62), time.Duration(0)
		for range 500 {
			d := Backoff(tc.attempt)
			if d < lo || d > hi {
				t.Fatalf("Backoff(%d): got %v, want within [%v, %v]", tc.attempt, d, lo, hi)
			}
			minSeen, maxSeen = min(minSeen, d), max(maxSeen, d)
		}
		// 500 uniform draws all within 5% of the middle has odds below 1e-20: no jitter.
		if minSeen > time.Duration(float64(tc.base)*0.95) || maxSeen < time.Duration(float64(tc.base)*1.05) {
			t.Errorf("Backoff(%d): draws spread over [%v, %v], want jitter across ±20%% of %v", tc.attempt, minSeen, maxSeen, tc.base)
		}
	}
}

func TestRetryAndSkip(t *testing.T) {
	st, q := newQueue(t, "out/c1")
	stored := appendEvents(t, st, q, ev("A", 1), ev("A", 2), ev("B", 1), ev("B", 2))
	fail(t, st, q, stored[0].Seq, permanentErr{}, t0)
	fail(t, st, q, stored[2].Seq, permanentErr{}, t0)
	far := t0.Add(365 * 24 * time.Hour)
	checkIDs(t, "Ready with both items blocked", ready(t, q, far))

	// Retry: the failed event is ready now and keeps its history; its item's later events wait
	// until it is acked.
	if err := q.Retry(stored[0].Seq); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	got, err := q.Ready(t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, "Ready after Retry", ids(got), "A-1")
	if got[0].Attempts != 1 || got[0].LastError == "" || got[0].Permanent {
		t.Errorf("retried event: got %+v, want Attempts 1, LastError kept, not Permanent", got[0])
	}

	// Skip: the failed event is gone and its item flows again.
	skipped, err := q.Skip(stored[2].Seq)
	if err != nil {
		t.Fatalf("Skip: %v", err)
	}
	if skipped.ID != "B-1" || !skipped.Permanent {
		t.Errorf("Skip returned %+v, want the failed B-1", skipped)
	}
	checkIDs(t, "Ready after Skip", ready(t, q, t0), "A-1", "B-2")

	for _, seq := range []uint64{stored[2].Seq, 999} {
		if _, err := q.Skip(seq); !errors.Is(err, ErrNotFound) {
			t.Errorf("Skip(%d): got %v, want ErrNotFound", seq, err)
		}
		if err := q.Retry(seq); !errors.Is(err, ErrNotFound) {
			t.Errorf("Retry(%d): got %v, want ErrNotFound", seq, err)
		}
	}
	// Retrying an event that has not failed changes nothing.
	if err := q.Retry(stored[3].Seq); err != nil {
		t.Errorf("Retry of a pending event: %v", err)
	}
}

func TestRetryAll(t *testing.T) {
	st, q := newQueue(t, "out/c1")
	stored := appendEvents(t, st, q, ev("A", 1), ev("B", 1), ev("C", 1))
	fail(t, st, q, stored[0].Seq, permanentErr{}, t0)
	fail(t, st, q, stored[1].Seq, transientErr{after: time.Hour}, t0)
	checkIDs(t, "Ready before RetryAll", ready(t, q, t0), "C-1")
	n, err := q.RetryAll()
	if err != nil || n != 2 {
		t.Fatalf("RetryAll: got %d, %v; want 2, nil", n, err)
	}
	checkIDs(t, "Ready after RetryAll", ready(t, q, t0), "A-1", "B-1", "C-1")
}

func TestAppendUniqueDedups(t *testing.T) {
	st, q := newQueue(t, "in/c1")
	q.now = func() time.Time { return t0 }
	checkIDs(t, "first batch", ids(appendUnique(t, st, q, ev("A", 1), ev("A", 2), ev("A", 1))), "A-1", "A-2")
	checkIDs(t, "second batch", ids(appendUnique(t, st, q, ev("A", 2), ev("B", 1))), "B-1")

	all, err := q.List(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, e := range all {
		seqs = append(seqs, e.Seq)
	}
	ack(t, st, q, seqs...)
	checkIDs(t, "redelivered after ack", ids(appendUnique(t, st, q, ev("A", 1), ev("B", 1), ev("C", 1))), "C-1")

	// An event without an id cannot be deduplicated: refuse the batch, store nothing.
	err = st.DB().Update(func(tx *bolt.Tx) error {
		_, err := q.AppendUnique(tx, []Event{ev("D", 1), {ItemKey: "D", Kind: "update"}})
		return err
	})
	if !errors.Is(err, ErrNoID) {
		t.Errorf("AppendUnique without id: got %v, want ErrNoID", err)
	}
	checkIDs(t, "after the refused batch", ids(appendUnique(t, st, q, ev("D", 1))), "D-1")
}

func TestSeenRetention(t *testing.T) {
	st, q := newQueue(t, "in/c1")
	q.now = func() time.Time { return t0 }
	appendUnique(t, st, q, ev("A", 1), ev("A", 2))
	q.now = func() time.Time { return t0.Add(6 * 24 * time.Hour) }
	appendUnique(t, st, q, ev("B", 1))

	// PruneSeen drops only ids first seen before the cut.
	n, err := q.PruneSeen(t0.Add(time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("PruneSeen: got %d, %v; want 2, nil", n, err)
	}
	checkIDs(t, "after PruneSeen", ids(appendUnique(t, st, q, ev("A", 1), ev("B", 1))), "A-1")

	// AppendUnique forgets ids older than the retention by itself. A-1 was seen again at
	// day 6 and B-1 at day 6: at day 12 both are younger than 7 days; at day 14 both are older.
	q.now = func() time.Time { return t0.Add(12 * 24 * time.Hour) }
	checkIDs(t, "within retention", ids(appendUnique(t, st, q, ev("A", 1), ev("B", 1))))
	q.now = func() time.Time { return t0.Add(14 * 24 * time.Hour) }
	appendUnique(t, st, q, ev("Z", 1)) // prunes
	checkIDs(t, "past retention", ids(appendUnique(t, st, q, ev("A", 1), ev("B", 1))), "A-1", "B-1")

	q.SetSeenRetention(time.Hour)
	q.now = func() time.Time { return t0.Add(14*24*time.Hour + 2*time.Hour) }
	appendUnique(t, st, q, ev("Y", 1))
	checkIDs(t, "shorter retention", ids(appendUnique(t, st, q, ev("Z", 1))), "Z-1")
}

func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q, err := Open(st, "out/c1")
	if err != nil {
		t.Fatal(err)
	}
	stored := appendEvents(t, st, q, ev("A", 1), ev("B", 1), ev("A", 2))
	fail(t, st, q, stored[0].Seq, permanentErr{}, t0)
	appendUnique(t, st, q, ev("U", 1))
	ack(t, st, q, 4) // the highest seq is gone; its number must not be handed out again
	before, err := q.List(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = openStore(t, dir)
	defer st.Close()
	q, err = Open(st, "out/c1")
	if err != nil {
		t.Fatal(err)
	}
	after, err := q.List(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("after reopen: got %d events, want %d", len(after), len(before))
	}
	for i := range before {
		b, a := before[i], after[i]
		if a.Seq != b.Seq || a.ID != b.ID || a.Failed != b.Failed || a.Permanent != b.Permanent ||
			a.Attempts != b.Attempts || !a.Created.Equal(b.Created) || string(a.Payload) != string(b.Payload) {
			t.Errorf("event %d after reopen: got %+v, want %+v", i, a, b)
		}
	}
	checkIDs(t, "Ready after reopen", ready(t, q, t0), "B-1")
	if got := appendEvents(t, st, q, ev("C", 1))[0].Seq; got != 5 {
		t.Errorf("first Seq after reopen: got %d, want 5", got)
	}
	checkIDs(t, "dedup after reopen", ids(appendUnique(t, st, q, ev("U", 1))))
}

func TestAckThrough(t *testing.T) {
	tests := []struct {
		through uint64
		want    []string
	}{
		{0, []string{"A-1", "A-2", "A-3", "A-4", "A-5"}},
		{3, []string{"A-4", "A-5"}},
		{5, nil},
		{100, nil},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.through), func(t *testing.T) {
			st, q := newQueue(t, "out/c1")
			appendEvents(t, st, q, ev("A", 1), ev("A", 2), ev("A", 3), ev("A", 4), ev("A", 5))
			if err := st.DB().Update(func(tx *bolt.Tx) error { return q.AckThrough(tx, tc.through) }); err != nil {
				t.Fatalf("AckThrough(%d): %v", tc.through, err)
			}
			left, err := q.List(0, 0)
			if err != nil {
				t.Fatal(err)
			}
			checkIDs(t, fmt.Sprintf("left after AckThrough(%d)", tc.through), ids(left), tc.want...)
		})
	}
}

func TestListPages(t *testing.T) {
	st, q := newQueue(t, "out/c1")
	appendEvents(t, st, q, ev("A", 1), ev("B", 1), ev("C", 1), ev("D", 1))
	tests := []struct {
		after uint64
		limit int
		want  []string
	}{
		{0, 2, []string{"A-1", "B-1"}},
		{2, 2, []string{"C-1", "D-1"}},
		{4, 2, nil},
		{1, 0, []string{"B-1", "C-1", "D-1"}},
		{^uint64(0), 0, nil},
	}
	for _, tc := range tests {
		got, err := q.List(tc.after, tc.limit)
		if err != nil {
			t.Fatalf("List(%d, %d): %v", tc.after, tc.limit, err)
		}
		checkIDs(t, fmt.Sprintf("List(%d, %d)", tc.after, tc.limit), ids(got), tc.want...)
	}
}

func TestStats(t *testing.T) {
	st, q := newQueue(t, "out/c1")
	if s, err := q.Stats(); err != nil || s != (Stats{}) {
		t.Fatalf("empty Stats: got %+v, %v; want zero", s, err)
	}
	q.now = func() time.Time { return t0 }
	stored := appendEvents(t, st, q, ev("A", 1), ev("A", 2), ev("B", 1), ev("A", 3))
	q.now = func() time.Time { return t0.Add(time.Hour) }
	appendEvents(t, st, q, ev("C", 1))
	fail(t, st, q, stored[0].Seq, transientErr{}, t0)
	got, err := q.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if want := (Stats{Pending: 4, Failed: 1, Blocked: 2, Oldest: t0}); got.Pending != want.Pending ||
		got.Failed != want.Failed || got.Blocked != want.Blocked || !got.Oldest.Equal(want.Oldest) {
		t.Errorf("Stats: got %+v, want %+v", got, want)
	}
}

func TestNotify(t *testing.T) {
	st, q := newQueue(t, "out/c1")
	signalled := func() bool {
		select {
		case <-q.Notify():
			return true
		default:
			return false
		}
	}
	if signalled() {
		t.Fatal("signalled before any append")
	}
	stored := appendEvents(t, st, q, ev("A", 1))
	appendEvents(t, st, q, ev("A", 2)) // a second signal must not block the writer
	if !signalled() {
		t.Error("no signal after a committed Append")
	}
	if signalled() {
		t.Error("two signals queued; want capacity 1")
	}

	rollback := errors.New("roll back")
	err := st.DB().Update(func(tx *bolt.Tx) error {
		if _, err := q.Append(tx, []Event{ev("A", 3)}); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("Update: got %v, want the rollback error", err)
	}
	if signalled() {
		t.Error("signalled after a rolled-back Append")
	}
	if evs, _ := q.List(0, 0); len(evs) != 2 {
		t.Errorf("after rollback: got %d events, want 2", len(evs))
	}

	fail(t, st, q, stored[0].Seq, permanentErr{}, t0)
	if err := q.Retry(stored[0].Seq); err != nil {
		t.Fatal(err)
	}
	if !signalled() {
		t.Error("no signal after Retry")
	}
}

func TestDrop(t *testing.T) {
	st, q := newQueue(t, "out/c1")
	other, err := Open(st, "out/c2")
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, st, q, ev("A", 1))
	appendUnique(t, st, q, ev("B", 1))
	appendEvents(t, st, other, ev("X", 1))

	if err := q.Drop(); err != nil {
		t.Fatalf("Drop: %v", err)
	}
	if err := q.Drop(); err != nil {
		t.Errorf("second Drop: %v, want nil", err)
	}
	if _, err := q.Ready(t0, 0); !errors.Is(err, ErrDropped) {
		t.Errorf("Ready after Drop: got %v, want ErrDropped", err)
	}
	err = st.DB().Update(func(tx *bolt.Tx) error {
		_, err := q.Append(tx, []Event{ev("A", 2)})
		return err
	})
	if !errors.Is(err, ErrDropped) {
		t.Errorf("Append after Drop: got %v, want ErrDropped", err)
	}
	checkIDs(t, "other queue", ready(t, other, t0), "X-1")

	// Opening the name again gives an empty queue that has forgotten the dropped ids.
	q, err = Open(st, "out/c1")
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, "reopened", ready(t, q, t0))
	checkIDs(t, "dedup after Drop", ids(appendUnique(t, st, q, ev("B", 1))), "B-1")
}

func TestOpenErrors(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	if _, err := Open(st, ""); err == nil || !strings.Contains(err.Error(), "empty name") {
		t.Errorf("Open(\"\"): got %v, want an empty-name error", err)
	}
}

func TestWireDropsDeliveryState(t *testing.T) {
	e := Event{Seq: 3, ID: "x", ItemKey: "A", Kind: "update", Created: t0, Attempts: 2, LastError: "boom", NextRetry: t0, Failed: true, Permanent: true}
	b, err := json.Marshal(e.Wire())
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"attempts", "lastError", "nextRetry", "failed", "permanent"} {
		if strings.Contains(string(b), `"`+field+`"`) {
			t.Errorf("Wire JSON %s: has %q, want no delivery state", b, field)
		}
	}
}

func TestNewID(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := NewID()
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("NewID: got %q, want 32 hex characters", id)
		}
		if seen[id] {
			t.Fatalf("NewID: %q twice", id)
		}
		seen[id] = true
	}
	// Ids grow with time (the receiver's index of seen ids then grows at its end).
	first := NewID()
	time.Sleep(2 * time.Millisecond)
	if later := NewID(); later <= first {
		t.Errorf("an id made later (%s) sorts before one made earlier (%s)", later, first)
	}
	if ms, err := strconv.ParseUint(first[:12], 16, 64); err != nil || time.Since(time.UnixMilli(int64(ms))) > time.Minute {
		t.Errorf("id %s does not start with the time in milliseconds", first)
	}
}

func TestAppendRejectsBadPayload(t *testing.T) {
	st, q := newQueue(t, "out/c1")
	bad := ev("B", 1)
	bad.Payload = json.RawMessage(`{"title": "half`)
	var stored []Event
	err := st.DB().Update(func(tx *bolt.Tx) error {
		var err error
		stored, err = q.Append(tx, []Event{ev("A", 1), bad})
		return err
	})
	if !errors.Is(err, ErrBadPayload) || !strings.Contains(err.Error(), `item "B"`) {
		t.Errorf("Append with a truncated payload: got %v, want ErrBadPayload naming item B", err)
	}
	if stored != nil {
		t.Errorf("Append with a truncated payload returned %v, want nothing", ids(stored))
	}
	checkIDs(t, "after the refused batch", ready(t, q, t0))
}

func TestDecodeRejectsDamagedRecords(t *testing.T) {
	tests := []struct {
		name string
		v    []byte
	}{
		{"empty", nil},
		{"unknown version", []byte{9, 2, '{', '}'}},
		{"truncated header", []byte{formatV1, 50, '{', '}'}},
		{"bad header", []byte{formatV1, 2, '{', '['}},
	}
	for _, tc := range tests {
		if _, err := decode(store.U64(7), tc.v); err == nil || !strings.Contains(err.Error(), "event 7") {
			t.Errorf("decode(%s): got %v, want an error naming event 7", tc.name, err)
		}
	}
}

func TestStartMarksAnAttemptThatSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q, err := Open(st, "in/c")
	if err != nil {
		t.Fatal(err)
	}
	evs := appendEvents(t, st, q, ev("A", 1), ev("B", 1))
	if evs[0].Retried() {
		t.Fatalf("a fresh event counts as retried: %+v", evs[0])
	}
	if err := st.DB().Update(func(tx *bolt.Tx) error { return q.Start(tx, evs[0].Seq, 999) }); err != nil {
		t.Fatalf("Start: %v", err)
	}
	st.Close() // the process dies before it acks or fails the event

	st = openStore(t, dir)
	defer st.Close()
	q, err = Open(st, "in/c")
	if err != nil {
		t.Fatal(err)
	}
	ready, err := q.Ready(time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ready) != 2 || !ready[0].InFlight || !ready[0].Retried() || ready[1].Retried() {
		t.Fatalf("after the restart: %+v; want A in flight (a retry) and B fresh, both ready", ready)
	}
	// A recorded failure ends the flight and counts the attempt.
	got := fail(t, st, q, ready[0].Seq, errors.New("timeout"), time.Now())
	if got.InFlight || got.Attempts != 1 || !got.Retried() {
		t.Errorf("after Fail: %+v; want attempts 1, not in flight", got)
	}
}

// Ready stops once the payloads it returns pass readyBytes, and always returns at least one.
func TestReadyBoundsThePayloadsItHolds(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	q, err := Open(st, "out/c")
	if err != nil {
		t.Fatal(err)
	}
	big := func(id string, n int) Event {
		return Event{ID: id, ItemKey: id, Kind: "update", Payload: json.RawMessage(`"` + strings.Repeat("x", n) + `"`)}
	}
	appendEvents(t, st, q, big("a", readyBytes+10), big("b", 10), big("c", readyBytes/2), big("d", readyBytes/2), big("e", 10))
	for _, want := range [][]string{{"a"}, {"b", "c", "d"}, {"e"}} {
		evs, err := q.Ready(time.Now(), 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range evs {
			got = append(got, e.ID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Ready: %v, want %v", got, want)
		}
		err = st.DB().Update(func(tx *bolt.Tx) error {
			for _, e := range evs {
				if err := q.Ack(tx, e.Seq); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// ReadySkipping passes over the events its consumer holds, without counting them.
func TestReadySkippingPassesOverHeldEvents(t *testing.T) {
	st, q := newQueue(t, "out/c1")
	stored := appendEvents(t, st, q, ev("A", 1), ev("B", 2), ev("C", 3), ev("D", 4))
	held := map[uint64]bool{stored[0].Seq: true, stored[1].Seq: true}
	got, err := q.ReadySkipping(t0, 2, func(seq uint64) bool { return held[seq] })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Seq != stored[2].Seq || got[1].Seq != stored[3].Seq || len(got[0].Payload) == 0 {
		t.Fatalf("ReadySkipping = %+v, want the two events after the held ones", got)
	}
}

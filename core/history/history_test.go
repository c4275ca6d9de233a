package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable now for the store.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func open(t *testing.T, dir string) (*store.Store, *Store, *clock) {
	t.Helper()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h, err := Open(st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t0}
	h.now = c.now
	return st, h, c
}

func outcomes(rs []Record) string {
	var b []string
	for _, r := range rs {
		b = append(b, fmt.Sprintf("%s:%s:%s/%s:%s", r.Direction, r.Outcome, r.Local, r.Remote, r.RuleVersion))
	}
	return strings.Join(b, " ")
}

func TestSearchFiltersAndPages(t *testing.T) {
	_, h, _ := open(t, t.TempDir())
	for i := range 30 {
		r := Record{Time: t0.Add(time.Duration(i) * time.Minute), Connection: "c1", Direction: "out", Local: fmt.Sprintf("BLUE-%d", i%3), Kind: "update", Outcome: Sent}
		if i%10 == 5 {
			r.Outcome, r.Error = Failed, "RT answered 503 Service Unavailable"
		}
		if i >= 20 {
			r.Connection = "c2"
		}
		h.Record(r)
	}
	cases := []struct {
		q    Query
		want int
	}{
		{Query{}, 30},
		{Query{Outcomes: []Outcome{Failed}}, 3},
		{Query{Text: "service unavailable"}, 3},
		{Query{Text: "blue-1"}, 10},
		{Query{Connection: "c2"}, 10},
		{Query{Since: t0.Add(10 * time.Minute), Until: t0.Add(19 * time.Minute)}, 10},
		{Query{Text: `%_*[(\` + "\x00"}, 0},
		{Query{Text: "nothing like this"}, 0},
	}
	for i, tc := range cases {
		var got []Record
		q := tc.q
		q.Limit = 4
		for pages := 0; pages < 20; pages++ {
			p, err := h.Search(q)
			if err != nil {
				t.Fatalf("#%d Search(%+v): %v", i, q, err)
			}
			got = append(got, p.Records...)
			if p.Next == "" {
				break
			}
			q.After = p.Next
		}
		if len(got) != tc.want {
			t.Errorf("#%d Search(%+v): got %d records, want %d", i, tc.q, len(got), tc.want)
		}
		if !slices.IsSortedFunc(got, func(a, b Record) int { return b.Time.Compare(a.Time) }) {
			t.Errorf("#%d: not newest first", i)
		}
	}
	if _, err := h.Search(Query{After: "zz"}); err == nil {
		t.Error("a damaged cursor was accepted")
	}
}

func TestTimelineFollowsTheTwin(t *testing.T) {
	_, h, _ := open(t, t.TempDir())
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	h.Record(Record{Time: at(0), Connection: "c1", Direction: "out", Local: "RT-4711", Kind: "create", Outcome: Sent, RuleVersion: "out-3"})
	h.Record(Record{Time: at(1), Connection: "c1", Direction: "in", Local: "RT-4711", Remote: "TDM-9", Kind: "receipt", Outcome: Applied})
	h.Record(Record{Time: at(2), Connection: "c1", Direction: "in", Remote: "TDM-9", Kind: "update", Outcome: Failed, Error: "rule error", RuleVersion: "in-1"})
	h.Record(Record{Time: at(3), Connection: "c1", Direction: "in", Remote: "TDM-9", Kind: "update", Outcome: Retried, Operator: true})
	h.Record(Record{Time: at(4), Connection: "c1", Direction: "in", Local: "RT-4711", Remote: "TDM-9", Kind: "update", Outcome: Applied, RuleVersion: "in-2"})
	h.Record(Record{Time: at(5), Connection: "c1", Direction: "out", Local: "RT-1", Kind: "create", Outcome: Sent})
	tl, err := h.Timeline("rt-4711")
	if err != nil {
		t.Fatal(err)
	}
	want := "out:sent:RT-4711/:out-3 in:applied:RT-4711/TDM-9: in:failed:/TDM-9:in-1 in:retried:/TDM-9: in:applied:RT-4711/TDM-9:in-2"
	if got := outcomes(tl); got != want {
		t.Errorf("timeline of RT-4711:\n got %s\nwant %s", got, want)
	}
	if tl, _ := h.Timeline("TDM-9"); len(tl) != 5 {
		t.Errorf("timeline by the partner's key: %d records, want the same 5", len(tl))
	}
	if tl, _ := h.Timeline("  "); len(tl) != 0 {
		t.Errorf("timeline of a blank key: %v", tl)
	}
}

func TestRetention(t *testing.T) {
	_, h, c := open(t, t.TempDir())
	for _, days := range []int{0, -1, 366, 100000} {
		if err := h.SetRetention(days); !errors.Is(err, ErrRetention) || !strings.Contains(err.Error(), "1 to 365") {
			t.Errorf("SetRetention(%d) = %v, want the allowed range", days, err)
		}
	}
	if d, _ := h.Retention(); d != DefaultRetentionDays {
		t.Fatalf("retention after refusals = %d, want the default %d", d, DefaultRetentionDays)
	}
	for day := range 10 {
		h.Record(Record{Time: t0.Add(time.Duration(day) * 24 * time.Hour), Connection: "c1", Direction: "out", Local: fmt.Sprintf("K-%d", day), Outcome: Sent})
	}
	h.Flush()
	c.t = t0.Add(9*24*time.Hour + time.Hour)
	if err := h.SetRetention(3); err != nil {
		t.Fatal(err)
	}
	p, _ := h.Search(Query{})
	if len(p.Records) != 3 || p.Records[2].Local != "K-7" {
		t.Fatalf("after a 3-day retention: %s", outcomes(p.Records))
	}
	if tl, _ := h.Timeline("K-1"); len(tl) != 0 {
		t.Errorf("the index still finds a pruned record: %v", tl)
	}
	if tallies, _ := h.Tallies("", t0, 24*time.Hour); sum(tallies).Sent != 3 {
		t.Errorf("tallies after pruning count %d sent, want 3", sum(tallies).Sent)
	}
	if err := h.DeleteAll(); err != nil {
		t.Fatal(err)
	}
	if p, _ := h.Search(Query{}); len(p.Records) != 0 {
		t.Errorf("after delete now: %d records", len(p.Records))
	}
	if d, _ := h.Retention(); d != 3 {
		t.Errorf("delete now changed the retention to %d", d)
	}
}

func sum(ts []Tally) Tally {
	var s Tally
	for _, t := range ts {
		s.merge(t)
	}
	return s
}

func TestTallies(t *testing.T) {
	_, h, c := open(t, t.TempDir())
	c.t = t0.Add(time.Hour)
	for m := range 60 {
		h.Record(Record{Time: t0.Add(time.Duration(m)*time.Minute + 30*time.Second), Connection: "c1", Outcome: Applied})
		if m%10 == 0 {
			h.Record(Record{Time: t0.Add(time.Duration(m)*time.Minute + 30*time.Second), Connection: "c2", Outcome: Failed})
		}
	}
	ts, err := h.Tallies("", t0.Add(time.Minute), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 59 || sum(ts).Applied != 59 || sum(ts).Failed != 5 {
		t.Fatalf("per-minute tallies of the last hour: %d steps, %+v", len(ts), sum(ts))
	}
	if ts, _ := h.Tallies("c2", t0, 15*time.Minute); sum(ts).Failed != 6 || sum(ts).Applied != 0 {
		t.Errorf("c2's tallies: %+v", sum(ts))
	}
}

// Payloads are captured only while capture is on, never in the history bucket, and expire.
func TestCaptureExpiresAndStaysOutOfTheHistory(t *testing.T) {
	st, h, c := open(t, t.TempDir())
	payload := json.RawMessage(`{"replica":{"title":"Secret merger plans"}}`)
	h.Record(Record{Connection: "c1", Direction: "out", Local: "A-1", Outcome: Sent, Payload: payload})
	if err := h.SetCapture("c1", true); err != nil {
		t.Fatal(err)
	}
	if until := h.CaptureUntil("c1"); !until.Equal(t0.Add(CaptureFor)) {
		t.Errorf("capture on until %v, want %v", until, t0.Add(CaptureFor))
	}
	h.Record(Record{Connection: "c1", Direction: "out", Local: "A-1", Outcome: Sent, Payload: payload})
	h.Record(Record{Connection: "c2", Direction: "out", Local: "B-1", Outcome: Sent, Payload: payload})
	tl, _ := h.Timeline("A-1")
	if len(tl) != 2 || tl[0].Captured || !tl[1].Captured {
		t.Fatalf("only the record made while capture was on is captured: %+v", tl)
	}
	if p, _ := h.Captured(tl[1]); !bytes.Equal(p, payload) {
		t.Errorf("captured payload: %s", p)
	}
	if tl, _ := h.Timeline("B-1"); tl[0].Captured {
		t.Error("a connection without capture had its payload captured")
	}
	// No field value anywhere under the history bucket.
	st.DB().View(func(tx *bolt.Tx) error {
		return walk(tx.Bucket(rootBucket), func(k, v []byte) {
			if bytes.Contains(k, []byte("merger")) || bytes.Contains(v, []byte("merger")) {
				t.Errorf("a field value in the history bucket: %q = %q", k, v)
			}
		})
	})
	// A day later the payload is gone and capture is off.
	c.t = t0.Add(CaptureFor + time.Minute)
	if n, err := h.PruneCaptures(); err != nil || n != 1 {
		t.Errorf("PruneCaptures = %d, %v; want 1 payload expired", n, err)
	}
	if p, _ := h.Captured(tl[1]); p != nil {
		t.Errorf("payload kept after expiry: %s", p)
	}
	if until := h.CaptureUntil("c1"); !until.IsZero() {
		t.Errorf("capture still on after a day: until %v", until)
	}
	// Turning capture off deletes at once.
	h.SetCapture("c1", true)
	h.Record(Record{Connection: "c1", Direction: "out", Local: "A-2", Outcome: Sent, Payload: payload})
	tl, _ = h.Timeline("A-2")
	h.SetCapture("c1", false)
	if p, _ := h.Captured(tl[0]); p != nil {
		t.Error("turning capture off kept the payload")
	}
}

func walk(b *bolt.Bucket, fn func(k, v []byte)) error {
	return b.ForEach(func(k, v []byte) error {
		fn(k, v)
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				return walk(nb, fn)
			}
		}
		return nil
	})
}

// A full disk while writing the history: the records are dropped, the history says which
// stretch is incomplete once it can be written again, and nothing else is hurt. The disk is
// made full for real with a file-size limit, in a child process so the limit stays there.
func TestFullDiskMarksHistoryIncomplete(t *testing.T) {
	if dir := os.Getenv("TANDEM_FULL_DISK_DIR"); dir != "" {
		fullDiskChild(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestFullDiskMarksHistoryIncomplete$", "-test.v")
	cmd.Env = append(os.Environ(), "TANDEM_FULL_DISK_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS")) {
		t.Fatalf("child: %v\n%s", err, out)
	}
	// After the disk has room again: the gap is on record.
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := Open(st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	gaps, err := h.Incomplete()
	if err != nil || len(gaps) != 1 || gaps[0].Lost == 0 {
		t.Fatalf("gaps after the full disk: %+v, %v", gaps, err)
	}
	p, _ := h.Search(Query{Limit: 100000})
	if len(p.Records) == 0 {
		t.Fatal("records written before the disk filled are gone")
	}
	t.Logf("kept %d records; %d lost while the disk was full (%s)", len(p.Records), gaps[0].Lost, gaps[0].Reason)
}

func fullDiskChild(t *testing.T, dir string) {
	signal.Ignore(syscall.SIGXFSZ) // a write past the limit fails with EFBIG instead of killing us
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := Open(st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	record := func(n int) {
		for i := range n {
			h.Record(Record{Connection: "c1", Direction: "out", Local: fmt.Sprintf("K-%d", i), Outcome: Sent, Error: strings.Repeat("x", 200)})
		}
	}
	record(10)
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(st.Path())
	if err != nil {
		t.Fatal(err)
	}
	old := &syscall.Rlimit{}
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, old); err != nil {
		t.Fatal(err)
	}
	// Only the soft limit, so the process may raise it again when the "disk" has room.
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: uint64(fi.Size()), Max: old.Max}); err != nil {
		t.Skipf("cannot limit the file size: %v", err)
	}
	var failed error
	for range 20 { // until the file must grow
		record(2000)
		if failed = h.Flush(); failed != nil {
			break
		}
	}
	if failed == nil {
		t.Fatal("the history never hit the full disk")
	}
	gaps, _ := h.Incomplete()
	if len(gaps) != 1 || gaps[0].Lost < 2000 {
		t.Fatalf("while the disk is full: gaps %+v", gaps)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, old); err != nil {
		t.Fatalf("lift the file size limit: %v", err)
	}
	record(1)
	if err := h.Flush(); err != nil {
		t.Fatalf("write after the disk has room again: %v", err)
	}
}

package agent

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules"
)

// refusingIncoming is the default incoming rule, except that it refuses replicas whose title
// says "jam": a permanent rule error, as an operator's broken rule would give.
var refusingIncoming = strings.Replace(rules.DefaultIncoming, "import \"tandem\"", "import (\n\t\"errors\"\n\t\"strings\"\n\t\"tandem\"\n)", 1)

func init() {
	refusingIncoming = strings.Replace(refusingIncoming, "\tif replica.Title != \"\" {",
		"\tif strings.Contains(replica.Title, \"jam\") {\n\t\treturn errors.New(\"refused by the test rule\")\n\t}\n\tif replica.Title != \"\" {", 1)
}

// clock is a history clock a test moves on.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// steps is a timeline as "dir outcome kind" words, for comparing.
func steps(recs []HistoryRecord) string {
	var out []string
	for _, r := range recs {
		s := fmt.Sprintf("%s:%s:%s", r.Direction, r.Outcome, r.Kind)
		if r.Operator {
			s += "(op)"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// After a sync with a failure, a retry and a skip, the item's timeline shows every step both
// ways; the history bucket holds no field value; retention removes old records; the debug
// capture expires by itself.
func TestHistoryTimelineEndToEnd(t *testing.T) {
	keys := testKeys(t)
	ctx := context.Background()
	var redClock clock
	blue := start(t, Options{Dir: t.TempDir(), Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys})
	red := start(t, Options{Dir: t.TempDir(), Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Keys: keys, HistoryClock: redClock.now})
	conn := pair(t, blue, red)
	if err := red.SetCapture(ctx, conn, true); err != nil {
		t.Fatal(err)
	}

	const secretTitle, secretText = "Zebra-Confidential printer", "Quartz-Secret description 4711"
	it, err := blue.CreateItem(ctx, item.Item{Title: secretTitle, Description: secretText})
	if err != nil {
		t.Fatal(err)
	}
	var redKey string
	eventually(t, 30*time.Second, "the item linked", func() (bool, string) {
		redKey, _ = blue.Twin(conn, it.Key)
		return redKey != "", "no twin yet"
	})

	// Red's incoming rule refuses the next change: it fails for good and waits.
	if err := red.SetRules(conn, RuleSources{Outgoing: rules.DefaultOutgoing, Incoming: refusingIncoming}); err != nil {
		t.Fatal(err)
	}
	it.Title = "Zebra-Confidential paper jam"
	if _, err := blue.UpdateItem(ctx, it); err != nil {
		t.Fatal(err)
	}
	var failed QueueEntry
	eventually(t, 30*time.Second, "the update failed at red", func() (bool, string) {
		p, _ := red.QueuePage(ctx, QueueQuery{States: []string{QueueFailed}}, 0, 1)
		if len(p.Entries) == 1 {
			failed = p.Entries[0]
		}
		return p.Total == 1, fmt.Sprintf("%+v", p)
	})
	// The operator fixes the rule and retries.
	if err := red.SetRules(conn, RuleSources{Outgoing: rules.DefaultOutgoing, Incoming: rules.DefaultIncoming}); err != nil {
		t.Fatal(err)
	}
	if err := red.Retry(ctx, conn, "in", failed.Seq); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the retried update applied", func() (bool, string) {
		got, _ := red.local.Get(ctx, redKey)
		return got.Title == it.Title, got.Title
	})
	// Another refused change, which the operator skips.
	if err := red.SetRules(conn, RuleSources{Outgoing: rules.DefaultOutgoing, Incoming: refusingIncoming}); err != nil {
		t.Fatal(err)
	}
	it.Priority = "high"
	if _, err := blue.UpdateItem(ctx, it); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the second update failed at red", func() (bool, string) {
		p, _ := red.QueuePage(ctx, QueueQuery{States: []string{QueueFailed}}, 0, 1)
		if len(p.Entries) == 1 {
			failed = p.Entries[0]
		}
		return p.Total == 1 && failed.Seq != 0, fmt.Sprintf("%+v", p)
	})
	if err := red.Skip(ctx, conn, "in", failed.Seq); err != nil {
		t.Fatal(err)
	}

	// Red's timeline of its item, found by either key.
	want := "in:applied:create out:sent:receipt in:failed:update in:retried:update(op) in:applied:update in:failed:update in:skipped:update(op)"
	var tl []HistoryRecord
	eventually(t, 30*time.Second, "red's timeline", func() (bool, string) {
		tl, _ = red.Timeline(ctx, redKey)
		return steps(tl) == want, steps(tl)
	})
	if byPartner, _ := red.Timeline(ctx, strings.ToLower(it.Key)); steps(byPartner) != want {
		t.Errorf("the timeline by the partner's key (any case): %s", steps(byPartner))
	}
	for _, r := range tl {
		if r.Outcome == OutcomeFailed && (!strings.Contains(r.Error, "refused by the test rule") || !r.Permanent) {
			t.Errorf("a failure without its error: %+v", r)
		}
		if (r.Kind == "update" || r.Kind == "create") && r.Direction == "in" && r.Remote != it.Key {
			t.Errorf("an incoming step without the partner's key: %+v", r)
		}
		if r.Outcome != OutcomeRetried && r.Outcome != OutcomeSkipped && !r.Captured {
			t.Errorf("capture was on, but this step's payload was not captured: %+v", r)
		}
	}
	// The rule version each step ran with: the rules of this build do not version yet, so the
	// field is empty rather than made up.
	for _, r := range tl {
		if r.RuleVersion != "" {
			t.Logf("rule version %q recorded", r.RuleVersion)
		}
	}
	// Blue's side of the same item: its sends and the receipt that linked it.
	eventually(t, 30*time.Second, "blue's timeline", func() (bool, string) {
		btl, _ := blue.Timeline(ctx, it.Key)
		s := steps(btl)
		return strings.HasPrefix(s, "out:sent:create in:applied:receipt out:sent:update out:sent:update"), s
	})
	if p, _ := red.Captured(ctx, tl[2]); !bytes.Contains(p, []byte("paper jam")) {
		t.Errorf("the captured payload of the failed update: %s", p)
	}

	// No field value in the history bucket (the captured payloads live apart, and expire).
	red.hist.Flush()
	red.st.DB().View(func(tx *bolt.Tx) error {
		return walkBucket(tx.Bucket([]byte("history")), func(k, v []byte) {
			for _, secret := range []string{"Zebra", "Quartz", "paper jam", "printer"} {
				if bytes.Contains(k, []byte(secret)) || bytes.Contains(v, []byte(secret)) {
					t.Errorf("field value %q in the history bucket: %q = %q", secret, k, v)
				}
			}
		})
	})

	// The capture expires by itself a day later; the history stays.
	redClock.advance(25 * time.Hour)
	red.hist.Enforce()
	if p, _ := red.Captured(ctx, tl[2]); p != nil {
		t.Errorf("a captured payload outlived its 24 hours: %s", p)
	}
	if infos, _ := red.Connections(ctx); !infos[0].CaptureUntil.IsZero() {
		t.Errorf("capture still on after 24 hours: until %v", infos[0].CaptureUntil)
	}
	if tl, _ := red.Timeline(ctx, redKey); len(tl) != 7 {
		t.Errorf("the capture's expiry took history with it: %d steps left", len(tl))
	}
	// Retention: a 2-day retention, three days later, removes them all; bad values are refused.
	for _, bad := range []int{0, -1, 366} {
		if err := red.SetHistoryRetention(ctx, bad); err == nil || !strings.Contains(err.Error(), "1 to 365") {
			t.Errorf("retention %d: %v", bad, err)
		}
	}
	redClock.advance(3 * 24 * time.Hour)
	if err := red.SetHistoryRetention(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if tl, _ := red.Timeline(ctx, redKey); len(tl) != 0 {
		t.Errorf("records older than the retention remain: %s", steps(tl))
	}
}

func walkBucket(b *bolt.Bucket, fn func(k, v []byte)) error {
	return b.ForEach(func(k, v []byte) error {
		fn(k, v)
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				return walkBucket(nb, fn)
			}
		}
		return nil
	})
}

package engine_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
)

// pairRules makes two sides with their own rules, delivering straight to each other.
func pairRules(t *testing.T, ra, rb engine.Rules) (a, b *side, ab, ba *direct) {
	t.Helper()
	ab, ba = &direct{}, &direct{}
	a, b = newSide(t, "A", ab, ra), newSide(t, "B", ba, rb)
	ab.to, ba.to = b.eng, a.eng
	serveSides(t, a, b)
	return a, b, ab, ba
}

func bodies(it item.Item) []string {
	var out []string
	for _, c := range it.Comments {
		out = append(out, c.Body)
	}
	return out
}

// TestCommentEditsAndDeletionsFollowInPlace: an edit or a deletion of a synced comment, made
// on either side, is made in place on the other (the embedded tracker edits and deletes), and
// nothing is echoed back or posted twice.
func TestCommentEditsAndDeletionsFollowInPlace(t *testing.T) {
	a, b, _, _ := pairRules(t, plainRules{}, plainRules{})
	ctx := context.Background()
	it, _ := a.tracker.Create(ctx, item.Item{Title: "comments"})
	first, _ := a.tracker.AddComment(ctx, it.Key, item.Comment{Author: item.User{Name: "Ann"}, Body: "first"})
	waitFor(t, "comment in B", func() bool { bi, err := b.tracker.Get(ctx, "B-1"); return err == nil && len(bi.Comments) == 1 })
	copyID := get(t, b, "B-1").Comments[0].ID

	a.tracker.EditComment(ctx, it.Key, first.ID, "first, corrected")
	waitFor(t, "the edit in B", func() bool { return slices.Equal(bodies(get(t, b, "B-1")), []string{"first, corrected"}) })
	if got := get(t, b, "B-1").Comments[0]; got.ID != copyID || got.Author.Name != "Ann" {
		t.Errorf("B's copy after the edit: %+v; want the same comment %s, edited in place", got, copyID)
	}

	reply, _ := b.tracker.AddComment(ctx, "B-1", item.Comment{Author: item.User{Name: "Bob"}, Body: "reply"})
	waitFor(t, "reply in A", func() bool { return len(get(t, a, it.Key).Comments) == 2 })
	b.tracker.EditComment(ctx, "B-1", reply.ID, "reply, edited")
	waitFor(t, "B's edit in A", func() bool {
		return slices.Equal(bodies(get(t, a, it.Key)), []string{"first, corrected", "reply, edited"})
	})

	a.tracker.DeleteComment(ctx, it.Key, first.ID)
	waitFor(t, "the deletion in B", func() bool { return slices.Equal(bodies(get(t, b, "B-1")), []string{"reply, edited"}) })
	b.tracker.DeleteComment(ctx, "B-1", reply.ID)
	waitFor(t, "B's deletion in A", func() bool { return len(get(t, a, it.Key).Comments) == 0 })

	time.Sleep(300 * time.Millisecond) // let any echo show itself
	if ai, bi := get(t, a, it.Key), get(t, b, "B-1"); len(ai.Comments) != 0 || len(bi.Comments) != 0 {
		t.Errorf("after both deletions: A %q, B %q; want none", bodies(ai), bodies(bi))
	}
}

// TestCommentEditsAndDeletionsIgnoredByRule: an incoming rule that lets neither follow keeps
// its copies as they were; new comments still arrive.
func TestCommentEditsAndDeletionsIgnoredByRule(t *testing.T) {
	keep := &engine.RuleResult{IgnoreCommentEdits: true, IgnoreCommentDeletions: true}
	a, b, _, _ := pairRules(t, plainRules{}, plainRules{result: keep})
	ctx := context.Background()
	it, _ := a.tracker.Create(ctx, item.Item{Title: "comments"})
	c1, _ := a.tracker.AddComment(ctx, it.Key, item.Comment{Body: "one"})
	c2, _ := a.tracker.AddComment(ctx, it.Key, item.Comment{Body: "two"})
	waitFor(t, "comments in B", func() bool { bi, err := b.tracker.Get(ctx, "B-1"); return err == nil && len(bi.Comments) == 2 })
	a.tracker.EditComment(ctx, it.Key, c1.ID, "one, edited")
	a.tracker.DeleteComment(ctx, it.Key, c2.ID)
	a.tracker.AddComment(ctx, it.Key, item.Comment{Body: "three"})
	waitFor(t, "the new comment in B", func() bool { return len(get(t, b, "B-1").Comments) == 3 })
	if got := bodies(get(t, b, "B-1")); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Errorf("B's comments: %q; want the edit and the deletion ignored, the new comment added", got)
	}
}

// TestConflictPolicies: ConflictLocal keeps a field changed here since the last sync against
// the partner's change; ConflictOverwrite writes the partner's value over a local edit even
// when the partner did not change it; a field without a policy keeps today's merge.
func TestConflictPolicies(t *testing.T) {
	policies := &engine.RuleResult{Conflicts: map[string]string{item.FieldStatus: engine.ConflictLocal, item.FieldPriority: engine.ConflictOverwrite}}
	a, b, ab, ba := pairRules(t, plainRules{}, plainRules{result: policies})
	ctx := context.Background()
	it, _ := a.tracker.Create(ctx, item.Item{Title: "policies", Status: "open", Priority: "low", Labels: []string{"x"}})
	waitFor(t, "item in B", func() bool { _, err := b.tracker.Get(ctx, "B-1"); return err == nil })

	// Both change status while they cannot hear each other; B's status is local and stays.
	ab.mu.Lock()
	ab.down = true
	ab.mu.Unlock()
	ba.mu.Lock()
	ba.down = true
	ba.mu.Unlock()
	ai := get(t, a, it.Key)
	ai.Status, ai.Title = "done", "policies (A)"
	a.tracker.Update(ctx, ai)
	bi := get(t, b, "B-1")
	bi.Status, bi.Priority, bi.Labels = "waiting", "medium", []string{"mine"}
	b.tracker.Update(ctx, bi)
	time.Sleep(200 * time.Millisecond) // B detects its change (it waits in B's outbox)
	ab.mu.Lock()
	ab.down = false
	ab.mu.Unlock()
	waitFor(t, "A's change in B", func() bool { return get(t, b, "B-1").Title == "policies (A)" })
	got := get(t, b, "B-1")
	if got.Status != "waiting" {
		t.Errorf("B's status %q: a local change wins under ConflictLocal, want waiting", got.Status)
	}
	if got.Priority != "low" {
		t.Errorf("B's priority %q: the partner always wins under ConflictOverwrite, want A's low", got.Priority)
	}
	if !slices.Equal(got.Labels, []string{"mine"}) {
		t.Errorf("B's labels %q: without a policy a field the partner did not change stays, want [mine]", got.Labels)
	}
}

// firstRules records, by item title, the first-sync flag of every rule run.
type firstRules struct {
	plainRules
	mu      sync.Mutex
	out, in map[string][]bool
}

func (f *firstRules) Outgoing(ctx context.Context, it item.Item, first bool) (item.Replica, engine.RuleResult, error) {
	f.mu.Lock()
	f.out[it.Title] = append(f.out[it.Title], first)
	f.mu.Unlock()
	return f.plainRules.Outgoing(ctx, it, first)
}

func (f *firstRules) Incoming(ctx context.Context, r item.Replica, cur item.Item, first bool) (item.Item, engine.RuleResult, error) {
	f.mu.Lock()
	f.in[r.Title] = append(f.in[r.Title], first)
	f.mu.Unlock()
	return f.plainRules.Incoming(ctx, r, cur, first)
}

func (f *firstRules) flags(m map[string][]bool, title string) []bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(m[title])
}

// TestFirstSyncFlag: the outgoing rule runs with the first-sync flag until the item has been
// sent; the incoming rule with it when it creates the local item.
func TestFirstSyncFlag(t *testing.T) {
	ra := &firstRules{out: map[string][]bool{}, in: map[string][]bool{}}
	rb := &firstRules{out: map[string][]bool{}, in: map[string][]bool{}}
	a, b, _, _ := pairRules(t, ra, rb)
	ctx := context.Background()
	it, _ := a.tracker.Create(ctx, item.Item{Title: "first"})
	waitFor(t, "item in B", func() bool { _, err := b.tracker.Get(ctx, "B-1"); return err == nil })
	it.Status = "done"
	a.tracker.Update(ctx, it)
	waitFor(t, "update in B", func() bool { return get(t, b, "B-1").Status == "done" })
	if out := ra.flags(ra.out, "first"); len(out) < 2 || !out[0] || slices.Contains(out[1:], true) {
		t.Errorf("A's outgoing runs: first flags %v; want true for the create only", out)
	}
	if in := rb.flags(rb.in, "first"); len(in) < 2 || !in[0] || slices.Contains(in[1:], true) {
		t.Errorf("B's incoming runs: first flags %v; want true for the create only", in)
	}
}

// outcomeLog records the outcomes an engine reports.
type outcomeLog struct {
	mu   sync.Mutex
	outs []engine.Outcome
}

func (l *outcomeLog) Record(outs []engine.Outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.outs = append(l.outs, outs...)
}

func (l *outcomeLog) find(result, dir string) (engine.Outcome, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.outs {
		if o.Result == result && o.Direction == dir {
			return o, true
		}
	}
	return engine.Outcome{}, false
}

// TestRuleVersionAndLogsKeptWithEvents: each event records the rule version that produced it
// and the rule's log lines, in the queue (a failed event) and in the outcomes (the history).
func TestRuleVersionAndLogsKeptWithEvents(t *testing.T) {
	var mu sync.Mutex
	broken := false
	out := plainRules{result: &engine.RuleResult{Version: 3, Logs: []string{"built the replica"}}, failOut: func(it item.Item) error {
		mu.Lock()
		defer mu.Unlock()
		if broken && strings.Contains(it.Title, "boom") {
			return errorString("line 7: boom")
		}
		return nil
	}}
	in := plainRules{result: &engine.RuleResult{Version: 5, Logs: []string{"applied"}}}
	ab, ba := &direct{}, &direct{}
	logA, logB := &outcomeLog{}, &outcomeLog{}
	a, b := buildSide(t, "A", ab, out, logA), buildSide(t, "B", ba, in, logB)
	ab.to, ba.to = b.eng, a.eng
	serveSides(t, a, b)
	ctx := context.Background()
	a.tracker.Create(ctx, item.Item{Title: "fine"})
	waitFor(t, "applied in B", func() bool { _, ok := logB.find(engine.ResultApplied, "in"); return ok })
	// The sent outcome is recorded once the partner's answer is committed, which may be after
	// the partner applied the event.
	waitFor(t, "sent from A", func() bool { _, ok := logA.find(engine.ResultSent, "out"); return ok })
	if o, _ := logA.find(engine.ResultSent, "out"); o.RuleVersion != "outgoing v3" || !slices.Equal(o.Logs, []string{"built the replica"}) {
		t.Errorf("sent outcome: rule %q logs %q", o.RuleVersion, o.Logs)
	}
	if o, _ := logB.find(engine.ResultApplied, "in"); o.RuleVersion != "incoming v5" || !slices.Equal(o.Logs, []string{"applied"}) {
		t.Errorf("applied outcome: rule %q logs %q", o.RuleVersion, o.Logs)
	}

	mu.Lock()
	broken = true
	mu.Unlock()
	a.tracker.Create(ctx, item.Item{Title: "boom"})
	waitFor(t, "the failed outgoing event", func() bool { _, ok := logA.find(engine.ResultFailed, "out"); return ok })
	evs, _ := a.out.List(0, 100)
	for _, e := range evs {
		if e.Failed && (e.Rule != "outgoing v3" || !slices.Equal(e.Logs, []string{"built the replica"}) || !strings.Contains(e.LastError, "boom")) {
			t.Errorf("failed event: rule %q logs %q error %q", e.Rule, e.Logs, e.LastError)
		}
	}
	if o, ok := logA.find(engine.ResultFailed, "out"); !ok || o.RuleVersion != "outgoing v3" {
		t.Errorf("failed outcome: %+v (found %v)", o, ok)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

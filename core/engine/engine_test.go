package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/queue"
	"github.com/tandemsync/tandem/core/store"
	"github.com/tandemsync/tandem/core/trackers/local"
)

// plainRules maps the core fields both ways in plain Go; the yaegi rules are tested in
// core/rules and end to end in core/agent. result, when set, is what every run reports
// besides (conflict policies, comment choices, a version, log lines).
type plainRules struct {
	failOut func(item.Item) error
	result  *engine.RuleResult
}

func (p plainRules) run() engine.RuleResult {
	if p.result == nil {
		return engine.RuleResult{}
	}
	return *p.result
}

func (p plainRules) Outgoing(_ context.Context, it item.Item, _ bool) (item.Replica, engine.RuleResult, error) {
	if p.failOut != nil {
		if err := p.failOut(it); err != nil {
			return item.Replica{}, p.run(), err
		}
	}
	return item.Replica{Title: it.Title, Description: it.Description, Status: it.Status, Priority: it.Priority, Labels: it.Labels, Comments: it.Comments}, p.run(), nil
}

func (p plainRules) Incoming(_ context.Context, r item.Replica, cur item.Item, _ bool) (item.Item, engine.RuleResult, error) {
	cur.Title, cur.Description, cur.Status, cur.Priority, cur.Labels = r.Title, r.Description, r.Status, r.Priority, r.Labels
	cur.Comments = r.Comments
	return cur, p.run(), nil
}

// side is one agent's worth of engine state on a real bbolt file.
type side struct {
	st      *store.Store
	tracker *local.Tracker
	eng     *engine.Engine
	out     *queue.Queue
	in      *queue.Queue
}

// direct delivers straight into the partner engine's Receive; down simulates an outage.
type direct struct {
	mu   sync.Mutex
	to   *engine.Engine
	down bool
	sent int
}

func (d *direct) Send(ctx context.Context, evs []queue.Event) (uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return 0, fmt.Errorf("partner unreachable")
	}
	d.sent += len(evs)
	return d.to.Receive(ctx, evs)
}

// newSide makes one side; wrap, when given, stands between the engine and the tracker.
func newSide(t *testing.T, prefix string, send engine.Sender, rules engine.Rules, wrap ...func(*local.Tracker) engine.Tracker) *side {
	t.Helper()
	return buildSide(t, prefix, send, rules, nil, wrap...)
}

// buildSide is newSide with a recorder of the engine's outcomes (nil for none).
func buildSide(t *testing.T, prefix string, send engine.Sender, rules engine.Rules, rec engine.Recorder, wrap ...func(*local.Tracker) engine.Tracker) *side {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tr, err := local.Open(st, local.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	out, err := queue.Open(st, "out/c")
	if err != nil {
		t.Fatal(err)
	}
	in, err := queue.Open(st, "in/c")
	if err != nil {
		t.Fatal(err)
	}
	var et engine.Tracker = tr
	for _, w := range wrap {
		et = w(tr)
	}
	eng, err := engine.New(engine.Options{Connection: "c", Store: st, Tracker: et, Rules: rules, Outbox: out, Inbox: in, Sender: send,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Poll: 50 * time.Millisecond, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	return &side{st: st, tracker: tr, eng: eng, out: out, in: in}
}

// pairSides makes two sides that deliver straight to each other and serves them until the
// test ends; wrapB, when given, stands between B's engine and its tracker.
func pairSides(t *testing.T, rules engine.Rules, wrapB ...func(*local.Tracker) engine.Tracker) (a, b *side, ab, ba *direct) {
	ab, ba = &direct{}, &direct{}
	a = newSide(t, "A", ab, rules)
	b = newSide(t, "B", ba, plainRules{}, wrapB...)
	ab.to, ba.to = b.eng, a.eng
	serveSides(t, a, b)
	return a, b, ab, ba
}

// serveSides runs the sides' engines until the test ends.
func serveSides(t *testing.T, sides ...*side) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range sides {
		wg.Add(1)
		go func() { defer wg.Done(); s.eng.Serve(ctx) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForWithin(t, 20*time.Second, what, cond)
}

func waitForWithin(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, s *side, key string) item.Item {
	t.Helper()
	it, err := s.tracker.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func TestFieldWiseMergeKeepsLocalChanges(t *testing.T) {
	a, b, _, _ := pairSides(t, plainRules{})
	ctx := context.Background()
	it, _ := a.tracker.Create(ctx, item.Item{Title: "t", Description: "d", Status: "open", Priority: "low"})
	waitFor(t, "B-1 created", func() bool { _, err := b.tracker.Get(ctx, "B-1"); return err == nil })
	waitFor(t, "A learns its twin", func() bool { r, _ := a.eng.Twin(it.Key); return r == "B-1" })

	// B changes the priority locally; A changes the title. Neither overwrites the other.
	bi := get(t, b, "B-1")
	bi.Priority = "high"
	b.tracker.Update(ctx, bi)
	it.Title = "t2"
	a.tracker.Update(ctx, it)
	waitFor(t, "both fields on both sides", func() bool {
		ai, bi := get(t, a, it.Key), get(t, b, "B-1")
		return ai.Title == "t2" && bi.Title == "t2" && ai.Priority == "high" && bi.Priority == "high"
	})
}

func TestKeysNameBothSidesOfATwin(t *testing.T) {
	a, b, _, _ := pairSides(t, plainRules{})
	ctx := context.Background()
	it, _ := a.tracker.Create(ctx, item.Item{Title: "linked", Description: "with a replica to skip over"})
	waitFor(t, "A learns its twin", func() bool { r, _ := a.eng.Twin(it.Key); return r == "B-1" })
	remoteOf, localOf, err := a.eng.Keys([]string{it.Key, "A-404"}, []string{"B-1", "B-404"})
	if err != nil {
		t.Fatal(err)
	}
	if remoteOf[it.Key] != "B-1" || remoteOf["A-404"] != "" || localOf["B-1"] != it.Key || localOf["B-404"] != "" {
		t.Errorf("Keys: remoteOf %v, localOf %v; want %s <-> B-1 and nothing for the unknown keys", remoteOf, localOf, it.Key)
	}
	if _, localOf, _ := b.eng.Keys(nil, []string{it.Key}); localOf[it.Key] != "B-1" {
		t.Errorf("B's Keys: localOf %v, want %s -> B-1", localOf, it.Key)
	}
}

func TestCommentsSyncOnceEachWay(t *testing.T) {
	a, b, ab, ba := pairSides(t, plainRules{})
	ctx := context.Background()
	it, _ := a.tracker.Create(ctx, item.Item{Title: "with comments"})
	a.tracker.AddComment(ctx, it.Key, item.Comment{Author: item.User{Name: "Ann"}, Body: "from A"})
	waitFor(t, "comment in B", func() bool {
		bi, err := b.tracker.Get(ctx, "B-1")
		return err == nil && len(bi.Comments) == 1
	})
	b.tracker.AddComment(ctx, "B-1", item.Comment{Author: item.User{Name: "Bob"}, Body: "from B"})
	waitFor(t, "reply in A", func() bool { return len(get(t, a, it.Key).Comments) == 2 })
	time.Sleep(300 * time.Millisecond) // let any echo show itself
	ai, bi := get(t, a, it.Key), get(t, b, "B-1")
	if len(ai.Comments) != 2 || len(bi.Comments) != 2 {
		t.Fatalf("comments: A has %d, B has %d, want 2 each", len(ai.Comments), len(bi.Comments))
	}
	if bi.Comments[0].Author.Name != "Ann" {
		t.Errorf("author in B: got %q, want Ann", bi.Comments[0].Author.Name)
	}
	ab.mu.Lock()
	ba.mu.Lock()
	defer ab.mu.Unlock()
	defer ba.mu.Unlock()
	// A: create, comment (maybe coalesced); B: receipt, comment.
	if ab.sent > 2 || ba.sent > 2 {
		t.Errorf("events sent: A %d, B %d; want at most 2 each (no echo)", ab.sent, ba.sent)
	}
}

func TestOutgoingRuleFailureWaitsForOperator(t *testing.T) {
	var mu sync.Mutex
	broken := true
	rules := plainRules{failOut: func(it item.Item) error {
		mu.Lock()
		defer mu.Unlock()
		if broken && it.Title == "poison" {
			return fmt.Errorf("rule line 3: nil map")
		}
		return nil
	}}
	a, b, _, _ := pairSides(t, rules)
	ctx := context.Background()
	poison, _ := a.tracker.Create(ctx, item.Item{Title: "poison"})
	a.tracker.Create(ctx, item.Item{Title: "fine"})
	waitFor(t, "the good item flows past the bad one", func() bool { n, _ := b.tracker.Count(ctx); return n == 1 })
	var failed queue.Event
	waitFor(t, "a failed event in the outbox", func() bool {
		evs, _ := a.out.List(0, 10)
		for _, ev := range evs {
			if ev.Failed && ev.ItemKey == poison.Key {
				failed = ev
				return true
			}
		}
		return false
	})
	if !failed.Permanent {
		t.Errorf("rule failure: want a permanent failure waiting for the operator, got %+v", failed)
	}
	mu.Lock()
	broken = false // the operator fixes the rule
	mu.Unlock()
	if err := a.out.Retry(failed.Seq); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the fixed item arrives", func() bool { n, _ := b.tracker.Count(ctx); return n == 2 })
}

func TestPartnerOutageEventsWaitThenFlow(t *testing.T) {
	a, b, ab, _ := pairSides(t, plainRules{})
	ctx := context.Background()
	ab.mu.Lock()
	ab.down = true
	ab.mu.Unlock()
	for i := range 5 {
		a.tracker.Create(ctx, item.Item{Title: fmt.Sprint("during outage ", i)})
	}
	waitFor(t, "events waiting", func() bool { s, _ := a.out.Stats(); return s.Pending == 5 })
	if st := a.eng.Stats(); st.LastError == "" {
		t.Errorf("engine stats during outage: no error reported")
	}
	ab.mu.Lock()
	ab.down = false
	ab.mu.Unlock()
	waitFor(t, "events flow after the outage", func() bool { n, _ := b.tracker.Count(ctx); return n == 5 })
}

// gatedTracker holds back reads of the change feed until open is closed, to line up an
// apply before the detection of a local edit.
type gatedTracker struct {
	*local.Tracker
	open chan struct{}
}

func (g gatedTracker) Changes(ctx context.Context, cursor string, limit int) ([]item.Item, string, error) {
	select {
	case <-g.open:
	case <-ctx.Done():
		return nil, cursor, ctx.Err()
	}
	return g.Tracker.Changes(ctx, cursor, limit)
}

func TestLocalEditNotYetSentSurvivesAnApply(t *testing.T) {
	ab, ba := &direct{}, &direct{}
	a := newSide(t, "A", ab, plainRules{})
	b := newSide(t, "B", ba, plainRules{})
	ab.to, ba.to = b.eng, a.eng
	ctx := context.Background()
	run := func(s *side) func() {
		c, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); s.eng.Serve(c) }()
		return func() { cancel(); <-done }
	}
	stopA, stopB := run(a), run(b)
	defer func() { stopA() }()
	it, _ := a.tracker.Create(ctx, item.Item{Title: "t", Priority: "low"})
	waitFor(t, "twin linked", func() bool { r, _ := a.eng.Twin(it.Key); return r == "B-1" })
	stopB()

	// B's engine comes back with its change feed held back: B's own edit is not detected yet
	// when A's title change is applied.
	bi := get(t, b, "B-1")
	bi.Priority = "high"
	b.tracker.Update(ctx, bi)
	gate := make(chan struct{})
	out, _ := queue.Open(b.st, "out/c")
	in, _ := queue.Open(b.st, "in/c")
	eng, err := engine.New(engine.Options{Connection: "c", Store: b.st, Tracker: gatedTracker{b.tracker, gate}, Rules: plainRules{}, Outbox: out, Inbox: in, Sender: ba,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ab.mu.Lock()
	ab.to = eng
	ab.mu.Unlock()
	b.eng = eng
	stopB = run(b)
	defer func() { stopB() }()
	it.Title = "t2"
	a.tracker.Update(ctx, it)
	waitFor(t, "A's title applied in B", func() bool { return get(t, b, "B-1").Title == "t2" })
	close(gate)
	waitFor(t, "B's earlier priority edit reaches A", func() bool { return get(t, a, it.Key).Priority == "high" })
	if got := get(t, b, "B-1"); got.Priority != "high" || got.Title != "t2" {
		t.Errorf("B after both edits: %+v", got)
	}
}

// lostAnswerTracker loses the answer to one create before the tracker acts on it, and on the
// retry looks for what that attempt made the way the RT connector does: the newest item with
// the same title that is not linked already.
type lostAnswerTracker struct {
	engine.Tracker // a tracker outside the agent's bbolt file: no ApplyTx
	tr             *local.Tracker
	mu             sync.Mutex
	lose           string // the title of the create to lose; "" once lost
	linked         []string
}

func (l *lostAnswerTracker) Apply(ctx context.Context, writes []engine.Write) ([]engine.WriteResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	results := make([]engine.WriteResult, len(writes))
	for i, w := range writes {
		if w.Key == "" && l.lose != "" && w.Item.Title == l.lose {
			l.lose = ""
			results[i].Err = fmt.Errorf("tracker timed out")
			continue
		}
		if w.Key == "" && w.Retry {
			n, _ := l.tr.Count(ctx)
			items, _ := l.tr.List(ctx, 0, n)
			for j := len(items) - 1; j >= 0; j-- {
				if items[j].Title != w.Item.Title {
					continue
				}
				if w.Linked != nil && w.Linked(items[j].Key) {
					l.linked = append(l.linked, items[j].Key)
					continue
				}
				w.Key = items[j].Key // adopt
				break
			}
		}
		res, err := l.tr.Apply(ctx, []engine.Write{w})
		if err != nil {
			return nil, err
		}
		results[i] = res[0]
	}
	return results, nil
}

func TestRetriedCreateNeverAdoptsALinkedItem(t *testing.T) {
	var lossy *lostAnswerTracker
	a, b, _, _ := pairSides(t, plainRules{}, func(tr *local.Tracker) engine.Tracker {
		lossy = &lostAnswerTracker{Tracker: tr, tr: tr}
		return lossy
	})
	ctx := context.Background()

	first, _ := a.tracker.Create(ctx, item.Item{Title: "Printer jammed"})
	waitFor(t, "the first item linked", func() bool { r, _ := a.eng.Twin(first.Key); return r == "B-1" })
	lossy.mu.Lock()
	lossy.lose = "Printer jammed"
	lossy.mu.Unlock()
	second, _ := a.tracker.Create(ctx, item.Item{Title: "Printer jammed", Description: "the other one, on floor 2"})
	waitFor(t, "the second item linked after the retry", func() bool { r, _ := a.eng.Twin(second.Key); return r != "" })

	if r, _ := a.eng.Twin(second.Key); r == "B-1" {
		t.Fatalf("the retried create adopted B-1, already the twin of %s", first.Key)
	}
	if n, _ := b.tracker.Count(ctx); n != 2 {
		t.Errorf("B has %d items, want 2", n)
	}
	lossy.mu.Lock()
	defer lossy.mu.Unlock()
	if len(lossy.linked) != 1 || lossy.linked[0] != "B-1" {
		t.Errorf("items the retry found linked: %v, want [B-1]", lossy.linked)
	}
}

// probing is a direct sender that also answers probes, and counts both.
type probing struct {
	*direct
	probes, sends int
	at            []time.Time // when each probe came
}

func (p *probing) Probe(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.probes++
	p.at = append(p.at, time.Now())
	if p.down {
		return fmt.Errorf("partner unreachable")
	}
	return nil
}

func (p *probing) Send(ctx context.Context, evs []queue.Event) (uint64, error) {
	p.mu.Lock()
	p.sends++
	p.mu.Unlock()
	return p.direct.Send(ctx, evs)
}

func TestDeliveryProbesAnUnreachablePartnerInsteadOfResending(t *testing.T) {
	ab, ba := &probing{direct: &direct{down: true}}, &direct{}
	a := newSide(t, "A", ab, plainRules{})
	b := newSide(t, "B", ba, plainRules{})
	ab.to, ba.to = b.eng, a.eng
	serveSides(t, a, b)
	ctx := context.Background()
	a.tracker.Create(ctx, item.Item{Title: "while the partner is away"})
	waitForWithin(t, time.Minute, "a few probes", func() bool { ab.mu.Lock(); defer ab.mu.Unlock(); return ab.probes >= 8 })
	ab.mu.Lock()
	probes, sends, at := ab.probes, ab.sends, slices.Clone(ab.at)
	ab.down = false
	ab.mu.Unlock()
	if sends >= probes {
		t.Errorf("while the partner was away: %d sends and %d probes; want cheap probes between fewer resends", sends, probes)
	}
	// Probes space out while the partner stays away (250 ms, then doubling to 2 s), so a
	// partner gone for the night costs next to nothing; a slow machine only spaces them more.
	if gap := at[7].Sub(at[6]); gap < time.Second {
		t.Errorf("the 7th and 8th probes came %v apart; want them spaced out to about 2 s", gap)
	}
	waitFor(t, "delivery once a probe answers", func() bool { n, _ := b.tracker.Count(ctx); return n == 1 })
}

// countingRules counts rule runs.
type countingRules struct {
	plainRules
	mu            sync.Mutex
	out, in       int
	outFor, inFor map[string]int // by item title
}

func (c *countingRules) Outgoing(ctx context.Context, it item.Item, first bool) (item.Replica, engine.RuleResult, error) {
	c.mu.Lock()
	c.out++
	c.mu.Unlock()
	return c.plainRules.Outgoing(ctx, it, first)
}

func (c *countingRules) Incoming(ctx context.Context, r item.Replica, cur item.Item, first bool) (item.Item, engine.RuleResult, error) {
	c.mu.Lock()
	c.in++
	c.mu.Unlock()
	return c.plainRules.Incoming(ctx, r, cur, first)
}

func (c *countingRules) runs() (out, in int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out, c.in
}

func TestEachChangeRunsEachRuleOnce(t *testing.T) {
	ra, rb := &countingRules{}, &countingRules{}
	ab, ba := &direct{}, &direct{}
	a := newSide(t, "A", ab, ra)
	b := newSide(t, "B", ba, rb)
	ab.to, ba.to = b.eng, a.eng
	serveSides(t, a, b)
	ctx := context.Background()
	settle := func() {
		// Wait until both sides are idle: queues empty and the counts still.
		waitFor(t, "idle", func() bool {
			o1, i1 := ra.runs()
			o2, i2 := rb.runs()
			time.Sleep(300 * time.Millisecond)
			o3, i3 := ra.runs()
			o4, i4 := rb.runs()
			sa, _ := a.out.Stats()
			sb, _ := b.out.Stats()
			return o1 == o3 && i1 == i3 && o2 == o4 && i2 == i4 && sa.Pending == 0 && sb.Pending == 0
		})
	}
	it, _ := a.tracker.Create(ctx, item.Item{Title: "t", Priority: "low"})
	waitFor(t, "linked", func() bool { r, _ := a.eng.Twin(it.Key); return r == "B-1" })
	settle()
	check := func(what string, wantAOut, wantAIn, wantBOut, wantBIn int) {
		t.Helper()
		ao, ai := ra.runs()
		bo, bi := rb.runs()
		if ao != wantAOut || ai != wantAIn || bo != wantBOut || bi != wantBIn {
			t.Errorf("%s: rule runs A out %d in %d, B out %d in %d; want A out %d in %d, B out %d in %d",
				what, ao, ai, bo, bi, wantAOut, wantAIn, wantBOut, wantBIn)
		}
	}
	// A's outgoing once; B's incoming once, and its outgoing once to know its own write's
	// echo, which its detection then recognises by hash.
	check("a create", 1, 0, 1, 1)
	for i := range 3 {
		it.Title = fmt.Sprint("t", i)
		a.tracker.Update(ctx, it)
		waitFor(t, "update applied", func() bool { return get(t, b, "B-1").Title == it.Title })
		settle()
	}
	check("a create and three updates", 4, 0, 4, 4)
}

// dyingTracker makes the first create of a title and then "dies": the call fails as if the
// process had been killed before it recorded anything. Retries look for what that attempt
// made, as the RT connector does.
type dyingTracker struct {
	engine.Tracker // a tracker outside the agent's bbolt file: no ApplyTx
	tr             *local.Tracker
	mu             sync.Mutex
	die            string
	retries        int
}

func (d *dyingTracker) Apply(ctx context.Context, writes []engine.Write) ([]engine.WriteResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, w := range writes {
		if w.Key == "" && w.Retry {
			d.retries++
			n, _ := d.tr.Count(ctx)
			items, _ := d.tr.List(ctx, 0, n)
			for _, it := range items {
				if it.Title == w.Item.Title && (w.Linked == nil || !w.Linked(it.Key)) {
					writes[i].Key = it.Key // adopt what the lost attempt made
					break
				}
			}
		}
	}
	res, err := d.tr.Apply(ctx, writes)
	for _, w := range writes {
		if w.Key == "" && w.Item.Title == d.die {
			d.die = ""
			return nil, fmt.Errorf("killed")
		}
	}
	return res, err
}

func TestWriteLostToACrashIsRetriedAndItsItemNotSentBack(t *testing.T) {
	var dying *dyingTracker
	a, b, _, _ := pairSides(t, plainRules{}, func(tr *local.Tracker) engine.Tracker {
		dying = &dyingTracker{Tracker: tr, tr: tr, die: "Printer jammed"}
		return dying
	})
	ctx := context.Background()
	it, _ := a.tracker.Create(ctx, item.Item{Title: "Printer jammed"})
	waitFor(t, "linked after the retry", func() bool { r, _ := a.eng.Twin(it.Key); return r == "B-1" })
	a.tracker.Create(ctx, item.Item{Title: "after"})
	waitFor(t, "a later item", func() bool { n, _ := b.tracker.Count(ctx); return n == 2 })
	time.Sleep(300 * time.Millisecond) // let a wrong echo show itself
	if n, _ := a.tracker.Count(ctx); n != 2 {
		t.Errorf("A has %d items, want 2: the item the lost attempt made came back as a new one", n)
	}
	if n, _ := b.tracker.Count(ctx); n != 2 {
		t.Errorf("B has %d items, want 2", n)
	}
	dying.mu.Lock()
	defer dying.mu.Unlock()
	if dying.retries != 1 {
		t.Errorf("retries: %d, want 1", dying.retries)
	}
}

// windowTracker makes the first update that writes a given title and then "dies" before the
// engine records it; in that window, before the retry, window runs (a person's edit, the
// partner's next change arriving).
type windowTracker struct {
	engine.Tracker // a tracker outside the agent's bbolt file: no ApplyTx
	tr             *local.Tracker
	mu             sync.Mutex
	die            string
	window         func()
}

func (d *windowTracker) Apply(ctx context.Context, writes []engine.Write) ([]engine.WriteResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	res, err := d.tr.Apply(ctx, writes)
	for _, w := range writes {
		if w.Key != "" && d.die != "" && w.Item.Title == d.die {
			d.die = ""
			d.window()
			return nil, fmt.Errorf("killed")
		}
	}
	return res, err
}

// A retry after a crash between a tracker write and its record must tell what the lost
// attempt wrote, which the item holds already, from a person's edit made in the crash window:
// the first is not sent back (it would carry the partner's own older value to it, overwriting
// what the partner has since), the second is.
func TestRetryAfterACrashSendsEditsMadeInTheWindowButNotWhatTheLostAttemptWrote(t *testing.T) {
	ctx := context.Background()
	var wt *windowTracker
	a, b, ab, _ := pairSides(t, plainRules{}, func(tr *local.Tracker) engine.Tracker {
		wt = &windowTracker{Tracker: tr, tr: tr, die: "t2"}
		return wt
	})
	it, _ := a.tracker.Create(ctx, item.Item{Title: "t", Priority: "low"})
	waitFor(t, "twin linked", func() bool { r, _ := a.eng.Twin(it.Key); return r == "B-1" })

	windowErr := make(chan error, 1)
	wt.window = func() {
		// A person raises the priority at B while the write is unrecorded ...
		bi, _ := b.tracker.Get(ctx, "B-1")
		bi.Priority = "high"
		if _, err := b.tracker.Update(ctx, bi); err != nil {
			windowErr <- err
			return
		}
		// ... and A's next rename reaches B's inbox before the retry.
		ab.mu.Lock()
		sent := ab.sent
		ab.mu.Unlock()
		ai, _ := a.tracker.Get(ctx, it.Key)
		ai.Title = "t3"
		a.tracker.Update(ctx, ai)
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			ab.mu.Lock()
			n := ab.sent
			ab.mu.Unlock()
			if n > sent {
				break
			}
			if time.Now().After(deadline) {
				windowErr <- fmt.Errorf("A's rename never reached B")
				return
			}
		}
		windowErr <- nil
	}
	it, _ = a.tracker.Get(ctx, it.Key)
	it.Title = "t2"
	a.tracker.Update(ctx, it)
	select {
	case err := <-windowErr:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("B never wrote t2")
	}
	waitFor(t, "A's rename and B's priority on both sides", func() bool {
		ai, bi := get(t, a, it.Key), get(t, b, "B-1")
		return ai.Priority == "high" && bi.Title == "t3"
	})
	time.Sleep(300 * time.Millisecond) // let a wrong follow-up show itself
	ai, bi := get(t, a, it.Key), get(t, b, "B-1")
	if ai.Title != "t3" || bi.Title != "t3" || ai.Priority != "high" || bi.Priority != "high" {
		t.Errorf("after the retry: A %q %s, B %q %s; want both \"t3\" high", ai.Title, ai.Priority, bi.Title, bi.Priority)
	}
}

// commits is how many transactions s's store has committed so far.
func commits(s *side) uint64 {
	var id uint64
	s.st.DB().View(func(tx *bolt.Tx) error { id = uint64(tx.ID()); return nil })
	return id
}

// At a steady pace, a change costs the side that applies it about one commit: the apply. Its
// detection reading Tandem's own write back moves the cursor with the next commit, the ack of
// the receipt it sends rides with a later write, and receipts wait a moment for each other,
// so the side that made the change commits them together rather than one by one.
func TestASteadyChangeCostsAboutOneCommitToApply(t *testing.T) {
	a, b, _, _ := pairSides(t, plainRules{})
	ctx := context.Background()
	first, _ := a.tracker.Create(ctx, item.Item{Title: "warm-up"})
	waitFor(t, "linked", func() bool { r, _ := a.eng.Twin(first.Key); return r != "" })
	time.Sleep(200 * time.Millisecond)
	ca, cb := commits(a), commits(b)
	const n = 100
	var keys []string
	tick := time.NewTicker(5 * time.Millisecond) // 200 changes a second
	for i := range n {
		<-tick.C
		it, err := a.tracker.Create(ctx, item.Item{Title: fmt.Sprint("steady ", i)})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, it.Key)
	}
	tick.Stop()
	waitFor(t, "every change linked", func() bool {
		for _, k := range keys {
			if r, _ := a.eng.Twin(k); r == "" {
				return false
			}
		}
		return true
	})
	time.Sleep(200 * time.Millisecond) // the last ack and cursor, which commit after a linger
	perB := float64(commits(b)-cb) / n
	perA := float64(commits(a)-ca-n) / n // without A's own tracker writes
	t.Logf("commits per change: %.2f applying (B), %.2f sending and taking receipts (A)", perB, perA)
	if perB > 1.6 {
		t.Errorf("applying a change cost B %.2f commits; want about one (at most 1.6)", perB)
	}
	if perA > 2.2 {
		t.Errorf("sending a change and taking its receipt cost A %.2f commits besides its tracker's write; want at most 2.2 (3 before receipts waited for each other and acks rode with other writes)", perA)
	}
}

// A step that finds nothing to send (here, items outside the outgoing rule's trigger) moves
// the cursor with a later commit; an engine that stops commits it first, so the next one (the
// agent restarted, or the engine rebuilt for another tracker) does not read those items again.
func TestAStoppedEngineKeepsTheCursorItDeferred(t *testing.T) {
	outside := plainRules{result: &engine.RuleResult{Skip: true}}
	s := newSide(t, "A", &direct{down: true}, outside)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.eng.Serve(ctx) }()
	for i := range 5 {
		if _, err := s.tracker.Create(context.Background(), item.Item{Title: fmt.Sprint("item ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the items read", func() bool { return s.eng.Stats().Detected == 5 })
	before := commits(s)
	time.Sleep(100 * time.Millisecond)
	if got := commits(s) - before; got != 0 {
		t.Errorf("%d commits after the items were read; want none: the cursor waits for another write", got)
	}
	stop()
	<-done

	again, err := engine.New(engine.Options{Connection: "c", Store: s.st, Tracker: s.tracker, Rules: outside, Outbox: s.out, Inbox: s.in, Sender: &direct{down: true},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	serveSides(t, &side{st: s.st, tracker: s.tracker, eng: again, out: s.out, in: s.in})
	time.Sleep(300 * time.Millisecond) // several detection steps
	if got := again.Stats().Detected; got != 0 {
		t.Errorf("the restarted engine read %d items again: the cursor the stopped engine deferred was not committed", got)
	}
}

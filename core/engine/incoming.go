package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/queue"
	"github.com/tandemsync/tandem/core/store"
)

func (e *Engine) applyLoop(ctx context.Context) {
	for {
		evs, err := e.opt.Inbox.Ready(time.Now(), e.opt.BatchSize)
		if err != nil {
			e.log.Error("read inbox", "err", err)
			if !wait(ctx, time.Second) {
				return
			}
			continue
		}
		if len(evs) == 0 {
			if !wait(ctx, time.Second, e.opt.Inbox.Notify()) {
				return
			}
			continue
		}
		groups := groupByItem(evs)
		steps := [][][]queue.Event{groups}
		if _, ok := e.opt.Tracker.(TxTracker); !ok {
			// A tracker outside the agent's database is written an item at a time, each
			// committed before the next: a slow tracker and frequent restarts cannot keep a
			// long batch from ever being recorded.
			steps = steps[:0]
			for _, g := range groups {
				steps = append(steps, [][]queue.Event{g})
			}
		}
		for _, step := range steps {
			err := e.applyBatch(ctx, step)
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, errStale) {
				break // read and plan again
			}
			if err != nil {
				e.log.Error("apply batch", "err", err)
				e.setErr(fmt.Errorf("apply: %w", err))
				if !wait(ctx, time.Second) {
					return
				}
				break
			}
		}
	}
}

// groupByItem splits inbox events, in order, into one group per item: an item's consecutive
// creates and updates fold into one change, written once. An event that cannot fold into its
// item's group (a receipt) ends the batch there, so the next batch starts with it: a later
// event of an item may need the key an earlier one creates. A retry folds only the events its
// lost attempt had folded (those still in flight), so it writes what that attempt wrote and
// can find what it made (a create is found by its title).
func groupByItem(evs []queue.Event) [][]queue.Event {
	at := make(map[string]int, len(evs))
	var groups [][]queue.Event
	for _, ev := range evs {
		i, seen := at[ev.ItemKey]
		if !seen {
			at[ev.ItemKey] = len(groups)
			groups = append(groups, []queue.Event{ev})
			continue
		}
		if !isChange(ev.Kind) || !isChange(groups[i][0].Kind) {
			break
		}
		if groups[i][0].Retried() && !ev.InFlight {
			continue // waits for the next batch, after the retry
		}
		groups[i] = append(groups[i], ev)
	}
	return groups
}

func isChange(kind string) bool { return kind == KindCreate || kind == KindUpdate }

// fold makes one change of two consecutive changes of an item: b's replica, the fields either
// changed with the values from before the first, and a's starting point.
func fold(a, b Change) Change {
	out := b
	if b.Target == "" {
		out.Target = a.Target
	}
	out.PrevHash = a.PrevHash
	out.DeletedComments = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(a.DeletedComments), b.DeletedComments...))))
	if a.Prev == nil || b.Prev == nil { // a create, or a sender that names no fields: all changed
		out.Changed, out.Prev = nil, nil
		return out
	}
	prev := item.Replica{}
	prev.CopyFields(*b.Prev, b.Changed)
	prev.CopyFields(*a.Prev, a.Changed) // a's values are the older ones
	out.Prev = &prev
	out.Changed = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(a.Changed), b.Changed...))))
	return out
}

// plan is what applying one inbox event will do.
type plan struct {
	ev       queue.Event
	folded   []queue.Event // later changes of the same item folded into ev's
	err      error         // fails the event
	skip     bool          // ack without a change
	rule     RuleResult    // what the incoming rule reported (its logs), for the history
	receipt  *Receipt
	change   Change
	twin     twin
	current  item.Item     // the local item before the change (zero for a new one)
	incoming item.Item     // what the incoming rule made of the replica
	previous fieldSums     // what it made of the replica as it was before the sender's change
	unsent   *item.Replica // this side's replica before the write, when it has edits the partner has not seen
	write    int           // index into the batch's writes, -1 when nothing is written
	partner  []string      // partner ids of the write's NewComments
	newLink  bool          // the twin link is new: the sender learns our key from a receipt
	created  bool          // the write created the local item
	followUp *queue.Event  // local edits the partner has not seen, sent after the apply
	partial  bool          // the write failed after creating the item: keep the twin link
	// hashes are the partner comments' hashes to record once the write succeeds (by the
	// partner's id; deletedComment for one deleted).
	hashes map[string]string
}

// seqs are the inbox sequences of the plan's events.
func (p *plan) seqs() []uint64 {
	s := []uint64{p.ev.Seq}
	for _, f := range p.folded {
		s = append(s, f.Seq)
	}
	return s
}

// retried reports whether an earlier attempt at any of the plan's events may have acted.
func (p *plan) retried() bool {
	if p.ev.Retried() {
		return true
	}
	for _, f := range p.folded {
		if f.Retried() {
			return true
		}
	}
	return false
}

// changes reports whether the plan applies a create or update (not a receipt, skip or failure).
func (p *plan) changes() bool { return p.err == nil && p.receipt == nil && !p.skip }

// batch is one pass of the apply loop over inbox events, carried through its phases:
// planBatch, writeBatch, settle, commit and report.
type batch struct {
	plans   []plan
	writes  []Write
	results []WriteResult // one per write, once writeBatch has run
	applied []*plan       // the plans committed as applied changes
	start   time.Time     // when the batch began, for the outcomes' durations
}

// applyBatch applies inbox events grouped by item (see groupByItem), in five phases: planBatch decides
// what each event means without writing; writeBatch makes the tracker writes; settle works
// out the twins and the replicas that recognise Tandem's own write as an echo; commit records
// twins, acks, failures and receipts in one transaction; report tells the log, the counters
// and the OnApplied hook.
//
// A tracker in the agent's own bbolt file (TxTracker) is written inside the commit's
// transaction, so a crash keeps all of the apply or none. Any other tracker is written
// between two transactions: the first records the attempt (startAttempts), so that after a
// crash the write is replayed as a retry that first looks for what the lost attempt made.
func (e *Engine) applyBatch(ctx context.Context, groups [][]queue.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.planBatch(ctx, groups)
	if txt, ok := e.opt.Tracker.(TxTracker); ok {
		if err := e.applyTx(ctx, b, txt, nil); err != nil {
			return err
		}
	} else {
		if err := e.startAttempts(b); err != nil {
			return err
		}
		if err := e.writeBatch(ctx, b); err != nil {
			return err
		}
		e.settle(ctx, b)
		if err := e.commit(b); err != nil {
			return err
		}
	}
	e.report(b)
	return nil
}

// applyTx writes, settles and commits a planned batch to the embedded tracker in one
// transaction, after prepare (if given) ran in it. The transaction may share its commit with
// other writes (store.UpdateOnce: it runs after them and only once, as settling changes the
// plans).
func (e *Engine) applyTx(ctx context.Context, b *batch, txt TxTracker, prepare func(*bolt.Tx) error) error {
	err := e.opt.Store.UpdateOnce(func(tx *bolt.Tx) error {
		if prepare != nil {
			if err := prepare(tx); err != nil {
				return err
			}
		}
		if err := e.unchanged(tx, b, txt); err != nil {
			return err
		}
		if err := b.take(txt.ApplyTx(tx, b.writes)); err != nil {
			return err
		}
		e.settle(ctx, b)
		return e.commitIn(tx, b, time.Now())
	})
	if err != nil && !errors.Is(err, errStale) {
		return fmt.Errorf("apply in the embedded tracker: %w", err)
	}
	return err
}

// errStale means a local item changed (an operator's edit) between planning an apply and its
// transaction: the plan is made again from the item as it is now. Without this, the edit was
// taken for part of the applied state and never sent to the partner.
var errStale = errors.New("a local item changed while its apply was planned")

// unchanged returns errStale when an item a plan read has changed since, inside tx.
func (e *Engine) unchanged(tx *bolt.Tx, b *batch, txt TxTracker) error {
	for i := range b.plans {
		p := &b.plans[i]
		if !p.changes() || p.current.Key == "" {
			continue
		}
		cur, ok, err := txt.ItemTx(tx, p.current.Key)
		if err != nil {
			return err
		}
		if !ok || !cur.Updated.Equal(p.current.Updated) {
			return errStale
		}
	}
	return nil
}

// planBatch decodes each event, reads its local item, runs the incoming rule and builds the
// tracker writes. A plan that cannot be made fails its event only.
func (e *Engine) planBatch(ctx context.Context, groups [][]queue.Event) *batch {
	b := &batch{plans: make([]plan, len(groups)), start: time.Now()}
	for i, g := range groups {
		p := &b.plans[i]
		p.ev, p.folded, p.write = g[0], g[1:], -1
		if err := e.plan(ctx, p); err != nil {
			p.err = err
			continue
		}
		if !p.changes() {
			continue
		}
		p.unsent = e.unsentEdits(ctx, p)
		if w, ok := e.buildWrite(p); ok {
			p.write = len(b.writes)
			b.writes = append(b.writes, w)
		}
	}
	return b
}

// writeBatch makes the batch's tracker writes. A write that has started is finished even
// when the engine is stopping: abandoning it half-way could leave an item created whose key
// is never learnt.
func (e *Engine) writeBatch(ctx context.Context, b *batch) error {
	if len(b.writes) == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	return b.take(e.opt.Tracker.Apply(wctx, b.writes))
}

// take keeps a tracker's answer to the batch's writes.
func (b *batch) take(results []WriteResult, err error) error {
	if len(b.writes) == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write to tracker: %w", err)
	}
	if len(results) != len(b.writes) {
		return fmt.Errorf("tracker answered %d results for %d writes", len(results), len(b.writes))
	}
	b.results = results
	return nil
}

// attempt is the durable record of a tracker write in progress or whose outcome is unknown
// (a crash, a lost answer): until it is settled, detection holds back items it may have
// made or changed (see detectOnce), so they are not taken for local changes.
type attempt struct {
	Local string `json:"l,omitempty"` // the item written; "" for a create
	Title string `json:"t,omitempty"` // the title written, which finds what a create made
	// Earlier are other titles earlier attempts at the same event wrote.
	Earlier []string `json:"e,omitempty"`
	// Fields are the fields of an existing item the attempts wrote, Before their values
	// before the first attempt and Wrote what the last one wrote (only those fields are set):
	// a retry tells what the lost attempt wrote, which the item may already hold, from a
	// person's edits made since, which are still to be sent (see undo).
	Fields []string   `json:"f,omitempty"`
	Before *item.Item `json:"b,omitempty"`
	Wrote  *item.Item `json:"w,omitempty"`
}

// newAttempt is the record of the write about to be made for p, following old, the record
// of an earlier attempt at the same event, if there was one.
func newAttempt(p *plan, w Write, old *attempt) attempt {
	a := attempt{Local: w.Key, Title: w.Item.Title}
	if w.Key != "" && len(w.Fields) > 0 {
		a.Fields, a.Before, a.Wrote = slices.Clone(w.Fields), &item.Item{}, &item.Item{}
		for _, f := range w.Fields {
			item.SetField(a.Before, p.current, f)
			item.SetField(a.Wrote, w.Item, f)
		}
	}
	if old == nil {
		return a
	}
	a.Earlier = old.Earlier
	if old.Title != a.Title && !old.wrote(a.Title) {
		a.Earlier = append(a.Earlier, old.Title)
	}
	if old.Before != nil && old.Wrote != nil {
		if a.Before == nil {
			a.Before, a.Wrote = &item.Item{}, &item.Item{}
		}
		for _, f := range old.Fields {
			item.SetField(a.Before, *old.Before, f) // the value before the first attempt
			if !slices.Contains(a.Fields, f) {
				item.SetField(a.Wrote, *old.Wrote, f)
				a.Fields = append(a.Fields, f)
			}
		}
	}
	return a
}

// undo returns cur with each field the attempts wrote, and that still holds what they
// wrote, set back to its value from before them: the item as it would be had the lost
// attempt not acted, keeping any edit a person made since.
func (a attempt) undo(cur item.Item) item.Item {
	if len(a.Fields) == 0 || a.Before == nil || a.Wrote == nil {
		return cur
	}
	out := cur.Clone()
	for _, f := range a.Fields {
		if item.FieldEqual(cur, *a.Wrote, f) {
			item.SetField(&out, *a.Before, f)
		}
	}
	return out
}

// wrote reports whether an attempt wrote this title.
func (a attempt) wrote(title string) bool {
	return title != "" && (a.Title == title || slices.Contains(a.Earlier, title))
}

// startAttempts records, in one transaction, that the batch's writes are about to be made:
// the inbox events are marked in flight and an attempt is kept for each.
func (e *Engine) startAttempts(b *batch) error {
	var seqs []uint64
	recs := map[uint64]attempt{}
	for _, p := range b.plans {
		if p.write >= 0 {
			w := b.writes[p.write]
			seqs = append(seqs, p.seqs()...)
			var old *attempt
			if o, ok := e.attempts[p.ev.Seq]; ok {
				old = &o
			}
			recs[p.ev.Seq] = newAttempt(&p, w, old)
		}
	}
	if len(seqs) == 0 {
		return nil
	}
	err := e.opt.Store.DB().Update(func(tx *bolt.Tx) error {
		if err := e.opt.Inbox.Start(tx, seqs...); err != nil {
			return err
		}
		ab := e.bucket(tx).Bucket(attemptsBucket)
		for seq, a := range recs {
			v, _ := json.Marshal(a)
			if err := ab.Put(store.U64(seq), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record the write attempt: %w", err)
	}
	for seq, a := range recs {
		e.attempts[seq] = a
	}
	return nil
}

// settleAttempt drops the attempt of a plan whose outcome is now known: applied, or failed
// with nothing to find (a permanent failure). A transient failure keeps it.
func (e *Engine) settleAttempt(tx *bolt.Tx, p *plan) error {
	if _, ok := e.attempts[p.ev.Seq]; !ok {
		return nil
	}
	if p.err != nil && !isPermanent(p.err) {
		return nil
	}
	tx.OnCommit(func() {
		delete(e.attempts, p.ev.Seq)
		signal(e.settled)
	})
	return e.bucket(tx).Bucket(attemptsBucket).Delete(store.U64(p.ev.Seq))
}

// unsentEdits is what this side would have sent before the write, when it differs from what
// was last sent: the item has local edits the partner has not seen yet.
//
// On a retry the item may already hold what the lost attempt wrote. That is not a local edit:
// sending it back would carry the partner's own, possibly outdated, value to it (the crash
// test saw an origin's newer title overwritten so). Those fields are taken as they were before
// the attempt, unless they changed again since: a person's edit in the crash window is sent.
func (e *Engine) unsentEdits(ctx context.Context, p *plan) *item.Replica {
	if p.twin.SentHash == "" || p.twin.Sent == nil || p.current.Key == "" {
		return nil
	}
	cur := p.current
	if a, ok := e.attempts[p.ev.Seq]; ok && p.retried() {
		cur = a.undo(cur)
	}
	if p.twin.ItemHash != "" && p.twin.ItemHash == syncHash(cur) {
		return nil // the item is as it was when its replica was last recorded
	}
	r, run, err := e.outgoingRule(ctx, withoutComments(cur, p.twin.partnerComments()), false)
	if err != nil || run.Skip || r.Hash() == p.twin.SentHash {
		return nil
	}
	return &r
}

// settle works out, for each written plan, the item's state after the write, its twin, and
// the replica this side would send for that state, so the change just applied is not echoed
// to the partner; local edits the partner has not seen become a follow-up event.
func (e *Engine) settle(ctx context.Context, b *batch) {
	for i := range b.plans {
		p := &b.plans[i]
		if !p.changes() {
			continue
		}
		if p.write >= 0 {
			w, res := b.writes[p.write], b.results[p.write]
			if res.Err != nil {
				p.err = res.Err
				if w.Key == "" && res.Key != "" {
					// The item was created before the failure: link it, so the retry
					// updates it instead of creating a second one.
					p.twin.Local, p.twin.Remote = res.Key, p.change.Source
					p.linkComments(res.CommentIDs)
					p.partial = true
				}
				continue
			}
			p.twin.Local = res.Key
			if e.appliedSince != nil {
				e.appliedSince[res.Key] = true
			}
			p.created = w.Key == ""
			p.linkComments(res.CommentIDs)
			p.settleComments(res.NoteIDs)
			if res.Item != nil {
				p.current = res.Item.Clone()
			} else {
				mergeInto(p, w, res)
			}
		}
		if p.write < 0 {
			p.settleComments(nil) // nothing written: only baselines of comments seen before
		}
		base := sumsOf(p.incoming)
		p.twin.Synced = sumsLike(p.current, p.incoming, base) // written from the partner: the last sync
		p.newLink = p.twin.Remote != p.change.Source
		p.twin.Remote = p.change.Source
		p.twin.RecvHash, p.twin.Base, p.twin.Received = p.change.Replica.Hash(), base, stripComments(p.change.Replica)
		e.settleEcho(ctx, p)
	}
}

// settleEcho records in the twin the replica this side would send for the item's new state.
func (e *Engine) settleEcho(ctx context.Context, p *plan) {
	merged := withoutComments(p.current, p.twin.partnerComments())
	r, run, err := e.outgoingRule(ctx, merged, false)
	if err != nil || run.Skip {
		return
	}
	if p.unsent == nil {
		p.twin.SentHash, p.twin.Sent, p.twin.ItemHash = r.Hash(), stripComments(r), syncHash(p.current)
		return
	}
	// The partner now knows its own change but not our local edits: record that, and send
	// the edits with this batch rather than letting the new state absorb them.
	known := *stripComments(r)
	known.CopyFields(*p.twin.Sent, item.ReplicaChanged(*p.twin.Sent, *p.unsent))
	p.twin.SentHash, p.twin.Sent, p.twin.ItemHash = "", &known, ""
	if out, ok := e.outgoingFrom(p.current, p.twin, r, run); ok && out.ev.ID != "" {
		p.followUp = &out.ev
		p.twin = out.twin
	}
}

// commit records the batch in one transaction: twins, acks, failures, receipts and follow-ups.
func (e *Engine) commit(b *batch) error {
	err := e.opt.Store.DB().Update(func(tx *bolt.Tx) error { return e.commitIn(tx, b, time.Now()) })
	if err != nil {
		return fmt.Errorf("record applied state: %w", err)
	}
	return nil
}

// commitIn is commit inside the caller's transaction.
func (e *Engine) commitIn(tx *bolt.Tx, b *batch, now time.Time) error {
	b.applied = b.applied[:0]
	var out, acks []queue.Event
	for i := range b.plans {
		p := &b.plans[i]
		if err := e.settleAttempt(tx, p); err != nil {
			return err
		}
		if p.err != nil {
			if p.partial {
				if err := e.putTwin(tx, p.twin); err != nil {
					return err
				}
			}
			if _, err := e.opt.Inbox.Fail(tx, p.ev.Seq, withRule(p.err, "incoming", p.rule), now); err != nil {
				return err
			}
			continue
		}
		switch {
		case p.receipt != nil:
			t, err := e.getTwin(tx, p.receipt.Target)
			if err != nil {
				return err
			}
			t.Remote = p.receipt.Source
			if err := e.putTwin(tx, t); err != nil {
				return err
			}
		case !p.skip:
			if err := e.putTwin(tx, p.twin); err != nil {
				return err
			}
			if p.followUp != nil {
				out = append(out, *p.followUp)
			}
			if p.newLink {
				payload, _ := json.Marshal(Receipt{Source: p.twin.Local, Target: p.change.Source})
				out = append(out, queue.Event{ID: queue.NewID(), ItemKey: p.twin.Local, Kind: KindReceipt, Payload: payload})
			}
			b.applied = append(b.applied, p)
		}
		acks = append(append(acks, p.ev), p.folded...)
	}
	if err := e.opt.Inbox.AckEvents(tx, acks...); err != nil {
		return err
	}
	_, err := e.opt.Outbox.Append(tx, out)
	return err
}

// report logs failures and tells the counters and the OnApplied hook what was applied.
func (e *Engine) report(b *batch) {
	took := time.Since(b.start)
	outs := make([]Outcome, 0, len(b.plans))
	for _, p := range b.plans {
		if p.err != nil {
			e.log.Warn("apply failed", "event", p.ev.ID, "item", p.ev.ItemKey, "err", p.err)
			e.setErr(fmt.Errorf("apply %s: %w", p.ev.ItemKey, p.err))
			ev := p.ev
			ev.Attempts++
			outs = append(outs, failed("in", ev, p.twin.Local, p.ev.ItemKey, withRule(p.err, "incoming", p.rule), took))
			continue
		}
		o := Outcome{Direction: "in", Event: p.ev, Local: p.twin.Local, Remote: p.change.Source, Result: ResultApplied, Duration: took,
			RuleVersion: ruleLabel("incoming", p.rule.Version), Logs: p.rule.Logs}
		switch {
		case p.receipt != nil:
			o.Local, o.Remote = p.receipt.Target, p.receipt.Source
		case p.skip:
			o.Result, o.Remote = ResultSkipped, p.ev.ItemKey
		}
		outs = append(outs, o)
	}
	e.record(outs)
	e.applied.Add(uint64(len(b.applied)))
	if len(b.applied) > 0 {
		e.setErr(nil)
	}
	failed, events := 0, 0
	for _, p := range b.plans {
		events += 1 + len(p.folded)
		if p.err != nil {
			failed++
		}
	}
	e.log.Info("applied partner events", "events", events, "applied", len(b.applied), "writes", len(b.writes), "failed", failed)
	if e.opt.OnApplied == nil {
		return
	}
	for _, p := range b.applied {
		info := Applied{Source: p.change.Source, Local: p.twin.Local, Sent: p.ev.Created, Created: p.created, Events: 1 + len(p.folded)}
		if p.write >= 0 {
			info.Fields, info.Comments = b.writes[p.write].Fields, len(b.writes[p.write].NewComments)
		}
		e.opt.OnApplied(info)
	}
}

// linkComments records the local ids of the partner comments the write added, in order.
func (p *plan) linkComments(ids []string) {
	if p.twin.Comments == nil && len(ids) > 0 {
		p.twin.Comments = map[string]string{}
	}
	for j, id := range ids {
		if j < len(p.partner) {
			p.twin.Comments[p.partner[j]] = id
		}
	}
}

// plan decodes one event and works out, without writing, what applying it means.
func (e *Engine) plan(ctx context.Context, p *plan) error {
	switch p.ev.Kind {
	case KindReceipt:
		var r Receipt
		if err := json.Unmarshal(p.ev.Payload, &r); err != nil || r.Source == "" || r.Target == "" {
			return permanent(fmt.Errorf("malformed receipt %s", p.ev.ID))
		}
		p.receipt = &r
		return nil
	case KindCreate, KindUpdate:
	default:
		return permanent(fmt.Errorf("unknown event kind %q", p.ev.Kind))
	}
	if err := json.Unmarshal(p.ev.Payload, &p.change); err != nil || p.change.Source == "" {
		return permanent(fmt.Errorf("malformed %s event %s", p.ev.Kind, p.ev.ID))
	}
	for _, f := range p.folded {
		var next Change
		if err := json.Unmarshal(f.Payload, &next); err != nil || next.Source == "" {
			return permanent(fmt.Errorf("malformed %s event %s", f.Kind, f.ID))
		}
		p.change = fold(p.change, next)
	}
	var local string
	err := e.opt.Store.DB().View(func(tx *bolt.Tx) error {
		local = e.localFor(tx, p.change.Source)
		if local == "" {
			local = p.change.Target
		}
		if local == "" {
			return nil
		}
		var err error
		p.twin, err = e.getTwin(tx, local)
		return err
	})
	if err != nil {
		return err
	}
	if local != "" {
		cur, err := e.opt.Tracker.Get(ctx, local)
		if err != nil {
			return fmt.Errorf("read local item %s: %w", local, err)
		}
		p.current = cur
	}
	base := p.current.Clone()
	base.Comments = nil
	in, run, err := e.incomingRule(ctx, p.change.Replica, base, local == "")
	p.rule = run
	if err != nil {
		return permanent(ruleFailed(fmt.Errorf("incoming rule: %w", err), "incoming", run))
	}
	if run.Skip {
		p.skip = true
		return nil
	}
	in.Key = local
	p.incoming = in
	if local != "" && p.change.Prev != nil && p.twin.Base != nil && p.change.PrevHash != "" && p.change.PrevHash == p.twin.RecvHash {
		// The sender's change starts from the replica applied last: what the rule made of
		// that is known.
		p.previous = p.twin.Base
	} else if local != "" && p.change.Prev != nil {
		before := p.change.Replica
		before.CopyFields(*p.change.Prev, p.change.Changed)
		prev, prun, err := e.incomingRule(ctx, before, base.Clone(), false)
		if err != nil {
			return permanent(ruleFailed(fmt.Errorf("incoming rule: %w", err), "incoming", prun))
		}
		p.previous = sumsOf(prev)
	}
	return nil
}

// buildWrite merges field by field: on an update, an item field is written only when the
// sender's change moved it (the rule gives a different value for the replica before and after
// the change) and it differs from the local value, so a field changed only locally is kept.
// The incoming rule's conflict policy changes that per field: ConflictOverwrite writes the
// partner's value whenever it differs; ConflictLocal keeps a field changed here since the last
// sync even when the partner changed it too.
//
// Comments: a partner comment not linked yet is added; a linked one whose text changed since
// it was applied is an edit, and one the sender names as deleted a deletion, unless the rule
// chose that they do not follow. A tracker that cannot edit or delete comments in place says
// so in a follow-up note (Write.CommentNotes).
func (e *Engine) buildWrite(p *plan) (Write, bool) {
	w := Write{Key: p.current.Key, Item: p.incoming, Retry: p.retried()}
	if w.Retry {
		if w.Key == "" {
			w.Linked = e.linked
		}
		w.Known = p.twin.partnerComments()
	}
	isNew := p.current.Key == ""
	for _, f := range item.Fields(p.incoming, p.current) {
		policy := p.rule.Conflicts[f]
		switch {
		case isNew:
		case item.FieldEqual(p.incoming, p.current, f):
			continue
		case policy == ConflictOverwrite:
			// the partner's value wins whatever changed
		case p.previous != nil && p.previous.equal(p.incoming, f):
			continue // the sender did not change it; its value has not caught up with ours
		case policy == ConflictLocal && p.previous != nil && !p.previous.equal(p.current, f) &&
			(p.twin.Synced == nil || !p.twin.Synced.equal(p.current, f)):
			// The partner changed the field from a value other than ours, and ours changed
			// here since the partner's last change was applied: both changed it, and the
			// local change wins.
			continue
		}
		w.Fields = append(w.Fields, f)
	}
	p.hashes = map[string]string{}
	for _, c := range p.incoming.Comments {
		local, known := p.twin.Comments[c.ID]
		if !known {
			p.partner = append(p.partner, c.ID)
			w.NewComments = append(w.NewComments, c)
			p.hashes[c.ID] = commentHash(c)
			continue
		}
		old, seen := p.twin.CommentHashes[c.ID]
		h := commentHash(c)
		switch {
		case old == deletedComment || old == h:
		case !seen:
			p.hashes[c.ID] = h // applied before hashes were kept: this copy is the baseline
		case !p.rule.IgnoreCommentEdits:
			ed := c
			ed.ID = local
			w.EditComments = append(w.EditComments, ed)
			p.hashes[c.ID] = h
		}
	}
	if !p.rule.IgnoreCommentDeletions {
		for _, id := range p.change.DeletedComments {
			local, known := p.twin.Comments[id]
			if !known || p.twin.CommentHashes[id] == deletedComment {
				continue
			}
			w.DeleteComments = append(w.DeleteComments, local)
			p.hashes[id] = deletedComment
		}
	}
	w.CommentNotes = len(w.EditComments) > 0 || len(w.DeleteComments) > 0
	if !isNew && len(w.Fields) == 0 && len(w.NewComments) == 0 && !w.CommentNotes {
		return Write{}, false // baseline hashes, if any, are recorded when the plan settles
	}
	return w, true
}

// commentHash is what a comment's edits are told by: its text, author and visibility.
func commentHash(c item.Comment) string {
	return item.HashValue(struct {
		Body     string
		Author   item.User
		Internal bool
	}{c.Body, c.Author, c.Internal})
}

// settleComments records, after a successful write, the hashes of the partner comments it
// added, edited or deleted, and the ids of the notes a tracker wrote for edits and deletions
// it could not make in place: those are the partner's, never sent back.
func (p *plan) settleComments(noteIDs []string) {
	for id, h := range p.hashes {
		if _, linked := p.twin.Comments[id]; !linked {
			continue // not added after all (the write stopped short)
		}
		if p.twin.CommentHashes == nil {
			p.twin.CommentHashes = map[string]string{}
		}
		p.twin.CommentHashes[id] = h
	}
	for _, id := range noteIDs {
		if p.twin.Comments == nil {
			p.twin.Comments = map[string]string{}
		}
		p.twin.Comments["note:"+id] = id
	}
}

// linked reports whether a local item already has a twin record in this connection.
func (e *Engine) linked(local string) bool {
	found := true // when the store cannot answer, adopting nothing is the safe side
	e.opt.Store.DB().View(func(tx *bolt.Tx) error {
		found = e.bucket(tx).Bucket(twinsBucket).Get([]byte(local)) != nil
		return nil
	})
	return found
}

// mergeInto updates p.current to the state the write produced.
func mergeInto(p *plan, w Write, res WriteResult) {
	if p.current.Key == "" {
		p.current = w.Item.Clone()
		p.current.Comments = nil
	}
	p.current.Key = res.Key
	for _, f := range w.Fields {
		item.SetField(&p.current, w.Item, f)
	}
	for j, c := range w.NewComments {
		if j < len(res.CommentIDs) {
			c.ID = res.CommentIDs[j]
			p.current.Comments = append(p.current.Comments, c)
		}
	}
	for _, ed := range w.EditComments {
		for i := range p.current.Comments {
			if p.current.Comments[i].ID == ed.ID {
				p.current.Comments[i].Body, p.current.Comments[i].Author = ed.Body, ed.Author
			}
		}
	}
	if len(w.DeleteComments) > 0 {
		p.current.Comments = slices.DeleteFunc(p.current.Comments, func(c item.Comment) bool { return slices.Contains(w.DeleteComments, c.ID) })
	}
}

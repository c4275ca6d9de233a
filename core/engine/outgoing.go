package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/queue"
	"github.com/tandemsync/tandem/core/store"
)

// permanentError marks an error retrying cannot fix without the operator.
type permanentError struct{ err error }

func (p permanentError) Error() string   { return p.err.Error() }
func (p permanentError) Unwrap() error   { return p.err }
func (p permanentError) Permanent() bool { return true }

func permanent(err error) error { return permanentError{err} }

func (e *Engine) detectLoop(ctx context.Context) {
	defer func() {
		if err := e.flushCursor(); err != nil {
			e.log.Warn("stop detection", "err", err)
		}
	}()
	var notify <-chan struct{}
	if n, ok := e.opt.Tracker.(ChangeNotifier); ok {
		notify = n.Changed()
	}
	backoff := time.Duration(0)
	for {
		more, err := e.detectOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errHeldBack):
			// A write whose outcome is unknown is being retried; read again once it settles.
			if !wait(ctx, e.opt.Poll, e.settled) {
				return
			}
			continue
		case err != nil:
			e.log.Warn("read local changes", "err", err)
			e.setErr(fmt.Errorf("read local changes: %w", err))
			backoff = min(max(2*backoff, time.Second), time.Minute)
			if !wait(ctx, jitter(backoff)) {
				return
			}
			continue
		}
		backoff = 0
		if more {
			continue
		}
		if !wait(ctx, e.opt.Poll, notify) {
			return
		}
	}
}

// pending is one outgoing decision: the event to enqueue (none when ev.ID is empty) and the
// twin to store with it.
type pending struct {
	ev     queue.Event
	twin   twin
	failed error // the outgoing rule failed: enqueue a resync event in the failed state
}

// deferredCursor is a cursor write queued for the agent's next commit; committed is set once
// it is durable.
type deferredCursor struct {
	wait      func() error
	committed atomic.Bool
}

// deferCursor moves the cursor past a step that found nothing to store (Tandem's own writes
// read back, items outside the trigger): the write rides with the agent's next commit (the
// next apply, usually) instead of costing an fsync of its own on every change the partner
// makes. Lost to a crash, it only means reading those items again, and they are known again
// by their hashes. At most one such write waits: a second forces the first.
func (e *Engine) deferCursor(next string) error {
	if next == e.cursor {
		return nil
	}
	if err := e.flushCursor(); err != nil {
		return err
	}
	d := &deferredCursor{}
	d.wait = e.opt.Store.UpdateLater(func(tx *bolt.Tx) error {
		tx.OnCommit(func() { d.committed.Store(true) })
		return e.bucket(tx).Bucket(metaBucket).Put(cursorKey, []byte(next))
	})
	e.deferred, e.cursor = d, next
	return nil
}

// flushCursor commits a deferred cursor write that nothing has taken yet.
func (e *Engine) flushCursor() error {
	d := e.deferred
	if d == nil || d.committed.Load() {
		return nil
	}
	e.deferred = nil
	if err := d.wait(); err != nil {
		return fmt.Errorf("record the change cursor: %w", err)
	}
	return nil
}

// errHeldBack means detection left a step uncommitted because it holds an item a tracker
// write of unknown outcome may have made or changed.
var errHeldBack = errors.New("held back behind a write of unknown outcome")

// detectOnce handles one step of local changes, at most DetectBatch items committed with the
// cursor; more reports that the cursor moved, so another step may be waiting.
//
// The tracker is read without holding the engine's lock, so a slow or hung tracker never holds
// up applying; an item the engine applied meanwhile is left out of this step, since the read
// may predate the write, and the write itself shows up as a later change.
func (e *Engine) detectOnce(ctx context.Context) (more bool, err error) {
	e.mu.Lock()
	e.appliedSince = map[string]bool{}
	e.mu.Unlock()
	if !e.cursorLoaded {
		err = e.opt.Store.DB().View(func(tx *bolt.Tx) error {
			e.cursor = string(e.bucket(tx).Bucket(metaBucket).Get(cursorKey))
			return nil
		})
		if err != nil {
			return false, err
		}
		e.cursorLoaded = true
	}
	cursor := e.cursor
	items, next, err := e.opt.Tracker.Changes(ctx, cursor, e.detectBatch)
	if err != nil {
		return false, err
	}
	if len(items) == 0 && next == cursor {
		return false, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	fresh := items[:0:0]
	for _, it := range items {
		// An item Tandem wrote, read back unchanged, needs no twin read: known by its hash
		// (but holdBack must see every item while a write's outcome is unknown).
		if !e.appliedSince[it.Key] && (len(e.attempts) > 0 || !e.knownEcho(it)) {
			fresh = append(fresh, it)
		}
	}
	items = fresh
	twins := make([]twin, len(items))
	err = e.opt.Store.DB().View(func(tx *bolt.Tx) error {
		for i, it := range items {
			if twins[i], err = e.getTwin(tx, it.Key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	if err := e.holdBack(items, twins); err != nil {
		return false, err
	}
	var out []pending
	sent := 0
	for i, it := range items {
		p, ok := e.outgoing(ctx, it, twins[i])
		if ok {
			out = append(out, p)
			if p.ev.ID != "" {
				sent++
			}
		}
	}
	if len(out) == 0 {
		if err := e.deferCursor(next); err != nil {
			return false, err
		}
	} else {
		if err := e.enqueue(out, &next); err != nil {
			return false, err
		}
		e.cursor = next
	}
	e.detected.Add(uint64(len(items)))
	if len(items) > 0 {
		e.log.Info("detected local changes", "items", len(items), "queued", sent)
	}
	return next != cursor, nil
}

// holdBack returns errHeldBack when an item read may be the work of a tracker write whose
// outcome is not known yet (an attempt interrupted by a crash or whose answer was lost): an
// unlinked item with the title a create wrote, or the item an update wrote. Taking it for a
// local change would send the partner its own change back, or a second item. The write's
// retry, which finds and links what the attempt made, is asked for at once.
func (e *Engine) holdBack(items []item.Item, twins []twin) error {
	if len(e.attempts) == 0 {
		return nil
	}
	var held []uint64
	for i, it := range items {
		unlinked := twins[i].Remote == "" && twins[i].SentHash == ""
		for seq, a := range e.attempts {
			if a.Local != "" && a.Local == it.Key || unlinked && a.wrote(it.Title) {
				held = append(held, seq)
			}
		}
	}
	if len(held) == 0 {
		return nil
	}
	waiting := false
	for _, seq := range held {
		evs, err := e.opt.Inbox.List(seq-1, 1)
		if err != nil {
			return err
		}
		if len(evs) == 0 || evs[0].Seq != seq {
			// The operator skipped the event: nothing will settle its attempt.
			if err := e.dropAttempt(seq); err != nil {
				return err
			}
			continue
		}
		waiting = true
		if n, ok := e.forced[seq]; !ok || n != evs[0].Attempts {
			e.forced[seq] = evs[0].Attempts
			if err := e.opt.Inbox.Retry(seq); err != nil {
				return err
			}
			e.log.Info("detection waits for the retry of a write whose outcome is unknown", "item", evs[0].ItemKey, "seq", seq)
		}
	}
	if waiting {
		return errHeldBack
	}
	return nil
}

// dropAttempt forgets an attempt whose event is gone.
func (e *Engine) dropAttempt(seq uint64) error {
	err := e.opt.Store.DB().Update(func(tx *bolt.Tx) error {
		return e.bucket(tx).Bucket(attemptsBucket).Delete(store.U64(seq))
	})
	if err == nil {
		delete(e.attempts, seq)
		delete(e.forced, seq)
	}
	return err
}

// outgoing runs the rule and the diff for one local item; ok is false when nothing is to be
// stored. An item as it was when its replica was last recorded (Tandem's own write, or a
// change read again) is recognised by its hash, without running the rule.
func (e *Engine) outgoing(ctx context.Context, it item.Item, t twin) (pending, bool) {
	if t.ItemHash != "" && t.ItemHash == syncHash(it) {
		return pending{}, false
	}
	r, run, err := e.outgoingRule(ctx, withoutComments(it, t.partnerComments()), t.unsent())
	if err != nil {
		e.log.Warn("outgoing rule", "item", it.Key, "err", err)
		ev := queue.Event{ID: queue.NewID(), ItemKey: it.Key, Kind: KindResync, Rule: ruleLabel("outgoing", run.Version), Logs: run.Logs}
		return pending{ev: ev, failed: ruleFailed(fmt.Errorf("outgoing rule for %s: %w", it.Key, err), "outgoing", run)}, true
	}
	if run.Skip {
		// Outside the trigger, or skipped by the rule: nothing is sent, and what the partner
		// has stays there; the item syncs again if it comes back.
		return pending{}, false
	}
	return e.outgoingFrom(it, t, r, run)
}

// enqueue appends the events and their twins in one transaction, with the new cursor if given.
func (e *Engine) enqueue(out []pending, cursor *string) error {
	var outs []Outcome
	defer func() { e.record(outs) }()
	return e.opt.Store.Update(func(tx *bolt.Tx) error {
		outs = outs[:0]
		evs := make([]queue.Event, 0, len(out))
		for _, p := range out {
			if p.ev.ID != "" {
				evs = append(evs, p.ev)
			}
		}
		stored, err := e.opt.Outbox.Append(tx, evs)
		if err != nil {
			return err
		}
		now := time.Now()
		n := 0
		for _, p := range out {
			if p.ev.ID == "" {
				if err := e.putTwin(tx, p.twin); err != nil {
					return err
				}
				continue
			}
			seq := stored[n].Seq
			n++
			if p.failed != nil {
				ev, err := e.opt.Outbox.Fail(tx, seq, permanent(p.failed), now)
				if err != nil {
					return err
				}
				outs = append(outs, failed("out", ev, ev.ItemKey, "", permanent(p.failed), 0))
				continue
			}
			if err := e.putTwin(tx, p.twin); err != nil {
				return err
			}
		}
		if cursor != nil {
			return e.bucket(tx).Bucket(metaBucket).Put(cursorKey, []byte(*cursor))
		}
		return nil
	})
}

// resync builds an item's replica again, for a resync event the operator retried.
func (e *Engine) resync(ctx context.Context, ev queue.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	it, err := e.opt.Tracker.Get(ctx, ev.ItemKey)
	if err != nil {
		return err
	}
	var t twin
	err = e.opt.Store.DB().View(func(tx *bolt.Tx) (err error) {
		t, err = e.getTwin(tx, ev.ItemKey)
		return err
	})
	if err != nil {
		return err
	}
	r, run, err := e.outgoingRule(ctx, withoutComments(it, t.partnerComments()), t.unsent())
	if err != nil {
		return permanent(ruleFailed(fmt.Errorf("outgoing rule for %s: %w", it.Key, err), "outgoing", run))
	}
	return e.opt.Store.DB().Update(func(tx *bolt.Tx) error {
		if err := e.opt.Outbox.Ack(tx, ev.Seq); err != nil {
			return err
		}
		if run.Skip {
			return nil
		}
		p, ok := e.outgoingFrom(it, t, r, run)
		if !ok {
			return nil
		}
		if p.ev.ID != "" {
			if _, err := e.opt.Outbox.Append(tx, []queue.Event{p.ev}); err != nil {
				return err
			}
		}
		return e.putTwin(tx, p.twin)
	})
}

// outgoingFrom diffs a replica against the last one sent. An unchanged replica (also the
// echo of a change Tandem applied, when the item's hash did not tell) sends nothing: the
// pending then only records the item's hash in the twin, and ok is false when even that is
// known.
//
// The event carries the rule version that built the replica and its log lines, for the queue
// and the history; the twin records the ids of the comments sent, so a later deletion of one
// is named to the partner.
func (e *Engine) outgoingFrom(it item.Item, t twin, r item.Replica, run RuleResult) (pending, bool) {
	h, ih := r.Hash(), syncHash(it)
	if h == t.SentHash {
		if t.ItemHash == ih {
			return pending{}, false
		}
		t.ItemHash = ih
		return pending{twin: t}, true
	}
	kind := KindUpdate
	if t.Remote == "" && t.SentHash == "" {
		kind = KindCreate
	}
	ch := Change{Source: it.Key, Target: t.Remote, Replica: r, PrevHash: t.SentHash, DeletedComments: deletedSince(t.SentComments, it)}
	if t.Sent != nil {
		ch.Changed = item.ReplicaChanged(*t.Sent, r)
		prev := item.Replica{}
		prev.CopyFields(*t.Sent, ch.Changed)
		ch.Prev = &prev
	}
	payload, err := json.Marshal(ch)
	if err != nil {
		return pending{}, false
	}
	t.SentHash, t.Sent, t.ItemHash = h, stripComments(r), ih
	t.SentComments = nil
	for _, c := range r.Comments {
		if t.SentComments == nil {
			t.SentComments = map[string]bool{}
		}
		t.SentComments[c.ID] = true
	}
	ev := queue.Event{ID: queue.NewID(), ItemKey: it.Key, Kind: kind, Payload: payload, Rule: ruleLabel("outgoing", run.Version), Logs: run.Logs}
	return pending{ev: ev, twin: t}, true
}

// deletedSince names, sorted, the comments sent earlier (sent) that the item no longer has.
func deletedSince(sent map[string]bool, it item.Item) []string {
	if len(sent) == 0 {
		return nil
	}
	have := make(map[string]bool, len(it.Comments))
	for _, c := range it.Comments {
		have[c.ID] = true
	}
	var gone []string
	for id := range sent {
		if !have[id] {
			gone = append(gone, id)
		}
	}
	slices.Sort(gone)
	return gone
}

func (e *Engine) deliverLoop(ctx context.Context) {
	backoff := time.Duration(0)
	var probeGap time.Duration // between probes of an unreachable partner; grows while it stays away
	// The partner's answer to a batch is committed (the events acked) while the next batch
	// goes out, so a change does not wait for its predecessor's fsync, and without a commit of
	// its own when another write comes within ackLinger (the next change's outbox, usually):
	// it rides with that one. An ack lost to a crash only means those events are sent again,
	// and the partner, which remembers event ids, skips them. acking holds the seqs of the
	// batch whose ack is pending (Ready still returns them until it is committed); one ack at
	// a time. finishAck commits it now if nothing took it yet.
	var acking map[uint64]bool
	var ackDone, ackNow chan struct{}
	finishAck := func() {
		if ackDone != nil {
			close(ackNow)
			<-ackDone
			acking, ackDone, ackNow = nil, nil, nil
		}
	}
	defer finishAck()
	for {
		// Ready reads past the batch being acked, so with a backlog the next batch goes out
		// while that ack commits rather than after it.
		evs, err := e.opt.Outbox.ReadySkipping(time.Now(), e.opt.BatchSize, func(seq uint64) bool { return acking[seq] })
		if err != nil {
			e.log.Error("read outbox", "err", err)
			if !wait(ctx, time.Second) {
				return
			}
			continue
		}
		batch := evs[:0:0]
		for _, ev := range evs {
			if ev.Kind == KindResync {
				if err := e.resync(ctx, ev); err != nil {
					e.failOut(ev, err)
				}
				continue
			}
			batch = append(batch, ev)
		}
		if len(batch) == 0 {
			if ackDone != nil { // what Ready gave is being acked: look again once it is
				select {
				case <-ctx.Done():
					return
				case <-ackDone:
					acking, ackDone, ackNow = nil, nil, nil
				case <-e.opt.Outbox.Notify():
				}
				continue
			}
			if !wait(ctx, time.Second, e.opt.Outbox.Notify()) {
				return
			}
			continue
		}
		if d := receiptsLinger(batch, e.opt.BatchSize); d > 0 {
			if !wait(ctx, d, e.opt.Outbox.Notify()) {
				return
			}
			continue
		}
		start := time.Now()
		highest, err := e.opt.Sender.Send(ctx, batch)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			e.setErr(fmt.Errorf("deliver to partner: %w", err))
			var p interface{ Permanent() bool }
			if errors.As(err, &p) && p.Permanent() {
				finishAck()
				var one interface{ EventSeq() uint64 } // one event of the batch, not all of it
				for _, ev := range batch {
					if !errors.As(err, &one) || one.EventSeq() == ev.Seq {
						e.failOut(ev, err)
					}
				}
				continue
			}
			if backoff == 0 {
				e.log.Info("partner unreachable; events wait in the outbox until it answers", "err", err)
			}
			backoff = min(max(2*backoff, 250*time.Millisecond), maxDeliveryBackoff)
			if !e.awaitPartner(ctx, backoff, &probeGap) {
				return
			}
			continue
		}
		backoff, probeGap = 0, 0
		e.setErr(nil)
		var acked []queue.Event
		for _, ev := range batch {
			if ev.Seq <= highest {
				acked = append(acked, ev)
			}
		}
		finishAck()
		if len(acked) == 0 {
			continue
		}
		acking, ackDone, ackNow = make(map[uint64]bool, len(acked)), make(chan struct{}), make(chan struct{})
		for _, ev := range acked {
			acking[ev.Seq] = true
		}
		go func(done, now chan struct{}) { // owned by this loop, which waits for it (finishAck)
			defer close(done)
			e.ackSent(acked, highest, start, time.Since(start), now)
		}(ackDone, ackNow)
	}
}

// receiptLinger is how long receipts alone wait for company: the partner commits each batch
// it receives before it answers, so sending a receipt the moment a change is applied cost it
// a commit per change at a steady pace. Receipts carry no one's change (they tell the partner
// which item its change made here), so a few milliseconds cost nobody anything; an event
// queued meanwhile goes at once, with them.
const receiptLinger = 20 * time.Millisecond

// receiptsLinger is how much longer a batch of receipts only, short of a full batch, waits.
func receiptsLinger(batch []queue.Event, full int) time.Duration {
	if len(batch) >= full {
		return 0
	}
	oldest := time.Now()
	for _, ev := range batch {
		if ev.Kind != KindReceipt {
			return 0
		}
		if ev.Created.Before(oldest) {
			oldest = ev.Created
		}
	}
	return min(receiptLinger-time.Since(oldest), receiptLinger)
}

// ackLinger is how long an ack waits for another write to ride with before it commits alone.
const ackLinger = 25 * time.Millisecond

// ackSent removes events the partner stored from the outbox, in the next commit of any
// writer, or in one of its own after ackLinger or once now is closed; then it records them as
// sent at start, when their delivery began: by then the partner may have applied them and its
// receipt been applied here, which the history must not show before the send.
func (e *Engine) ackSent(acked []queue.Event, highest uint64, start time.Time, took time.Duration, now <-chan struct{}) {
	committed := make(chan struct{}, 1)
	wait := e.opt.Store.UpdateLater(func(tx *bolt.Tx) error {
		tx.OnCommit(func() {
			select {
			case committed <- struct{}{}:
			default:
			}
		})
		return e.opt.Outbox.AckEvents(tx, acked...)
	})
	t := time.NewTimer(ackLinger)
	select {
	case <-committed:
	case <-t.C:
	case <-now:
	}
	t.Stop()
	if err := wait(); err != nil {
		e.log.Error("ack outbox", "err", err)
		return
	}
	e.sent.Add(uint64(len(acked)))
	outs := make([]Outcome, len(acked))
	for i, ev := range acked {
		outs[i] = Outcome{Direction: "out", Event: ev, Local: ev.ItemKey, Result: ResultSent, At: start, Duration: took, RuleVersion: ev.Rule, Logs: ev.Logs}
	}
	e.record(outs)
	e.log.Info("sent events to the partner", "events", len(acked), "through_seq", highest)
}

// Waiting for an unreachable partner: probes start every probeEvery and space out to probeMax
// while it stays away, so an agent whose partner is gone for the night costs next to nothing;
// a partner that comes back says so itself (an agent calls its partners' status when it starts,
// which is PartnerSeen here), and a network that heals is noticed within probeMax. A delivery
// is tried again after at most maxDeliveryBackoff even when probes cannot tell.
const (
	probeEvery         = 250 * time.Millisecond
	probeMax           = 2 * time.Second
	probeTimeout       = 2 * time.Second
	maxDeliveryBackoff = 30 * time.Second
)

// awaitPartner waits, after a failed delivery, until the partner is heard from (PartnerSeen),
// answers a probe, or the backoff passes; it reports whether to go on. gap is the time between
// probes, kept by the caller across waits and grown here after each probe that fails.
func (e *Engine) awaitPartner(ctx context.Context, backoff time.Duration, gap *time.Duration) bool {
	until := time.Now().Add(jitter(backoff))
	prober, canProbe := e.opt.Sender.(Prober)
	if *gap == 0 {
		*gap = probeEvery
	}
	for {
		d := time.Until(until)
		if d <= 0 {
			return true
		}
		if canProbe {
			d = min(d, *gap)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-e.heard:
			t.Stop()
			return true
		case <-t.C:
		}
		if canProbe && time.Now().Before(until) {
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			err := prober.Probe(pctx)
			cancel()
			if err == nil {
				return true
			}
			*gap = min(2**gap, probeMax)
		}
	}
}

// FailOut records an outbox event's failure (a permanent one waits for the operator), as a
// delivery that failed does; a partner's pull that cannot carry the event uses it.
func (e *Engine) FailOut(ev queue.Event, cause error) { e.failOut(ev, cause) }

func (e *Engine) failOut(ev queue.Event, cause error) {
	err := e.opt.Store.DB().Update(func(tx *bolt.Tx) error {
		_, err := e.opt.Outbox.Fail(tx, ev.Seq, cause, time.Now())
		return err
	})
	if err != nil {
		e.log.Error("record outbox failure", "seq", ev.Seq, "err", err)
		return
	}
	ev.Attempts++
	e.record([]Outcome{failed("out", ev, ev.ItemKey, "", cause, 0)})
}

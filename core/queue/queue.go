// Package queue keeps the durable, ordered event queues of a connection.
package queue

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/store"
)

// Layout inside the agent's bbolt file:
//
//	queues/<name>/events   U64(seq)           -> Event (see put)
//	queues/<name>/seen     id                 -> U64(unix nanos first seen)
//	queues/<name>/seenAt   U64(unix nanos)+id -> nil (the seen ids in age order, for pruning)
//
// plus the indexes described in index.go, kept in the same transactions as the events.
//
// The events bucket's own sequence (NextSequence) hands out Seq, so it survives restarts and
// never goes back, even when the queue is emptied.
var (
	rootBucket   = []byte("queues")
	eventsBucket = []byte("events")
	seenBucket   = []byte("seen")
	seenAtBucket = []byte("seenAt")
)

// DefaultSeenRetention is how long AppendUnique remembers an event id after it first saw it.
const DefaultSeenRetention = 7 * 24 * time.Hour

// Sentinel errors.
var (
	ErrNotFound = errors.New("no such event in the queue")
	ErrDropped  = errors.New("the queue was dropped")
	ErrNoID     = errors.New("event has no id")
	// ErrBadPayload marks an event whose payload is not valid JSON.
	ErrBadPayload = errors.New("payload is not valid JSON")
)

// Event is one change to deliver (outbox) or to apply (inbox).
type Event struct {
	Seq     uint64          `json:"seq"`  // position in this queue, assigned by Append
	ID      string          `json:"id"`   // globally unique event id; the inbox dedups on it
	ItemKey string          `json:"item"` // per-item ordering key
	Kind    string          `json:"kind"` // "create", "update", "receipt", "unlink", ...
	Payload json.RawMessage `json:"payload,omitempty"`
	Created time.Time       `json:"created"`
	// Local delivery state, never sent on the wire:
	Attempts  int       `json:"attempts,omitempty"`
	LastError string    `json:"lastError,omitempty"`
	NextRetry time.Time `json:"nextRetry,omitzero"`
	Failed    bool      `json:"failed,omitempty"`
	Permanent bool      `json:"permanent,omitempty"` // waits for the operator: retry now or skip
	// InFlight is set by Start before the consumer acts on the event outside the store (a
	// tracker write) and cleared by Fail; Ack removes the event. An event still in flight when
	// the consumer reads it again was interrupted (the process died) after it may have acted:
	// its next attempt is a retry, as after a recorded failure.
	InFlight bool `json:"inFlight,omitempty"`
	// Rule is the rule version that built the event (outgoing) or last ran on it (incoming),
	// e.g. "outgoing v3"; Logs are that run's ctx.Log lines. Kept with the event so the queue
	// and the history show them.
	Rule string   `json:"rule,omitempty"`
	Logs []string `json:"logs,omitempty"`
}

// Retried reports whether an earlier attempt at the event may have acted: it failed, or it
// was interrupted in flight.
func (e Event) Retried() bool { return e.Attempts > 0 || e.InFlight }

// Wire returns the event without its local delivery state, as it is sent to a partner.
func (e Event) Wire() Event {
	return Event{Seq: e.Seq, ID: e.ID, ItemKey: e.ItemKey, Kind: e.Kind, Payload: e.Payload, Created: e.Created}
}

// due reports whether a failed event may be tried again at now.
func (e Event) due(now time.Time) bool {
	return !e.Permanent && !e.NextRetry.After(now)
}

// Stats summarizes a queue for the overview and the Queue screen.
type Stats struct {
	Pending int       // events not in the failed state (Blocked ones included)
	Failed  int       // events that failed and wait for their retry time or the operator
	Blocked int       // pending events held behind an earlier failed event of the same item
	Oldest  time.Time // Created of the oldest event; zero when the queue is empty
}

// NewID returns a new globally unique event id, 32 hex digits: the time in milliseconds (6
// bytes, as UUIDv7 has it) and 10 random bytes. A receiver remembers every id it stored, keyed
// by id: ids that grow with time land at the end of that index, where random ones landed on a
// different page each, and a batch of 1,024 rewrote about as many pages in its commit. A
// receiver treats ids as opaque, so the random ids of earlier versions still work.
func NewID() string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails (it panics if the OS source is broken)
	return hex.EncodeToString(b[:])
}

// Queue is one durable ordered queue inside the store, e.g. a connection's outbox.
//
// Writers may call it from several goroutines (bbolt serializes write transactions), but a
// queue has a single consumer: one loop calls Ready and then Ack or Fail for what it got.
// Two consumers would both receive the same ready events.
type Queue struct {
	st        *store.Store
	name      []byte
	notify    chan struct{}
	retention atomic.Int64 // seen-id retention, nanoseconds
	onChange  atomic.Pointer[func()]
	now       func() time.Time
}

// Open opens the queue called name (e.g. "out/<connID>", "in/<connID>"), creating its buckets.
func Open(st *store.Store, name string) (*Queue, error) {
	if name == "" {
		return nil, errors.New("open queue: empty name")
	}
	q := &Queue{st: st, name: []byte(name), notify: make(chan struct{}, 1), now: time.Now}
	q.retention.Store(int64(DefaultSeenRetention))
	err := st.DB().Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(rootBucket)
		if err != nil {
			return err
		}
		b, err := root.CreateBucketIfNotExists(q.name)
		if err != nil {
			return err
		}
		for _, n := range [][]byte{eventsBucket, seenBucket, seenAtBucket} {
			if _, err := b.CreateBucketIfNotExists(n); err != nil {
				return err
			}
		}
		if c := b.Bucket(countsBucket); c == nil || store.U64From(c.Get(versionKey)) != indexVersion {
			return q.rebuild(tx, b)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open queue %s: %w", name, err)
	}
	return q, nil
}

// Name is the queue's name as given to Open.
func (q *Queue) Name() string { return string(q.name) }

// SetSeenRetention changes how long AppendUnique remembers event ids (default 7 days).
func (q *Queue) SetSeenRetention(d time.Duration) { q.retention.Store(int64(d)) }

// Notify is signalled (capacity 1, never blocks the writer) after a committed Append,
// AppendUnique that stored something, Retry, RetryAll or Skip: a consumer waiting for work
// should call Ready again.
func (q *Queue) Notify() <-chan struct{} { return q.notify }

// OnChange sets fn (nil: none) to be called after every committed change of the queue: an
// event added, changed or removed. The agent uses it to tell the app what changed; fn must
// not block.
func (q *Queue) OnChange(fn func()) {
	if fn == nil {
		q.onChange.Store(nil)
		return
	}
	q.onChange.Store(&fn)
}

func (q *Queue) changed() {
	if fn := q.onChange.Load(); fn != nil {
		(*fn)()
	}
}

func (q *Queue) signal() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *Queue) bucket(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	root := tx.Bucket(rootBucket)
	if root == nil {
		return nil, fmt.Errorf("queue %s: %w", q.name, ErrDropped)
	}
	b := root.Bucket(q.name)
	if b == nil {
		return nil, fmt.Errorf("queue %s: %w", q.name, ErrDropped)
	}
	return b.Bucket(name), nil
}

func (q *Queue) events(tx *bolt.Tx) (*bolt.Bucket, error) { return q.bucket(tx, eventsBucket) }

func decode(k, v []byte) (Event, error) {
	e, payload, err := split(k, v)
	if err == nil && len(payload) > 0 {
		e.Payload = bytes.Clone(payload) // bbolt memory is only valid inside the transaction
	}
	return e, err
}

// decodeHead decodes an event without its payload, which indexes and pages never need.
func decodeHead(k, v []byte) (Event, error) {
	e, _, err := split(k, v)
	return e, err
}

// put stores e and indexes it, inside tx. Every write of an event goes through put and every
// removal through remove, so the indexes always match the events.
func (q *Queue) put(tx *bolt.Tx, e Event) error {
	b, err := q.events(tx)
	if err != nil {
		return err
	}
	x, err := q.index(tx)
	if err != nil {
		return err
	}
	if err := q.putIn(tx, b, x, e, b.Get(store.U64(e.Seq)) == nil); err != nil {
		return err
	}
	return nil
}

// putIn is put with the caller's buckets and index; fresh says e is a new event.
func (q *Queue) putIn(tx *bolt.Tx, b *bolt.Bucket, x *index, e Event, fresh bool) error {
	if err := encode(b, e); err != nil {
		return err
	}
	var err error
	if fresh {
		err = x.added(e)
	} else {
		err = x.changed(e)
	}
	if err != nil {
		return fmt.Errorf("index event %d: %w", e.Seq, err)
	}
	x.touched = true
	if !x.batched {
		tx.OnCommit(q.changed)
	}
	return nil
}

// remove deletes event seq and its index entries inside tx; an unknown seq is ignored.
func (q *Queue) remove(tx *bolt.Tx, b *bolt.Bucket, seq uint64) error {
	x, err := q.index(tx)
	if err != nil {
		return err
	}
	return q.removeOf(tx, b, x, seq, "")
}

// removeOf is remove for an event of item, when the caller knows it ("": read it from the
// stored event), with the caller's index.
func (q *Queue) removeOf(tx *bolt.Tx, b *bolt.Bucket, x *index, seq uint64, item string) error {
	k := store.U64(seq)
	v := b.Get(k)
	if v == nil {
		return nil
	}
	if item == "" {
		e, err := decodeHead(k, v)
		if err != nil {
			return err
		}
		item = e.ItemKey
	}
	if err := b.Delete(k); err != nil {
		return err
	}
	if err := x.removed(item, seq); err != nil {
		return fmt.Errorf("index event %d: %w", seq, err)
	}
	x.touched = true
	if !x.batched {
		tx.OnCommit(q.changed)
	}
	return nil
}

// inBatch runs fn over a batch index and writes its counts once at the end; the queue's
// change is announced once, on commit.
func (q *Queue) inBatch(tx *bolt.Tx, fn func(x *index) error) error {
	x, err := q.batch(tx)
	if err != nil {
		return err
	}
	if err := fn(x); err != nil {
		return err
	}
	if err := x.flush(); err != nil {
		return err
	}
	if x.touched {
		tx.OnCommit(q.changed)
	}
	return nil
}

// Append stores evs at the end of the queue inside the caller's transaction, so the caller
// can write other state atomically with them. It assigns Seq, Created when zero and ID when
// empty, and returns the stored events. Delivery state in evs is reset. A payload that is not
// valid JSON fails the call with ErrBadPayload (the caller's transaction should roll back).
func (q *Queue) Append(tx *bolt.Tx, evs []Event) ([]Event, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	b, err := q.events(tx)
	if err != nil {
		return nil, err
	}
	for i, e := range evs { // check all first, so a bad event writes nothing
		if len(e.Payload) > 0 && !json.Valid(e.Payload) {
			return nil, fmt.Errorf("append to queue %s: event %d (item %q, id %q): %w", q.name, i, e.ItemKey, e.ID, ErrBadPayload)
		}
	}
	b.FillPercent = 0.95 // keys only grow: pack pages
	now := q.now()
	out := make([]Event, len(evs))
	err = q.inBatch(tx, func(x *index) error {
		// New events never fail, so no item becomes held while they are added: when none is
		// held now, none of them has to look.
		k, _ := x.held.Cursor().First()
		x.noneHeld = k == nil
		for i, e := range evs {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			rule, logs := e.Rule, e.Logs
			e = e.Wire()
			e.Rule, e.Logs = rule, logs // local notes, kept with the event but never sent
			e.Seq = seq
			if e.ID == "" {
				e.ID = NewID()
			}
			if e.Created.IsZero() {
				e.Created = now
			}
			if err := q.putIn(tx, b, x, e, true); err != nil {
				return err
			}
			out[i] = e
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("append to queue %s: %w", q.name, err)
	}
	tx.OnCommit(q.signal)
	return out, nil
}

// AppendUnique is Append for a receiver: it skips events whose ID this queue has seen before
// (in an earlier call, even after they were acked, or earlier in evs) and returns only the
// events it stored. Ids are remembered for the seen retention (default 7 days); each call
// also forgets a few ids older than that, and PruneSeen forgets them all at once.
// Every event must have an ID.
func (q *Queue) AppendUnique(tx *bolt.Tx, evs []Event) ([]Event, error) {
	seen, err := q.bucket(tx, seenBucket)
	if err != nil {
		return nil, err
	}
	seenAt, err := q.bucket(tx, seenAtBucket)
	if err != nil {
		return nil, err
	}
	now := q.now()
	stamp := store.U64(uint64(now.UnixNano()))
	fresh := make([]Event, 0, len(evs))
	for i, e := range evs {
		if e.ID == "" {
			return nil, fmt.Errorf("append to queue %s: event %d (item %q): %w", q.name, i, e.ItemKey, ErrNoID)
		}
		id := []byte(e.ID)
		if seen.Get(id) != nil {
			continue
		}
		if err := seen.Put(id, stamp); err != nil {
			return nil, fmt.Errorf("append to queue %s: remember id: %w", q.name, err)
		}
		if err := seenAt.Put(append(bytes.Clone(stamp), id...), nil); err != nil {
			return nil, fmt.Errorf("append to queue %s: remember id: %w", q.name, err)
		}
		fresh = append(fresh, e)
	}
	// Forget expired ids a few at a time, so retention holds without a separate service and
	// no single call pays for a backlog.
	if _, err := pruneSeen(seen, seenAt, now.Add(-time.Duration(q.retention.Load())), 2*len(evs)+16); err != nil {
		return nil, fmt.Errorf("queue %s: %w", q.name, err)
	}
	return q.Append(tx, fresh)
}

// PruneSeen forgets the event ids AppendUnique first saw before the given time, and returns
// how many it forgot. An event with such an id would be stored again.
func (q *Queue) PruneSeen(before time.Time) (int, error) {
	var n int
	err := q.st.DB().Update(func(tx *bolt.Tx) error {
		seen, err := q.bucket(tx, seenBucket)
		if err != nil {
			return err
		}
		seenAt, err := q.bucket(tx, seenAtBucket)
		if err != nil {
			return err
		}
		n, err = pruneSeen(seen, seenAt, before, -1)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("prune seen ids of queue %s: %w", q.name, err)
	}
	return n, nil
}

// pruneSeen deletes up to limit (all if negative) ids first seen before the given time.
func pruneSeen(seen, seenAt *bolt.Bucket, before time.Time, limit int) (int, error) {
	cut := uint64(max(before.UnixNano(), 0))
	var keys [][]byte
	c := seenAt.Cursor()
	for k, _ := c.First(); k != nil && len(k) >= 8 && store.U64From(k[:8]) < cut; k, _ = c.Next() {
		if limit >= 0 && len(keys) == limit {
			break
		}
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := seenAt.Delete(k); err != nil {
			return 0, fmt.Errorf("forget id: %w", err)
		}
		// Only drop the id if this index entry is the one that recorded it.
		if v := seen.Get(k[8:]); v != nil && bytes.Equal(v, k[:8]) {
			if err := seen.Delete(k[8:]); err != nil {
				return 0, fmt.Errorf("forget id: %w", err)
			}
		}
	}
	return len(keys), nil
}

// readyBytes bounds the payloads one Ready call returns (it returns at least one event), so a
// batch of big items does not hold a batch's worth of them in memory at once.
const readyBytes = 16 << 20

// Ready returns up to limit events to process now, in Seq order (limit <= 0: no limit), and
// fewer when their payloads pass readyBytes.
//
// Per item, events are strictly ordered: once an event of an item has failed, no later event
// of that item is returned until the failed one is acked or skipped. The failed event itself
// is returned again when its NextRetry has come (never while Permanent). Other items keep
// flowing past it.
func (q *Queue) Ready(now time.Time, limit int) ([]Event, error) {
	return q.ReadySkipping(now, limit, nil)
}

// ReadySkipping is Ready for a consumer that already holds some of the ready events (a
// delivery whose ack is still committing): those skip says are passed over, neither decoded
// in full nor counted in limit.
func (q *Queue) ReadySkipping(now time.Time, limit int, skip func(seq uint64) bool) ([]Event, error) {
	var out []Event
	err := q.st.DB().View(func(tx *bolt.Tx) error {
		b, err := q.events(tx)
		if err != nil {
			return err
		}
		// An item whose oldest event failed is held: its later events wait. But those its
		// failed attempt acted on with it (still in flight) come along when it is due, so its
		// retry writes, and looks for, what that attempt wrote.
		held := make(map[string]bool)
		retrying := make(map[string]bool)
		size := 0
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if limit > 0 && len(out) == limit || size >= readyBytes {
				break
			}
			if skip != nil && skip(store.U64From(k)) {
				// Held by the consumer, so neither failed nor holding its item back.
				continue
			}
			e, err := decode(k, v)
			if err != nil {
				return err
			}
			if held[e.ItemKey] {
				if retrying[e.ItemKey] && e.InFlight {
					out = append(out, e)
					size += len(e.Payload)
				}
				continue
			}
			if e.Failed {
				held[e.ItemKey] = true
				if !e.due(now) {
					continue
				}
				retrying[e.ItemKey] = true
			}
			out = append(out, e)
			size += len(e.Payload)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read queue %s: %w", q.name, err)
	}
	return out, nil
}

// Empty reports, inside tx, whether the queue holds no event at all.
func (q *Queue) Empty(tx *bolt.Tx) (bool, error) {
	b, err := q.events(tx)
	if err != nil {
		return false, err
	}
	k, _ := b.Cursor().First()
	return k == nil, nil
}

// Ack removes processed events inside the caller's transaction. Unknown seqs are ignored, so
// acking twice (or after Skip) is harmless.
func (q *Queue) Ack(tx *bolt.Tx, seqs ...uint64) error {
	b, err := q.events(tx)
	if err != nil {
		return err
	}
	return q.inBatch(tx, func(x *index) error {
		for _, s := range seqs {
			if err := q.removeOf(tx, b, x, s, ""); err != nil {
				return fmt.Errorf("ack %d in queue %s: %w", s, q.name, err)
			}
		}
		return nil
	})
}

// AckEvents is Ack for events the caller read from this queue (Ready, List): their item keys
// come from evs instead of being decoded from the stored events, which is most of Ack's work.
func (q *Queue) AckEvents(tx *bolt.Tx, evs ...Event) error {
	b, err := q.events(tx)
	if err != nil {
		return err
	}
	return q.inBatch(tx, func(x *index) error {
		for _, e := range evs {
			if err := q.removeOf(tx, b, x, e.Seq, e.ItemKey); err != nil {
				return fmt.Errorf("ack %d in queue %s: %w", e.Seq, q.name, err)
			}
		}
		return nil
	})
}

// AckThrough removes every event with Seq <= seq inside the caller's transaction, e.g. when
// the partner answers the highest sequence it stored.
func (q *Queue) AckThrough(tx *bolt.Tx, seq uint64) error {
	b, err := q.events(tx)
	if err != nil {
		return err
	}
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && store.U64From(k) <= seq; k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	return q.inBatch(tx, func(x *index) error {
		for _, k := range keys { // deleting under a moving cursor can skip keys in bbolt
			if err := q.removeOf(tx, b, x, store.U64From(k), ""); err != nil {
				return fmt.Errorf("ack through %d in queue %s: %w", seq, q.name, err)
			}
		}
		return nil
	})
}

// Fail records that processing event seq failed with cause, inside the caller's transaction,
// and returns the updated event. If cause (via errors.As) has a Permanent() bool method that
// answers true, the event waits for the operator (Retry or Skip). Otherwise it is retried at
// now + Backoff(attempts), or after the cause's RetryAfter() time.Duration if that is longer.
func (q *Queue) Fail(tx *bolt.Tx, seq uint64, cause error, now time.Time) (Event, error) {
	if cause == nil {
		cause = errors.New("unknown error")
	}
	b, err := q.events(tx)
	if err != nil {
		return Event{}, err
	}
	k := store.U64(seq)
	v := b.Get(k)
	if v == nil {
		return Event{}, fmt.Errorf("fail %d in queue %s: %w", seq, q.name, ErrNotFound)
	}
	e, err := decode(k, v)
	if err != nil {
		return Event{}, fmt.Errorf("queue %s: %w", q.name, err)
	}
	e.Failed = true
	e.InFlight = false
	e.Attempts++
	e.LastError = cause.Error()
	// A rule's failure names the rule version that ran and carries its log lines.
	var note interface{ RuleNote() (string, []string) }
	if errors.As(cause, &note) {
		e.Rule, e.Logs = note.RuleNote()
	}
	var perm interface{ Permanent() bool }
	if errors.As(cause, &perm) && perm.Permanent() {
		e.Permanent = true
		e.NextRetry = time.Time{}
	} else {
		e.Permanent = false
		wait := Backoff(e.Attempts)
		var ra interface{ RetryAfter() time.Duration }
		if errors.As(cause, &ra) {
			wait = max(wait, ra.RetryAfter())
		}
		e.NextRetry = now.Add(wait)
	}
	if err := q.put(tx, e); err != nil {
		return Event{}, fmt.Errorf("queue %s: %w", q.name, err)
	}
	return e, nil
}

// Start marks events in flight inside the caller's transaction: the consumer is about to act
// on them outside the store. Commit it before acting, so a crash leaves the mark (see
// Event.InFlight). Unknown seqs are ignored.
func (q *Queue) Start(tx *bolt.Tx, seqs ...uint64) error {
	b, err := q.events(tx)
	if err != nil {
		return err
	}
	for _, s := range seqs {
		k := store.U64(s)
		v := b.Get(k)
		if v == nil {
			continue
		}
		e, err := decode(k, v)
		if err != nil {
			return fmt.Errorf("queue %s: %w", q.name, err)
		}
		if e.InFlight {
			continue
		}
		e.InFlight = true
		if err := q.put(tx, e); err != nil {
			return fmt.Errorf("start %d in queue %s: %w", s, q.name, err)
		}
	}
	return nil
}

// change loads event seq in its own transaction, lets fn rewrite (put) or remove it, and
// signals the consumer on commit.
func (q *Queue) change(op string, seq uint64, fn func(tx *bolt.Tx, b *bolt.Bucket, e *Event) error) (Event, error) {
	var e Event
	err := q.st.DB().Update(func(tx *bolt.Tx) error {
		b, err := q.events(tx)
		if err != nil {
			return err
		}
		k := store.U64(seq)
		v := b.Get(k)
		if v == nil {
			return fmt.Errorf("event %d: %w", seq, ErrNotFound)
		}
		if e, err = decode(k, v); err != nil {
			return err
		}
		tx.OnCommit(q.signal)
		return fn(tx, b, &e)
	})
	if err != nil {
		return Event{}, fmt.Errorf("%s in queue %s: %w", op, q.name, err)
	}
	return e, nil
}

func retryNow(e *Event) {
	e.Permanent = false
	e.NextRetry = time.Time{}
}

// Retry makes failed event seq ready now, also when it waits for the operator. It keeps its
// attempts and last error for the Queue screen. Retrying an event that has not failed does
// nothing.
func (q *Queue) Retry(seq uint64) error {
	_, err := q.change("retry", seq, func(tx *bolt.Tx, b *bolt.Bucket, e *Event) error {
		if !e.Failed {
			return nil
		}
		retryNow(e)
		return q.put(tx, *e)
	})
	return err
}

// RetryAll makes every failed event ready now and returns how many there were.
func (q *Queue) RetryAll() (int, error) {
	var n int
	err := q.st.DB().Update(func(tx *bolt.Tx) error {
		b, err := q.events(tx)
		if err != nil {
			return err
		}
		x, err := q.index(tx)
		if err != nil {
			return err
		}
		var failed []uint64
		for _, s := range []State{StateFailed, StateRetrying} {
			c := x.states.Cursor()
			for k, _ := c.Seek([]byte{byte(s)}); k != nil && k[0] == byte(s); k, _ = c.Next() {
				failed = append(failed, store.U64From(k[1:]))
			}
		}
		for _, seq := range failed {
			k := store.U64(seq)
			e, err := decode(k, b.Get(k))
			if err != nil {
				return err
			}
			retryNow(&e)
			if err := q.put(tx, e); err != nil {
				return err
			}
		}
		n = len(failed)
		if n > 0 {
			tx.OnCommit(q.signal)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("retry all in queue %s: %w", q.name, err)
	}
	return n, nil
}

// Skip removes event seq without processing it, unblocking its item, and returns it.
func (q *Queue) Skip(seq uint64) (Event, error) {
	return q.change("skip", seq, func(tx *bolt.Tx, b *bolt.Bucket, e *Event) error {
		return q.remove(tx, b, e.Seq)
	})
}

// List returns up to limit events with Seq > after, in order, with their delivery state
// (limit <= 0: no limit).
func (q *Queue) List(after uint64, limit int) ([]Event, error) {
	if after == ^uint64(0) {
		return nil, nil // nothing can follow; after+1 would wrap to 0
	}
	var out []Event
	err := q.st.DB().View(func(tx *bolt.Tx) error {
		b, err := q.events(tx)
		if err != nil {
			return err
		}
		c := b.Cursor()
		for k, v := c.Seek(store.U64(after + 1)); k != nil; k, v = c.Next() {
			if limit > 0 && len(out) == limit {
				break
			}
			e, err := decode(k, v)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list queue %s: %w", q.name, err)
	}
	return out, nil
}

// Stats counts the queue's events by state, from the index (it reads no event but the oldest).
func (q *Queue) Stats() (Stats, error) {
	c, err := q.Counts()
	if err != nil {
		return Stats{}, err
	}
	return Stats{Pending: c.Pending + c.Blocked, Failed: c.Failed + c.Retrying, Blocked: c.Blocked, Oldest: c.Oldest}, nil
}

// Drop removes the whole queue, its events and its seen ids (a revoked connection). The
// Queue is unusable afterwards: its methods return ErrDropped until Open creates it again.
func (q *Queue) Drop() error {
	err := q.st.DB().Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(rootBucket)
		if root == nil || root.Bucket(q.name) == nil {
			return nil
		}
		return root.DeleteBucket(q.name)
	})
	if err != nil {
		return fmt.Errorf("drop queue %s: %w", q.name, err)
	}
	return nil
}

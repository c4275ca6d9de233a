package queue

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/store"
)

// The indexes kept beside a queue's events, written in the same transaction as the events
// they describe, so counts and filtered pages never need to read the whole queue:
//
//	queues/<name>/items   item(key)+U64(seq) -> [State]U64(blocker)  every event, by item then seq
//	queues/<name>/states  [State]U64(seq)    -> nil                   every event, by state then seq
//	queues/<name>/held    item(key)          -> U64(seq)              an item's first failed event
//	queues/<name>/counts  [State]            -> U64(n)                events per state
//	                      "v"                -> U64(indexVersion)
//
// item(key) escapes 0x00 as 0x00 0xFF and ends with 0x00 0x01, so byte order is the keys'
// order, an item's entries are contiguous, and a key prefix selects a range.
var (
	itemsBucket  = []byte("items")
	statesBucket = []byte("states")
	heldBucket   = []byte("held")
	countsBucket = []byte("counts")
	versionKey   = []byte("v")
)

// indexVersion changes when the index layout does; Open rebuilds an index of another version.
const indexVersion = 1

// State is where an event stands in its queue.
type State byte

const (
	// StatePending events are due now (or as soon as the consumer gets to them).
	StatePending State = 1
	// StateBlocked events wait behind an earlier failed event of the same item, because the
	// queue keeps each item's events in order.
	StateBlocked State = 2
	// StateRetrying events failed with a transient error and are tried again at NextRetry.
	StateRetrying State = 3
	// StateFailed events failed permanently and wait for the operator: retry or skip.
	StateFailed State = 4
)

// States lists every state, in display order.
var States = []State{StatePending, StateBlocked, StateRetrying, StateFailed}

func (s State) String() string {
	switch s {
	case StatePending:
		return "pending"
	case StateBlocked:
		return "blocked"
	case StateRetrying:
		return "retrying"
	case StateFailed:
		return "failed"
	}
	return fmt.Sprintf("state(%d)", byte(s))
}

// ParseState reads a state's name as String writes it.
func ParseState(name string) (State, bool) {
	for _, s := range States {
		if s.String() == name {
			return s, true
		}
	}
	return 0, false
}

// own is the state an event has by itself, before its item's order is considered.
func own(e Event) State {
	switch {
	case !e.Failed:
		return StatePending
	case e.Permanent:
		return StateFailed
	default:
		return StateRetrying
	}
}

// stateOf is the one place "blocked" is decided: an event that has not failed itself, with an
// earlier failed event of its item (the first one is its blocker), waits behind it.
func stateOf(self State, seq, firstFailed uint64) (State, uint64) {
	if self == StatePending && firstFailed != 0 && firstFailed < seq {
		return StateBlocked, firstFailed
	}
	return self, 0
}

// itemKey encodes an item key for the items and held indexes.
func itemKey(key string) []byte {
	b := itemPrefix(key)
	return append(b, 0x00, 0x01)
}

// itemPrefix encodes a key prefix: every itemKey of a key starting with it starts with it.
func itemPrefix(key string) []byte {
	b := make([]byte, 0, len(key)+10)
	for i := 0; i < len(key); i++ {
		b = append(b, key[i])
		if key[i] == 0x00 {
			b = append(b, 0xFF)
		}
	}
	return b
}

// splitItemEntry splits an items-index key into the item key and the seq.
func splitItemEntry(k []byte) (string, uint64) {
	if len(k) < 10 {
		return "", 0
	}
	enc, seq := k[:len(k)-10], store.U64From(k[len(k)-8:])
	return string(bytes.ReplaceAll(enc, []byte{0x00, 0xFF}, []byte{0x00})), seq
}

func itemEntry(key string, seq uint64) []byte { return append(itemKey(key), store.U64(seq)...) }

func stateEntry(s State, seq uint64) []byte { return append([]byte{byte(s)}, store.U64(seq)...) }

func entryValue(s State, blocker uint64) []byte {
	v := make([]byte, 9)
	v[0] = byte(s)
	binary.BigEndian.PutUint64(v[1:], blocker)
	return v
}

func parseEntryValue(v []byte) (State, uint64) {
	if len(v) != 9 {
		return 0, 0
	}
	return State(v[0]), binary.BigEndian.Uint64(v[1:])
}

// index is a queue's index buckets inside one write transaction. An index made by batch
// keeps its count changes in delta until flush writes them, once per batch instead of once
// per event; noneHeld says no item is held, so a batch of new events need not look.
type index struct {
	items, states, held, counts *bolt.Bucket
	batched                     bool
	delta                       [StateFailed + 1]int64
	noneHeld                    bool
	touched                     bool // an event was written or removed
}

// batch is the index for many events written in one call: its counts are written by flush.
func (q *Queue) batch(tx *bolt.Tx) (*index, error) {
	x, err := q.index(tx)
	if err != nil {
		return nil, err
	}
	x.batched = true
	return x, nil
}

// flush writes the counts a batch changed.
func (x *index) flush() error {
	x.batched = false
	for s, n := range x.delta {
		if n != 0 {
			x.delta[s] = 0
			if err := x.add(State(s), n); err != nil {
				return err
			}
		}
	}
	return nil
}

func (q *Queue) index(tx *bolt.Tx) (*index, error) {
	root := tx.Bucket(rootBucket)
	if root == nil || root.Bucket(q.name) == nil {
		return nil, fmt.Errorf("queue %s: %w", q.name, ErrDropped)
	}
	b := root.Bucket(q.name)
	return &index{items: b.Bucket(itemsBucket), states: b.Bucket(statesBucket), held: b.Bucket(heldBucket), counts: b.Bucket(countsBucket)}, nil
}

func (x *index) add(s State, n int64) error {
	if x.batched && int(s) < len(x.delta) {
		x.delta[s] += n
		return nil
	}
	k := []byte{byte(s)}
	cur := int64(store.U64From(x.counts.Get(k)))
	return x.counts.Put(k, store.U64(uint64(max(cur+n, 0))))
}

// set records the event's state in every index, replacing what was there (old is its previous
// state, 0 for a new event).
func (x *index) set(item string, seq uint64, old, s State, blocker uint64) error {
	if old != 0 {
		if err := x.states.Delete(stateEntry(old, seq)); err != nil {
			return err
		}
		if err := x.add(old, -1); err != nil {
			return err
		}
	}
	if err := x.states.Put(stateEntry(s, seq), nil); err != nil {
		return err
	}
	if err := x.add(s, 1); err != nil {
		return err
	}
	return x.items.Put(itemEntry(item, seq), entryValue(s, blocker))
}

func (x *index) get(item string, seq uint64) (State, uint64) {
	return parseEntryValue(x.items.Get(itemEntry(item, seq)))
}

func (x *index) firstFailed(item string) uint64 {
	if x.noneHeld {
		return 0
	}
	return store.U64From(x.held.Get(itemKey(item)))
}

// added indexes a new event, which comes after every event of its item.
func (x *index) added(e Event) error {
	s, blocker := stateOf(own(e), e.Seq, x.firstFailed(e.ItemKey))
	if err := x.set(e.ItemKey, e.Seq, 0, s, blocker); err != nil {
		return err
	}
	if s == StateFailed || s == StateRetrying {
		return x.reorder(e.ItemKey)
	}
	return nil
}

// changed indexes an event whose own state may have changed (it failed, or was retried).
func (x *index) changed(e Event) error {
	old, _ := x.get(e.ItemKey, e.Seq)
	self := own(e)
	if old == 0 {
		return x.added(e)
	}
	wasFailed := old == StateFailed || old == StateRetrying
	isFailed := self != StatePending
	if wasFailed == isFailed {
		if old != self && isFailed { // failed <-> retrying: the item's order is unchanged
			return x.set(e.ItemKey, e.Seq, old, self, 0)
		}
		return nil
	}
	if err := x.set(e.ItemKey, e.Seq, old, self, 0); err != nil {
		return err
	}
	return x.reorder(e.ItemKey)
}

// removed drops an event from the indexes; when it had failed, its item's later events may
// stop waiting.
func (x *index) removed(item string, seq uint64) error {
	old, _ := x.get(item, seq)
	if old == 0 {
		return nil
	}
	if err := x.states.Delete(stateEntry(old, seq)); err != nil {
		return err
	}
	if err := x.add(old, -1); err != nil {
		return err
	}
	if err := x.items.Delete(itemEntry(item, seq)); err != nil {
		return err
	}
	if old == StateFailed || old == StateRetrying {
		return x.reorder(item)
	}
	return nil
}

// reorder recomputes the states of an item's events after one of them started or stopped
// failing. It reads only that item's entries.
func (x *index) reorder(item string) error {
	type entry struct {
		seq   uint64
		state State
	}
	var entries []entry
	prefix := itemKey(item)
	c := x.items.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, v = c.Next() {
		s, _ := parseEntryValue(v)
		entries = append(entries, entry{store.U64From(k[len(prefix):]), s})
	}
	var first uint64
	for _, e := range entries {
		if e.state == StateFailed || e.state == StateRetrying {
			first = e.seq
			break
		}
	}
	for _, e := range entries {
		self := e.state
		if self == StateBlocked {
			self = StatePending
		}
		s, blocker := stateOf(self, e.seq, first)
		_, oldBlocker := parseEntryValue(x.items.Get(itemEntry(item, e.seq)))
		if s != e.state || blocker != oldBlocker {
			if err := x.set(item, e.seq, e.state, s, blocker); err != nil {
				return err
			}
		}
	}
	if first == 0 {
		return x.held.Delete(prefix)
	}
	return x.held.Put(prefix, store.U64(first))
}

// rebuild makes the indexes again from the events, e.g. for a queue written before they
// existed.
func (q *Queue) rebuild(tx *bolt.Tx, b *bolt.Bucket) error {
	for _, n := range [][]byte{itemsBucket, statesBucket, heldBucket, countsBucket} {
		if b.Bucket(n) != nil {
			if err := b.DeleteBucket(n); err != nil {
				return err
			}
		}
		if _, err := b.CreateBucket(n); err != nil {
			return err
		}
	}
	x, err := q.index(tx)
	if err != nil {
		return err
	}
	c := b.Bucket(eventsBucket).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		e, err := decodeHead(k, v)
		if err != nil {
			return err
		}
		if err := x.added(e); err != nil {
			return err
		}
	}
	return x.counts.Put(versionKey, store.U64(indexVersion))
}

// Counts are a queue's events per state, read from the index.
type Counts struct {
	Pending, Blocked, Retrying, Failed int
	Oldest                             time.Time // Created of the oldest event; zero when empty
}

// Total is the number of events in the queue.
func (c Counts) Total() int { return c.Pending + c.Blocked + c.Retrying + c.Failed }

// Of is the count of one state.
func (c Counts) Of(s State) int {
	switch s {
	case StatePending:
		return c.Pending
	case StateBlocked:
		return c.Blocked
	case StateRetrying:
		return c.Retrying
	case StateFailed:
		return c.Failed
	}
	return 0
}

// Counts returns the events per state and the oldest event's age without reading the queue.
func (q *Queue) Counts() (Counts, error) {
	var c Counts
	err := q.st.DB().View(func(tx *bolt.Tx) error {
		x, err := q.index(tx)
		if err != nil {
			return err
		}
		n := func(s State) int { return int(store.U64From(x.counts.Get([]byte{byte(s)}))) }
		c.Pending, c.Blocked, c.Retrying, c.Failed = n(StatePending), n(StateBlocked), n(StateRetrying), n(StateFailed)
		b, err := q.events(tx)
		if err != nil {
			return err
		}
		if k, v := b.Cursor().First(); k != nil {
			e, err := decodeHead(k, v)
			if err != nil {
				return err
			}
			c.Oldest = e.Created
		}
		return nil
	})
	if err != nil {
		return Counts{}, fmt.Errorf("count queue %s: %w", q.name, err)
	}
	return c, nil
}

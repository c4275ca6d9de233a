package queue

import (
	"bytes"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/store"
)

// Order is how a page is sorted.
type Order int

const (
	OldestFirst Order = iota // by Seq, which is queue order
	NewestFirst
	ItemAscending  // by item key, then Seq
	ItemDescending // by item key descending, then Seq descending
)

// Filter selects the events of a page or a count.
type Filter struct {
	States []State // only these states; none: every state
	Item   string  // only items whose key starts with this; "": every item
	Exact  bool    // Item is the whole key, not a prefix
	Order  Order
}

func (f Filter) wants(s State) bool { return len(f.States) == 0 || slices.Contains(f.States, s) }

// Entry is one event of a page, without its payload, with where it stands.
type Entry struct {
	Event
	State     State
	BlockedBy uint64 // for StateBlocked: the failed event of the same item it waits behind
}

// Count returns how many events match f. Without an item filter it reads only the counters;
// with one, only that item range of the index.
func (q *Queue) Count(f Filter) (int, error) {
	if f.Item == "" && !f.Exact {
		c, err := q.Counts()
		if err != nil {
			return 0, err
		}
		n := 0
		for _, s := range States {
			if f.wants(s) {
				n += c.Of(s)
			}
		}
		return n, nil
	}
	n := 0
	err := q.view(func(_ *bolt.Bucket, x *index) error {
		return x.scanItems(f, func(_ []byte, s State, _ uint64) bool {
			n++
			return true
		})
	})
	if err != nil {
		return 0, fmt.Errorf("count queue %s: %w", q.name, err)
	}
	return n, nil
}

// Page returns up to limit events matching f, skipping the first offset of them. It reads the
// index entries it skips (keys only, no event is decoded) and decodes only the events it
// returns, so a page costs the same whatever the queue's size, but for its offset.
func (q *Queue) Page(f Filter, offset, limit int) ([]Entry, error) {
	if offset < 0 || limit <= 0 {
		return nil, nil
	}
	var out []Entry
	err := q.view(func(b *bolt.Bucket, x *index) error {
		seqs, err := x.seqs(b, f, offset, limit)
		if err == nil {
			out, err = x.entries(b, seqs)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("page of queue %s: %w", q.name, err)
	}
	return out, nil
}

// Entries returns the events with these seqs that are still queued, in the order given.
func (q *Queue) Entries(seqs []uint64) ([]Entry, error) {
	var out []Entry
	err := q.view(func(b *bolt.Bucket, x *index) (err error) {
		out, err = x.entries(b, seqs)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read queue %s: %w", q.name, err)
	}
	return out, nil
}

// view runs fn in a read transaction with the events bucket and the index.
func (q *Queue) view(fn func(events *bolt.Bucket, x *index) error) error {
	return q.st.DB().View(func(tx *bolt.Tx) error {
		b, err := q.events(tx)
		if err != nil {
			return err
		}
		x, err := q.index(tx)
		if err != nil {
			return err
		}
		return fn(b, x)
	})
}

// entries decodes the events of seqs that still exist (without payloads), with their states.
func (x *index) entries(events *bolt.Bucket, seqs []uint64) ([]Entry, error) {
	out := make([]Entry, 0, len(seqs))
	for _, seq := range seqs {
		k := store.U64(seq)
		v := events.Get(k)
		if v == nil {
			continue
		}
		e, err := decodeHead(k, v)
		if err != nil {
			return nil, err
		}
		s, blocker := x.get(e.ItemKey, seq)
		out = append(out, Entry{Event: e, State: s, BlockedBy: blocker})
	}
	return out, nil
}

// seqs picks the cheapest index for f and returns the seqs of a page.
func (x *index) seqs(events *bolt.Bucket, f Filter, offset, limit int) ([]uint64, error) {
	switch {
	case f.Item != "" || f.Exact || f.Order == ItemAscending || f.Order == ItemDescending:
		return x.pageByItem(f, offset, limit)
	case len(f.States) == 0:
		return pageEvents(events, f.Order == NewestFirst, offset, limit), nil
	default:
		return x.pageByState(f, offset, limit), nil
	}
}

// pageEvents walks the events bucket's keys in queue order.
func pageEvents(b *bolt.Bucket, desc bool, offset, limit int) []uint64 {
	var seqs []uint64
	c := b.Cursor()
	first, next := c.First, c.Next
	if desc {
		first, next = c.Last, c.Prev
	}
	skipped := 0
	for k, _ := first(); k != nil && len(seqs) < limit; k, _ = next() {
		if skipped < offset {
			skipped++
			continue
		}
		seqs = append(seqs, store.U64From(k))
	}
	return seqs
}

// pageByState merges the state index's ranges of the wanted states in seq order.
func (x *index) pageByState(f Filter, offset, limit int) []uint64 {
	desc := f.Order == NewestFirst
	type head struct {
		c   *bolt.Cursor
		s   byte
		seq uint64
		ok  bool
	}
	var heads []*head
	for _, s := range States {
		if !f.wants(s) {
			continue
		}
		h := &head{c: x.states.Cursor(), s: byte(s)}
		var k []byte
		if desc {
			k, _ = h.c.Seek([]byte{byte(s) + 1})
			if k == nil {
				k, _ = h.c.Last()
			} else {
				k, _ = h.c.Prev()
			}
		} else {
			k, _ = h.c.Seek([]byte{byte(s)})
		}
		h.seq, h.ok = stateSeq(k, h.s)
		heads = append(heads, h)
	}
	var seqs []uint64
	skipped := 0
	for len(seqs) < limit {
		var best *head
		for _, h := range heads {
			if h.ok && (best == nil || (!desc && h.seq < best.seq) || (desc && h.seq > best.seq)) {
				best = h
			}
		}
		if best == nil {
			break
		}
		if skipped < offset {
			skipped++
		} else {
			seqs = append(seqs, best.seq)
		}
		var k []byte
		if desc {
			k, _ = best.c.Prev()
		} else {
			k, _ = best.c.Next()
		}
		best.seq, best.ok = stateSeq(k, best.s)
	}
	return seqs
}

func stateSeq(k []byte, s byte) (uint64, bool) {
	if len(k) != 9 || k[0] != s {
		return 0, false
	}
	return store.U64From(k[1:]), true
}

// scanItems calls fn for each items-index entry in f's item range whose state f wants, in key
// order (reversed for ItemDescending), until fn returns false.
func (x *index) scanItems(f Filter, fn func(k []byte, s State, blocker uint64) bool) error {
	prefix := itemPrefix(f.Item)
	if f.Exact {
		prefix = itemKey(f.Item)
	}
	c := x.items.Cursor()
	var k, v []byte
	desc := f.Order == ItemDescending
	if desc {
		if end := prefixEnd(prefix); end == nil {
			k, v = c.Last()
		} else if k, v = c.Seek(end); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	} else {
		k, v = c.Seek(prefix)
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = step(c, desc) {
		s, blocker := parseEntryValue(v)
		if !f.wants(s) {
			continue
		}
		if !fn(k, s, blocker) {
			return nil
		}
	}
	return nil
}

func step(c *bolt.Cursor, desc bool) ([]byte, []byte) {
	if desc {
		return c.Prev()
	}
	return c.Next()
}

// prefixEnd is the smallest key after every key that starts with prefix; nil when there is
// none (all 0xFF).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// pageByItem pages the items index: in key order for the item orders, else (an item filter in
// queue order) it collects the range's seqs and sorts them.
func (x *index) pageByItem(f Filter, offset, limit int) ([]uint64, error) {
	var seqs []uint64
	if f.Order == ItemAscending || f.Order == ItemDescending {
		skipped := 0
		err := x.scanItems(f, func(k []byte, _ State, _ uint64) bool {
			if skipped < offset {
				skipped++
				return true
			}
			_, seq := splitItemEntry(k)
			seqs = append(seqs, seq)
			return len(seqs) < limit
		})
		return seqs, err
	}
	err := x.scanItems(f, func(k []byte, _ State, _ uint64) bool {
		_, seq := splitItemEntry(k)
		seqs = append(seqs, seq)
		return true
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(seqs)
	if f.Order == NewestFirst {
		slices.Reverse(seqs)
	}
	if offset >= len(seqs) {
		return nil, nil
	}
	return seqs[offset : offset+min(limit, len(seqs)-offset)], nil
}

// Seqs returns the seqs of every event matching f, in f's order, reading only the index.
// Bulk actions use it to know their work before they start.
func (q *Queue) Seqs(f Filter) ([]uint64, error) {
	var seqs []uint64
	err := q.view(func(b *bolt.Bucket, x *index) (err error) {
		seqs, err = x.seqs(b, f, 0, int(^uint(0)>>1))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read queue %s: %w", q.name, err)
	}
	return seqs, nil
}

// Package local is the embedded tracker: items kept in the agent's own bbolt file with a change feed the sync engine follows.
package local

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/store"
)

// DefaultPrefix is the key prefix when Options.Prefix is empty on first open: TDM-1, TDM-2, ...
const DefaultPrefix = "TDM"

// DefaultStatus is the status of a new item that names none. A new item without a priority
// has none: "no priority" is a value of its own, not a default.
const DefaultStatus = "open"

var (
	statuses   = []string{"open", "in progress", "waiting", "resolved", "closed"}
	priorities = []string{"lowest", "low", "medium", "high", "highest"}
)

// Errors callers can test with errors.Is. Both come wrapped in an error whose Permanent()
// reports true: retrying the same input will not help.
var (
	ErrNotFound = errors.New("item not found")
	ErrInvalid  = errors.New("invalid input")
)

// Bucket layout: one top-level bucket holding this package's nested buckets.
var (
	bucketRoot   = []byte("tracker.local")
	bucketItems  = []byte("items")  // item number -> item with its comments (store.AppendItem; JSON from earlier versions)
	bucketFeed   = []byte("feed")   // change sequence -> item number; one entry per item
	bucketLatest = []byte("latest") // item number -> its current change sequence in feed
	bucketMeta   = []byte("meta")   // "prefix", "prefixes"; the bucket's sequence numbers comments
	metaPrefix   = []byte("prefix")
	// metaPrefixes lists, comma-separated, the prefixes new items used before the current
	// one: items keep the key they were made with, so their keys still resolve.
	metaPrefixes = []byte("prefixes")
)

// Options configure Open.
type Options struct {
	// Prefix of item keys, e.g. "BLUE" gives BLUE-1, BLUE-2. The first Open keeps it (or
	// FirstPrefix, or DefaultPrefix); later opens may leave it empty or repeat it. SetPrefix
	// changes it for new items; items made before keep their keys, because linked items on
	// partners refer to them.
	Prefix string
	// FirstPrefix is the prefix of a new tracker when Prefix is empty, e.g. one derived from
	// the agent's name (PrefixFor).
	FirstPrefix string
}

// Tracker is the embedded tracker. It is safe for concurrent use.
type Tracker struct {
	st       *store.Store
	db       *bolt.DB
	prefixes atomic.Pointer[[]string] // the current prefix first, then the earlier ones
	changed  chan struct{}
	now      func() time.Time
}

// Open prepares the embedded tracker's buckets in st and returns the tracker.
func Open(st *store.Store, opt Options) (*Tracker, error) {
	if st == nil {
		return nil, errors.New("open embedded tracker: no store")
	}
	for _, p := range []string{opt.Prefix, opt.FirstPrefix} {
		if p != "" {
			if err := CheckPrefix(p); err != nil {
				return nil, err
			}
		}
	}
	t := &Tracker{
		st:      st,
		db:      st.DB(),
		changed: make(chan struct{}, 1),
		now:     func() time.Time { return time.Now().UTC().Round(0) },
	}
	err := t.db.Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(bucketRoot)
		if err != nil {
			return fmt.Errorf("create bucket %s: %w", bucketRoot, err)
		}
		for _, name := range [][]byte{bucketItems, bucketFeed, bucketLatest, bucketMeta} {
			if _, err := root.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s/%s: %w", bucketRoot, name, err)
			}
		}
		meta := root.Bucket(bucketMeta)
		stored := string(meta.Get(metaPrefix))
		switch {
		case stored == "":
			p := cmp.Or(opt.Prefix, opt.FirstPrefix, DefaultPrefix)
			t.setPrefixes([]string{p})
			return meta.Put(metaPrefix, []byte(p))
		case opt.Prefix == "" || opt.Prefix == stored:
			t.setPrefixes(append([]string{stored}, splitPrefixes(meta.Get(metaPrefixes))...))
			return nil
		default:
			return fmt.Errorf("the embedded tracker's keys already use the prefix %q (%s-1, ...); change it in Settings, not when opening", stored, stored)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("open embedded tracker: %w", err)
	}
	return t, nil
}

// CheckPrefix says whether p can prefix item keys, in words an operator understands.
func CheckPrefix(p string) error {
	ok := len(p) >= 1 && len(p) <= 10 && p[0] >= 'A' && p[0] <= 'Z'
	for i := 0; ok && i < len(p); i++ {
		c := p[i]
		ok = c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	if !ok {
		return fmt.Errorf("invalid key prefix %q: use 1 to 10 upper-case letters or digits, starting with a letter (e.g. BLUE)", p)
	}
	return nil
}

// Prefix is the key prefix of new items.
func (t *Tracker) Prefix() string { return (*t.prefixes.Load())[0] }

func (t *Tracker) setPrefixes(p []string) { t.prefixes.Store(&p) }

func splitPrefixes(v []byte) []string {
	if len(v) == 0 {
		return nil
	}
	return strings.Split(string(v), ",")
}

// SetPrefix makes p the prefix of new items' keys. Items made before keep their keys (a
// partner's twin refers to them), and new items go on with the next number: after TDM-7
// comes ACME-8, so no key is ever given twice.
func (t *Tracker) SetPrefix(p string) error {
	if err := CheckPrefix(p); err != nil {
		return err
	}
	return t.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketRoot).Bucket(bucketMeta)
		cur := (*t.prefixes.Load())
		if cur[0] == p {
			return nil
		}
		earlier := []string{}
		for _, old := range cur {
			if old != p {
				earlier = append(earlier, old)
			}
		}
		if err := meta.Put(metaPrefix, []byte(p)); err != nil {
			return err
		}
		if err := meta.Put(metaPrefixes, []byte(strings.Join(earlier, ","))); err != nil {
			return err
		}
		t.setPrefixes(append([]string{p}, earlier...))
		return nil
	})
}

// PrefixFor derives a key prefix from an agent's name: its first word's letters and digits,
// upper case, at most 6, e.g. "Acme Support" gives ACME; DefaultPrefix when the name has none
// to offer.
func PrefixFor(name string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(name) {
		switch {
		case r >= 'A' && r <= 'Z' || b.Len() > 0 && r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() >= 2:
			return b.String()
		default:
			b.Reset() // a word of one letter ("A Team") is not enough
		}
		if b.Len() == 6 {
			break
		}
	}
	if b.Len() < 2 {
		return DefaultPrefix
	}
	return b.String()
}

// Statuses is the embedded tracker's status vocabulary, in workflow order.
func (t *Tracker) Statuses() []string { return append([]string(nil), statuses...) }

// Priorities is the embedded tracker's priority vocabulary, lowest first.
func (t *Tracker) Priorities() []string { return append([]string(nil), priorities...) }

// Changed is signalled (capacity 1, never blocking the writer) after every committed change.
func (t *Tracker) Changed() <-chan struct{} { return t.changed }

func (t *Tracker) signal() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// inputError is about the caller's input, not the storage: retrying will not help.
type inputError struct {
	kind error // ErrNotFound or ErrInvalid
	msg  string
}

func (e *inputError) Error() string   { return e.msg }
func (e *inputError) Unwrap() error   { return e.kind }
func (e *inputError) Permanent() bool { return true }

func invalid(format string, args ...any) error {
	return &inputError{kind: ErrInvalid, msg: fmt.Sprintf(format, args...)}
}

func (t *Tracker) notFound(key string) error {
	if _, ok := t.number(key); !ok {
		return &inputError{kind: ErrNotFound, msg: fmt.Sprintf("item %q not found: the embedded tracker's keys look like %s-1", key, t.Prefix())}
	}
	return &inputError{kind: ErrNotFound, msg: fmt.Sprintf("item %s not found", key)}
}

func isInput(err error) bool {
	var ie *inputError
	return errors.As(err, &ie)
}

func (t *Tracker) key(n uint64) string { return t.Prefix() + "-" + strconv.FormatUint(n, 10) }

// number parses a key of this tracker (with its current or an earlier prefix) into its item
// number. An item's key is the one it was made with: load checks the two agree.
func (t *Tracker) number(key string) (uint64, bool) {
	for _, p := range *t.prefixes.Load() {
		rest, ok := strings.CutPrefix(key, p+"-")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(rest, 10, 64)
		if err != nil || n == 0 || strconv.FormatUint(n, 10) != rest {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// txn is the tracker's buckets inside one transaction.
type txn struct {
	items, feed, latest, meta *bolt.Bucket
	changed                   bool // something was recorded in the feed
}

func bucketsOf(tx *bolt.Tx) (*txn, error) {
	root := tx.Bucket(bucketRoot)
	if root == nil {
		return nil, fmt.Errorf("bucket %s is missing: open the tracker with local.Open", bucketRoot)
	}
	return &txn{
		items:  root.Bucket(bucketItems),
		feed:   root.Bucket(bucketFeed),
		latest: root.Bucket(bucketLatest),
		meta:   root.Bucket(bucketMeta),
	}, nil
}

func (t *Tracker) view(fn func(b *txn) error) error {
	return t.db.View(func(tx *bolt.Tx) error {
		b, err := bucketsOf(tx)
		if err != nil {
			return err
		}
		return fn(b)
	})
}

// update runs fn in one write transaction and signals Changed once it commits, if fn
// recorded a change. The transaction may be shared with other writes to the agent's file
// (store.Update's group commit), so fn may run again after a rollback: it sets its results.
func (t *Tracker) update(fn func(b *txn, now time.Time) error) error {
	return t.st.Update(func(tx *bolt.Tx) error {
		b, err := bucketsOf(tx)
		if err != nil {
			return err
		}
		if err := fn(b, t.now()); err != nil {
			return err
		}
		if b.changed {
			tx.OnCommit(t.signal)
		}
		return nil
	})
}

// load decodes item n; ok is false when there is none. Decoding copies the values out of
// bbolt's memory.
func (t *Tracker) load(b *txn, n uint64) (it item.Item, ok bool, err error) {
	v := b.items.Get(store.U64(n))
	if v == nil {
		return item.Item{}, false, nil
	}
	it, err = store.DecodeItem(v)
	if err != nil {
		return item.Item{}, false, fmt.Errorf("decode item %s: %w", t.key(n), err)
	}
	return it, true, nil
}

// save stores item n and moves it to the head of the change feed, deleting its older feed
// entry so the feed holds at most one entry per item.
func (t *Tracker) save(b *txn, n uint64, it item.Item) error {
	nk := store.U64(n)
	if err := b.items.Put(nk, store.AppendItem(make([]byte, 0, 128+len(it.Description)), it)); err != nil {
		return fmt.Errorf("store item %s: %w", it.Key, err)
	}
	if old := b.latest.Get(nk); old != nil {
		if err := b.feed.Delete(store.Copy(old)); err != nil {
			return fmt.Errorf("drop old feed entry of %s: %w", it.Key, err)
		}
	}
	seq, err := b.feed.NextSequence()
	if err != nil {
		return fmt.Errorf("next feed sequence: %w", err)
	}
	sk := store.U64(seq)
	if err := b.feed.Put(sk, nk); err != nil {
		return fmt.Errorf("record change of %s: %w", it.Key, err)
	}
	if err := b.latest.Put(nk, sk); err != nil {
		return fmt.Errorf("record change of %s: %w", it.Key, err)
	}
	b.changed = true
	return nil
}

// Get returns one item with its comments. An unknown key gives an error wrapping ErrNotFound.
func (t *Tracker) Get(ctx context.Context, key string) (item.Item, error) {
	if err := ctx.Err(); err != nil {
		return item.Item{}, err
	}
	n, ok := t.number(key)
	if !ok {
		return item.Item{}, t.notFound(key)
	}
	var it item.Item
	err := t.view(func(b *txn) error {
		var err error
		it, ok, err = t.load(b, n)
		ok = ok && it.Key == key // TDM-7 and ACME-7 are not both item 7's keys
		return err
	})
	if err != nil {
		return item.Item{}, fmt.Errorf("get %s: %w", key, err)
	}
	if !ok {
		return item.Item{}, t.notFound(key)
	}
	return it, nil
}

// List returns items newest first (by creation), skipping offset of them; limit <= 0 means
// all the rest.
func (t *Tracker) List(ctx context.Context, offset, limit int) ([]item.Item, error) {
	var out []item.Item
	_, err := t.newest(ctx, offset, func(k, v []byte) (bool, error) {
		if limit > 0 && len(out) >= limit {
			return false, nil
		}
		it, err := store.DecodeItem(v)
		if err != nil {
			return false, fmt.Errorf("decode item %s: %w", t.key(store.U64From(k)), err)
		}
		out = append(out, it)
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list items: %w", err)
	}
	return out, nil
}

// Page returns one page of items as a list shows them (item.Summary), newest first (by
// creation), skipping offset of them, at most limit (limit <= 0 means 100), and the number
// of items, both read in one transaction. It seeks to the page and decodes only its items'
// summaries: its cost does not grow with the number of items.
func (t *Tracker) Page(ctx context.Context, offset, limit int) ([]item.Summary, int, error) {
	if limit <= 0 {
		limit = 100
	}
	out := make([]item.Summary, 0, limit)
	total, err := t.newest(ctx, offset, func(k, v []byte) (bool, error) {
		if len(out) >= limit {
			return false, nil
		}
		s, err := store.DecodeSummary(v)
		if err != nil {
			return false, fmt.Errorf("decode item %s: %w", t.key(store.U64From(k)), err)
		}
		out = append(out, s)
		return true, nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list a page of items: %w", err)
	}
	return out, total, nil
}

// newest calls fn with the stored items newest first, from the offset-th on, until fn says
// stop, and returns the number of items. Items are numbered 1, 2, ... by the items bucket's
// sequence and never deleted, so the offset-th newest is number sequence-offset: a seek, not
// a walk over the skipped items.
func (t *Tracker) newest(ctx context.Context, offset int, fn func(k, v []byte) (bool, error)) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if offset < 0 {
		return 0, fmt.Errorf("offset %d is negative", offset)
	}
	var total int
	err := t.view(func(b *txn) error {
		seq := b.items.Sequence()
		total = int(seq)
		if uint64(offset) >= seq {
			return nil
		}
		from := seq - uint64(offset)
		c := b.items.Cursor()
		k, v := c.Seek(store.U64(from))
		switch {
		case k == nil:
			k, v = c.Last()
		case store.U64From(k) > from:
			k, v = c.Prev()
		}
		for ; k != nil; k, v = c.Prev() {
			more, err := fn(k, v)
			if err != nil || !more {
				return err
			}
		}
		return nil
	})
	return total, err
}

// Count returns the number of items.
func (t *Tracker) Count(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	err := t.view(func(b *txn) error {
		// Items are numbered by the items bucket's sequence and never deleted, so the sequence
		// is the count: no walk over the items (which touched megabytes of pages each time).
		n = int(b.items.Sequence())
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count items: %w", err)
	}
	return n, nil
}

// Changes returns the distinct items changed after cursor, oldest change first, at most
// limit of them (limit <= 0 means 100), and the cursor to pass next time. The cursor is the
// decimal sequence of the last change returned; "" starts from the beginning.
func (t *Tracker) Changes(ctx context.Context, cursor string, limit int) ([]item.Item, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, cursor, err
	}
	after := uint64(0)
	if cursor != "" {
		var err error
		after, err = strconv.ParseUint(cursor, 10, 64)
		if err != nil {
			return nil, cursor, invalid("invalid change cursor %q for the embedded tracker: want the decimal cursor a previous Changes call returned, or empty to start over", cursor)
		}
	}
	if limit <= 0 {
		limit = 100
	}
	var out []item.Item
	last := after
	err := t.view(func(b *txn) error {
		if head := b.feed.Sequence(); after > head {
			return invalid("change cursor %q is ahead of the embedded tracker's change feed (last change %d): it belongs to another database; reset the cursor to start over", cursor, head)
		}
		c := b.feed.Cursor()
		for k, v := c.Seek(store.U64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			n := store.U64From(v)
			it, ok, err := t.load(b, n)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("change feed names item %s, which is missing", t.key(n))
			}
			out = append(out, it)
			last = store.U64From(k)
		}
		return nil
	})
	if err != nil {
		if isInput(err) {
			return nil, cursor, err
		}
		return nil, cursor, fmt.Errorf("read change feed: %w", err)
	}
	return out, strconv.FormatUint(last, 10), nil
}

var (
	_ engine.Tracker        = (*Tracker)(nil)
	_ engine.ChangeNotifier = (*Tracker)(nil)
	_ engine.TxTracker      = (*Tracker)(nil)
)

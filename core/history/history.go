// Package history keeps Tandem's sync history: one metadata-only record per event outcome
// (times, keys, outcome, error text, rule version; never field values), kept for a retention
// period, plus the opt-in, self-expiring debug capture of payloads.
package history

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/store"
)

// Layout inside the agent's bbolt file:
//
//	history/records  U64(unix nanos)+U64(id)              -> Record (JSON)
//	history/keys     key(lower(item key))+U64(nanos)+U64(id) -> nil   both keys of each record
//	history/minutes  U64(unix minute)+connection          -> Tally (JSON)   for the charts
//	history/meta     "retention" -> U64(days); "gaps" -> []Gap (JSON)
//
// Payload captures live in their own top-level bucket (capture.go), so the history bucket
// itself never holds a field value.
var (
	rootBucket    = []byte("history")
	recordsBucket = []byte("records")
	keysBucket    = []byte("keys")
	minutesBucket = []byte("minutes")
	metaBucket    = []byte("meta")
	retentionKey  = []byte("retention")
	gapsKey       = []byte("gaps")
)

// Retention limits, in days.
const (
	DefaultRetentionDays = 30
	MinRetentionDays     = 1
	MaxRetentionDays     = 365
)

// ErrRetention is returned for a retention outside MinRetentionDays..MaxRetentionDays.
var ErrRetention = fmt.Errorf("history retention must be a whole number of days from %d to %d", MinRetentionDays, MaxRetentionDays)

// Outcome is what happened to an event.
type Outcome string

const (
	Sent    Outcome = "sent"    // delivered to the partner, who stored it
	Applied Outcome = "applied" // applied to the local tracker (or, for a receipt, the link recorded)
	Failed  Outcome = "failed"  // an attempt failed; Error says why
	Retried Outcome = "retried" // the operator asked for another attempt now
	Skipped Outcome = "skipped" // dropped without effect: by the operator, or an incoming rule chose to skip it
)

// Outcomes lists every outcome, in display order.
var Outcomes = []Outcome{Sent, Applied, Failed, Retried, Skipped}

// Record is one event outcome. It holds no field value of any item.
type Record struct {
	ID          uint64        `json:"-"` // assigned when stored
	Time        time.Time     `json:"t"`
	Connection  string        `json:"c"`
	Direction   string        `json:"d"` // "out" or "in"
	Local       string        `json:"l,omitempty"`
	Remote      string        `json:"r,omitempty"`
	EventID     string        `json:"e,omitempty"`
	Kind        string        `json:"k,omitempty"`
	Outcome     Outcome       `json:"o"`
	Duration    time.Duration `json:"ms,omitempty"`
	Error       string        `json:"err,omitempty"`
	Permanent   bool          `json:"p,omitempty"` // the failure waits for the operator
	Attempt     int           `json:"a,omitempty"`
	RuleVersion string        `json:"v,omitempty"`
	// RuleLogs are the rule's ctx.Log lines for this event: the operator's own diagnostics,
	// kept with the event (at most maxRuleLogs lines of maxRuleLog characters).
	RuleLogs []string `json:"rl,omitempty"`
	Operator bool     `json:"op,omitempty"` // the operator did it (retry, skip)
	Captured bool     `json:"cap,omitempty"`
	// Payload is the event's payload, kept only when debug capture is on for the connection
	// (see capture.go); it is never stored in the history itself.
	Payload json.RawMessage `json:"-"`
}

// Bounds on the rule log lines a record keeps.
const (
	maxRuleLogs = 20
	maxRuleLog  = 300
)

// boundLogs cuts rule log lines to the bounds a record keeps.
func boundLogs(lines []string) []string {
	if len(lines) > maxRuleLogs {
		lines = append(lines[:maxRuleLogs:maxRuleLogs], fmt.Sprintf("(%d more lines)", len(lines)-maxRuleLogs))
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if r := []rune(l); len(r) > maxRuleLog {
			l = string(r[:maxRuleLog]) + "…"
		}
		out[i] = l
	}
	return out
}

// Gap is a stretch of time whose records could not all be written.
type Gap struct {
	From, To time.Time
	Lost     int
	Reason   string
}

// Options tune a Store.
type Options struct {
	Logger *slog.Logger
	// FlushEvery is how long recorded outcomes may wait in memory before they are written in
	// one transaction; default 250ms.
	FlushEvery time.Duration
	// MaxPending bounds the records waiting in memory; past it the oldest are dropped and the
	// history says it is incomplete. Default 100,000.
	MaxPending int
	// OnChange, if set, is called after records are written (the app's History and Overview
	// redraw); it must not block.
	OnChange func()
	// Now is the history's clock; default time.Now (tests move it on to see retention work).
	Now func() time.Time
}

// Store is the history of one agent. Recording never blocks and never fails the caller: the
// records are written in batches by Serve (or Flush), and a write that fails (a full disk)
// drops the batch and marks the history incomplete for that stretch instead of stopping the
// sync.
type Store struct {
	st  *store.Store
	opt Options
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	capture map[string]time.Time // connection -> when its capture turns itself off
	pending []Record
	gap     *Gap // records lost since the last good write, not yet stored
	wake    chan struct{}
	flushMu sync.Mutex // one flush at a time
}

// Open opens the history in st, creating its buckets.
func Open(st *store.Store, opt Options) (*Store, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.FlushEvery <= 0 {
		opt.FlushEvery = 250 * time.Millisecond
	}
	if opt.MaxPending <= 0 {
		opt.MaxPending = 100000
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	h := &Store{st: st, opt: opt, log: opt.Logger, now: opt.Now, wake: make(chan struct{}, 1), capture: map[string]time.Time{}}
	err := st.DB().Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(rootBucket)
		if err != nil {
			return err
		}
		for _, n := range [][]byte{recordsBucket, keysBucket, minutesBucket, metaBucket} {
			if _, err := root.CreateBucketIfNotExists(n); err != nil {
				return err
			}
		}
		if _, err = tx.CreateBucketIfNotExists(captureBucket); err != nil {
			return err
		}
		on, _, err := captureBuckets(tx)
		if err != nil {
			return err
		}
		return on.ForEach(func(k, v []byte) error {
			h.capture[string(k)] = time.Unix(0, int64(store.U64From(v)))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("open history: %w", err)
	}
	return h, nil
}

// Now is the time on the history's clock.
func (h *Store) Now() time.Time { return h.now() }

// Record queues r to be written; it never blocks. Time defaults to now. Its payload is kept
// (in the capture, not the history) only while the connection's capture is on.
func (h *Store) Record(r Record) {
	if r.Time.IsZero() {
		r.Time = h.now()
	}
	if len(r.RuleLogs) > 0 {
		r.RuleLogs = boundLogs(r.RuleLogs)
	}
	h.mu.Lock()
	if len(r.Payload) > 0 && h.capture[r.Connection].After(h.now()) {
		r.Payload, r.Captured = bytes.Clone(r.Payload), true
	} else {
		r.Payload, r.Captured = nil, false
	}
	h.pending = append(h.pending, r)
	if over := len(h.pending) - h.opt.MaxPending; over > 0 {
		h.lose(h.pending[:over], "the history writer fell behind")
		h.pending = append(h.pending[:0:0], h.pending[over:]...)
	}
	n := len(h.pending)
	h.mu.Unlock()
	if n >= 512 {
		h.signal()
	}
}

func (h *Store) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// lose notes records that will never be written; h.mu is held.
func (h *Store) lose(rs []Record, reason string) {
	if len(rs) == 0 {
		return
	}
	if h.gap == nil {
		h.gap = &Gap{From: rs[0].Time, To: rs[0].Time, Reason: reason}
	}
	for _, r := range rs {
		if r.Time.Before(h.gap.From) {
			h.gap.From = r.Time
		}
		if r.Time.After(h.gap.To) {
			h.gap.To = r.Time
		}
	}
	h.gap.Lost += len(rs)
	h.gap.Reason = reason
}

// Serve writes recorded outcomes every FlushEvery (sooner when many wait) and enforces the
// retention once an hour, until ctx ends; then it writes what is left.
func (h *Store) Serve(ctx context.Context) error {
	t := time.NewTicker(h.opt.FlushEvery)
	defer t.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	h.enforce()
	for {
		select {
		case <-ctx.Done():
			h.Flush()
			return ctx.Err()
		case <-t.C:
		case <-h.wake:
		case <-prune.C:
			h.enforce()
		}
		h.Flush()
	}
}

// Enforce deletes what the retention and the capture's expiry no longer keep. Serve calls it
// once an hour.
func (h *Store) Enforce() { h.enforce() }

func (h *Store) enforce() {
	if _, err := h.Prune(); err != nil {
		h.log.Warn("enforce history retention", "err", err)
	}
	if _, err := h.PruneCaptures(); err != nil {
		h.log.Warn("expire payload captures", "err", err)
	}
}

// Flush writes the records waiting in memory now. A write that fails drops them and marks the
// history incomplete; the error is returned for the log.
func (h *Store) Flush() error {
	h.flushMu.Lock()
	defer h.flushMu.Unlock()
	h.mu.Lock()
	batch := h.pending
	h.pending = nil
	gap := h.gap
	h.mu.Unlock()
	if len(batch) == 0 && gap == nil {
		return nil
	}
	err := h.write(batch, gap)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.lose(batch, "the history could not be written: "+err.Error())
		h.log.Warn("history incomplete: records dropped", "records", len(batch), "err", err)
		return fmt.Errorf("write history: %w", err)
	}
	if gap != nil && h.gap == gap {
		h.gap = nil // stored now
	}
	if h.opt.OnChange != nil {
		h.opt.OnChange()
	}
	return nil
}

// write stores a batch, its tallies, its captures and a pending gap in one transaction.
// It may share its commit with the agent's other writes (store.Update), and so run again.
func (h *Store) write(batch []Record, gap *Gap) error {
	return h.st.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(rootBucket)
		recs, keys, minutes := root.Bucket(recordsBucket), root.Bucket(keysBucket), root.Bucket(minutesBucket)
		recs.FillPercent, keys.FillPercent = 0.95, 0.9
		tallies := map[string]*Tally{}
		for i := range batch {
			r := &batch[i]
			id, err := recs.NextSequence()
			if err != nil {
				return err
			}
			r.ID = id
			if r.Captured {
				if err := putCapture(tx, r); err != nil {
					return err
				}
			}
			k := recordKey(r.Time, id)
			if err := recs.Put(k, encodeRecord(*r)); err != nil {
				return err
			}
			for _, key := range recordKeys(*r) {
				if err := keys.Put(append(itemKey(key), k...), nil); err != nil {
					return err
				}
			}
			mk := string(minuteKey(r.Time, r.Connection))
			if tallies[mk] == nil {
				tallies[mk] = &Tally{}
			}
			tallies[mk].add(r.Outcome)
		}
		for mk, t := range tallies {
			cur := Tally{}
			if v := minutes.Get([]byte(mk)); v != nil {
				_ = json.Unmarshal(v, &cur)
			}
			cur.merge(*t)
			v, _ := json.Marshal(cur)
			if err := minutes.Put([]byte(mk), v); err != nil {
				return err
			}
		}
		if gap != nil {
			meta := root.Bucket(metaBucket)
			var gaps []Gap
			if v := meta.Get(gapsKey); v != nil {
				_ = json.Unmarshal(v, &gaps)
			}
			gaps = append(gaps, *gap)
			v, _ := json.Marshal(gaps)
			if err := meta.Put(gapsKey, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// recordKeys are the item keys a record is found by: both of them, lower-cased.
func recordKeys(r Record) []string {
	var out []string
	for _, k := range []string{r.Local, r.Remote} {
		k = strings.ToLower(k)
		if k != "" && (len(out) == 0 || out[0] != k) {
			out = append(out, k)
		}
	}
	return out
}

func recordKey(t time.Time, id uint64) []byte {
	return append(store.U64(uint64(max(t.UnixNano(), 0))), store.U64(id)...)
}

func minuteKey(t time.Time, conn string) []byte {
	return append(store.U64(uint64(max(t.Unix()/60, 0))), conn...)
}

// itemKey encodes a key for the keys index: 0x00 escaped as 0x00 0xFF, ended by 0x00 0x01,
// so one key's entries are contiguous and a prefix selects a range.
func itemKey(key string) []byte { return append(itemPrefix(key), 0x00, 0x01) }

func itemPrefix(key string) []byte {
	b := make([]byte, 0, len(key)+18)
	for i := 0; i < len(key); i++ {
		b = append(b, key[i])
		if key[i] == 0x00 {
			b = append(b, 0xFF)
		}
	}
	return b
}

// Incomplete returns the stretches of time whose records could not all be written, oldest
// first, including one not stored yet.
func (h *Store) Incomplete() ([]Gap, error) {
	var gaps []Gap
	err := h.st.DB().View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(rootBucket).Bucket(metaBucket).Get(gapsKey); v != nil {
			return json.Unmarshal(v, &gaps)
		}
		return nil
	})
	h.mu.Lock()
	if h.gap != nil {
		gaps = append(gaps, *h.gap)
	}
	h.mu.Unlock()
	return gaps, err
}

// Retention returns the retention in days.
func (h *Store) Retention() (int, error) {
	days := DefaultRetentionDays
	err := h.st.DB().View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(rootBucket).Bucket(metaBucket).Get(retentionKey); v != nil {
			days = int(store.U64From(v))
		}
		return nil
	})
	return days, err
}

// SetRetention changes the retention and enforces it at once. Outside the allowed range it
// returns ErrRetention and changes nothing.
func (h *Store) SetRetention(days int) error {
	if days < MinRetentionDays || days > MaxRetentionDays {
		return fmt.Errorf("%w (got %d)", ErrRetention, days)
	}
	err := h.st.DB().Update(func(tx *bolt.Tx) error {
		return tx.Bucket(rootBucket).Bucket(metaBucket).Put(retentionKey, store.U64(uint64(days)))
	})
	if err != nil {
		return fmt.Errorf("set history retention: %w", err)
	}
	_, err = h.Prune()
	return err
}

// pruneChunk bounds the records one pruning transaction deletes, so retention never holds the
// database for long.
const pruneChunk = 5000

// Prune deletes the records (and tallies) older than the retention and returns how many
// records it deleted.
func (h *Store) Prune() (int, error) {
	days, err := h.Retention()
	if err != nil {
		return 0, err
	}
	return h.pruneBefore(h.now().Add(-time.Duration(days) * 24 * time.Hour))
}

func (h *Store) pruneBefore(cut time.Time) (int, error) {
	total := 0
	end := store.U64(uint64(max(cut.UnixNano(), 0)))
	endMinute := store.U64(uint64(max(cut.Unix()/60, 0)))
	for {
		n := 0
		err := h.st.DB().Update(func(tx *bolt.Tx) error {
			root := tx.Bucket(rootBucket)
			recs, keys := root.Bucket(recordsBucket), root.Bucket(keysBucket)
			var dead [][]byte
			c := recs.Cursor()
			for k, v := c.First(); k != nil && bytes.Compare(k[:8], end) < 0 && len(dead) < pruneChunk; k, v = c.Next() {
				if r, err := decodeRecord(k, v); err == nil {
					for _, key := range recordKeys(r) {
						if err := keys.Delete(append(itemKey(key), k...)); err != nil {
							return err
						}
					}
				}
				dead = append(dead, bytes.Clone(k))
			}
			for _, k := range dead {
				if err := recs.Delete(k); err != nil {
					return err
				}
			}
			n = len(dead)
			if n < pruneChunk {
				return deleteBefore(root.Bucket(minutesBucket), endMinute)
			}
			return nil
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("enforce history retention: %w", err)
		}
		if n < pruneChunk {
			break
		}
	}
	if total > 0 && h.opt.OnChange != nil {
		h.opt.OnChange()
	}
	return total, nil
}

// deleteBefore deletes the keys of b that sort before end.
func deleteBefore(b *bolt.Bucket, end []byte) error {
	var dead [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
		dead = append(dead, bytes.Clone(k))
	}
	for _, k := range dead {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// DeleteAll deletes every record, tally, gap note and capture now ("delete history now"). The
// retention setting stays.
func (h *Store) DeleteAll() error {
	h.mu.Lock()
	h.pending, h.gap = nil, nil
	h.mu.Unlock()
	err := h.st.DB().Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(rootBucket)
		for _, n := range [][]byte{recordsBucket, keysBucket, minutesBucket} {
			if err := root.DeleteBucket(n); err != nil {
				return err
			}
			if _, err := root.CreateBucket(n); err != nil {
				return err
			}
		}
		if err := root.Bucket(metaBucket).Delete(gapsKey); err != nil {
			return err
		}
		return clearCaptures(tx)
	})
	if err != nil {
		return fmt.Errorf("delete history: %w", err)
	}
	if h.opt.OnChange != nil {
		h.opt.OnChange()
	}
	return nil
}

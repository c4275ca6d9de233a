package history

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/store"
)

// Query selects records, newest first.
type Query struct {
	// Text matches, ignoring case, any part of either item key, the kind, the event id or the
	// error text. Empty matches everything.
	Text       string
	Connection string    // "" for every connection
	Outcomes   []Outcome // none: every outcome
	Since      time.Time // zero: no lower bound
	Until      time.Time // zero: no upper bound
	// After continues a search where the previous page ended (its Page.Next).
	After string
	Limit int // default 100
}

// Page is one page of a search.
type Page struct {
	Records []Record
	// Next continues the search with older records; "" when there are none.
	Next string
	// Reached is the time the search read back to, when it stopped at its read budget before
	// filling the page: a search for a rare text in a long history is continued, not endless.
	Reached time.Time
}

// searchBudget bounds the records one Search call reads.
const searchBudget = 200000

func (q Query) matches(r Record) bool {
	if q.Connection != "" && r.Connection != q.Connection {
		return false
	}
	if len(q.Outcomes) > 0 && !slices.Contains(q.Outcomes, r.Outcome) {
		return false
	}
	if q.Text == "" {
		return true
	}
	t := strings.ToLower(q.Text)
	for _, f := range []string{r.Local, r.Remote, r.Kind, r.EventID, r.Error, r.Connection, r.RuleVersion} {
		if strings.Contains(strings.ToLower(f), t) {
			return true
		}
	}
	return false
}

// Search returns the newest records matching q, a page at a time. It writes what is waiting
// first, so a search sees every outcome recorded before it.
func (h *Store) Search(q Query) (Page, error) {
	h.Flush()
	if q.Limit <= 0 {
		q.Limit = 100
	}
	var p Page
	err := h.st.DB().View(func(tx *bolt.Tx) error {
		c := tx.Bucket(rootBucket).Bucket(recordsBucket).Cursor()
		var k, v []byte
		switch {
		case q.After != "":
			from, err := hex.DecodeString(q.After)
			if err != nil || len(from) != 16 {
				return fmt.Errorf("search cursor %q is not one this history made", q.After)
			}
			if k, v = c.Seek(from); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		case !q.Until.IsZero():
			if k, v = c.Seek(store.U64(uint64(max(q.Until.UnixNano()+1, 0)))); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		default:
			k, v = c.Last()
		}
		since := uint64(max(q.Since.UnixNano(), 0))
		read := 0
		for ; k != nil; k, v = c.Prev() {
			if store.U64From(k[:8]) < since {
				return nil
			}
			if read == searchBudget {
				p.Next, p.Reached = hex.EncodeToString(k), time.Unix(0, int64(store.U64From(k[:8])))
				return nil
			}
			read++
			r, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			if !q.matches(r) {
				continue
			}
			if len(p.Records) == q.Limit {
				p.Next = hex.EncodeToString(p.last())
				return nil
			}
			p.Records = append(p.Records, r)
		}
		return nil
	})
	if err != nil {
		return Page{}, fmt.Errorf("search history: %w", err)
	}
	return p, nil
}

func (p Page) last() []byte {
	r := p.Records[len(p.Records)-1]
	return recordKey(r.Time, r.ID)
}

// timelineLimit bounds the records of one timeline.
const timelineLimit = 5000

// Timeline returns everything that happened to an item, both ways, oldest first: the records
// under its key (either side's, ignoring case) and under every key it was linked with in
// them, on any connection. It reads only those keys' index ranges.
func (h *Store) Timeline(key string) ([]Record, error) {
	h.Flush()
	key = strings.TrimSpace(key)
	if key == "" {
		return nil, nil
	}
	var out []Record
	err := h.st.DB().View(func(tx *bolt.Tx) error {
		root := tx.Bucket(rootBucket)
		keys, recs := root.Bucket(keysBucket), root.Bucket(recordsBucket)
		seen := map[string]bool{}
		found := map[string]bool{}
		todo := []string{strings.ToLower(key)}
		for len(todo) > 0 && len(out) < timelineLimit {
			k := todo[0]
			todo = todo[1:]
			if seen[k] {
				continue
			}
			seen[k] = true
			prefix := itemKey(k)
			c := keys.Cursor()
			for ik, _ := c.Seek(prefix); ik != nil && bytes.HasPrefix(ik, prefix) && len(out) < timelineLimit; ik, _ = c.Next() {
				rk := ik[len(prefix):]
				if found[string(rk)] {
					continue
				}
				v := recs.Get(rk)
				if v == nil {
					continue
				}
				r, err := decodeRecord(rk, v)
				if err != nil {
					return err
				}
				found[string(rk)] = true
				out = append(out, r)
				for _, other := range recordKeys(r) {
					if !seen[other] {
						todo = append(todo, other)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", key, err)
	}
	slices.SortFunc(out, func(a, b Record) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return int(a.ID) - int(b.ID)
	})
	return out, nil
}

// Tally counts outcomes.
type Tally struct {
	Sent    int `json:"s,omitempty"`
	Applied int `json:"a,omitempty"`
	Failed  int `json:"f,omitempty"`
	Retried int `json:"r,omitempty"`
	Skipped int `json:"k,omitempty"`
}

func (t *Tally) add(o Outcome) {
	switch o {
	case Sent:
		t.Sent++
	case Applied:
		t.Applied++
	case Failed:
		t.Failed++
	case Retried:
		t.Retried++
	case Skipped:
		t.Skipped++
	}
}

func (t *Tally) merge(o Tally) {
	t.Sent += o.Sent
	t.Applied += o.Applied
	t.Failed += o.Failed
	t.Retried += o.Retried
	t.Skipped += o.Skipped
}

// Synced is the events that went through: sent plus applied.
func (t Tally) Synced() int { return t.Sent + t.Applied }

// Tallies returns outcome counts per step from since up to now, one per step (the last one
// ends now), of one connection or all (""), read from per-minute tallies kept with the records.
// step is rounded to whole minutes.
func (h *Store) Tallies(conn string, since time.Time, step time.Duration) ([]Tally, error) {
	h.Flush()
	step = max(step.Round(time.Minute), time.Minute)
	now := h.now()
	// Whole steps, rounded: a caller's "an hour ago" is a few microseconds more by now.
	n := int((now.Sub(since) + step/2) / step)
	if n <= 0 || n > 100000 {
		return nil, fmt.Errorf("tallies: %d steps of %v since %v", n, step, since)
	}
	out := make([]Tally, n)
	start := now.Add(-time.Duration(n) * step)
	err := h.st.DB().View(func(tx *bolt.Tx) error {
		c := tx.Bucket(rootBucket).Bucket(minutesBucket).Cursor()
		for k, v := c.Seek(store.U64(uint64(max(start.Unix()/60, 0)))); k != nil; k, v = c.Next() {
			if conn != "" && string(k[8:]) != conn {
				continue
			}
			at := time.Unix(int64(store.U64From(k[:8]))*60, 0)
			i := int(at.Sub(start) / step)
			if i < 0 || i >= n {
				continue
			}
			var t Tally
			if err := json.Unmarshal(v, &t); err != nil {
				return err
			}
			out[i].merge(t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read history tallies: %w", err)
	}
	return out, nil
}

package agent

import (
	"context"
	"fmt"
	"slices"

	"github.com/tandemsync/tandem/core/queue"
)

// QueueQuery selects the events the Queue screen shows: the outgoing, incoming or failed tab,
// of one connection or all, filtered by state and item key, in an order.
type QueueQuery struct {
	Connection string   // "" for every connection
	Direction  string   // "out", "in", or "" for both
	States     []string // QueuePending, QueueBlocked, QueueRetrying, QueueFailed; none: every state
	Item       string   // only items whose key starts with this (the queue's key: local out, partner's in)
	Order      string   // QueueOldest (default), QueueNewest, QueueByItem, QueueByItemDesc
}

// Queue orders.
const (
	QueueOldest     = "oldest"
	QueueNewest     = "newest"
	QueueByItem     = "item"
	QueueByItemDesc = "item-desc"
)

// QueuePage is one page of a query, with the number of events the whole query matches.
type QueuePage struct {
	Entries []QueueEntry
	Total   int
}

// segment is one queue a query reads: with every connection, the pages run through each
// connection (oldest connection first), outgoing before incoming.
type segment struct {
	c   *conn
	dir string
	q   *queue.Queue
}

func (a *Agent) segments(qq QueueQuery) ([]segment, queue.Filter, error) {
	f := queue.Filter{Item: qq.Item}
	for _, name := range qq.States {
		s, ok := queue.ParseState(name)
		if !ok {
			return nil, f, fmt.Errorf("queue state %q: want %s, %s, %s or %s", name, QueuePending, QueueBlocked, QueueRetrying, QueueFailed)
		}
		f.States = append(f.States, s)
	}
	switch qq.Order {
	case "", QueueOldest:
	case QueueNewest:
		f.Order = queue.NewestFirst
	case QueueByItem:
		f.Order = queue.ItemAscending
	case QueueByItemDesc:
		f.Order = queue.ItemDescending
	default:
		return nil, f, fmt.Errorf("queue order %q: want %s, %s, %s or %s", qq.Order, QueueOldest, QueueNewest, QueueByItem, QueueByItemDesc)
	}
	dirs := []string{"out", "in"}
	switch qq.Direction {
	case "":
	case "out", "in":
		dirs = []string{qq.Direction}
	default:
		return nil, f, fmt.Errorf("queue direction %q: want out or in", qq.Direction)
	}
	conns := a.connList()
	if qq.Connection != "" {
		c, err := a.conn(qq.Connection)
		if err != nil {
			return nil, f, err
		}
		conns = []*conn{c}
	}
	var segs []segment
	for _, c := range conns {
		for _, d := range dirs {
			q := c.out
			if d == "in" {
				q = c.in
			}
			segs = append(segs, segment{c, d, q})
		}
	}
	return segs, f, nil
}

// QueuePage returns up to limit events of a query after skipping offset, and how many the
// query matches. It reads counts from the queues' indexes and decodes only the page's events,
// so its cost does not grow with the backlog.
func (a *Agent) QueuePage(ctx context.Context, qq QueueQuery, offset, limit int) (QueuePage, error) {
	segs, f, err := a.segments(qq)
	if err != nil {
		return QueuePage{}, err
	}
	var page QueuePage
	for _, s := range segs {
		if err := ctx.Err(); err != nil {
			return QueuePage{}, err
		}
		n, err := s.q.Count(f)
		if err != nil {
			return QueuePage{}, err
		}
		page.Total += n
		if offset >= n || len(page.Entries) >= limit {
			offset = max(offset-n, 0)
			continue
		}
		entries, err := s.q.Page(f, offset, limit-len(page.Entries))
		if err != nil {
			return QueuePage{}, err
		}
		offset = 0
		page.Entries = append(page.Entries, s.describe(entries)...)
	}
	return page, nil
}

// describe turns a queue's entries into the screen's, with both keys of each event.
func (s segment) describe(entries []queue.Entry) []QueueEntry {
	var keys []string
	for _, e := range entries {
		keys = append(keys, e.ItemKey)
	}
	var remoteOf, localOf map[string]string
	if s.dir == "out" {
		remoteOf, _, _ = s.c.eng.Keys(keys, nil)
	} else {
		_, localOf, _ = s.c.eng.Keys(nil, keys)
	}
	out := make([]QueueEntry, len(entries))
	for i, e := range entries {
		qe := QueueEntry{Connection: s.c.rec.ID, Direction: s.dir, Seq: e.Seq, EventID: e.ID, ItemKey: e.ItemKey, Kind: e.Kind,
			State: e.State.String(), BlockedBy: e.BlockedBy, Attempts: e.Attempts, LastError: e.LastError, NextRetry: e.NextRetry, Created: e.Created,
			Rule: e.Rule, RuleLogs: e.Logs}
		if s.dir == "out" {
			qe.Local, qe.Remote = e.ItemKey, remoteOf[e.ItemKey]
		} else {
			qe.Local, qe.Remote = localOf[e.ItemKey], e.ItemKey
		}
		out[i] = qe
	}
	return out
}

// Queue lists up to 10,000 of a connection's queued events in queue order; direction is "out"
// or "in". The app reads pages (QueuePage) instead.
func (a *Agent) Queue(ctx context.Context, connID, direction string) ([]QueueEntry, error) {
	if direction != "out" && direction != "in" {
		return nil, fmt.Errorf("queue direction %q: want out or in", direction)
	}
	p, err := a.QueuePage(ctx, QueueQuery{Connection: connID, Direction: direction}, 0, 10000)
	return p.Entries, err
}

// Bulk actions on a query's events.
const (
	BulkRetry = "retry" // the failed (and retrying) events of the query are tried again now
	BulkSkip  = "skip"  // the query's events are dropped for good
)

// bulkChunk is how many events one transaction of a bulk action handles; progress is reported
// and cancellation checked between chunks.
const bulkChunk = 500

// QueueBulk retries or skips every event a query matches (retry: only the failed ones), in
// chunks, calling progress (if not nil) after each with how many are done of how many. When ctx
// ends it stops between chunks: what was done stays done, and it returns how many with the
// context's error.
func (a *Agent) QueueBulk(ctx context.Context, qq QueueQuery, action string, progress func(done, total int)) (int, error) {
	if action == BulkRetry {
		if len(qq.States) == 0 {
			qq.States = []string{QueueFailed, QueueRetrying}
		}
		qq.States = slices.DeleteFunc(slices.Clone(qq.States), func(s string) bool { return s != QueueFailed && s != QueueRetrying })
		if len(qq.States) == 0 {
			return 0, nil // the filter shows no failed event
		}
	} else if action != BulkSkip {
		return 0, fmt.Errorf("queue action %q: want %s or %s", action, BulkRetry, BulkSkip)
	}
	segs, f, err := a.segments(qq)
	if err != nil {
		return 0, err
	}
	type work struct {
		s    segment
		seqs []uint64
	}
	var todo []work
	total := 0
	for _, s := range segs {
		seqs, err := s.q.Seqs(f)
		if err != nil {
			return 0, err
		}
		todo = append(todo, work{s, seqs})
		total += len(seqs)
	}
	done := 0
	if progress != nil {
		progress(0, total)
	}
	for _, w := range todo {
		for chunk := range slices.Chunk(w.seqs, bulkChunk) {
			if err := ctx.Err(); err != nil {
				return done, err
			}
			var evs []queue.Event
			if action == BulkRetry {
				evs, err = w.s.q.RetryMany(chunk)
			} else {
				evs, err = w.s.q.SkipMany(chunk)
			}
			if err != nil {
				return done, err
			}
			a.recordOperator(w.s, action, evs)
			done += len(chunk)
			if progress != nil {
				progress(done, total)
			}
		}
	}
	return done, nil
}

// Retry makes a failed event ready now; the history records that the operator retried it.
func (a *Agent) Retry(ctx context.Context, connID, direction string, seq uint64) error {
	s, err := a.segment(connID, direction)
	if err != nil {
		return err
	}
	evs, err := s.q.RetryMany([]uint64{seq})
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		if en, _ := s.q.Entries([]uint64{seq}); len(en) == 0 {
			return fmt.Errorf("retry event %d: %w: it was applied, delivered or skipped already, or never queued", seq, queue.ErrNotFound)
		}
		return nil // it has not failed: it is due anyway
	}
	a.recordOperator(s, BulkRetry, evs)
	return nil
}

// Skip drops an event for good, unblocking the later events of its item; the history records
// that the operator skipped it.
func (a *Agent) Skip(ctx context.Context, connID, direction string, seq uint64) error {
	s, err := a.segment(connID, direction)
	if err != nil {
		return err
	}
	evs, err := s.q.SkipMany([]uint64{seq})
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return fmt.Errorf("skip event %d: %w: it was applied, delivered or skipped already, or never queued", seq, queue.ErrNotFound)
	}
	a.recordOperator(s, BulkSkip, evs)
	return nil
}

func (a *Agent) segment(connID, direction string) (segment, error) {
	c, q, err := a.queueOf(connID, direction)
	if err != nil {
		return segment{}, err
	}
	return segment{c, direction, q}, nil
}

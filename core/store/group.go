package store

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Group commit. Every committed bbolt transaction costs two fsyncs (about 0.5 ms on a quiet
// disk, several ms on a busy one), and the writer lock makes commits wait for each other: at a
// few hundred changes a second, the agent's goroutines (the tracker's write, detection's
// outbox, delivery's acks, the partner's receipts) spent most of a change's latency queued
// behind each other's fsyncs. Update lets the writes that arrive while a commit is in flight
// share the next one: a write that finds nothing in flight commits at once (no timer, no
// linger), and writes that queue behind a commit go together in one transaction when it ends.

// grouper queues the Update calls of one Store.
type grouper struct {
	mu      sync.Mutex
	queue   []*groupCall
	leading bool // a caller is committing; the queue waits for it
}

// groupCall is one Update call. done receives true when the call's outcome is in err, false
// when the caller is to commit the queue itself (it leads the next group).
type groupCall struct {
	fn       func(*bolt.Tx) error
	err      error
	panicked any
	done     chan bool
	// later marks an UpdateLater call: it rides with the next commit and is never asked to
	// lead, unless its caller waits (waiting) with nothing else to commit it.
	later, waiting bool
	waited         bool // its outcome is known to its caller
	// once marks an UpdateOnce call: it runs last in its group, at most one per group.
	once bool
}

// errGroupRollback rolls a group's transaction back when one of its functions failed.
var errGroupRollback = errors.New("store: a write of the group failed")

// Update runs fn in a read-write transaction, like bbolt's DB.Update, and returns once the
// transaction committed (durably) or failed. Calls made while another commit is in flight are
// committed together in one transaction when it ends, in the order they were made; a call made
// while nothing is in flight commits at once.
//
// Because of that, fn may be called more than once: when another function of its group
// fails, the group's transaction rolls back and each function is run again in a transaction
// of its own. fn must therefore set, not accumulate, what it hands out of the transaction, and
// must not act outside the database (tx.OnCommit hooks run only for the commit that holds).
// fn must not call Update (nor DB().Update) itself.
func (s *Store) Update(fn func(*bolt.Tx) error) error {
	return s.enter(&groupCall{fn: fn, done: make(chan bool, 1)})
}

// enter queues c and returns its outcome, committing its group itself when nothing else is
// being committed or when asked to lead.
func (s *Store) enter(c *groupCall) error {
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, c)
	if g.leading {
		g.mu.Unlock()
		if <-c.done {
			return c.outcome()
		}
		// Asked to lead: the queue, with c in it, is ours to commit.
	} else {
		g.leading = true
		g.mu.Unlock()
	}
	s.lead(c)
	return c.outcome()
}

// UpdateLater queues fn for the next commit and returns at once: fn is committed with the next
// Update of any caller (in the same transaction as that Update's function, or an earlier one),
// or when wait is called, which returns once fn committed or failed. The replay cache uses it
// to make a token id durable with the request's own write, without a commit of its own.
// fn follows Update's rules.
func (s *Store) UpdateLater(fn func(*bolt.Tx) error) (wait func() error) {
	c := &groupCall{fn: fn, done: make(chan bool, 1), later: true}
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, c)
	g.mu.Unlock()
	return func() error {
		g.mu.Lock()
		switch {
		case c.waited:
			g.mu.Unlock()
			return c.outcome()
		case slices.Contains(g.queue, c) && !g.leading:
			g.leading = true // nobody commits: c's caller does
			g.mu.Unlock()
			s.lead(c)
		default:
			c.waiting = true
			g.mu.Unlock()
			if !<-c.done {
				s.lead(c)
			}
		}
		g.mu.Lock()
		c.waited = true
		g.mu.Unlock()
		return c.outcome()
	}
}

// lead commits the queue as one group, then hands the lead to the next caller waiting for
// it, or gives it up; c is the leader's own call, whose caller is told its outcome directly.
func (s *Store) lead(c *groupCall) {
	g := &s.group
	g.mu.Lock()
	// The group is the queue, but at most one UpdateOnce call, which goes last: c's own if it
	// is one, else the first; the others wait for the next group.
	var calls, rest []*groupCall
	var once *groupCall
	if c.once {
		once = c
	}
	for _, o := range g.queue {
		switch {
		case !o.once:
			calls = append(calls, o)
		case once == nil || once == o:
			once = o
		default:
			rest = append(rest, o)
		}
	}
	if once != nil {
		calls = append(calls, once)
	}
	g.queue = rest
	g.mu.Unlock()

	s.commitGroup(calls)

	g.mu.Lock()
	g.leading = false
	for _, next := range g.queue {
		if !next.later || next.waiting {
			g.leading = true
			next.done <- false // the next caller leads; this one returns now
			break
		}
	}
	g.mu.Unlock()
	for _, o := range calls {
		if o != c {
			o.done <- true
		}
	}
}

// UpdateOnce is Update for a function that must not run twice (it changes state outside the
// transaction as it goes): fn runs last in its group, so when it runs every other function of
// the group has succeeded, and it is not run again; when it fails, the group rolls back and
// the others commit without it.
func (s *Store) UpdateOnce(fn func(*bolt.Tx) error) error {
	return s.enter(&groupCall{fn: fn, done: make(chan bool, 1), once: true})
}

func (c *groupCall) outcome() error {
	if c.panicked != nil {
		panic(c.panicked)
	}
	return c.err
}

// commitGroup commits calls in one transaction, or, when one of them fails, each in its own.
func (s *Store) commitGroup(calls []*groupCall) {
	if len(calls) == 1 {
		c := calls[0]
		c.err = s.db.Update(c.run)
		return
	}
	failed := -1
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i, c := range calls {
			if c.err = c.run(tx); c.err != nil {
				failed = i
				return errGroupRollback
			}
		}
		return nil
	})
	if failed < 0 {
		for _, c := range calls {
			c.err = err // nil, or the commit's own failure (a full disk), which is everyone's
		}
		return
	}
	for i, c := range calls {
		if c.panicked != nil || c.once && i == failed {
			continue // its failure is its own; it is not run again
		}
		c.err = s.db.Update(c.run)
	}
}

// run calls fn, turning a panic into an error here and a panic in the caller's goroutine.
func (c *groupCall) run(tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.panicked = p
			err = fmt.Errorf("store: write panicked: %v", p)
		}
	}()
	return c.fn(tx)
}

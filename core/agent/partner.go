package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/tandemsync/tandem/core/queue"
	"github.com/tandemsync/tandem/core/transport"
)

// What this agent knows of the partner's side of a connection, from its answers and calls.
const (
	partnerOK       = ""
	partnerPaused   = "paused"   // the partner paused the connection
	partnerRefuses  = "refuses"  // the partner refuses this agent's key
	partnerLimiting = "limiting" // the partner asked to slow down (429, or busy with Retry-After)
	partnerWrongKey = "wrongkey" // the partner presented another key than the one pinned
)

// Holds: how long the sender waits before trying the partner again.
const (
	// refusedHold: a partner that refuses this agent's key will not change its mind in
	// seconds; only its operator can. Hearing from the partner lifts it sooner.
	refusedHold = 15 * time.Minute
	// pausedHold: a partner that said it paused tells us when it resumes (when it can reach
	// us); this bounds the wait when it cannot.
	pausedHold = 10 * time.Minute
	// defaultLimitHold is the wait after a 429 without Retry-After.
	defaultLimitHold = 5 * time.Second
)

// partnerLink is the runtime state of the link to one partner: what it said, and until when
// the sender holds back. The sender and the pull loop wait on it; what the partner says lifts
// it.
type partnerLink struct {
	mu      sync.Mutex
	state   string // one of the partner* states
	problem string // what the operator reads, "" when all is well
	until   time.Time
	wake    chan struct{} // closed and replaced when the hold is lifted early
	pulls   chan struct{} // signalled when the pulling partner acknowledged events
	changed func()        // told when state or problem changes (outside mu)
}

func newPartnerLink(changed func()) *partnerLink {
	return &partnerLink{wake: make(chan struct{}), pulls: make(chan struct{}, 1), changed: changed}
}

// snapshot is the state and problem for ConnectionInfo.
func (p *partnerLink) snapshot() (state, problem string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state, p.problem
}

// hold makes the sender wait d (from now) because of state, shown as problem.
func (p *partnerLink) hold(state, problem string, d time.Duration) {
	p.mu.Lock()
	news := p.state != state || p.problem != problem
	p.state, p.problem = state, problem
	p.until = time.Now().Add(d)
	p.mu.Unlock()
	if news {
		p.changed()
	}
}

// lift ends a hold now, if the current state is one of states (any, when none given).
func (p *partnerLink) lift(states ...string) {
	p.mu.Lock()
	match := len(states) == 0
	for _, s := range states {
		match = match || p.state == s
	}
	if !match {
		p.mu.Unlock()
		return
	}
	news := p.state != partnerOK || p.problem != ""
	p.state, p.problem, p.until = partnerOK, "", time.Time{}
	close(p.wake)
	p.wake = make(chan struct{})
	p.mu.Unlock()
	if news {
		p.changed()
	}
}

// ok: the partner just answered a request normally.
func (p *partnerLink) ok() { p.lift(partnerPaused, partnerRefuses, partnerWrongKey) }

// heard: the partner just called this agent with its pinned key, so it is up, not paused, and
// still pairs with this agent. A rate-limit hold stays: the partner asked for it.
func (p *partnerLink) heard() { p.lift(partnerPaused, partnerRefuses) }

func (p *partnerLink) pausedByPartner() {
	p.hold(partnerPaused, "The partner paused this connection; events wait here until it resumes.", pausedHold)
}

func (p *partnerLink) resumedByPartner() { p.lift(partnerPaused) }

// wait blocks until the hold ends, it is lifted, or ctx ends.
func (p *partnerLink) wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		d, wake := time.Until(p.until), p.wake
		p.mu.Unlock()
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (p *partnerLink) pulled() {
	select {
	case p.pulls <- struct{}{}:
	default:
	}
}

func (p *partnerLink) waitPulled(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-p.pulls:
	case <-t.C:
	}
}

// heldError is a partner's refusal that events wait out in the outbox: never a reason to
// fail them, since nothing is wrong with the events.
type heldError struct {
	msg string
	err error
}

func (e *heldError) Error() string             { return e.msg }
func (e *heldError) Unwrap() error             { return e.err }
func (e *heldError) Permanent() bool           { return false }
func (e *heldError) RetryAfter() time.Duration { return 0 }

// partnerFailed reads a failed call to the partner: it records what the partner said, holds the
// sender as the answer asks, and returns the error the engine sees.
func (a *Agent) partnerFailed(c *conn, err error) error {
	var (
		se  *transport.StatusError
		pin *transport.PinError
	)
	p := c.partner
	switch {
	case transport.IsRefused(err):
		msg := fmt.Sprintf("The partner at %s refuses this agent's key: it no longer pairs with it (it revoked the connection, or was reinstalled with a new identity). Events wait here; ask the partner's operator, or revoke this connection.", c.client.URL())
		if state, _ := p.snapshot(); state != partnerRefuses {
			a.log.Warn("the partner refuses this agent's key", "connection", c.ID(), "err", err)
		}
		p.hold(partnerRefuses, msg, refusedHold)
		return &heldError{msg: msg, err: err}
	case errors.As(err, &pin):
		msg := pin.Error() + ": someone else may answer at that address. Events wait for the operator."
		p.hold(partnerWrongKey, msg, refusedHold)
		return err // permanent: the events wait for the operator
	case errors.As(err, &se) && se.State == string(StatePaused):
		p.hold(partnerPaused, "The partner paused this connection; events wait here until it resumes.", max(se.RetryAfter(), time.Second))
		return &heldError{msg: "the partner paused this connection: " + se.Message, err: err}
	case errors.As(err, &se) && se.State == string(StateRevoked):
		msg := "the partner revoked this connection: " + se.Message
		p.hold(partnerRefuses, "The partner revoked this connection. Events wait here; revoke it here too, or pair again.", refusedHold)
		return &heldError{msg: msg, err: err}
	case errors.As(err, &se) && (se.Code == http.StatusTooManyRequests || se.Code == http.StatusServiceUnavailable && se.RetryAfter() > 0):
		d := se.RetryAfter()
		if d <= 0 {
			d = defaultLimitHold
		}
		p.hold(partnerLimiting, fmt.Sprintf("The partner asked to slow down; sending again in %v.", d.Round(time.Second)), d)
		return &heldError{msg: "the partner asked to wait: " + se.Message, err: err}
	}
	return err
}

// pullLoop runs on a connection where this agent has no listener: it long-polls the partner for
// its events and stores them in the inbox, until ctx ends. Its own events go out by the
// engine's usual delivery, which dials the partner.
func (a *Agent) pullLoop(ctx context.Context, c *conn) {
	var after uint64 // what this agent has stored; 0 after a restart is safe, the inbox deduplicates
	backoff := time.Duration(0)
	for {
		if err := c.partner.wait(ctx); err != nil {
			return
		}
		evs, err := c.client.Pull(ctx, after, transport.MaxPullWait-10*time.Second)
		if ctx.Err() != nil {
			return
		}
		if err == nil && len(evs) > 0 {
			in := make([]queue.Event, len(evs))
			for i, ev := range evs {
				in[i] = queue.Event{Seq: ev.Seq, ID: ev.ID, ItemKey: ev.ItemKey, Kind: ev.Kind, Payload: ev.Payload, Created: ev.Created}
			}
			var n uint64
			if n, err = c.eng.Receive(ctx, in); err == nil {
				after = max(after, n)
			}
		}
		if err != nil {
			err = a.partnerFailed(c, err)
			backoff = min(max(2*backoff, time.Second), 30*time.Second)
			a.log.Info("pull from partner failed", "connection", c.ID(), "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		backoff = 0
		c.partner.ok()
	}
}

// tellPartner tells the partner that this side paused, resumed or revoked the connection, when
// the partner can be dialled; a partner that pulls learns it from the answers to its calls.
// Failing to tell is logged, not returned: the change holds here either way.
func (a *Agent) tellPartner(ctx context.Context, c *conn, to ConnectionState) {
	if c.partnerPulls {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var err error
	switch to {
	case StateRevoked:
		err = c.client.Unpair(ctx)
	default:
		_, err = c.client.SetState(ctx, string(to))
	}
	if err != nil {
		a.log.Warn("could not tell the partner", "connection", c.ID(), "state", to, "err", err)
		return
	}
	a.log.Info("told the partner", "connection", c.ID(), "state", to)
}

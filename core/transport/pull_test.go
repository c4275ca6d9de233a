package transport

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// outbox is a handler that also serves long-poll from an in-memory list of outgoing events.
type outbox struct {
	*inbox
	mu      sync.Mutex
	out     []Event
	changed chan struct{} // closed and replaced when out grows
	asked   []uint64      // the after values seen, in order
	waiting chan struct{} // gets a value when a Pull starts waiting
}

func newOutbox(in *inbox) *outbox {
	return &outbox{inbox: in, changed: make(chan struct{}), waiting: make(chan struct{}, 8)}
}

func (o *outbox) add(evs ...Event) {
	o.mu.Lock()
	o.out = append(o.out, evs...)
	close(o.changed)
	o.changed = make(chan struct{})
	o.mu.Unlock()
}

func (o *outbox) afters() []uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.asked)
}

func (o *outbox) Pull(ctx context.Context, connID string, after uint64, wait time.Duration) ([]Event, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for first := true; ; first = false {
		o.mu.Lock()
		if first {
			o.asked = append(o.asked, after)
		}
		var got []Event
		for _, e := range o.out {
			if e.Seq > after {
				got = append(got, e)
			}
		}
		changed := o.changed
		o.mu.Unlock()
		if len(got) > 0 {
			return got, nil
		}
		if first {
			o.waiting <- struct{}{}
		}
		select {
		case <-changed:
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func TestPull(t *testing.T) {
	var ob *outbox
	r := newRig(t, func(in *inbox) Handler { ob = newOutbox(in); return ob })
	c := r.newClient(t, r.client, r.server.ID, conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	ob.add(events(1, 3)...)
	got, err := c.Pull(ctx, 1, 0)
	if err != nil {
		t.Fatalf("Pull(after 1): %v", err)
	}
	if len(got) != 2 || got[0].Seq != 2 || got[1].Seq != 3 {
		t.Errorf("Pull(after 1) = %+v, want seqs 2 and 3", got)
	}
	got, err = c.Pull(ctx, 3, 0)
	if err != nil || len(got) != 0 {
		t.Errorf("Pull(after 3, no wait) = %v, %v; want none", got, err)
	}

	// A waiting pull returns as soon as an event appears.
	type result struct {
		evs []Event
		err error
	}
	done := make(chan result, 1)
	go func() {
		evs, err := c.Pull(ctx, 3, MaxPullWait)
		done <- result{evs, err}
	}()
	<-ob.waiting // the first no-wait pull above
	<-ob.waiting // this one
	ob.add(events(4, 1)...)
	res := <-done
	if res.err != nil || len(res.evs) != 1 || res.evs[0].Seq != 4 {
		t.Errorf("waiting Pull = %+v, %v; want seq 4", res.evs, res.err)
	}
	if got, want := ob.afters(), []uint64{1, 3, 3}; !slices.Equal(got, want) {
		t.Errorf("handler saw after values %v, want %v", got, want)
	}

	// Bad query: 400, nothing reaches the handler.
	tok, err := issueToken(r.client, r.server.ID, conn, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	err = c.do(ctx, http.MethodGet, c.connPath("/events")+"?after=minus-one", nil, "Bearer "+tok, nil)
	if got := statusCode(err); got != http.StatusBadRequest {
		t.Errorf("Pull with after=minus-one: %v, want 400", err)
	}
	if got := ob.afters(); len(got) != 3 {
		t.Errorf("handler saw pulls after %v, want only the 3 valid ones", got)
	}
}

func TestPullNotServed(t *testing.T) {
	r := newRig(t)
	c := r.newClient(t, r.client, r.server.ID, conn)
	if _, err := c.Pull(context.Background(), 0, 0); statusCode(err) != http.StatusNotImplemented {
		t.Errorf("Pull from a handler without Puller: %v, want 501", err)
	}
}

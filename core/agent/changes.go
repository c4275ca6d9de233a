package agent

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Topic is a kind of change the app may have to redraw. Topics combine as bits.
type Topic uint32

const (
	TopicItems       Topic = 1 << iota // the embedded tracker's items
	TopicConnections                   // connections: records, states, health, errors, capture
	TopicQueues                        // events queued, delivered, applied, failed, retried or skipped
	TopicHistory                       // history records written or deleted
)

// TopicAll is every topic: what a new subscriber should read first.
const TopicAll = TopicItems | TopicConnections | TopicQueues | TopicHistory

// Has reports whether t includes any of u.
func (t Topic) Has(u Topic) bool { return t&u != 0 }

// watchers fans changes out to subscribers without ever blocking the code that changed
// something: each subscriber accumulates topics until it takes them.
type watchers struct {
	mu   sync.Mutex
	list map[*watcher]struct{}
}

type watcher struct {
	mu      sync.Mutex
	pending Topic
	wake    chan struct{}
}

func (w *watcher) add(t Topic) {
	w.mu.Lock()
	w.pending |= t
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watcher) take() Topic {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.pending
	w.pending = 0
	return t
}

// changed tells every subscriber that t changed.
func (a *Agent) changed(t Topic) {
	a.watch.mu.Lock()
	defer a.watch.mu.Unlock()
	for w := range a.watch.list {
		w.add(t)
	}
}

// Changes returns a channel on which the agent tells what changed, until ctx ends (then the
// channel is closed). Changes that happen while the reader is busy are combined into its next
// receive, so a slow reader costs the agent nothing and misses nothing; the first receive is
// TopicAll. Nothing is sent while nothing changes: an idle app waits here at no cost.
func (a *Agent) Changes(ctx context.Context) <-chan Topic {
	w := &watcher{wake: make(chan struct{}, 1)}
	w.add(TopicAll)
	a.watch.mu.Lock()
	if a.watch.list == nil {
		a.watch.list = map[*watcher]struct{}{}
	}
	a.watch.list[w] = struct{}{}
	a.watch.mu.Unlock()
	out := make(chan Topic)
	go func() {
		defer close(out)
		defer func() {
			a.watch.mu.Lock()
			delete(a.watch.list, w)
			a.watch.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
			}
			t := w.take()
			if t == 0 {
				continue
			}
			select {
			case out <- t:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// Health of a connection, as the Overview shows it.
const (
	HealthHealthy  = "healthy"  // delivering and applying
	HealthDegraded = "degraded" // the partner or the tracker has not answered for DegradedAfter
	HealthFailing  = "failing"  // events failed permanently and wait for the operator
	HealthPaused   = "paused"   // not syncing by the operator's (or the partner's) choice
)

// DegradedAfter is how long a connection's errors must last before it shows as degraded.
const DegradedAfter = 3 * time.Minute

// healthEvery is how often the agent looks at its connections' errors, so a connection that
// stays in error turns degraded without anybody asking. It reads only counters in memory.
const healthEvery = 5 * time.Second

// errorSince remembers, per connection, since when its engine has reported an error.
type errorSince struct {
	mu    sync.Mutex
	since map[string]time.Time
	last  map[string]string // the health last told to subscribers
}

// health works out a connection's health from its info and how long its error has lasted.
func (a *Agent) health(info *ConnectionInfo, now time.Time) {
	a.errs.mu.Lock()
	defer a.errs.mu.Unlock()
	if a.errs.since == nil {
		a.errs.since, a.errs.last = map[string]time.Time{}, map[string]string{}
	}
	since, failing := a.errs.since[info.ID], info.LastError != ""
	switch {
	case !failing:
		delete(a.errs.since, info.ID)
		since = time.Time{}
	case since.IsZero():
		since = now
		a.errs.since[info.ID] = now
	}
	info.ErrorSince = since
	switch {
	case info.State != StateActive:
		info.Health, info.HealthReason = HealthPaused, "the connection is "+string(info.State)
	case info.PartnerState == partnerPaused:
		info.Health, info.HealthReason = HealthPaused, "the partner paused the connection"
	case info.PartnerState == partnerRefuses || info.PartnerState == partnerWrongKey:
		info.Health, info.HealthReason = HealthFailing, info.Problem
	case info.Failed > 0:
		info.Health, info.HealthReason = HealthFailing, plural(info.Failed, "event failed", "events failed")+" for good and wait for you: retry or skip them in Queue"
	case failing && now.Sub(since) >= DegradedAfter:
		info.Health, info.HealthReason = HealthDegraded, "not syncing for "+now.Sub(since).Round(time.Second).String()+": "+info.LastError
	default:
		info.Health = HealthHealthy
		if failing {
			info.HealthReason = "retrying: " + info.LastError
		}
	}
}

// monitor re-evaluates every connection's health every healthEvery and tells subscribers when
// one changes, until ctx ends.
func (a *Agent) monitor(ctx context.Context) {
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed := false
		for _, c := range a.connList() {
			info := a.info(c)
			a.errs.mu.Lock()
			if a.errs.last[info.ID] != info.Health+info.LastError {
				a.errs.last[info.ID] = info.Health + info.LastError
				changed = true
			}
			a.errs.mu.Unlock()
		}
		if changed {
			a.changed(TopicConnections)
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

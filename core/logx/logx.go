// Package logx holds logging helpers the agent's servers share.
package logx

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// maxKeys bounds how many keys an Aggregator tracks; beyond it, keys share one line.
const maxKeys = 4096

// overflowKey is where keys beyond maxKeys are counted.
const overflowKey = "(other)"

// Aggregator writes at most one line per key and interval and counts what it held back, so a
// peer that keeps knocking costs one line an interval, not one per request.
type Aggregator struct {
	log   *slog.Logger
	level slog.Level
	msg   string
	every time.Duration
	now   func() time.Time

	mu     sync.Mutex
	m      map[string]*window
	pruned time.Time // when prune last ran
}

type window struct {
	start      time.Time // when the line for this window was written
	suppressed int       // occurrences since, not written
}

// NewAggregator writes msg at level to log, once per key and every.
func NewAggregator(log *slog.Logger, level slog.Level, msg string, every time.Duration) *Aggregator {
	return &Aggregator{log: log, level: level, msg: msg, every: every, now: time.Now, m: map[string]*window{}}
}

// Note records one occurrence for key. The first in an interval is written with attrs and
// the count of those held back in the interval before; later ones are only counted.
func (a *Aggregator) Note(key string, attrs ...any) {
	a.mu.Lock()
	now := a.now()
	w, ok := a.m[key]
	if !ok {
		// One slot stays for overflowKey.
		if len(a.m) >= maxKeys-1 && now.Sub(a.pruned) >= time.Second {
			a.prune(now)
			a.pruned = now
		}
		if len(a.m) >= maxKeys-1 {
			key = overflowKey
			w = a.m[key]
		}
		if w == nil {
			w = &window{}
			a.m[key] = w
		}
	}
	if !w.start.IsZero() && now.Sub(w.start) < a.every {
		w.suppressed++
		a.mu.Unlock()
		return
	}
	held := w.suppressed
	w.start, w.suppressed = now, 0
	a.mu.Unlock()
	if held > 0 {
		attrs = append(attrs, "held_back", held, "interval", a.every)
	}
	a.log.Log(context.Background(), a.level, a.msg, append(attrs, "key", key)...)
}

// prune forgets keys whose interval ended with nothing held back; the caller holds mu.
func (a *Aggregator) prune(now time.Time) {
	for k, w := range a.m {
		if now.Sub(w.start) >= a.every && w.suppressed == 0 {
			delete(a.m, k)
		}
	}
}

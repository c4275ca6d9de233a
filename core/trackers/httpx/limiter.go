package httpx

import (
	"context"
	"sync"
	"time"
)

// Limiter is a token bucket: a request budget of so many requests per minute, with a small
// burst. Wait blocks until a token is free or ctx is done. The zero budget means unlimited.
type Limiter struct {
	mu       sync.Mutex
	perToken time.Duration // time to earn one token
	burst    float64
	tokens   float64
	last     time.Time
	now      func() time.Time
}

// NewLimiter returns a limiter allowing perMinute requests a minute with bursts of up to
// burst requests (at least 1). perMinute <= 0 returns nil, which never waits.
func NewLimiter(perMinute, burst int) *Limiter {
	if perMinute <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	return &Limiter{
		perToken: time.Minute / time.Duration(perMinute),
		burst:    float64(burst),
		tokens:   float64(burst),
		now:      time.Now,
	}
}

// Wait takes one token, waiting for it if the budget is spent.
func (l *Limiter) Wait(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	for {
		d := l.reserve()
		if d == 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// reserve takes a token and returns 0, or returns how long until one is earned.
func (l *Limiter) reserve() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() {
		l.tokens += float64(now.Sub(l.last)) / float64(l.perToken)
		if l.tokens > l.burst {
			l.tokens = l.burst
		}
	}
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return 0
	}
	return time.Duration((1 - l.tokens) * float64(l.perToken))
}

package queue

import (
	"math/rand/v2"
	"time"
)

// Retry schedule for transient failures.
const (
	BackoffBase = time.Second
	BackoffCap  = 15 * time.Minute
	// BackoffJitter is the random spread around the schedule, as a fraction: ±20%.
	BackoffJitter = 0.2
)

// Backoff is the wait before retry number attempt (1 for the first failure): 1s doubling per
// attempt up to a 15 minute cap, then spread by a random ±20% so that many events failing
// together do not retry together. The cap applies before the jitter.
func Backoff(attempt int) time.Duration {
	base := BackoffCap
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 20 { // 2^20 s is far beyond the cap; larger shifts would overflow
		base = min(BackoffBase<<(attempt-1), BackoffCap)
	}
	f := 1 + BackoffJitter*(2*rand.Float64()-1)
	return time.Duration(float64(base) * f)
}

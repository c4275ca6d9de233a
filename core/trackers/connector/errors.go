package connector

import (
	"errors"
	"fmt"
	"time"
)

// The error contract the engine's queue reads (see engine.Tracker): an error whose
// Permanent() is true waits for the operator; RetryAfter() asks for a wait before the retry.
// Connectors mark their own errors with these helpers instead of each declaring a type.

type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Permanent() bool { return true }

// Permanent marks err as one retrying cannot fix (bad input, a refused value, a missing
// item); nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// Permanentf is Permanent(fmt.Errorf(format, args...)).
func Permanentf(format string, args ...any) error { return Permanent(fmt.Errorf(format, args...)) }

// IsPermanent reports whether err, or an error it wraps, says retrying cannot help.
func IsPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// RetryAfter is how long err asks to wait before a retry, or 0.
func RetryAfter(err error) time.Duration {
	var r interface{ RetryAfter() time.Duration }
	if errors.As(err, &r) {
		return r.RetryAfter()
	}
	return 0
}

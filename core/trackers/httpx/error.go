package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Error is a failed request to a tracker. It tells the queue whether retrying can help
// (Permanent) and how long the tracker asked us to wait (RetryAfter), and its message says
// what an operator should do.
type Error struct {
	Tracker    string // who answered, e.g. "RT at http://rt.example.com"
	Method     string
	Path       string // the request path, without the query (which may hold search terms)
	StatusCode int    // 0 when no answer came (network error, malformed body has the status)
	Message    string // the tracker's own explanation, when it gave one
	Hint       string // what the operator can do, e.g. "check the token in Settings"
	Malformed  bool   // the answer arrived but could not be understood
	// RateLimited is set when the tracker refused because a request budget is spent (429,
	// or GitHub's 403 with its limit headers): retrying after RetryAfter helps.
	RateLimited bool
	retryAfter  time.Duration
	Err         error // the underlying cause, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Malformed:
		fmt.Fprintf(&b, "%s sent an answer to %s %s that is not valid JSON", e.Tracker, e.Method, e.Path)
		if e.Err != nil {
			fmt.Fprintf(&b, ": %v", e.Err)
		}
	case e.StatusCode == 0:
		fmt.Fprintf(&b, "%s is unreachable", e.Tracker)
		if e.Err != nil {
			fmt.Fprintf(&b, ": %v", e.Err)
		}
	case e.RateLimited:
		fmt.Fprintf(&b, "%s is limiting our requests (%d)", e.Tracker, e.StatusCode)
	case e.StatusCode == http.StatusUnauthorized:
		fmt.Fprintf(&b, "%s rejected the credentials (401)", e.Tracker)
	case e.StatusCode == http.StatusForbidden:
		fmt.Fprintf(&b, "%s refused %s %s (403): the account lacks the right", e.Tracker, e.Method, e.Path)
	case e.StatusCode == http.StatusNotFound:
		fmt.Fprintf(&b, "%s has nothing at %s (404)", e.Tracker, e.Path)
	case e.StatusCode >= 500:
		fmt.Fprintf(&b, "%s had a server error on %s %s (%d %s)", e.Tracker, e.Method, e.Path,
			e.StatusCode, http.StatusText(e.StatusCode))
	default:
		fmt.Fprintf(&b, "%s rejected %s %s (%d %s)", e.Tracker, e.Method, e.Path,
			e.StatusCode, http.StatusText(e.StatusCode))
	}
	if e.Message != "" && !e.Malformed {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.retryAfter > 0 {
		fmt.Fprintf(&b, " (asked to wait %s)", e.retryAfter)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, ": %s", e.Hint)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether retrying the same request cannot help: a 4xx answer other than
// 408 (timeout) and 429 (too many requests).
func (e *Error) Permanent() bool {
	return !e.RateLimited && e.StatusCode >= 400 && e.StatusCode < 500 &&
		e.StatusCode != http.StatusRequestTimeout && e.StatusCode != http.StatusTooManyRequests
}

// RetryAfter returns how long the tracker asked us to wait, or 0.
func (e *Error) RetryAfter() time.Duration { return e.retryAfter }

// IsStatus reports whether err is an *Error with the given status code.
func IsStatus(err error, code int) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == code
}

// ParseRetryAfter reads a Retry-After header: delay seconds or an HTTP date; zero if absent,
// unreadable or past.
func ParseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	var secs int64
	if _, err := fmt.Sscan(h, &secs); err == nil && fmt.Sprint(secs) == h {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// bodyMessage extracts a short explanation from an error body: a JSON "message" or "error"
// field when there is one, else the first line of text.
func bodyMessage(body []byte) string {
	var j struct {
		Message string `json:"message"`
		Error   string `json:"error"`
		// Jira: messages about the request, and per field.
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
	}
	if json.Unmarshal(body, &j) == nil {
		if j.Message != "" {
			return clip(j.Message)
		}
		if j.Error != "" {
			return clip(j.Error)
		}
		msgs := slices.Clone(j.ErrorMessages)
		fields := slices.Sorted(maps.Keys(j.Errors))
		for _, f := range fields {
			msgs = append(msgs, f+": "+j.Errors[f])
		}
		if len(msgs) > 0 {
			return clip(strings.Join(msgs, "; "))
		}
	}
	var msgs []string
	if json.Unmarshal(body, &msgs) == nil && len(msgs) > 0 {
		return clip(strings.Join(msgs, "; "))
	}
	s := strings.TrimSpace(string(body))
	if strings.HasPrefix(s, "<") { // an HTML error page says nothing useful in one line
		return ""
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return clip(s)
}

func clip(s string) string {
	const max = 300
	s = strings.TrimSpace(s)
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

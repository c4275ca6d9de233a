package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Config describes one tracker's HTTP client.
type Config struct {
	// Tracker names the tracker in messages, e.g. "RT at http://rt.example.com".
	Tracker string
	// Auth sets the credential on each request (see TokenAuth, BasicAuth). It is kept in
	// memory only.
	Auth func(*http.Request)
	// Authorize, when set instead of Auth, sets a credential it may have to fetch or renew
	// first (a GitHub App installation token); its error fails the request.
	Authorize func(ctx context.Context, r *http.Request) error
	// AuthHint tells the operator what to fix on a 401, e.g. "check the token in Settings".
	AuthHint string
	// Header is sent with every request (e.g. an API version); Accept defaults to JSON.
	Header http.Header
	// WritesPerMinute is a second budget for requests that change something (POST, PUT,
	// PATCH, DELETE), for trackers that limit those apart (GitHub: 80 a minute); 0 is none.
	WritesPerMinute int
	// Timeout bounds one attempt (default 30s).
	Timeout time.Duration
	// RequestsPerMinute is the operator's request budget for this tracker; 0 is unlimited.
	RequestsPerMinute int
	// Burst is how many requests may go at once within the budget (default a tenth of it).
	Burst int
	// Retries is how many times a read (GET) or a 429 is retried (default 3; -1 for none).
	Retries int
	// MinBackoff and MaxBackoff bound the exponential backoff between retries
	// (defaults 500ms and 10s).
	MinBackoff, MaxBackoff time.Duration
	// MaxWait is the longest Retry-After honoured by waiting in place; a longer one is
	// returned to the caller in the error's RetryAfter (default 30s).
	MaxWait time.Duration
	// MaxBody bounds the size of an answer read (default 32 MiB).
	MaxBody int64
	// Transport carries the requests (default http.DefaultTransport).
	Transport http.RoundTripper
	// Logger receives retry notices (default slog.Default()).
	Logger *slog.Logger
}

// Client is an HTTP client for one tracker. It is safe for concurrent use.
type Client struct {
	cfg      Config
	hc       *http.Client
	limit    *Limiter
	writes   *Limiter
	requests atomic.Int64
	// pausedUntil (unix nanoseconds) is when the tracker said its budget refills, after it
	// answered that none is left: requests wait until then instead of spending a refusal.
	pausedUntil atomic.Int64
	sleep       func(ctx context.Context, d time.Duration) error
}

// New returns a client for cfg with defaults filled in.
func New(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Retries == 0 {
		cfg.Retries = 3
	} else if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 30 * time.Second
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 32 << 20
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	burst := cfg.Burst
	if burst <= 0 {
		burst = max(1, cfg.RequestsPerMinute/10)
	}
	return &Client{
		cfg:    cfg,
		hc:     &http.Client{Transport: cfg.Transport, Timeout: cfg.Timeout},
		limit:  NewLimiter(cfg.RequestsPerMinute, burst),
		writes: NewLimiter(cfg.WritesPerMinute, max(1, cfg.WritesPerMinute/10)),
		sleep:  sleepCtx,
	}
}

// Requests returns how many requests have been sent so far (each retry counts).
func (c *Client) Requests() int64 { return c.requests.Load() }

// TokenAuth sets "Authorization: <scheme> <token>" on each request.
func TokenAuth(scheme, token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", scheme+" "+token) }
}

// BasicAuth sets HTTP basic authentication on each request.
func BasicAuth(user, password string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, password) }
}

// GetJSON reads rawURL and decodes its JSON answer into out.
func (c *Client) GetJSON(ctx context.Context, rawURL string, out any) error {
	return c.DoJSON(ctx, http.MethodGet, rawURL, nil, out)
}

// DoJSON sends in (when not nil) as JSON with method to rawURL and decodes the JSON answer
// into out (when not nil). Reads are retried on network errors, 408, 429 and 5xx; other
// methods only on 429, since the tracker did not act on them.
func (c *Client) DoJSON(ctx context.Context, method, rawURL string, in, out any) error {
	_, err := c.do(ctx, method, rawURL, in, out, method == http.MethodGet || method == http.MethodHead)
	return err
}

// QueryJSON is DoJSON for a read sent with a body (a search by POST): it is retried like a
// GET. It also returns the answer's headers.
func (c *Client) QueryJSON(ctx context.Context, method, rawURL string, in, out any) (http.Header, error) {
	return c.do(ctx, method, rawURL, in, out, true)
}

// FetchJSON is GetJSON that also returns the answer's headers (e.g. Date, for the server's
// clock).
func (c *Client) FetchJSON(ctx context.Context, rawURL string, out any) (http.Header, error) {
	return c.do(ctx, http.MethodGet, rawURL, nil, out, true)
}

// GetConditional is GetJSON with If-None-Match: when etag is not empty and the tracker
// answers 304 Not Modified, notModified is true and out is untouched (GitHub does not count
// such an answer against the rate limit). The answer's headers carry the new ETag.
func (c *Client) GetConditional(ctx context.Context, rawURL, etag string, out any) (hdr http.Header, notModified bool, err error) {
	hdr, err = c.send(ctx, http.MethodGet, rawURL, nil, out, true, etag)
	if errors.Is(err, errNotModified) {
		return hdr, true, nil
	}
	return hdr, false, err
}

var errNotModified = errors.New("not modified")

func (c *Client) do(ctx context.Context, method, rawURL string, in, out any, idempotent bool) (http.Header, error) {
	return c.send(ctx, method, rawURL, in, out, idempotent, "")
}

func (c *Client) send(ctx context.Context, method, rawURL string, in, out any, idempotent bool, etag string) (http.Header, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse url %q: %w", rawURL, err)
	}
	for attempt := 0; ; attempt++ {
		data, hdr, err := c.once(ctx, method, u, body, etag)
		if errors.Is(err, errNotModified) {
			return hdr, err
		}
		if err == nil {
			if out == nil {
				return hdr, nil
			}
			if err := json.Unmarshal(data, out); err != nil {
				return hdr, &Error{Tracker: c.cfg.Tracker, Method: method, Path: u.Path, StatusCode: http.StatusOK,
					Malformed: true, Err: err}
			}
			return hdr, nil
		}
		var he *Error
		if !errors.As(err, &he) || attempt >= c.cfg.Retries || ctx.Err() != nil {
			return nil, err
		}
		retry := he.StatusCode == http.StatusTooManyRequests || he.RateLimited ||
			idempotent && (he.StatusCode == 0 || he.StatusCode == http.StatusRequestTimeout || he.StatusCode >= 500)
		if !retry {
			return nil, err
		}
		wait := he.RetryAfter()
		if wait > c.cfg.MaxWait {
			return nil, err // too long to hold the caller: the queue reschedules
		}
		if wait == 0 {
			wait = c.backoff(attempt)
		}
		c.cfg.Logger.Info("tracker request will be retried", "tracker", c.cfg.Tracker,
			"method", method, "path", u.Path, "attempt", attempt+1, "wait", wait, "err", err)
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// once sends one attempt and returns the body and headers of a 2xx answer or an *Error.
func (c *Client) once(ctx context.Context, method string, u *url.URL, body []byte, etag string) ([]byte, http.Header, error) {
	if until := c.pausedUntil.Load(); until > 0 {
		wait := time.Until(time.Unix(0, until))
		if wait > c.cfg.MaxWait {
			return nil, nil, &Error{Tracker: c.cfg.Tracker, Method: method, Path: u.Path, StatusCode: http.StatusTooManyRequests,
				RateLimited: true, Message: "the request budget is spent until it refills", retryAfter: wait}
		}
		if wait > 0 {
			if err := c.sleep(ctx, wait); err != nil {
				return nil, nil, err
			}
		}
		c.pausedUntil.CompareAndSwap(until, 0)
	}
	if err := c.limit.Wait(ctx); err != nil {
		return nil, nil, err
	}
	if method != http.MethodGet && method != http.MethodHead {
		if err := c.writes.Wait(ctx); err != nil {
			return nil, nil, err
		}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range c.cfg.Header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if c.cfg.Auth != nil {
		c.cfg.Auth(req)
	}
	if c.cfg.Authorize != nil {
		if err := c.cfg.Authorize(ctx, req); err != nil {
			return nil, nil, err
		}
	}
	c.requests.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, &Error{Tracker: c.cfg.Tracker, Method: method, Path: u.Path, Err: unwrapURL(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBody+1))
	if err != nil {
		return nil, nil, &Error{Tracker: c.cfg.Tracker, Method: method, Path: u.Path, Err: fmt.Errorf("read answer: %w", err)}
	}
	if int64(len(data)) > c.cfg.MaxBody {
		return nil, nil, &Error{Tracker: c.cfg.Tracker, Method: method, Path: u.Path, StatusCode: resp.StatusCode,
			Malformed: true, Err: fmt.Errorf("answer larger than %d bytes", c.cfg.MaxBody)}
	}
	now := time.Now()
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotModified {
		// A budget reported spent pauses the next requests until it refills.
		if resp.Header.Get("X-Ratelimit-Remaining") == "0" {
			if reset := resetTime(resp.Header, now); reset.After(now) {
				c.pausedUntil.Store(reset.UnixNano())
			}
		}
		if resp.StatusCode == http.StatusNotModified {
			return nil, resp.Header, errNotModified
		}
		return data, resp.Header, nil
	}
	e := &Error{Tracker: c.cfg.Tracker, Method: method, Path: u.Path, StatusCode: resp.StatusCode,
		Message: bodyMessage(data)}
	if reason := resp.Header.Get("RateLimit-Reason"); reason != "" {
		e.Message = strings.TrimSpace(reason + " " + e.Message)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		e.retryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), now)
		e.RateLimited = resp.StatusCode == http.StatusTooManyRequests
	case http.StatusForbidden:
		// GitHub answers 403 for its limits: a secondary limit with Retry-After, the primary
		// with x-ratelimit-remaining 0 and the time it resets.
		if ra := ParseRetryAfter(resp.Header.Get("Retry-After"), now); ra > 0 {
			e.retryAfter, e.RateLimited = ra, true
		} else if resp.Header.Get("X-Ratelimit-Remaining") == "0" {
			if reset := resetTime(resp.Header, now); reset.After(now) {
				e.retryAfter, e.RateLimited = reset.Sub(now), true
			}
		}
	}
	if e.RateLimited && e.retryAfter == 0 {
		if reset := resetTime(resp.Header, now); reset.After(now) {
			e.retryAfter = reset.Sub(now)
		}
	}
	if resp.StatusCode == http.StatusUnauthorized {
		e.Hint = c.cfg.AuthHint
	}
	return nil, nil, e
}

// resetTime reads x-ratelimit-reset (unix seconds), zero when absent.
func resetTime(h http.Header, now time.Time) time.Time {
	v := h.Get("X-Ratelimit-Reset")
	if v == "" {
		return time.Time{}
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil || secs <= 0 {
		return time.Time{}
	}
	return time.Unix(secs, 0)
}

// NextLink returns the URL of rel="next" in a Link header (RFC 8288, as GitHub pages), or "".
func NextLink(h http.Header) string {
	for _, l := range h.Values("Link") {
		for _, part := range strings.Split(l, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && slices.Contains(strings.Fields(strings.Trim(v, `"`)), "next") {
					return target[1 : len(target)-1]
				}
			}
		}
	}
	return ""
}

// unwrapURL drops the *url.Error wrapper, whose message repeats the full URL with its query.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// backoff returns the wait before retry attempt+1: exponential with full jitter.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.MinBackoff << min(attempt, 20)
	if d > c.cfg.MaxBackoff || d <= 0 {
		d = c.cfg.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// WithoutWaiting returns a copy of c that retries at once instead of waiting, for tests
// of retry behaviour. Its request count starts from c's.
func (c *Client) WithoutWaiting() *Client {
	d := &Client{cfg: c.cfg, hc: c.hc, limit: c.limit, writes: c.writes, sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}
	d.requests.Store(c.requests.Load())
	return d
}

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
	// AuthHint tells the operator what to fix on a 401, e.g. "check the token in Settings".
	AuthHint string
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
	requests atomic.Int64
	sleep    func(ctx context.Context, d time.Duration) error
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
		cfg:   cfg,
		hc:    &http.Client{Transport: cfg.Transport, Timeout: cfg.Timeout},
		limit: NewLimiter(cfg.RequestsPerMinute, burst),
		sleep: sleepCtx,
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

func (c *Client) do(ctx context.Context, method, rawURL string, in, out any, idempotent bool) (http.Header, error) {
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
		data, hdr, err := c.once(ctx, method, u, body)
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
		retry := he.StatusCode == http.StatusTooManyRequests ||
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
func (c *Client) once(ctx context.Context, method string, u *url.URL, body []byte) ([]byte, http.Header, error) {
	if err := c.limit.Wait(ctx); err != nil {
		return nil, nil, err
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
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.cfg.Auth != nil {
		c.cfg.Auth(req)
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
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return data, resp.Header, nil
	}
	e := &Error{Tracker: c.cfg.Tracker, Method: method, Path: u.Path, StatusCode: resp.StatusCode,
		Message: bodyMessage(data)}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		e.retryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	if resp.StatusCode == http.StatusUnauthorized {
		e.Hint = c.cfg.AuthHint
	}
	return nil, nil, e
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
	d := &Client{cfg: c.cfg, hc: c.hc, limit: c.limit, sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}
	d.requests.Store(c.requests.Load())
	return d
}

package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tandemsync/tandem/core/identity"
	"github.com/tandemsync/tandem/core/trackers/httpx"
)

// requestTimeout is a backstop for callers whose ctx has no deadline.
const requestTimeout = 2 * time.Minute

// Client talks to one partner on one connection, over one keep-alive transport pinned to
// the partner's key.
type Client struct {
	id      *identity.Identity
	partner identity.ID
	base    string
	connID  string
	tr      *http.Transport
	hc      *http.Client
	now     func() time.Time
}

// NewClient returns the client that id uses to reach partner at baseURL (e.g.
// "https://tandem.example.com:7443") for the connection connID.
func NewClient(id *identity.Identity, partner identity.ID, baseURL, connID string) *Client {
	base := strings.TrimRight(baseURL, "/")
	tr := newTransport(id, partner, base)
	return &Client{
		id:      id,
		partner: partner,
		base:    base,
		connID:  connID,
		tr:      tr,
		hc:      &http.Client{Transport: tr, Timeout: requestTimeout},
		now:     time.Now,
	}
}

// dialTimeout bounds every TCP connect to a partner, so an address that drops packets fails
// in seconds instead of the OS's minutes.
const dialTimeout = 10 * time.Second

func newTransport(id *identity.Identity, partner identity.ID, base string) *http.Transport {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		TLSClientConfig:       clientTLS(id, partner, base),
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: MaxPullWait + 30*time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Send delivers the longest run of events, from the first, that fits in one request (MaxBody)
// and answers the highest Seq the partner stored: the caller sends the rest next. Errors are
// a *StatusError for an answer, a *PinError for a wrong partner key, an *EventTooLargeError
// when the first event alone does not fit, or a (transient) network error.
func (c *Client) Send(ctx context.Context, events []Event) (uint64, error) {
	n, err := Fit(events)
	if err != nil {
		return 0, err
	}
	body, err := json.Marshal(batchRequest{Events: events[:n]})
	if err != nil {
		return 0, fmt.Errorf("encode batch: %w", err)
	}
	if len(body) > MaxBody { // Fit counts as the encoder does; this is its safety net
		return 0, fmt.Errorf("%d events encode to %d bytes, over %d: %w", n, len(body), MaxBody, ErrBatchTooLarge)
	}
	var resp batchResponse
	if err := c.call(ctx, http.MethodPost, c.connPath("/events"), body, &resp); err != nil {
		return 0, err
	}
	return resp.Stored, nil
}

// Pull long-polls the partner for its events with Seq above after (acknowledging 1..after),
// waiting up to wait (at most MaxPullWait) for some; none when the wait ends.
func (c *Client) Pull(ctx context.Context, after uint64, wait time.Duration) ([]Event, error) {
	wait = min(max(wait, 0), MaxPullWait)
	path := c.connPath("/events") + "?after=" + strconv.FormatUint(after, 10) + "&wait=" + strconv.Itoa(int(wait/time.Second))
	var resp batchRequest
	if err := c.call(ctx, http.MethodGet, path, nil, &resp); err != nil {
		return nil, err
	}
	return resp.Events, nil
}

// Status asks the partner for its protocol, app version, capabilities and connection state.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.call(ctx, http.MethodGet, c.connPath("/status"), nil, &st)
	return st, err
}

// Unpair tells the partner that this side ends (revokes) the connection.
func (c *Client) Unpair(ctx context.Context) error {
	return c.call(ctx, http.MethodDelete, c.connPath(""), nil, nil)
}

// SetState tells the partner that this side paused ("paused") or resumed ("active") the
// connection, and answers the partner's status.
func (c *Client) SetState(ctx context.Context, state string) (Status, error) {
	body, err := json.Marshal(stateRequest{State: state})
	if err != nil {
		return Status{}, err
	}
	var st Status
	err = c.call(ctx, http.MethodPut, c.connPath("/state"), body, &st)
	return st, err
}

// URL is the partner's base URL.
func (c *Client) URL() string { return c.base }

// Close drops the client's idle connections.
func (c *Client) Close() {
	c.tr.CloseIdleConnections()
}

func (c *Client) connPath(suffix string) string {
	return "/v1/connections/" + url.PathEscape(c.connID) + suffix
}

// call sends one request with a fresh token and decodes a 2xx answer into out (if not nil).
func (c *Client) call(ctx context.Context, method, path string, body []byte, out any) error {
	tok, err := issueToken(c.id, c.partner, c.connID, c.now())
	if err != nil {
		return err
	}
	return c.do(ctx, method, path, body, "Bearer "+tok, out)
}

// do sends one request with the given Authorization header (empty for none).
func (c *Client) do(ctx context.Context, method, path string, body []byte, auth string, out any) error {
	return roundTrip(ctx, c.hc, c.id, c.base, method, path, body, auth, out, MaxBody)
}

// pairTimeout bounds a whole redemption: dial, handshake, request, answer.
const pairTimeout = 30 * time.Second

// Pair sends the pairing request body for the invitation with id invitation to the inviter at
// baseURL, pinned to the inviter's key, and answers the inviter's response. No token: the
// inviter does not know this key yet. The TLS server name names the invitation, which is what
// lets the inviter admit this unknown key at all.
func Pair(ctx context.Context, id *identity.Identity, inviter identity.ID, baseURL, invitation string, body json.RawMessage) (json.RawMessage, error) {
	return pair(ctx, id, inviter, baseURL, invitationServerName(invitation), body)
}

// CompletePair is Pair the other way round, for an inviter that accepts no connections: it
// dials the agent that accepted its invitation (and answered with a reply code) at baseURL,
// pinned to that agent's key, and sends the completion body. The TLS server name names the
// invitation as a reply, which is what lets that agent admit this key, and only this key, for
// the pairing it awaits.
func CompletePair(ctx context.Context, id *identity.Identity, replier identity.ID, baseURL, invitation string, body json.RawMessage) (json.RawMessage, error) {
	return pair(ctx, id, replier, baseURL, replyServerName(invitation), body)
}

func pair(ctx context.Context, id *identity.Identity, partner identity.ID, baseURL, serverName string, body json.RawMessage) (json.RawMessage, error) {
	if !json.Valid(body) {
		return nil, errors.New("pair: request body is not valid JSON")
	}
	base := strings.TrimRight(baseURL, "/")
	tr := newTransport(id, partner, base)
	tr.TLSClientConfig.ServerName = serverName
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: pairTimeout}
	var out json.RawMessage
	if err := roundTrip(ctx, hc, id, base, http.MethodPost, "/v1/pair", body, "", &out, maxPairBody); err != nil {
		return nil, err
	}
	return out, nil
}

func roundTrip(ctx context.Context, hc *http.Client, id *identity.Identity, base, method, path string, body []byte, auth string, out any, limit int64) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return fmt.Errorf("partner URL %q: %w", base, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return explainNetError(err, base, id)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("read answer from %s: %w", base, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError(resp, data)
	}
	if int64(len(data)) > limit {
		return fmt.Errorf("answer from %s is over %d bytes", base, limit)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer from %s: %w", base, err)
	}
	return nil
}

// explainNetError keeps network errors as they are (transient) but unwraps a pin mismatch and
// says plainly when the partner refused our key.
func explainNetError(err error, base string, id *identity.Identity) error {
	var pin *PinError
	if errors.As(err, &pin) {
		return pin
	}
	// Over TCP, crypto/tls reports the partner's alert as a net.OpError "remote error" around an
	// unexported alert type, so the alert is recognised by its text.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil &&
		(strings.HasSuffix(op.Err.Error(), "bad certificate") || strings.HasSuffix(op.Err.Error(), "certificate unknown")) {
		return &RefusedError{URL: base, Key: id.ID, Err: err}
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return fmt.Errorf("the partner's host %q is not known (DNS): %w", dns.Name, err)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("nothing accepts connections at %s (is the partner's agent running, and is this its address?): %w", base, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("the partner at %s did not answer in time: %w", base, err)
	}
	return err
}

func statusError(resp *http.Response, data []byte) *StatusError {
	se := &StatusError{Code: resp.StatusCode}
	var eb errorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error != "" {
		se.Message, se.State = eb.Error, eb.State
	} else {
		msg := strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		if msg == "" {
			msg = "no explanation"
		}
		se.Message = msg
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		se.After = httpx.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return se
}

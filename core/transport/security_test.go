package transport

// The security suite: one test per attack, each asserting the request is refused and that
// nothing reached the handler (nothing stored or applied). Token forgeries are in
// TestTokenRejections; unknown keys in TestUnknownKey*.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/identity"
)

func (r *rig) addr() string { return strings.TrimPrefix(r.url, "https://") }

func TestSecurityTLS12ClientRefused(t *testing.T) {
	r := newRig(t)
	cfg := clientTLS(r.client, r.server.ID, r.url)
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	c, err := tls.Dial("tcp", r.addr(), cfg)
	if err == nil {
		c.Close()
		t.Fatal("a TLS 1.2 client completed the handshake")
	}
	if !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("TLS 1.2 handshake: %v, want a protocol version alert", err)
	}
	if n := r.inbox.callCount(); n != 0 {
		t.Errorf("handler called %d times", n)
	}
}

// dialFrom opens a TCP connection to addr from another loopback address, as a second host would.
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", local, err)
	}
	return c
}

// closedSoon reports whether the server closes c within d (a read ends with EOF or a reset).
func closedSoon(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	return !isTimeout(err)
}

// Slow clients from one address fill at most their cap, are cut off by the header timeout, and
// the real partner is served meanwhile.
func TestSecuritySlowlorisHeldOff(t *testing.T) {
	r := newRigWith(t, ServerOptions{ConnsPerAddr: 8, ReadHeaderTimeout: time.Second})
	var slow []net.Conn
	for range 20 {
		c := dialFrom(t, "127.0.0.2", r.addr())
		defer c.Close()
		c.Write([]byte{0x16}) // the first byte of a TLS handshake, then nothing
		slow = append(slow, c)
	}
	c := r.newClient(t, r.client, r.server.ID, conn)
	if _, err := c.Send(context.Background(), events(1, 1)); err != nil {
		t.Fatalf("the partner while 20 slow connections are open: %v", err)
	}
	closedAtOnce := 0
	for _, s := range slow[8:] {
		if closedSoon(s, 300*time.Millisecond) {
			closedAtOnce++
		}
	}
	if closedAtOnce != 12 {
		t.Errorf("%d of the 12 connections beyond the cap were closed at once, want all", closedAtOnce)
	}
	for i, s := range slow[:8] {
		if !closedSoon(s, 5*time.Second) {
			t.Errorf("slow connection %d still open seconds after the header timeout", i)
		}
	}
	if n := r.inbox.stored(); n != 1 {
		t.Errorf("stored %d events, want the partner's 1", n)
	}
}

// memReplay is a ReplayStore that outlives a server, as the agent's database does.
type memReplay struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (m *memReplay) Remember(key string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[key] = at
	return nil
}

func (m *memReplay) Recall(now time.Time) (map[string]time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]time.Time{}
	for k, v := range m.m {
		if v.After(now) {
			out[k] = v
		}
	}
	return out, nil
}

func (m *memReplay) Forget(t time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, v := range m.m {
		if v.Before(t) {
			delete(m.m, k)
		}
	}
	return nil
}

// laterReplay is a memReplay that also implements ReplayLater, as the agent's does: an entry
// queued with RememberLater is durable once its wait returns. fail makes those writes fail.
type laterReplay struct {
	memReplay
	fail   error
	queued int // entries queued and not yet durable
}

func (m *laterReplay) RememberLater(key string, at time.Time) (wait func() error) {
	m.mu.Lock()
	m.queued++
	m.mu.Unlock()
	return func() error {
		m.mu.Lock()
		m.queued--
		m.mu.Unlock()
		if m.fail != nil {
			return m.fail
		}
		return m.Remember(key, at)
	}
}

// A token captured in flight cannot be replayed after the server restarts: with a store that
// writes the token id before the handler runs, and with one that writes it with the
// handler's own write (ReplayLater, used for batches), before the answer.
func TestSecurityReplayAfterRestart(t *testing.T) {
	for _, later := range []bool{false, true} {
		t.Run(fmt.Sprint("later=", later), func(t *testing.T) {
			server, client, tok := replayParties(t)
			var store ReplayStore = &memReplay{m: map[string]time.Time{}}
			lr := &laterReplay{memReplay: memReplay{m: map[string]time.Time{}}}
			if later {
				store = lr
			}
			code, in := sendOnce(t, store, server, client, tok)
			if code != 0 || in.stored() != 1 {
				t.Fatalf("first use: status %d, stored %d", code, in.stored())
			}
			if later && (lr.queued != 0 || len(lr.m) != 1) {
				t.Errorf("after the answer: %d token ids queued, %d durable; want 0 and 1", lr.queued, len(lr.m))
			}
			code, in = sendOnce(t, store, server, client, tok) // a new server process, the same database
			if code != http.StatusUnauthorized || in.callCount() != 0 {
				t.Errorf("the token replayed after a restart: status %d, handler calls %d; want 401 and none", code, in.callCount())
			}
		})
	}
}

// A batch whose token id cannot be written is answered 503, not 200, though the handler ran:
// the sender keeps the batch and sends it again (the receiver skips the events it has).
func TestSecurityBatchAnsweredOnlyOnceItsTokenIsDurable(t *testing.T) {
	store := &laterReplay{memReplay: memReplay{m: map[string]time.Time{}}, fail: errors.New("disk full")}
	server, client, tok := replayParties(t)
	code, in := sendOnce(t, store, server, client, tok)
	if code != http.StatusServiceUnavailable || in.callCount() != 1 {
		t.Errorf("status %d, handler calls %d; want 503 after the handler's 1", code, in.callCount())
	}
}

// replayParties are a server, a client pinned to conn and a token of the client's for it.
func replayParties(t *testing.T) (server, client *identity.Identity, tok string) {
	server, client = newIdentity(t), newIdentity(t)
	tok, err := issueToken(client, server.ID, conn, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return server, client, tok
}

// sendOnce starts server on store, posts one batch from client with tok, and stops it.
func sendOnce(t *testing.T, store ReplayStore, server, client *identity.Identity, tok string) (int, *inbox) {
	t.Helper()
	p := &peers{pins: map[string]identity.ID{conn: client.ID}}
	body, _ := json.Marshal(batchRequest{Events: events(1, 1)})
	in := newInbox()
	srv, err := NewServer(server, p, in, ServerOptions{Replay: store})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	c := NewClient(client, server.ID, "https://"+ln.Addr().String(), conn)
	defer c.Close()
	err = c.do(context.Background(), http.MethodPost, c.connPath("/events"), body, "Bearer "+tok, nil)
	return statusCode(err), in
}

// A partner flooding requests gets 429 with Retry-After; the handler sees only what the rate
// allows, and after the wait the partner is served again.
func TestSecurityFloodBeyondRateLimit(t *testing.T) {
	r := newRigWith(t, ServerOptions{RatePerPartner: 5, BurstPerPartner: 10})
	c := r.newClient(t, r.client, r.server.ID, conn)
	limited := 0
	var after time.Duration
	for range 60 {
		_, err := c.Status(context.Background())
		var se *StatusError
		if errors.As(err, &se) && se.Code == http.StatusTooManyRequests {
			limited++
			after = se.RetryAfter()
		}
	}
	if limited < 45 {
		t.Errorf("%d of 60 requests were limited, want most of those beyond the burst of 10", limited)
	}
	if after < time.Second {
		t.Errorf("429 without a usable Retry-After (%v)", after)
	}
	if n := r.inbox.callCount(); n > 15 {
		t.Errorf("the handler answered %d of the flood, want about the burst", n)
	}
	time.Sleep(after)
	if _, err := c.Status(context.Background()); err != nil {
		t.Errorf("after Retry-After: %v", err)
	}
}

// A partner outside its connection's allow-list is refused: before the TLS handshake when no
// connection could accept its address, per request otherwise.
func TestSecurityAllowList(t *testing.T) {
	r := newRig(t)
	r.peers.setAllow(conn, "10.0.0.0/8")
	c := r.newClient(t, r.client, r.server.ID, conn)
	_, err := c.Send(context.Background(), events(1, 1))
	if err == nil || statusCode(err) != 0 {
		t.Fatalf("from outside every allow-list: %v, want the connection dropped before TLS", err)
	}
	raw := dialFrom(t, "127.0.0.1", r.addr())
	if !closedSoon(raw, time.Second) {
		t.Error("a TCP connection from outside every allow-list stays open")
	}
	raw.Close()

	// Another connection accepts any address, so the handshake proceeds; this one still refuses.
	r.peers.mu.Lock()
	r.peers.pins["c2"] = newIdentity(t).ID
	r.peers.mu.Unlock()
	_, err = c.Send(context.Background(), events(1, 1))
	if statusCode(err) != http.StatusForbidden || !strings.Contains(err.Error(), "allow-list") {
		t.Errorf("from outside this connection's allow-list: %v, want 403 naming the allow-list", err)
	}
	r.peers.setAllow(conn, "10.0.0.0/8", "127.0.0.1/32")
	if _, err := c.Send(context.Background(), events(1, 1)); err != nil {
		t.Errorf("from inside the allow-list: %v", err)
	}
	if n := r.inbox.stored(); n != 1 {
		t.Errorf("stored %d events, want only the allowed one", n)
	}
}

// A stranger holding /v1/pair open with a body that never ends is cut off quickly.
func TestSecurityPairBodyDeadline(t *testing.T) {
	r := newRigWith(t, ServerOptions{PairBodyTimeout: 500 * time.Millisecond})
	r.peers.setInvitation("abc123", true)
	cfg := clientTLS(newIdentity(t), r.server.ID, r.url)
	cfg.ServerName = invitationServerName("abc123")
	tc, err := tls.Dial("tcp", r.addr(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	fmt.Fprintf(tc, "POST /v1/pair HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"invitation_id\":")
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("a pair request with an unfinished body answered %d", resp.StatusCode)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the unfinished pair body was held %v", d)
	}
	if n := r.inbox.callCount(); n != 0 {
		t.Errorf("the handler saw %d calls", n)
	}
}

// Refused requests cost one log line per peer and interval, not one each.
func TestSecurityRefusalsLoggedOncePerInterval(t *testing.T) {
	var log lineCounter
	r := newRigWith(t, ServerOptions{Logger: slog.New(slog.NewTextHandler(&log, nil)), RatePerPartner: 1e6, BurstPerPartner: 1e6})
	c := r.newClient(t, r.client, r.server.ID, conn)
	body, _ := json.Marshal(batchRequest{Events: events(1, 1)})
	for range 500 {
		c.do(context.Background(), http.MethodPost, c.connPath("/events"), body, "Bearer forged", nil)
	}
	stranger := r.newClient(t, newIdentity(t), r.server.ID, conn)
	for range 50 {
		stranger.Status(context.Background())
	}
	if n := log.count("refused"); n > 3 {
		t.Errorf("550 refusals wrote %d log lines, want one per peer and interval", n)
	}
	if n := r.inbox.callCount(); n != 0 {
		t.Errorf("handler called %d times", n)
	}
}

type lineCounter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lineCounter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lineCounter) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

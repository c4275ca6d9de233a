package transport

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tandemsync/tandem/core/identity"
	"github.com/tandemsync/tandem/core/trackers/httpx"
)

func TestSendBatch(t *testing.T) {
	r := newRig(t)
	c := r.newClient(t, r.client, r.server.ID, conn)
	ctx := context.Background()

	got, err := c.Send(ctx, events(1, 3))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got != 3 {
		t.Errorf("Send answered highest %d, want 3", got)
	}
	// A resend after a lost answer is deduplicated and still answers the highest seq.
	got, err = c.Send(ctx, events(2, 2))
	if err != nil || got != 3 {
		t.Errorf("resend: got %d, %v; want 3, nil", got, err)
	}
	if n := r.inbox.stored(); n != 3 {
		t.Errorf("handler stored %d events, want 3", n)
	}
	r.inbox.mu.Lock()
	e := r.inbox.byID[conn+"/ev-2"]
	r.inbox.mu.Unlock()
	if want := events(2, 1)[0]; e.ItemKey != want.ItemKey || !bytes.Equal(e.Payload, want.Payload) || !e.Created.Equal(want.Created) {
		t.Errorf("stored event = %+v, want %+v", e, want)
	}
}

func TestStatusAndUnpair(t *testing.T) {
	r := newRig(t)
	c := r.newClient(t, r.client, r.server.ID, conn)
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.Protocol != ProtocolVersion || st.App != "tandem-test" || st.State != "active" {
		t.Errorf("Status = %+v, want protocol %d, app tandem-test, state active", st, ProtocolVersion)
	}
	if err := c.Unpair(ctx); err != nil {
		t.Fatalf("Unpair: %v", err)
	}
	if got := r.inbox.unpairs; len(got) != 1 || got[0] != conn {
		t.Errorf("handler saw unpairs %v, want [%s]", got, conn)
	}
}

// token builds claims as a well-behaved client would, for tests to spoil one at a time.
func validClaims(r *rig) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": r.client.ID.String(),
		"aud": r.server.ID.String(),
		"sub": conn,
		"iat": now.Unix(),
		"exp": now.Add(30 * time.Second).Unix(),
		"jti": rand.Text(),
	}
}

func sign(t *testing.T, method jwt.SigningMethod, claims jwt.MapClaims, key any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

func TestTokenRejections(t *testing.T) {
	r := newRig(t)
	c := r.newClient(t, r.client, r.server.ID, conn)
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	body, _ := json.Marshal(batchRequest{Events: events(1, 2)})
	with := func(edit func(jwt.MapClaims)) string {
		cl := validClaims(r)
		edit(cl)
		return "Bearer " + sign(t, jwt.SigningMethodEdDSA, cl, r.client.Private)
	}
	now := time.Now()
	for _, tc := range []struct {
		name, auth string
	}{
		{"no token", ""},
		{"not bearer", "Basic dXNlcjpwYXNz"},
		{"garbage", "Bearer not.a.jwt"},
		{"alg none", "Bearer " + sign(t, jwt.SigningMethodNone, validClaims(r), jwt.UnsafeAllowNoneSignatureType)},
		{"HS256 keyed with the public key", "Bearer " + sign(t, jwt.SigningMethodHS256, validClaims(r), []byte(r.client.Public))},
		{"signed by another key", "Bearer " + sign(t, jwt.SigningMethodEdDSA, validClaims(r), otherKey)},
		{"expired", with(func(c jwt.MapClaims) {
			c["iat"] = now.Add(-2 * time.Minute).Unix()
			c["exp"] = now.Add(-time.Minute).Unix()
		})},
		{"issued in the future", with(func(c jwt.MapClaims) {
			c["iat"] = now.Add(5 * time.Minute).Unix()
			c["exp"] = now.Add(5*time.Minute + 30*time.Second).Unix()
		})},
		{"exp too far ahead", with(func(c jwt.MapClaims) { c["exp"] = now.Add(10 * time.Minute).Unix() })},
		{"no exp", with(func(c jwt.MapClaims) { delete(c, "exp") })},
		{"no iat", with(func(c jwt.MapClaims) { delete(c, "iat") })},
		{"no jti", with(func(c jwt.MapClaims) { delete(c, "jti") })},
		{"wrong aud", with(func(c jwt.MapClaims) { c["aud"] = r.client.ID.String() })},
		{"wrong iss", with(func(c jwt.MapClaims) { c["iss"] = r.server.ID.String() })},
		{"wrong sub", with(func(c jwt.MapClaims) { c["sub"] = "c2" })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.do(context.Background(), http.MethodPost, c.connPath("/events"), body, tc.auth, nil)
			if got := statusCode(err); got != http.StatusUnauthorized {
				t.Errorf("got %v (status %d), want 401", err, got)
			}
		})
	}
	if n := r.inbox.callCount(); n != 0 {
		t.Errorf("handler was called %d times, want 0", n)
	}

	// The same well-formed token twice: the second is a replay.
	auth := with(func(jwt.MapClaims) {})
	if err := c.do(context.Background(), http.MethodPost, c.connPath("/events"), body, auth, nil); err != nil {
		t.Fatalf("first use of a valid token: %v", err)
	}
	err := c.do(context.Background(), http.MethodPost, c.connPath("/events"), body, auth, nil)
	if got := statusCode(err); got != http.StatusUnauthorized || !strings.Contains(err.Error(), "replayed") {
		t.Errorf("replayed token: got %v, want 401 saying replayed", err)
	}
	if n := r.inbox.callCount(); n != 1 {
		t.Errorf("handler was called %d times, want 1 (the replay must not reach it)", n)
	}
}

func TestReplayCachePrunes(t *testing.T) {
	var c replayCache
	t0 := time.Unix(1_700_000_000, 0)
	if err := c.add("a", t0.Add(time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	if err := c.add("a", t0.Add(time.Minute), t0.Add(30*time.Second)); err == nil {
		t.Error("second add of a within its lifetime: no error")
	}
	if err := c.add("b", t0.Add(3*time.Minute), t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := c.len(); n != 1 {
		t.Errorf("cache holds %d ids after a's expiry, want 1", n)
	}
}

func TestForbiddenWhenNotPinned(t *testing.T) {
	r := newRig(t)
	other := newIdentity(t)
	r.peers.mu.Lock()
	r.peers.pins["c2"] = other.ID
	r.peers.mu.Unlock()

	// other is known (it pins c2) and signs a valid token, but c1 pins the client.
	for _, tc := range []struct{ name, connID string }{
		{"another partner's connection", conn},
		{"no such connection", "c9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := r.newClient(t, other, r.server.ID, tc.connID)
			_, err := c.Send(context.Background(), events(1, 1))
			if got := statusCode(err); got != http.StatusForbidden {
				t.Errorf("Send: %v (status %d), want 403", err, got)
			}
			var se *StatusError
			if errors.As(err, &se) && !se.Permanent() {
				t.Error("403 is not Permanent()")
			}
		})
	}
	if n := r.inbox.callCount(); n != 0 {
		t.Errorf("handler was called %d times, want 0", n)
	}
}

func TestUnknownKeyRefusedAtHandshake(t *testing.T) {
	r := newRig(t)
	stranger := newIdentity(t)
	c := r.newClient(t, stranger, r.server.ID, conn)
	_, err := c.Send(context.Background(), events(1, 1))
	if err == nil || statusCode(err) != 0 {
		t.Fatalf("Send from an unknown key: %v, want a TLS refusal", err)
	}
	if !strings.Contains(err.Error(), "refused this agent's key "+stranger.ID.Short()) {
		t.Errorf("error = %q, want it to say the partner refused key %s", err, stranger.ID.Short())
	}
	if _, err := Pair(context.Background(), stranger, r.server.ID, r.url, json.RawMessage(`{}`)); err == nil {
		t.Error("Pair with no invitation pending: no error")
	}
	if n := r.inbox.callCount(); n != 0 {
		t.Errorf("handler was called %d times, want 0", n)
	}
}

func TestUnknownKeyMayOnlyPairWhilePairing(t *testing.T) {
	r := newRig(t)
	r.peers.setPairing(true)
	stranger := newIdentity(t)
	ctx := context.Background()

	out, err := Pair(ctx, stranger, r.server.ID, r.url, json.RawMessage(`{"secret":"s3"}`))
	if err != nil {
		t.Fatalf("Pair: %v", err)
	}
	var answer struct {
		Welcome string          `json:"welcome"`
		Echo    json.RawMessage `json:"echo"`
	}
	if err := json.Unmarshal(out, &answer); err != nil {
		t.Fatalf("Pair answer %s: %v", out, err)
	}
	if answer.Welcome != stranger.ID.Short() || string(answer.Echo) != `{"secret":"s3"}` {
		t.Errorf("Pair answer = %s, want the handler's answer for %s", out, stranger.ID.Short())
	}
	if got := r.inbox.pairs; len(got) != 1 || got[0] != stranger.ID {
		t.Errorf("handler saw pair peers %v, want [%s]", got, stranger.ID.Short())
	}

	c := r.newClient(t, stranger, r.server.ID, conn)
	if _, err := c.Send(ctx, events(1, 1)); statusCode(err) != http.StatusForbidden {
		t.Errorf("Send from the pairing stranger: %v, want 403", err)
	}
	if _, err := c.Status(ctx); statusCode(err) != http.StatusForbidden {
		t.Errorf("Status from the pairing stranger: %v, want 403", err)
	}
	if err := c.Unpair(ctx); statusCode(err) != http.StatusForbidden {
		t.Errorf("Unpair from the pairing stranger: %v, want 403", err)
	}
	// The invitation ends while the stranger's connection is still open: /v1/pair closes too.
	r.peers.setPairing(false)
	_, err = roundTripFor(c, http.MethodPost, "/v1/pair", []byte(`{}`))
	if statusCode(err) != http.StatusForbidden {
		t.Errorf("Pair after the invitation ended, on a kept-alive connection: %v, want 403", err)
	}
	if n := r.inbox.callCount(); n != 1 || r.inbox.stored() != 0 {
		t.Errorf("handler calls = %d, stored = %d; want 1 (the pair) and 0", n, r.inbox.stored())
	}
}

// roundTripFor sends a raw request over c's kept-alive transport, without a token.
func roundTripFor(c *Client, method, path string, body []byte) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.do(context.Background(), method, path, body, "", &out)
	return out, err
}

func TestClientPinnedToWrongServerKey(t *testing.T) {
	r := newRig(t)
	impostorPin := newIdentity(t).ID
	c := r.newClient(t, r.client, impostorPin, conn)
	_, err := c.Send(context.Background(), events(1, 1))
	var pin *PinError
	if !errors.As(err, &pin) {
		t.Fatalf("Send to the wrong key: %v, want a *PinError", err)
	}
	want := "partner at " + r.url + " presented key " + r.server.ID.Short() + ", but connection pins " + impostorPin.Short()
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if !pin.Permanent() {
		t.Error("PinError is not Permanent()")
	}
	r.peers.setPairing(true)
	if _, err := Pair(context.Background(), newIdentity(t), impostorPin, r.url, json.RawMessage(`{}`)); !errors.As(err, &pin) {
		t.Errorf("Pair to the wrong key: %v, want a *PinError", err)
	}
	if n := r.inbox.callCount(); n != 0 {
		t.Errorf("handler was called %d times, want 0", n)
	}
}

func TestBadBodies(t *testing.T) {
	r := newRig(t)
	c := r.newClient(t, r.client, r.server.ID, conn)
	huge := append([]byte(`{"events":[{"seq":1,"id":"x","kind":"update","payload":"`), bytes.Repeat([]byte("a"), MaxBody)...)
	huge = append(huge, `"}]}`...)
	for _, tc := range []struct {
		name string
		body []byte
		want int
	}{
		{"malformed JSON", []byte(`{"events":[{"seq":1,`), http.StatusBadRequest},
		{"not an object", []byte(`[1,2,3]`), http.StatusBadRequest},
		{"empty body", []byte(``), http.StatusBadRequest},
		{"trailing data", []byte(`{"events":[{"seq":1,"id":"a","kind":"update"}]} {}`), http.StatusBadRequest},
		{"no events", []byte(`{"events":[]}`), http.StatusBadRequest},
		{"event without id", []byte(`{"events":[{"seq":1,"kind":"update"}]}`), http.StatusBadRequest},
		{"seq not ascending", []byte(`{"events":[{"seq":2,"id":"a","kind":"update"},{"seq":1,"id":"b","kind":"update"}]}`), http.StatusBadRequest},
		{"oversized", huge, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.call(context.Background(), http.MethodPost, c.connPath("/events"), tc.body, nil)
			if got := statusCode(err); got != tc.want {
				t.Errorf("got %v (status %d), want %d", err, got, tc.want)
			}
		})
	}
	if n := r.inbox.callCount(); n != 0 {
		t.Errorf("handler was called %d times, want 0", n)
	}
}

// A body without Content-Length (chunked) is cut off at the limit too.
func TestOversizedChunkedBody(t *testing.T) {
	r := newRig(t)
	c := r.newClient(t, r.client, r.server.ID, conn)
	tok, err := issueToken(r.client, r.server.ID, conn, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	body := strings.NewReader(`{"events":[{"seq":1,"id":"x","kind":"update","payload":"` + strings.Repeat("a", MaxBody) + `"}]}`)
	req, _ := http.NewRequest(http.MethodPost, r.url+c.connPath("/events"), struct{ *strings.Reader }{body}) // hide the length
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", resp.StatusCode)
	}
	if n := r.inbox.callCount(); n != 0 {
		t.Errorf("handler was called %d times, want 0", n)
	}
}

func TestSendRefusesBatchOverLimit(t *testing.T) {
	r := newRig(t)
	c := r.newClient(t, r.client, r.server.ID, conn)
	big := events(1, 1)
	big[0].Payload = json.RawMessage(`"` + strings.Repeat("a", MaxBody) + `"`)
	if _, err := c.Send(context.Background(), big); !errors.Is(err, ErrBatchTooLarge) {
		t.Errorf("Send of an oversized batch: %v, want ErrBatchTooLarge", err)
	}
}

func TestHandlerErrors(t *testing.T) {
	r := newRig(t)
	c := r.newClient(t, r.client, r.server.ID, conn)
	for _, tc := range []struct {
		name      string
		err       error
		wantCode  int
		wantMsg   string
		permanent bool
		retry     time.Duration
	}{
		{"validation", codedErr{code: 400, msg: "event ev-1: unknown kind"}, 400, "event ev-1: unknown kind", true, 0},
		{"wrapped paused", errWrap(codedErr{code: 409, msg: "connection is paused"}), 409, "store batch: connection is paused", true, 0},
		{"busy", codedErr{code: 503, msg: "applying backlog", retry: 1500 * time.Millisecond}, 503, "applying backlog", false, 2 * time.Second},
		{"internal", errors.New("bbolt: disk full at /secret/path"), 500, "internal error in the partner agent (logged there)", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.inbox.setFail(tc.err)
			_, err := c.Send(context.Background(), events(1, 1))
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("Send: %v, want a *StatusError", err)
			}
			if se.Code != tc.wantCode || se.Message != tc.wantMsg || se.Permanent() != tc.permanent || se.RetryAfter() != tc.retry {
				t.Errorf("got {%d %q permanent=%v retry=%v}, want {%d %q permanent=%v retry=%v}",
					se.Code, se.Message, se.Permanent(), se.RetryAfter(), tc.wantCode, tc.wantMsg, tc.permanent, tc.retry)
			}
		})
	}
}

func errWrap(err error) error { return &wrapped{err} }

type wrapped struct{ err error }

func (w *wrapped) Error() string { return "store batch: " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

func TestStatusErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		code      int
		permanent bool
	}{
		{400, true}, {401, true}, {403, true}, {404, true}, {408, false}, {413, true},
		{429, false}, {500, false}, {502, false}, {503, false},
	} {
		if got := (&StatusError{Code: tc.code}).Permanent(); got != tc.permanent {
			t.Errorf("StatusError{%d}.Permanent() = %v, want %v", tc.code, got, tc.permanent)
		}
	}
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"7", 7 * time.Second}, {"-3", 0}, {"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	} {
		if got := httpx.ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("httpx.ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestServeStopsWithContext(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	srv := NewServer(server, &peers{pins: map[string]identity.ID{conn: client.ID}}, newInbox(), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	c := NewClient(client, server.ID, "https://"+ln.Addr().String(), conn)
	defer c.Close()
	if _, err := c.Send(context.Background(), events(1, 1)); err != nil {
		t.Fatalf("Send before cancel: %v", err)
	}
	cancel() // a kept-alive connection is open: Shutdown must still finish
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v after cancel, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := c.Send(context.Background(), events(2, 1)); err == nil {
		t.Error("Send after the server stopped: no error")
	}
}

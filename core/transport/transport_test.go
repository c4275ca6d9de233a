package transport

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
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
		{"exp 65 s ahead (within lifetime plus skew, past 60 s)", with(func(c jwt.MapClaims) { c["exp"] = now.Add(65 * time.Second).Unix() })},
		{"aud lists another agent too", with(func(c jwt.MapClaims) { c["aud"] = []string{r.server.ID.String(), r.client.ID.String()} })},
		{"aud lists this agent twice", with(func(c jwt.MapClaims) { c["aud"] = []string{r.server.ID.String(), r.server.ID.String()} })},
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
	t0 := time.Unix(1_700_000_000, 0)
	c, _ := newReplayCache(nil, 10, t0)
	a, b := identity.ID{1}, identity.ID{2}
	if _, err := c.add(a, token{"j1", t0.Add(time.Minute)}, t0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.add(a, token{"j1", t0.Add(time.Minute)}, t0.Add(30*time.Second), false); !errors.Is(err, errReplayed) {
		t.Errorf("second add of j1 within its lifetime: %v, want errReplayed", err)
	}
	if _, err := c.add(b, token{"j1", t0.Add(time.Minute)}, t0.Add(30*time.Second), false); err != nil {
		t.Errorf("the same jti from another peer: %v, want accepted", err)
	}
	if _, err := c.add(b, token{"j2", t0.Add(3 * time.Minute)}, t0.Add(2*time.Minute), false); err != nil {
		t.Fatal(err)
	}
	if n := c.len(); n != 1 {
		t.Errorf("cache holds %d ids after the first ones expired, want 1", n)
	}
}

// One peer cannot take more than its quota of the cache, so it cannot crowd out another.
func TestReplayQuotaPerPeer(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	c, _ := newReplayCache(nil, 3, t0)
	noisy, quiet := identity.ID{1}, identity.ID{2}
	for i := range 3 {
		if _, err := c.add(noisy, token{fmt.Sprint(i), t0.Add(time.Minute)}, t0, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.add(noisy, token{"x", t0.Add(time.Minute)}, t0, false); !errors.Is(err, errReplayQuota) {
		t.Errorf("beyond the quota: %v, want errReplayQuota", err)
	}
	if _, err := c.add(quiet, token{"x", t0.Add(time.Minute)}, t0, false); err != nil {
		t.Errorf("another peer while the first is at its quota: %v", err)
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
	var refused *RefusedError
	if !errors.As(err, &refused) || refused.Key != stranger.ID {
		t.Fatalf("Send from an unknown key: %v, want a *RefusedError for %s", err, stranger.ID.Short())
	}
	if !strings.Contains(err.Error(), "refuses this agent's key "+stranger.ID.Short()) {
		t.Errorf("error = %q, want it to say the partner refuses key %s", err, stranger.ID.Short())
	}
	// Naming an invitation the server never made does not get a stranger in either.
	if _, err := Pair(context.Background(), stranger, r.server.ID, r.url, "feedfeed", json.RawMessage(`{}`)); !errors.As(err, &refused) {
		t.Errorf("Pair for an invitation that does not exist: %v, want a *RefusedError", err)
	}
	if n := r.inbox.callCount(); n != 0 {
		t.Errorf("handler was called %d times, want 0", n)
	}
}

func TestUnknownKeyMayOnlyPairForAnInvitation(t *testing.T) {
	r := newRig(t)
	r.peers.setInvitation("abc123", true)
	stranger := newIdentity(t)
	ctx := context.Background()

	out, err := Pair(ctx, stranger, r.server.ID, r.url, "abc123", json.RawMessage(`{"secret":"s3"}`))
	if err != nil {
		t.Fatalf("Pair: %v", err)
	}
	var answer struct {
		Welcome    string          `json:"welcome"`
		Invitation string          `json:"invitation"`
		Echo       json.RawMessage `json:"echo"`
	}
	if err := json.Unmarshal(out, &answer); err != nil {
		t.Fatalf("Pair answer %s: %v", out, err)
	}
	if answer.Welcome != stranger.ID.Short() || answer.Invitation != "abc123" || string(answer.Echo) != `{"secret":"s3"}` {
		t.Errorf("Pair answer = %s, want the handler's answer for %s and invitation abc123", out, stranger.ID.Short())
	}
	// A stranger admitted for an invitation may call nothing else.
	c := r.newClient(t, stranger, r.server.ID, conn)
	c.tr.TLSClientConfig.ServerName = invitationServerName("abc123")
	if _, err := c.Send(ctx, events(1, 1)); statusCode(err) != http.StatusForbidden {
		t.Errorf("Send from the pairing stranger: %v, want 403", err)
	}
	if _, err := c.Status(ctx); statusCode(err) != http.StatusForbidden {
		t.Errorf("Status from the pairing stranger: %v, want 403", err)
	}
	if err := c.Unpair(ctx); statusCode(err) != http.StatusForbidden {
		t.Errorf("Unpair from the pairing stranger: %v, want 403", err)
	}
	// An invitation that ended still admits the stranger, to hear why: the handler says so.
	r.peers.setInvitation("abc123", false)
	r.inbox.setFail(codedErr{code: 403, msg: "the invitation has already been used"})
	_, err = Pair(ctx, stranger, r.server.ID, r.url, "abc123", json.RawMessage(`{}`))
	if statusCode(err) != http.StatusForbidden || !strings.Contains(err.Error(), "already been used") {
		t.Errorf("Pair for an ended invitation: %v, want the handler's 403 in words", err)
	}
	if n := r.inbox.callCount(); n != 2 || r.inbox.stored() != 0 {
		t.Errorf("handler calls = %d, stored = %d; want 2 (the pairs) and 0", n, r.inbox.stored())
	}
}

// A connection admitted for a pending invitation, kept open, is closed when the invitation ends.
func TestPairingConnectionClosedWhenInvitationEnds(t *testing.T) {
	r := newRig(t)
	r.peers.setInvitation("abc123", true)
	stranger := newIdentity(t)
	cfg := clientTLS(stranger, r.server.ID, r.url)
	cfg.ServerName = invitationServerName("abc123")
	tc, err := tls.Dial("tcp", strings.TrimPrefix(r.url, "https://"), cfg)
	if err != nil {
		t.Fatalf("handshake for a pending invitation: %v", err)
	}
	defer tc.Close()
	// The TLS 1.3 server verifies the client's certificate after the client's handshake
	// returns; a read makes sure the server has admitted it.
	tc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := tc.Read(make([]byte, 1)); err == nil || !isTimeout(err) {
		t.Fatalf("read from an admitted, idle connection: %v, want a timeout", err)
	}
	r.peers.setInvitation("abc123", false)
	tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = tc.Read(make([]byte, 1))
	if err == nil || isTimeout(err) {
		t.Errorf("read after the invitation ended: %v, want the connection closed", err)
	}
}

// An agent that accepted an invitation without a URL admits, to complete that pairing, only
// the key the invitation named, only naming that invitation, and only for /v1/pair.
func TestOnlyTheAwaitedKeyMayCompleteAPairing(t *testing.T) {
	r := newRig(t)
	inviter, stranger := newIdentity(t), newIdentity(t)
	r.peers.setAwaits("abc123", inviter.ID, true)
	ctx := context.Background()

	out, err := CompletePair(ctx, inviter, r.server.ID, r.url, "abc123", json.RawMessage(`{"proof":"p"}`))
	if err != nil {
		t.Fatalf("CompletePair from the awaited key: %v", err)
	}
	var answer struct {
		Welcome    string `json:"welcome"`
		Invitation string `json:"invitation"`
		Completes  bool   `json:"completes"`
	}
	if err := json.Unmarshal(out, &answer); err != nil || answer.Welcome != inviter.ID.Short() || answer.Invitation != "abc123" || !answer.Completes {
		t.Fatalf("CompletePair answer %s (%v), want the handler told it completes invitation abc123 for %s", out, err, inviter.ID.Short())
	}
	refused := func(what string, err error) {
		t.Helper()
		var re *RefusedError
		if !errors.As(err, &re) {
			t.Errorf("%s: %v, want the key refused at the handshake", what, err)
		}
	}
	// Another key naming the same awaited pairing, the awaited key naming another invitation,
	// or naming it as an invitation of this agent (it is not one): refused at the handshake.
	_, err = CompletePair(ctx, stranger, r.server.ID, r.url, "abc123", json.RawMessage(`{}`))
	refused("a stranger completing the awaited pairing", err)
	_, err = CompletePair(ctx, inviter, r.server.ID, r.url, "other1", json.RawMessage(`{}`))
	refused("the awaited key naming another invitation", err)
	_, err = Pair(ctx, inviter, r.server.ID, r.url, "abc123", json.RawMessage(`{}`))
	refused("the awaited key redeeming the invitation as if this agent had made it", err)

	// Admitted for the pairing, it may call nothing else.
	c := r.newClient(t, inviter, r.server.ID, conn)
	c.tr.TLSClientConfig.ServerName = replyServerName("abc123")
	if _, err := c.Send(ctx, events(1, 1)); statusCode(err) != http.StatusForbidden {
		t.Errorf("Send from the completing key: %v, want 403", err)
	}
	if _, err := c.Pull(ctx, 0, 0); statusCode(err) != http.StatusForbidden {
		t.Errorf("Pull from the completing key: %v, want 403", err)
	}
	// Ended (cancelled or expired), it is still admitted to hear why from the handler.
	r.peers.setAwaits("abc123", inviter.ID, false)
	r.inbox.setFail(codedErr{code: 403, msg: "the pairing was cancelled here"})
	_, err = CompletePair(ctx, inviter, r.server.ID, r.url, "abc123", json.RawMessage(`{}`))
	if statusCode(err) != http.StatusForbidden || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("CompletePair for an ended pairing: %v, want the handler's 403 in words", err)
	}
	if r.inbox.stored() != 0 {
		t.Errorf("stored %d events from strangers", r.inbox.stored())
	}
}

// A connection admitted to complete an awaited pairing, kept open, is closed when the pairing
// ends (cancelled or expired here).
func TestCompletingConnectionClosedWhenAwaitedPairingEnds(t *testing.T) {
	r := newRig(t)
	inviter := newIdentity(t)
	r.peers.setAwaits("abc123", inviter.ID, true)
	cfg := clientTLS(inviter, r.server.ID, r.url)
	cfg.ServerName = replyServerName("abc123")
	tc, err := tls.Dial("tcp", strings.TrimPrefix(r.url, "https://"), cfg)
	if err != nil {
		t.Fatalf("handshake for an awaited pairing: %v", err)
	}
	defer tc.Close()
	tc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := tc.Read(make([]byte, 1)); err == nil || !isTimeout(err) {
		t.Fatalf("read from an admitted, idle connection: %v, want a timeout", err)
	}
	r.peers.setAwaits("abc123", inviter.ID, false)
	tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err = tc.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("read after the awaited pairing ended: %v, want the connection closed", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
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
	r.peers.setInvitation("abc123", true)
	if _, err := Pair(context.Background(), newIdentity(t), impostorPin, r.url, "abc123", json.RawMessage(`{}`)); !errors.As(err, &pin) {
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
	srv, err := NewServer(server, &peers{pins: map[string]identity.ID{conn: client.ID}}, newInbox(), ServerOptions{})
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

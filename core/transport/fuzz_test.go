package transport

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzBatchDecoder feeds arbitrary bodies to the events endpoint's handler, past
// authentication: it never panics or fails inside (500), and stores only a valid batch.
func FuzzBatchDecoder(f *testing.F) {
	good, _ := json.Marshal(batchRequest{Events: events(1, 3)})
	f.Add(good)
	f.Add([]byte(`{"events":[{"seq":2,"id":"a","kind":"update"},{"seq":1,"id":"b","kind":"update"}]}`))
	f.Add([]byte(`{"events":[]}`))
	f.Add([]byte(`{"events":[{"seq":1,"id":"a","kind":"update","payload":{"x":[1,2,{}]}}]} `))
	server := newIdentity(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		in := newInbox()
		s, err := NewServer(server, &peers{}, in, ServerOptions{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/connections/c1/events", bytes.NewReader(body))
		req.TLS = &tls.ConnectionState{}
		rec := httptest.NewRecorder()
		s.handleEvents(rec, req, "c1")
		switch code := rec.Code; {
		case code == http.StatusOK:
			var req batchRequest
			if err := json.Unmarshal(body, &req); err != nil || validateBatch(req.Events) != nil {
				t.Fatalf("stored an invalid batch %q", body)
			}
		case code >= 500:
			t.Fatalf("status %d for %q", code, body)
		case in.callCount() != 0:
			t.Fatalf("status %d, yet the handler stored %q", code, body)
		}
	})
}

// FuzzTokenVerifier feeds arbitrary Authorization values to the verifier: it never panics,
// and what it accepts is signed by the peer's key for this agent and connection.
func FuzzTokenVerifier(f *testing.F) {
	self, peer := newIdentity(f), newIdentity(f)
	now := time.Now()
	tok, _ := issueToken(peer, self.ID, "c1", now)
	f.Add("Bearer " + tok)
	f.Add("Bearer eyJhbGciOiJub25lIn0.e30.")
	f.Add("Basic dXNlcjpwYXNz")
	v := verifier{self: self.ID, now: func() time.Time { return now }}
	f.Fuzz(func(t *testing.T, auth string) {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", auth)
		got, err := v.verify(req, peer.ID, peer.Public, "c1")
		if err != nil {
			return
		}
		if got.jti == "" || got.forgetAt.Before(now) || got.forgetAt.After(now.Add(maxTokenLifetime+clockSkew)) {
			t.Fatalf("accepted %q as %+v", auth, got)
		}
	})
}

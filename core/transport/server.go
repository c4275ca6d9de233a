package transport

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/tandemsync/tandem/core/identity"
)

// Server timeouts. ReadTimeout covers an 8 MiB batch on a slow uplink.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 2 * time.Minute
	writeTimeout      = 2 * time.Minute
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 10 * time.Second
)

// Server answers a partner agent's requests over pinned mutual TLS.
type Server struct {
	id     *identity.Identity
	peers  Peers
	h      Handler
	log    *slog.Logger
	verify verifier
	mux    *http.ServeMux
}

// NewServer returns the server for the agent id; peers decides trust and h does the work.
func NewServer(id *identity.Identity, peers Peers, h Handler, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		id:     id,
		peers:  peers,
		h:      h,
		log:    log.With("component", "transport"),
		verify: verifier{self: id.ID, now: time.Now},
		mux:    http.NewServeMux(),
	}
	s.mux.HandleFunc("POST /v1/pair", s.handlePair)
	s.mux.HandleFunc("POST /v1/connections/{id}/events", s.authed(s.handleEvents))
	s.mux.HandleFunc("GET /v1/connections/{id}/events", s.authed(s.handlePull))
	s.mux.HandleFunc("GET /v1/connections/{id}/status", s.authed(s.handleStatus))
	s.mux.HandleFunc("DELETE /v1/connections/{id}", s.authed(s.handleUnpair))
	return s
}

// Serve runs TLS on ln until ctx ends, then shuts down gracefully and returns nil. It returns
// an error early only if serving fails. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.mux,
		TLSConfig:         s.tlsConfig(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(ln, srv.TLSConfig)) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "agent", s.id.ID.Short())
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		s.log.Warn("shutdown was not graceful", "err", err)
	}
	<-errc // http.ErrServerClosed
	return nil
}

// tlsConfig admits at the handshake only keys some connection pins, or any key while an
// invitation is pending (those may then only call /v1/pair).
func (s *Server) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{s.id.Certificate},
		ClientAuth:   tls.RequireAnyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			peer, _, err := peerIdentity(&cs)
			if err != nil {
				s.log.Warn("refused a connection", "reason", err)
				return fmt.Errorf("client certificate: %w", err)
			}
			if s.peers.Known(peer) || s.peers.Pairing() {
				return nil
			}
			// Syncthing-style: say who knocked, so the operator can tell a partner whose key changed.
			s.log.Warn("refused a connection from an unknown agent", "peer", peer.String())
			return fmt.Errorf("agent %s is not paired with this agent", peer.Short())
		},
	}
}

// authed verifies the token and the pin before next runs: 401 for a missing or invalid
// token, 403 for a valid token from a peer that the connection does not pin.
func (s *Server) authed(next func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		connID := r.PathValue("id")
		peer, key, err := peerIdentity(r.TLS)
		if err != nil {
			s.reject(w, r, http.StatusUnauthorized, peer, "no usable client certificate", err)
			return
		}
		if err := s.verify.verify(r, peer, key, connID); err != nil {
			if errors.Is(err, errReplayCacheFull) {
				w.Header().Set("Retry-After", "60")
				s.reject(w, r, http.StatusServiceUnavailable, peer, "too many requests; retry later", err)
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			s.reject(w, r, http.StatusUnauthorized, peer, "invalid token: "+err.Error(), err)
			return
		}
		if pinned, ok := s.peers.Pinned(connID); !ok || pinned != peer {
			s.reject(w, r, http.StatusForbidden, peer, "connection "+connID+" is not paired with agent "+peer.Short(), nil)
			return
		}
		next(w, r, connID)
	}
}

func (s *Server) handlePair(w http.ResponseWriter, r *http.Request) {
	peer, _, err := peerIdentity(r.TLS)
	if err != nil {
		s.reject(w, r, http.StatusUnauthorized, peer, "no usable client certificate", err)
		return
	}
	// The handshake admitted unknown keys while an invitation was pending; it may have expired since.
	if !s.peers.Known(peer) && !s.peers.Pairing() {
		s.reject(w, r, http.StatusForbidden, peer, "no invitation is pending", nil)
		return
	}
	var body json.RawMessage
	if !s.decode(w, r, maxPairBody, &body, peer) {
		return
	}
	out, err := s.h.Pair(r.Context(), peer, body)
	if err != nil {
		s.handlerError(w, r, peer, err)
		return
	}
	if !json.Valid(out) {
		s.handlerError(w, r, peer, errors.New("pair handler answered invalid JSON"))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request, connID string) {
	peer, _, _ := peerIdentity(r.TLS)
	var req batchRequest
	if !s.decode(w, r, MaxBody, &req, peer) {
		return
	}
	if err := validateBatch(req.Events); err != nil {
		s.reject(w, r, http.StatusBadRequest, peer, "bad batch: "+err.Error(), nil)
		return
	}
	highest, err := s.h.StoreBatch(r.Context(), connID, req.Events)
	if err != nil {
		s.handlerError(w, r, peer, err)
		return
	}
	writeJSON(w, http.StatusOK, batchResponse{Stored: highest})
}

// handlePull serves GET .../events?after=N&wait=S (S in seconds, at most MaxPullWait).
func (s *Server) handlePull(w http.ResponseWriter, r *http.Request, connID string) {
	peer, _, _ := peerIdentity(r.TLS)
	puller, ok := s.h.(Puller)
	if !ok {
		s.reject(w, r, http.StatusNotImplemented, peer, "this agent does not serve long-poll", nil)
		return
	}
	q := r.URL.Query()
	after, err := strconv.ParseUint(q.Get("after"), 10, 64)
	if err != nil {
		s.reject(w, r, http.StatusBadRequest, peer, fmt.Sprintf("after=%q: want the highest seq already received, a number", q.Get("after")), nil)
		return
	}
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		secs, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			s.reject(w, r, http.StatusBadRequest, peer, fmt.Sprintf("wait=%q: want seconds, a number", v), nil)
			return
		}
		wait = min(time.Duration(secs)*time.Second, MaxPullWait)
	}
	evs, err := puller.Pull(r.Context(), connID, after, wait)
	if err != nil {
		s.handlerError(w, r, peer, err)
		return
	}
	if evs == nil {
		evs = []Event{}
	}
	writeJSON(w, http.StatusOK, batchRequest{Events: evs})
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request, connID string) {
	st, err := s.h.Status(r.Context(), connID)
	if err != nil {
		peer, _, _ := peerIdentity(r.TLS)
		s.handlerError(w, r, peer, err)
		return
	}
	if st.Protocol == 0 {
		st.Protocol = ProtocolVersion
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleUnpair(w http.ResponseWriter, r *http.Request, connID string) {
	if err := s.h.Unpair(r.Context(), connID); err != nil {
		peer, _, _ := peerIdentity(r.TLS)
		s.handlerError(w, r, peer, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// validateBatch rejects what no handler could store: an empty batch, or events without
// identity, or sequences that do not ascend.
func validateBatch(events []Event) error {
	if len(events) == 0 {
		return errors.New("no events")
	}
	var last uint64
	for i, e := range events {
		switch {
		case e.Seq == 0:
			return fmt.Errorf("event %d has no seq", i)
		case e.Seq <= last:
			return fmt.Errorf("event %d: seq %d does not ascend after %d", i, e.Seq, last)
		case e.ID == "":
			return fmt.Errorf("event %d (seq %d) has no id", i, e.Seq)
		case e.Kind == "":
			return fmt.Errorf("event %d (seq %d) has no kind", i, e.Seq)
		}
		last = e.Seq
	}
	return nil
}

// decode reads one JSON document of at most limit bytes into v, answering 413 or 400 itself.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, limit int64, v any, peer identity.ID) bool {
	if r.ContentLength > limit {
		s.reject(w, r, http.StatusRequestEntityTooLarge, peer, fmt.Sprintf("body of %d bytes is over the %d-byte limit", r.ContentLength, limit), nil)
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	err := dec.Decode(v)
	if err == nil {
		if dec.Decode(&struct{}{}) != io.EOF {
			err = errors.New("data after the JSON document")
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooLarge):
		s.reject(w, r, http.StatusRequestEntityTooLarge, peer, fmt.Sprintf("body is over the %d-byte limit", limit), nil)
	case errors.Is(err, io.EOF):
		s.reject(w, r, http.StatusBadRequest, peer, "empty body, want JSON", nil)
	default:
		s.reject(w, r, http.StatusBadRequest, peer, "malformed JSON: "+err.Error(), nil)
	}
	return false
}

// reject answers an error the server itself decided; nothing reached the handler.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, code int, peer identity.ID, msg string, cause error) {
	attrs := []any{"status", code, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "reason", msg}
	if !peer.IsZero() {
		attrs = append(attrs, "peer", peer.Short())
	}
	if cause != nil {
		attrs = append(attrs, "err", cause)
	}
	s.log.Warn("rejected request", attrs...)
	writeJSON(w, code, errorBody{Error: msg})
}

// handlerError maps a handler's error: its own status if it chose one, else a logged 500.
func (s *Server) handlerError(w http.ResponseWriter, r *http.Request, peer identity.ID, err error) {
	var coded interface{ StatusCode() int }
	if errors.As(err, &coded) {
		if code := coded.StatusCode(); code >= 400 && code <= 599 {
			var retry interface{ RetryAfter() time.Duration }
			if errors.As(err, &retry) && retry.RetryAfter() > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int((retry.RetryAfter()+time.Second-1)/time.Second)))
			}
			s.log.Info("handler refused request", "status", code, "path", r.URL.Path, "peer", peer.Short(), "err", err)
			writeJSON(w, code, errorBody{Error: err.Error()})
			return
		}
	}
	s.log.Error("handler failed", "path", r.URL.Path, "peer", peer.Short(), "err", err)
	writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal error in the partner agent (logged there)"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	var b []byte
	if raw, ok := v.(json.RawMessage); ok {
		b = raw
	} else {
		var err error
		if b, err = json.Marshal(v); err != nil {
			code, b = http.StatusInternalServerError, []byte(`{"error":"encode answer"}`)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	w.Write(b)
}

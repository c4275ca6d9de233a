package transport

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tandemsync/tandem/core/identity"
	"github.com/tandemsync/tandem/core/logx"
)

// Server timeouts. ReadTimeout covers an 8 MiB batch on a slow uplink.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 2 * time.Minute
	writeTimeout      = 2 * time.Minute
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 10 * time.Second
	// pairBodyTimeout bounds reading a /v1/pair body, which is a small document: a stranger
	// holding the pairing endpoint open is cut off early.
	pairBodyTimeout = 5 * time.Second
)

// Defaults for ServerOptions.
//
// The rate per partner bounds requests, not work: a batch carries up to 256 events. A partner
// sends each change as it happens while it keeps up, so 200 changes a second are about 200
// requests a second; the limit was 50, which turned a steady 200 changes/s into 1 s holds
// (429 with Retry-After) every few seconds. 300 a second stays within the replay quota
// (300 x 40 s a token id is kept = 12,000 of 20,000).
const (
	DefaultRatePerPartner  = 300.0 // requests a second, sustained
	DefaultBurstPerPartner = 600
	DefaultConnsPerAddr    = 32
	DefaultPairRatePerAddr = 1.0 // /v1/pair requests a second from one address, sustained
	DefaultPairBurst       = 10
	DefaultLogEvery        = time.Minute
	// DefaultReplayQuota is how many token ids one partner may have in the replay cache: the
	// rate limit times the token lifetime, with room to spare.
	DefaultReplayQuota = 20000
)

// ServerOptions tune a Server; the zero value takes the defaults.
type ServerOptions struct {
	Logger *slog.Logger
	// Replay keeps the replay cache across restarts; nil keeps it in memory only.
	Replay ReplayStore
	// RatePerPartner and BurstPerPartner limit each partner's requests; beyond, 429 with
	// Retry-After.
	RatePerPartner  float64
	BurstPerPartner int
	// ConnsPerAddr caps the open connections from one remote address.
	ConnsPerAddr int
	// PairRatePerAddr and PairBurst limit /v1/pair per remote address.
	PairRatePerAddr float64
	PairBurst       int
	// ReplayQuota caps one partner's entries in the replay cache.
	ReplayQuota int
	// LogEvery is the interval over which refusals are counted into one log line per peer.
	LogEvery time.Duration
	// ReadHeaderTimeout bounds the TLS handshake and reading a request's headers (slow
	// clients); PairBodyTimeout bounds reading a /v1/pair body.
	ReadHeaderTimeout time.Duration
	PairBodyTimeout   time.Duration
}

func (o *ServerOptions) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.RatePerPartner <= 0 {
		o.RatePerPartner = DefaultRatePerPartner
	}
	if o.BurstPerPartner <= 0 {
		o.BurstPerPartner = DefaultBurstPerPartner
	}
	if o.ConnsPerAddr <= 0 {
		o.ConnsPerAddr = DefaultConnsPerAddr
	}
	if o.PairRatePerAddr <= 0 {
		o.PairRatePerAddr = DefaultPairRatePerAddr
	}
	if o.PairBurst <= 0 {
		o.PairBurst = DefaultPairBurst
	}
	if o.ReplayQuota <= 0 {
		o.ReplayQuota = DefaultReplayQuota
	}
	if o.LogEvery <= 0 {
		o.LogEvery = DefaultLogEvery
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = readHeaderTimeout
	}
	if o.PairBodyTimeout <= 0 {
		o.PairBodyTimeout = pairBodyTimeout
	}
}

// Server answers a partner agent's requests over pinned mutual TLS.
type Server struct {
	id      *identity.Identity
	peers   Peers
	h       Handler
	opt     ServerOptions
	log     *slog.Logger
	refused *logx.Aggregator // one line per peer or address and interval
	verify  verifier
	replay  *replayCache
	rate    *buckets // per partner key
	pairs   *buckets // /v1/pair per remote address
	pairing pairingConns
	mux     *http.ServeMux
}

// NewServer returns the server for the agent id; peers decides trust and h does the work. It
// reads the durable replay cache, if there is one.
func NewServer(id *identity.Identity, peers Peers, h Handler, opt ServerOptions) (*Server, error) {
	opt.defaults()
	log := opt.Logger.With("component", "transport")
	replay, err := newReplayCache(opt.Replay, opt.ReplayQuota, time.Now())
	if err != nil {
		return nil, err
	}
	s := &Server{
		id:      id,
		peers:   peers,
		h:       h,
		opt:     opt,
		log:     log,
		refused: logx.NewAggregator(log, slog.LevelWarn, "refused", opt.LogEvery),
		verify:  verifier{self: id.ID, now: time.Now},
		replay:  replay,
		rate:    newBuckets(opt.RatePerPartner, opt.BurstPerPartner),
		pairs:   newBuckets(opt.PairRatePerAddr, opt.PairBurst),
		mux:     http.NewServeMux(),
	}
	s.mux.HandleFunc("POST /v1/pair", s.handlePair)
	// A batch's token id is made durable with the batch (see replayCache.add); every other
	// request's before the handler runs.
	s.mux.HandleFunc("POST /v1/connections/{id}/events", s.authedWith(s.handleEvents, true))
	s.mux.HandleFunc("GET /v1/connections/{id}/events", s.authed(s.handlePull))
	s.mux.HandleFunc("GET /v1/connections/{id}/status", s.authed(s.handleStatus))
	s.mux.HandleFunc("PUT /v1/connections/{id}/state", s.authed(s.handleState))
	s.mux.HandleFunc("DELETE /v1/connections/{id}", s.authed(s.handleUnpair))
	return s, nil
}

// Serve runs TLS on ln until ctx ends, then shuts down gracefully and returns nil. It returns
// an error early only if serving fails. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.mux,
		TLSConfig:         s.tlsConfig(),
		ReadHeaderTimeout: s.opt.ReadHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(handshakeLog{s}, "", 0),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if tc, ok := c.(*tls.Conn); ok {
				return context.WithValue(ctx, rawConnKey{}, tc.NetConn())
			}
			return ctx
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				if tc, ok := c.(*tls.Conn); ok {
					s.pairing.remove(tc.NetConn())
				}
			}
		},
	}
	guarded := &guardedListener{Listener: ln, s: s, perAddr: s.opt.ConnsPerAddr, count: map[netip.Addr]int{}}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(guarded, srv.TLSConfig)) }()
	sweepCtx, stopSweep := context.WithCancel(ctx)
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		s.pairing.sweepLoop(sweepCtx, s, 500*time.Millisecond)
	}()
	defer func() {
		stopSweep()
		<-swept
	}()
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

// rawConnKey carries a request's connection beneath TLS in its context.
type rawConnKey struct{}

// handshakeLog takes net/http's error lines (failed TLS handshakes, mostly) and counts them
// per remote address into one line an interval.
type handshakeLog struct{ s *Server }

func (h handshakeLog) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	key := "http"
	if _, rest, ok := strings.Cut(line, " error from "); ok {
		if host, _, err := net.SplitHostPort(strings.SplitN(rest, ": ", 2)[0]); err == nil {
			key = "addr " + host
		}
	}
	h.s.refused.Note(key, "reason", line)
	return len(p), nil
}

// invitationHost is the TLS server name through which an invitee names the invitation it
// redeems, so the inviter admits its unknown key only for an invitation it made.
const invitationHost = ".invitation.tandem"

// invitationServerName is the server name for invitation id.
func invitationServerName(id string) string { return "i" + id + invitationHost }

// invitationFromServerName is the invitation a TLS server name names, or "".
func invitationFromServerName(name string) string {
	id, ok := strings.CutSuffix(strings.ToLower(name), invitationHost)
	if !ok || len(id) < 2 || id[0] != 'i' {
		return ""
	}
	return id[1:]
}

// replyHost is the TLS server name through which an inviter without a URL names the invitation
// whose pairing it completes at the agent that accepted it (and replied).
const replyHost = ".reply.tandem"

func replyServerName(id string) string { return "r" + id + replyHost }

// replyFromServerName is the invitation a reply server name names, or "".
func replyFromServerName(name string) string {
	id, ok := strings.CutSuffix(strings.ToLower(name), replyHost)
	if !ok || len(id) < 2 || id[0] != 'r' {
		return ""
	}
	return id[1:]
}

// tlsConfig admits at the handshake only keys some connection pins, unknown keys that name an
// invitation this agent made, and the one key a pairing this agent awaits is for, naming that
// pairing's invitation (those may then only call /v1/pair, and their connection is closed when
// the invitation or the awaited pairing ends). Session tickets are off: every connection shows its key.
func (s *Server) tlsConfig() *tls.Config {
	base := &tls.Config{
		MinVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{s.id.Certificate},
		ClientAuth:             tls.RequireAnyClientCert,
		SessionTicketsDisabled: true,
	}
	cfg := base.Clone()
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		raw := hello.Conn
		c.VerifyConnection = func(cs tls.ConnectionState) error { return s.admit(raw, cs) }
		return c, nil
	}
	return cfg
}

func (s *Server) admit(raw net.Conn, cs tls.ConnectionState) error {
	peer, _, err := peerIdentity(&cs)
	if err != nil {
		s.refused.Note("addr "+remoteAddr(raw).String(), "remote", raw.RemoteAddr().String(), "reason", "no usable client certificate", "err", err)
		return fmt.Errorf("client certificate: %w", err)
	}
	if s.peers.Known(peer) {
		return nil
	}
	if inv := invitationFromServerName(cs.ServerName); inv != "" {
		if exists, pending := s.peers.Invitation(inv); exists {
			if pending {
				s.pairing.add(raw, pairingConn{peer: peer, invitation: inv})
			}
			return nil
		}
	}
	if inv := replyFromServerName(cs.ServerName); inv != "" {
		if exists, pending := s.peers.Awaits(inv, peer); exists {
			if pending {
				s.pairing.add(raw, pairingConn{peer: peer, invitation: inv, completes: true})
			}
			return nil
		}
	}
	// Syncthing-style: say who knocked, so the operator can tell a partner whose key changed.
	s.refused.Note("peer "+peer.String(), "peer", peer.String(), "remote", raw.RemoteAddr().String(), "reason", "not paired with this agent, and names no invitation of it")
	return fmt.Errorf("agent %s is not paired with this agent", peer.Short())
}

// authed admits a request to a connection's endpoints: the TLS key must be a partner's, within
// its rate, with a valid token for the connection that pins it, from an allowed address, and
// the token unused. 401 for a token that fails, 403 for a key or address the connection does
// not admit, 429 beyond the rate. Refusals are cheap and logged once per peer and interval.
func (s *Server) authed(next func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return s.authedWith(next, false)
}

// authedWith is authed; with later, the token id is made durable in the handler's first write
// to the agent's store (one commit for both, see ReplayLater) and, in any case, before the
// handler's answer goes out: a request that took effect or was answered is never accepted
// again, even after a restart. A request whose token id could not be written is answered 503
// in place of the handler's answer.
func (s *Server) authedWith(next func(http.ResponseWriter, *http.Request, string), later bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		connID := r.PathValue("id")
		peer, key, err := peerIdentity(r.TLS)
		if err != nil {
			s.reject(w, r, http.StatusUnauthorized, peer, "no usable client certificate", err)
			return
		}
		if !s.peers.Known(peer) {
			// Admitted for an invitation, or revoked since the handshake: say it as the handshake
			// would have, so the partner stops as for a refused key.
			w.Header().Set("Connection", "close")
			s.refused.Note("peer "+peer.String(), "status", http.StatusForbidden, "path", r.URL.Path, "peer", peer.Short(), "reason", "key not paired")
			writeJSON(w, http.StatusForbidden, errorBody{Error: "this agent does not pair with key " + peer.Short(), State: StateUnpaired})
			return
		}
		if ok, wait := s.rate.take(peer.String()); !ok {
			setRetryAfter(w, wait)
			s.reject(w, r, http.StatusTooManyRequests, peer, "too many requests; slow down", nil)
			return
		}
		tok, err := s.verify.verify(r, peer, key, connID)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			s.reject(w, r, http.StatusUnauthorized, peer, "invalid token: "+err.Error(), err)
			return
		}
		pin, ok := s.peers.Pinned(connID)
		if !ok || pin.Partner != peer {
			s.reject(w, r, http.StatusForbidden, peer, "connection "+connID+" is not paired with agent "+peer.Short(), nil)
			return
		}
		if addr := requestAddr(r.RemoteAddr); !pin.Allows(addr) {
			s.reject(w, r, http.StatusForbidden, peer, "address "+addr.String()+" is not on connection "+connID+"'s allow-list", nil)
			return
		}
		// Only now, with the key pinned to this very connection, does the token id take room.
		durable, err := s.replay.add(peer, tok, s.verify.now(), later)
		switch {
		case err == nil:
		case errors.Is(err, errReplayed):
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			s.reject(w, r, http.StatusUnauthorized, peer, "invalid token: "+err.Error(), nil)
			return
		case errors.Is(err, errReplayQuota):
			setRetryAfter(w, tokenLifetime)
			s.reject(w, r, http.StatusTooManyRequests, peer, err.Error(), nil)
			return
		default:
			setRetryAfter(w, time.Minute)
			s.reject(w, r, http.StatusServiceUnavailable, peer, "too many requests; retry later", err)
			return
		}
		if !later {
			next(w, r, connID)
			return
		}
		dw := &durableWriter{ResponseWriter: w, durable: durable, refuse: func(err error) {
			setRetryAfter(w, time.Minute)
			s.reject(w, r, http.StatusServiceUnavailable, peer, "too many requests; retry later", err)
		}}
		next(dw, r, connID)
		dw.settle(http.StatusOK)
	}
}

// durableWriter holds a handler's answer until the request's token id is durable; an error
// answer goes out in any case (it reports nothing done). When the id cannot be written, the
// answer is replaced by refuse's.
type durableWriter struct {
	http.ResponseWriter
	durable func() error
	refuse  func(error)
	settled bool
	refused bool
}

// settle makes the token id durable, once, before an answer with status code; it reports
// whether the handler's answer may go out.
func (d *durableWriter) settle(code int) bool {
	if !d.settled {
		d.settled = true
		if err := d.durable(); err != nil && code < 400 {
			d.refused = true
			d.refuse(err)
		}
	}
	return !d.refused
}

func (d *durableWriter) WriteHeader(code int) {
	if d.settle(code) {
		d.ResponseWriter.WriteHeader(code)
	}
}

func (d *durableWriter) Write(b []byte) (int, error) {
	if !d.settle(http.StatusOK) {
		return len(b), nil
	}
	return d.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (d *durableWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((d+time.Second-1)/time.Second))))
}

func (s *Server) handlePair(w http.ResponseWriter, r *http.Request) {
	peer, _, err := peerIdentity(r.TLS)
	if err != nil {
		s.reject(w, r, http.StatusUnauthorized, peer, "no usable client certificate", err)
		return
	}
	// A key that is no partner's gets one answer per connection: its connection must not
	// outlive the invitation it was admitted for.
	if !s.peers.Known(peer) {
		w.Header().Set("Connection", "close")
	}
	addr := requestAddr(r.RemoteAddr)
	if ok, wait := s.pairs.take(addr.String()); !ok {
		setRetryAfter(w, wait)
		s.reject(w, r, http.StatusTooManyRequests, peer, "too many pairing attempts from this address; wait and try again", nil)
		return
	}
	if raw, ok := r.Context().Value(rawConnKey{}).(net.Conn); ok {
		defer s.pairing.begin(raw)()
	}
	inv, completes := invitationFromServerName(r.TLS.ServerName), false
	if inv == "" {
		inv, completes = replyFromServerName(r.TLS.ServerName), true
	}
	if inv == "" {
		s.reject(w, r, http.StatusForbidden, peer, "the request names no invitation; use the whole invitation code", nil)
		return
	}
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.opt.PairBodyTimeout))
	var body json.RawMessage
	if !s.decode(w, r, maxPairBody, &body, peer) {
		return
	}
	out, err := s.h.Pair(r.Context(), PairRequest{Peer: peer, Invitation: inv, Body: body, Completes: completes})
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

// handleState: PUT .../state {"state":"paused"|"active"}, the partner paused or resumed.
func (s *Server) handleState(w http.ResponseWriter, r *http.Request, connID string) {
	peer, _, _ := peerIdentity(r.TLS)
	var req stateRequest
	if !s.decode(w, r, 4<<10, &req, peer) {
		return
	}
	if req.State != "paused" && req.State != "active" {
		s.reject(w, r, http.StatusBadRequest, peer, fmt.Sprintf("state %q: want paused or active", req.State), nil)
		return
	}
	st, err := s.h.PartnerState(r.Context(), connID, req.State)
	if err != nil {
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

// reject answers an error the server itself decided; nothing reached the handler. The log
// line is counted per peer (or address) into one line an interval.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, code int, peer identity.ID, msg string, cause error) {
	attrs := []any{"status", code, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "reason", msg}
	key := "addr " + requestAddr(r.RemoteAddr).String()
	if !peer.IsZero() {
		attrs = append(attrs, "peer", peer.Short())
		key = "peer " + peer.String()
	}
	if cause != nil {
		attrs = append(attrs, "err", cause)
	}
	s.refused.Note(key, attrs...)
	writeJSON(w, code, errorBody{Error: msg})
}

// handlerError maps a handler's error: its own status if it chose one, else a logged 500.
func (s *Server) handlerError(w http.ResponseWriter, r *http.Request, peer identity.ID, err error) {
	var coded interface{ StatusCode() int }
	if errors.As(err, &coded) {
		if code := coded.StatusCode(); code >= 400 && code <= 599 {
			var retry interface{ RetryAfter() time.Duration }
			if errors.As(err, &retry) && retry.RetryAfter() > 0 {
				setRetryAfter(w, retry.RetryAfter())
			}
			body := errorBody{Error: err.Error()}
			var stated interface{ ConnectionState() string }
			if errors.As(err, &stated) {
				body.State = stated.ConnectionState()
			}
			s.refused.Note("peer "+peer.String(), "status", code, "path", r.URL.Path, "peer", peer.Short(), "reason", err.Error())
			writeJSON(w, code, body)
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

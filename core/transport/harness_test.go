package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/identity"
)

// peers is an in-memory trust table, as the agent keeps one.
type peers struct {
	mu      sync.Mutex
	pins    map[string]identity.ID
	allow   map[string][]netip.Prefix // connection -> allow-list
	invites map[string]bool           // invitation id -> pending
	awaits  map[string]bool           // invitation id + "/" + peer -> pending
}

func (p *peers) Awaits(id string, peer identity.ID) (exists, pending bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pending, exists = p.awaits[id+"/"+peer.String()]
	return exists, pending
}

// setAwaits makes this agent await peer completing the pairing of invitation id, or say it
// ended.
func (p *peers) setAwaits(id string, peer identity.ID, pending bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.awaits == nil {
		p.awaits = map[string]bool{}
	}
	p.awaits[id+"/"+peer.String()] = pending
}

func (p *peers) Pinned(connID string) (Pin, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, ok := p.pins[connID]
	return Pin{Partner: id, Allow: p.allow[connID]}, ok
}

func (p *peers) Invitation(id string) (exists, pending bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pending, exists = p.invites[id]
	return exists, pending
}

func (p *peers) AllowsAddr(addr netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pending := range p.invites {
		if pending {
			return true
		}
	}
	for _, pending := range p.awaits {
		if pending {
			return true
		}
	}
	for connID := range p.pins {
		if (Pin{Allow: p.allow[connID]}).Allows(addr) {
			return true
		}
	}
	return false
}

// setInvitation makes invitation id exist, pending or ended.
func (p *peers) setInvitation(id string, pending bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.invites == nil {
		p.invites = map[string]bool{}
	}
	p.invites[id] = pending
}

func (p *peers) setAllow(connID string, prefixes ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.allow == nil {
		p.allow = map[string][]netip.Prefix{}
	}
	p.allow[connID] = nil
	for _, s := range prefixes {
		p.allow[connID] = append(p.allow[connID], netip.MustParsePrefix(s))
	}
}

func (p *peers) Known(id identity.ID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pinned := range p.pins {
		if pinned == id {
			return true
		}
	}
	return false
}

// inbox is a handler that stores events in memory, deduplicated by id, and records every call.
type inbox struct {
	mu      sync.Mutex
	byID    map[string]Event
	highest map[string]uint64
	calls   int
	pairs   []PairRequest
	unpairs []string
	states  []string // PartnerState calls, "conn=state"
	fail    error    // returned by every method when set
}

func newInbox() *inbox {
	return &inbox{byID: map[string]Event{}, highest: map[string]uint64{}}
}

func (h *inbox) StoreBatch(_ context.Context, connID string, events []Event) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if h.fail != nil {
		return 0, h.fail
	}
	for _, e := range events {
		h.byID[connID+"/"+e.ID] = e
		if e.Seq > h.highest[connID] {
			h.highest[connID] = e.Seq
		}
	}
	return h.highest[connID], nil
}

func (h *inbox) Status(_ context.Context, connID string) (Status, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if h.fail != nil {
		return Status{}, h.fail
	}
	return Status{App: "tandem-test", Capabilities: []string{"events"}, State: "active"}, nil
}

func (h *inbox) Pair(_ context.Context, req PairRequest) (json.RawMessage, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if h.fail != nil {
		return nil, h.fail
	}
	h.pairs = append(h.pairs, req)
	return json.RawMessage(fmt.Sprintf(`{"welcome":%q,"invitation":%q,"completes":%t,"echo":%s}`, req.Peer.Short(), req.Invitation, req.Completes, req.Body)), nil
}

func (h *inbox) PartnerState(_ context.Context, connID, state string) (Status, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if h.fail != nil {
		return Status{}, h.fail
	}
	h.states = append(h.states, connID+"="+state)
	return Status{App: "tandem-test", State: "active"}, nil
}

func (h *inbox) Unpair(_ context.Context, connID string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if h.fail != nil {
		return h.fail
	}
	h.unpairs = append(h.unpairs, connID)
	return nil
}

func (h *inbox) stored() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.byID)
}

func (h *inbox) callCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

func (h *inbox) setFail(err error) {
	h.mu.Lock()
	h.fail = err
	h.mu.Unlock()
}

// rig is a server agent on 127.0.0.1 and a client agent paired with it on connection "c1".
type rig struct {
	server, client *identity.Identity
	peers          *peers
	inbox          *inbox
	url            string
	srv            *Server
}

const conn = "c1"

func newIdentity(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// newRig starts the server; wrap, if given, builds its handler around the rig's inbox.
func newRig(t testing.TB, wrap ...func(*inbox) Handler) *rig {
	return newRigWith(t, ServerOptions{}, wrap...)
}

// newRigWith is newRig with server options; a nil Logger logs warnings to the test log.
func newRigWith(t testing.TB, opt ServerOptions, wrap ...func(*inbox) Handler) *rig {
	t.Helper()
	r := &rig{server: newIdentity(t), client: newIdentity(t), inbox: newInbox()}
	r.peers = &peers{pins: map[string]identity.ID{conn: r.client.ID}}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	var h Handler = r.inbox
	for _, w := range wrap {
		h = w(r.inbox)
	}
	var err error
	if r.srv, err = NewServer(r.server, r.peers, h, opt); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.url = "https://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve returned %v after cancel, want nil", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Serve did not return after its context ended")
		}
	})
	return r
}

// newClient is the client agent's client for conn, closed at the end of the test.
func (r *rig) newClient(t testing.TB, id *identity.Identity, partner identity.ID, connID string) *Client {
	c := NewClient(id, partner, r.url, connID)
	t.Cleanup(c.Close)
	return c
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

func events(from, n int) []Event {
	out := make([]Event, n)
	for i := range out {
		seq := uint64(from + i)
		out[i] = Event{
			Seq: seq, ID: fmt.Sprintf("ev-%d", seq), ItemKey: "TAN-1", Kind: "update",
			Payload: json.RawMessage(`{"title":"Printer on fire","status":"open"}`),
			Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		}
	}
	return out
}

func statusCode(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// codedErr is a handler error that chooses its HTTP status.
type codedErr struct {
	code  int
	msg   string
	retry time.Duration
}

func (e codedErr) Error() string             { return e.msg }
func (e codedErr) StatusCode() int           { return e.code }
func (e codedErr) RetryAfter() time.Duration { return e.retry }

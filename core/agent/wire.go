package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/audit"
	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/identity"
	"github.com/tandemsync/tandem/core/pairing"
	"github.com/tandemsync/tandem/core/queue"
	"github.com/tandemsync/tandem/core/store"
	"github.com/tandemsync/tandem/core/transport"
)

// wire is the agent's side of the transport: the trust decisions and the work behind the
// endpoints partners call. It is a type of its own, so what partners may do is not mixed into
// the API the app and the command line use.
type wire struct{ a *Agent }

var (
	_ transport.Peers   = wire{}
	_ transport.Handler = wire{}
	_ transport.Puller  = wire{}
)

// httpError is an error with the HTTP status the transport should answer, and optionally a
// Retry-After and the connection's state here.
type httpError struct {
	code  int
	err   error
	retry time.Duration
	state ConnectionState
}

func (e httpError) Error() string             { return e.err.Error() }
func (e httpError) Unwrap() error             { return e.err }
func (e httpError) StatusCode() int           { return e.code }
func (e httpError) RetryAfter() time.Duration { return e.retry }
func (e httpError) ConnectionState() string   { return string(e.state) }

func notFound(connID string) error {
	return httpError{code: http.StatusNotFound, err: fmt.Errorf("no connection %q here", connID)}
}

func revokedHere(connID string) error {
	return httpError{code: http.StatusForbidden, err: fmt.Errorf("connection %s was revoked here", connID), state: StateRevoked}
}

func (w wire) conn(connID string) (*conn, error) { return w.a.conn(connID) }

// pausedRetry is how soon a partner tries again after hearing "paused"; a resume is told to it
// at once when it can be dialled, so this only matters for a partner that cannot be.
const pausedRetry = 30 * time.Second

// diskFullRetry is when a partner refused for a full disk here should try again.
const diskFullRetry = 30 * time.Second

func pausedError(connID string) error {
	return httpError{code: http.StatusServiceUnavailable, retry: pausedRetry, state: StatePaused,
		err: fmt.Errorf("connection %s is paused here: nothing is accepted or sent until the operator resumes it; your events wait in your outbox", connID)}
}

// active finds a connection a partner may use right now: it exists, is not revoked and is not
// paused. Hearing from the partner lifts a hold on sending to it.
func (w wire) active(connID string) (*conn, error) {
	c, err := w.conn(connID)
	if err != nil {
		return nil, notFound(connID)
	}
	switch c.state() {
	case StateRevoked:
		return nil, revokedHere(connID)
	case StatePaused:
		return nil, pausedError(connID)
	}
	c.partner.heard()
	c.eng.PartnerSeen() // a delivery waiting for the partner goes at once
	return c, nil
}

// Pinned implements transport.Peers: the partner of a connection that is not revoked.
func (w wire) Pinned(connID string) (transport.Pin, bool) {
	a := w.a
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.conns[connID]
	if !ok || c.rec.State == StateRevoked {
		return transport.Pin{}, false
	}
	return transport.Pin{Partner: c.rec.Partner, Allow: c.rec.allowPrefixes()}, true
}

// Known implements transport.Peers: whether a connection that is not revoked pins id.
func (w wire) Known(id identity.ID) bool { return w.a.pairedWith(id) != nil }

// Invitation implements transport.Peers.
func (w wire) Invitation(id string) (exists, pending bool) {
	return w.a.invites.Lookup(id, time.Now())
}

// Awaits implements transport.Peers: a pairing this agent accepted from the agent with key
// peer, for invitation id, that waits for peer to complete it.
func (w wire) Awaits(id string, peer identity.ID) (exists, pending bool) {
	acc, ok := w.a.invites.AcceptedFor(pairing.ReplyConnectionID(id, peer, w.a.id.ID))
	if !ok || acc.Inviter != peer {
		return false, false
	}
	return true, acc.Pending(time.Now())
}

// awaiting reports whether any pairing waits for its partner to complete it.
func (a *Agent) awaiting(now time.Time) bool {
	list, err := a.invites.AcceptedList()
	if err != nil {
		return false
	}
	for _, acc := range list {
		if acc.Pending(now) {
			return true
		}
	}
	return false
}

// AllowsAddr implements transport.Peers: refuse before the handshake only an address that no
// connection could accept, while no invitation or awaited pairing is pending.
func (w wire) AllowsAddr(addr netip.Addr) bool {
	a := w.a
	a.mu.Lock()
	limited := false
	for _, c := range a.conns {
		if c.rec.State == StateRevoked {
			continue
		}
		pin := transport.Pin{Allow: c.rec.allowPrefixes()}
		if len(pin.Allow) == 0 || pin.Allows(addr) {
			a.mu.Unlock()
			return true
		}
		limited = true
	}
	a.mu.Unlock()
	now := time.Now()
	return !limited || a.invites.Pending(now) || a.awaiting(now)
}

// StoreBatch implements transport.Handler.
func (w wire) StoreBatch(ctx context.Context, connID string, events []transport.Event) (uint64, error) {
	c, err := w.active(connID)
	if err != nil {
		return 0, err
	}
	evs := make([]queue.Event, len(events))
	for i, ev := range events {
		evs[i] = queue.Event{Seq: ev.Seq, ID: ev.ID, ItemKey: ev.ItemKey, Kind: ev.Kind, Payload: ev.Payload, Created: ev.Created}
	}
	n, err := c.eng.Receive(ctx, evs)
	switch {
	case errors.Is(err, engine.ErrMalformed):
		return 0, httpError{code: http.StatusBadRequest, err: err}
	case store.DiskFull(err):
		w.a.log.Error("partner events refused: the disk is full", "connection", connID, "err", w.a.st.Explain(err))
		return 0, httpError{code: http.StatusInsufficientStorage, retry: diskFullRetry,
			err: errors.New("the partner agent's disk is full, so it cannot store your events yet; they wait in your outbox until its operator frees space")}
	}
	return n, err
}

// Status implements transport.Handler.
func (w wire) Status(ctx context.Context, connID string) (transport.Status, error) {
	c, err := w.conn(connID)
	if err != nil {
		return transport.Status{}, notFound(connID)
	}
	c.eng.PartnerSeen()
	return w.status(c), nil
}

func (w wire) status(c *conn) transport.Status {
	return transport.Status{Protocol: ProtocolVersion, App: Version, Capabilities: []string{"batch", "receipts", "field-merge", "pull", "pause"}, State: string(c.state())}
}

// PartnerState implements transport.Handler: the partner paused or resumed on its side.
func (w wire) PartnerState(ctx context.Context, connID, state string) (transport.Status, error) {
	c, err := w.conn(connID)
	if err != nil {
		return transport.Status{}, notFound(connID)
	}
	if c.state() == StateRevoked {
		return transport.Status{}, revokedHere(connID)
	}
	if state == string(StatePaused) {
		c.partner.pausedByPartner()
	} else {
		c.partner.resumedByPartner()
	}
	w.a.log.Info("the partner changed the connection's state", "connection", connID, "partner", c.rec.PartnerName, "state", state)
	return w.status(c), nil
}

// Unpair implements transport.Handler: the partner revoked the connection.
func (w wire) Unpair(ctx context.Context, connID string) error {
	c, err := w.conn(connID)
	if err != nil {
		return notFound(connID)
	}
	if c.state() == StateRevoked {
		return nil
	}
	if err := w.a.setState(c, StateRevoked, revokedByPartner); err != nil {
		return err
	}
	w.a.record(ctx, audit.KindRevoke, fmt.Sprintf("connection %s with %s (%s) revoked by the partner; queued events kept", connID, c.rec.PartnerName, c.rec.Partner))
	w.a.log.Warn("the partner revoked the connection", "connection", connID, "partner", c.rec.PartnerName)
	return nil
}

// Pair implements transport.Handler: a partner redeems one of our invitations, or completes a
// pairing this agent awaits (see complete).
func (w wire) Pair(ctx context.Context, req transport.PairRequest) (json.RawMessage, error) {
	if req.Completes {
		return w.complete(ctx, req)
	}
	a := w.a
	var body pairing.RedeemRequest
	if err := json.Unmarshal(req.Body, &body); err != nil {
		return nil, httpError{code: http.StatusBadRequest, err: fmt.Errorf("malformed pairing request: %w", err)}
	}
	switch {
	case body.InvitationID != req.Invitation:
		return nil, httpError{code: http.StatusForbidden, err: errors.New("the request redeems another invitation than its connection named")}
	case req.Peer == a.id.ID:
		return nil, httpError{code: http.StatusConflict, err: errors.New("this is the inviter's own key: an agent never pairs with itself")}
	}
	if c := a.pairedWith(req.Peer); c != nil {
		return nil, httpError{code: http.StatusConflict, err: fmt.Errorf("agent %s is already paired with this agent (connection %s); the inviter must revoke it before pairing again", req.Peer.Short(), c.rec.ID)}
	}
	red, err := a.invites.Redeem(ctx, body, req.Peer, time.Now())
	if err != nil {
		return nil, err
	}
	rec := connection{ID: red.ConnectionID, Partner: req.Peer, PartnerName: red.InviteeName, PartnerURL: red.InviteeURL, State: StateActive,
		Created: time.Now().UTC(), Invitation: red.InvitationID}
	if _, err := a.addPaired(ctx, rec, "invitation "+red.InvitationID+" redeemed by"); err != nil {
		return nil, err
	}
	return json.Marshal(pairing.RedeemResponse{ConnectionID: rec.ID, Name: a.Name(), URL: a.url})
}

// pullBatch is the most events one long-poll answer carries.
const pullBatch = 256

// Pull implements transport.Puller, for a partner without a listener: it acknowledges what the
// partner has (after), then answers the outbox's next ready events, waiting up to wait for some.
func (w wire) Pull(ctx context.Context, connID string, after uint64, wait time.Duration) ([]transport.Event, error) {
	c, err := w.active(connID)
	if err != nil {
		return nil, err
	}
	if err := w.a.ackPulled(c, after); err != nil {
		return nil, err
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	recheck := time.NewTicker(500 * time.Millisecond) // the engine may take the outbox's notification
	defer recheck.Stop()
	for {
		out, first, err := pullable(c.out, after)
		if err != nil {
			return nil, err
		}
		n, err := transport.Fit(out) // an answer the puller can read
		if err != nil {
			w.a.mu.Lock()
			eng := c.eng
			w.a.mu.Unlock()
			eng.FailOut(first, err) // it waits for the operator, and the events behind it with it
		}
		if n > 0 {
			return out[:n], nil
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-deadline.C:
			return nil, nil
		case <-c.out.Notify():
		case <-recheck.C:
		}
		if c.state() != StateActive {
			return nil, pausedError(connID)
		}
	}
}

// pullable is what a pull answers: the outbox events after the puller's high-water mark, in
// order, up to the first that is not ready (failed, or waiting to be tried again). The puller
// acknowledges by that mark (everything up to after), so nothing is served past an event
// that waits: it would be acknowledged unsent. A failed event there holds the connection until
// the operator retries or skips it. first is the first event answered (the engine's own
// resync events are not the partner's and are left out).
func pullable(out *queue.Queue, after uint64) (evs []transport.Event, first queue.Event, err error) {
	list, err := out.List(after, pullBatch)
	if err != nil {
		return nil, queue.Event{}, err
	}
	now := time.Now()
	for _, ev := range list {
		if ev.Kind == engine.KindResync {
			continue
		}
		if ev.Failed || ev.NextRetry.After(now) {
			break
		}
		if len(evs) == 0 {
			first = ev
		}
		evs = append(evs, transport.Event{Seq: ev.Seq, ID: ev.ID, ItemKey: ev.ItemKey, Kind: ev.Kind, Payload: ev.Payload, Created: ev.Created})
	}
	return evs, first, nil
}

// ackPulled drops the outbox events the pulling partner has stored (those up to after) and
// wakes the engine's delivery, which waits for pulls on such a connection.
func (a *Agent) ackPulled(c *conn, after uint64) error {
	if after == 0 {
		return nil
	}
	evs, err := c.out.List(0, pullBatch*4)
	if err != nil {
		return err
	}
	var seqs []uint64
	for _, ev := range evs {
		if ev.Seq <= after && ev.Kind != engine.KindResync && !ev.Failed { // a failed one was not served
			seqs = append(seqs, ev.Seq)
		}
	}
	if len(seqs) > 0 {
		if err := a.st.DB().Update(func(tx *bolt.Tx) error { return c.out.Ack(tx, seqs...) }); err != nil {
			return err
		}
	}
	c.partner.pulled()
	return nil
}

// sender adapts the transport client to the engine, with the partner's holds in between.
type sender struct {
	a *Agent
	c *conn
}

// Probe asks the partner for its status: a cheap sign of life while deliveries wait for it.
func (s sender) Probe(ctx context.Context) error {
	if s.c.partnerPulls {
		return errors.New("the partner pulls its events; it cannot be called")
	}
	_, err := s.c.client.Status(ctx)
	return err
}

func (s sender) Send(ctx context.Context, evs []queue.Event) (uint64, error) {
	if s.c.partnerPulls {
		// The partner has no listener: it pulls, and acknowledges by pulling. Wait for that,
		// then let the engine look again (for resyncs and new events).
		s.c.partner.waitPulled(ctx, 30*time.Second)
		return 0, ctx.Err()
	}
	if err := s.c.partner.wait(ctx); err != nil {
		return 0, err
	}
	wire := make([]transport.Event, len(evs))
	for i, ev := range evs {
		wire[i] = transport.Event{Seq: ev.Seq, ID: ev.ID, ItemKey: ev.ItemKey, Kind: ev.Kind, Payload: ev.Payload, Created: ev.Created}
	}
	n, err := s.c.client.Send(ctx, wire)
	if err != nil {
		return 0, s.a.partnerFailed(s.c, err)
	}
	s.c.partner.ok()
	return n, nil
}

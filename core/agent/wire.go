package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/identity"
	"github.com/tandemsync/tandem/core/pairing"
	"github.com/tandemsync/tandem/core/queue"
	"github.com/tandemsync/tandem/core/transport"
)

// sender adapts the transport client to the engine.
type sender struct{ c *transport.Client }

func (s sender) Send(ctx context.Context, evs []queue.Event) (uint64, error) {
	wire := make([]transport.Event, len(evs))
	for i, ev := range evs {
		wire[i] = transport.Event{Seq: ev.Seq, ID: ev.ID, ItemKey: ev.ItemKey, Kind: ev.Kind, Payload: ev.Payload, Created: ev.Created}
	}
	return s.c.Send(ctx, wire)
}

// httpError is an error with the HTTP status the transport should answer.
type httpError struct {
	code int
	err  error
}

func (e httpError) Error() string   { return e.err.Error() }
func (e httpError) Unwrap() error   { return e.err }
func (e httpError) StatusCode() int { return e.code }

// Pinned implements transport.Peers: the partner key of an active connection.
func (a *Agent) Pinned(connID string) (identity.ID, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.conns[connID]
	if !ok || c.rec.State == StateRevoked {
		return identity.ID{}, false
	}
	return c.rec.Partner, true
}

// Known implements transport.Peers: whether any connection pins id.
func (a *Agent) Known(id identity.ID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.conns {
		if c.rec.Partner == id && c.rec.State != StateRevoked {
			return true
		}
	}
	return false
}

// Pairing implements transport.Peers: an invitation is waiting to be redeemed.
func (a *Agent) Pairing() bool { return a.invites.Pending(time.Now()) }

// StoreBatch implements transport.Handler.
func (a *Agent) StoreBatch(ctx context.Context, connID string, events []transport.Event) (uint64, error) {
	c, err := a.conn(connID)
	if err != nil {
		return 0, httpError{http.StatusNotFound, err}
	}
	if c.rec.State == StateRevoked {
		return 0, httpError{http.StatusForbidden, fmt.Errorf("connection %s is revoked", connID)}
	}
	evs := make([]queue.Event, len(events))
	for i, ev := range events {
		evs[i] = queue.Event{Seq: ev.Seq, ID: ev.ID, ItemKey: ev.ItemKey, Kind: ev.Kind, Payload: ev.Payload, Created: ev.Created}
	}
	n, err := c.eng.Receive(ctx, evs)
	if errors.Is(err, engine.ErrMalformed) {
		return 0, httpError{http.StatusBadRequest, err}
	}
	return n, err
}

// Status implements transport.Handler.
func (a *Agent) Status(ctx context.Context, connID string) (transport.Status, error) {
	c, err := a.conn(connID)
	if err != nil {
		return transport.Status{}, httpError{http.StatusNotFound, err}
	}
	return transport.Status{Protocol: ProtocolVersion, App: Version, Capabilities: []string{"batch", "receipts", "field-merge"}, State: string(c.rec.State)}, nil
}

// Unpair implements transport.Handler: the partner ended the pairing.
func (a *Agent) Unpair(ctx context.Context, connID string) error {
	return a.setState(connID, StateRevoked)
}

// Pair implements transport.Handler: a partner redeems one of our invitations.
func (a *Agent) Pair(ctx context.Context, peer identity.ID, body json.RawMessage) (json.RawMessage, error) {
	var req pairing.RedeemRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, httpError{http.StatusBadRequest, fmt.Errorf("malformed pairing request: %w", err)}
	}
	red, err := a.invites.Redeem(ctx, req, peer, time.Now())
	if err != nil {
		return nil, err
	}
	rec := connection{ID: red.ConnectionID, Partner: peer, PartnerName: red.InviteeName, PartnerURL: red.InviteeURL, State: StateActive, Created: time.Now().UTC()}
	if err := a.saveConnection(rec); err != nil {
		return nil, err
	}
	if _, err := a.addConn(rec); err != nil {
		return nil, err
	}
	a.log.Info("paired", "partner", red.InviteeName, "partner_id", peer.Short(), "verification", pairing.VerificationCode(a.id.ID, peer))
	return json.Marshal(pairing.RedeemResponse{ConnectionID: rec.ID, Name: a.opt.Name, URL: a.url})
}

// Invite creates an invitation code to give the partner's operator.
func (a *Agent) Invite(ctx context.Context) (string, error) {
	if a.url == "" {
		return "", errors.New("this agent does not accept connections (no listen address), so it cannot invite; accept the partner's invitation instead")
	}
	inv, err := a.invites.Create(ctx, a.id.ID, a.opt.Name, a.url, 24*time.Hour)
	if err != nil {
		return "", err
	}
	return inv.Code(), nil
}

// Accept redeems a partner's invitation code and adds the connection.
func (a *Agent) Accept(ctx context.Context, code string) (ConnectionInfo, error) {
	inv, err := pairing.ParseCode(code)
	if err != nil {
		return ConnectionInfo{}, err
	}
	body, err := json.Marshal(pairing.RedeemRequest{InvitationID: inv.ID, Secret: inv.Secret, Name: a.opt.Name, URL: a.url})
	if err != nil {
		return ConnectionInfo{}, err
	}
	raw, err := transport.Pair(ctx, a.id, inv.Inviter, inv.URL, body)
	if err != nil {
		return ConnectionInfo{}, fmt.Errorf("redeem the invitation at %s: %w", inv.URL, err)
	}
	var resp pairing.RedeemResponse
	if err := json.Unmarshal(raw, &resp); err != nil || resp.ConnectionID == "" {
		return ConnectionInfo{}, fmt.Errorf("the inviter at %s answered something that is not a pairing: %v", inv.URL, err)
	}
	url := resp.URL
	if url == "" {
		url = inv.URL
	}
	rec := connection{ID: resp.ConnectionID, Partner: inv.Inviter, PartnerName: resp.Name, PartnerURL: url, State: StateActive, Created: time.Now().UTC()}
	if err := a.saveConnection(rec); err != nil {
		return ConnectionInfo{}, err
	}
	c, err := a.addConn(rec)
	if err != nil {
		return ConnectionInfo{}, err
	}
	return a.info(c), nil
}

// setState pauses, resumes or revokes a connection.
func (a *Agent) setState(connID string, s ConnectionState) error {
	c, err := a.conn(connID)
	if err != nil {
		return err
	}
	a.mu.Lock()
	c.rec.State = s
	rec, serving := c.rec, a.serving
	a.mu.Unlock()
	if err := a.saveConnection(rec); err != nil {
		return err
	}
	if s != StateActive {
		a.stopConn(c)
	} else if serving {
		a.newConns <- c
	}
	return nil
}

// Pause stops syncing a connection; events wait in its queues.
func (a *Agent) Pause(connID string) error { return a.setState(connID, StatePaused) }

// Resume restarts a paused connection.
func (a *Agent) Resume(connID string) error { return a.setState(connID, StateActive) }

package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/tandemsync/tandem/core/audit"
	"github.com/tandemsync/tandem/core/control"
	"github.com/tandemsync/tandem/core/pairing"
	"github.com/tandemsync/tandem/core/transport"
)

// ErrNoConnection means no connection matches what the operator named.
var ErrNoConnection = errors.New("no such connection")

// InviteRequest is what the operator chooses for a new invitation.
type InviteRequest struct {
	// Expires is how long the code stays valid; 0 means pairing.DefaultTTL (24 h).
	Expires time.Duration `json:"expires,omitempty"`
}

// Invitation is a new invitation: the code to hand over, once, and when it stops working.
type Invitation struct {
	Code    string    `json:"code"`
	ID      string    `json:"id"`
	Expires time.Time `json:"expires"`
	URL     string    `json:"url"` // where the partner will dial this agent; "" when it cannot
	// Reply: this agent accepts no connections, so the code carries no URL; the partner's agent
	// answers with a reply code, which the operator pastes here (Accept) to complete pairing.
	Reply bool `json:"reply,omitempty"`
}

// Invitation states, in words an operator reads.
const (
	InvitationPending   = "pending"
	InvitationUsed      = "used"
	InvitationExpired   = "expired"
	InvitationCancelled = "cancelled"
	InvitationLocked    = "locked" // too many wrong secrets
)

// InvitationInfo describes one invitation; it never holds the secret.
type InvitationInfo struct {
	ID         string    `json:"id"`
	State      string    `json:"state"` // one of the Invitation* states
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires"`
	UsedAt     time.Time `json:"usedAt,omitzero"`
	Connection string    `json:"connection,omitempty"` // the connection it made, when used
	Partner    string    `json:"partner,omitempty"`    // the partner's name, when used
	// Reply: the code carries no URL; the partner answers with a reply code to paste here.
	Reply bool `json:"reply,omitempty"`
}

// Invite creates an invitation code to give the partner's operator. It works once, until it
// expires or is cancelled. An agent that accepts no connections makes a code without a URL:
// the partner's agent answers it with a reply code, which completes the pairing here (Accept).
func (a *Agent) Invite(ctx context.Context, req InviteRequest) (Invitation, error) {
	ttl := req.Expires
	if ttl == 0 {
		ttl = pairing.DefaultTTL
	}
	if ttl > 30*24*time.Hour {
		return Invitation{}, fmt.Errorf("an invitation may stay valid for at most 30 days, not %v", ttl)
	}
	inv, err := a.invites.Create(ctx, a.id.ID, a.Name(), a.url, ttl)
	if err != nil {
		return Invitation{}, err
	}
	where := a.url
	if where == "" {
		where = "no URL (this agent accepts no connections: the partner answers with a reply code)"
	}
	a.record(ctx, audit.KindInvitation, fmt.Sprintf("invitation %s created for %s, valid until %s", inv.ID, where, inv.Expires.Format(time.RFC3339)))
	a.changed(TopicConnections) // the Connections screen lists invitations
	return Invitation{Code: inv.Code(), ID: inv.ID, Expires: inv.Expires, URL: inv.URL, Reply: inv.URL == ""}, nil
}

// Invitations lists the invitations, newest first: pending, used, expired, cancelled, locked.
func (a *Agent) Invitations(ctx context.Context) ([]InvitationInfo, error) {
	list, err := a.invites.List(time.Now())
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, c := range a.connList() {
		names[c.rec.ID] = c.rec.PartnerName
	}
	out := make([]InvitationInfo, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		inv := list[i]
		info := InvitationInfo{ID: inv.ID, Created: inv.Created, Expires: inv.Expires, UsedAt: inv.UsedAt, Connection: inv.ConnectionID, Partner: names[inv.ConnectionID],
			Reply: inv.URL == ""}
		switch {
		case inv.Used:
			info.State = InvitationUsed
		case inv.Revoked:
			info.State = InvitationCancelled
		case inv.Locked:
			info.State = InvitationLocked
		case inv.Expired:
			info.State = InvitationExpired
		default:
			info.State = InvitationPending
		}
		out = append(out, info)
	}
	return out, nil
}

// CancelInvitation stops an invitation from being redeemed. Connections admitted for it and
// not yet paired are closed.
func (a *Agent) CancelInvitation(ctx context.Context, id string) error {
	list, err := a.invites.List(time.Now())
	if err != nil {
		return err
	}
	for _, inv := range list {
		if inv.ID != id {
			continue
		}
		if inv.Used {
			return fmt.Errorf("invitation %s was used already (it made connection %s); revoke that connection instead", id, inv.ConnectionID)
		}
		if err := a.invites.Revoke(id); err != nil {
			return err
		}
		if !inv.Revoked {
			a.record(ctx, audit.KindInvitation, fmt.Sprintf("invitation %s cancelled", id))
			a.changed(TopicConnections)
		}
		return nil
	}
	return control.WithCode(fmt.Errorf("no invitation %q", id), control.CodeNotFound)
}

// Accept redeems a partner's invitation code and adds the connection. It refuses this agent's
// own codes and codes of a partner it is paired with already. A code without a URL (its agent
// accepts no connections) is not redeemed but answered: the result is a pending pairing with
// the reply code for the partner's operator. A reply code completes the pairing it answers.
func (a *Agent) Accept(ctx context.Context, code string) (ConnectionInfo, error) {
	if pairing.IsReplyCode(code) {
		return a.acceptReply(ctx, code)
	}
	inv, err := pairing.ParseCode(code)
	if err != nil {
		return ConnectionInfo{}, err
	}
	if inv.Inviter == a.id.ID {
		return ConnectionInfo{}, errors.New("this is an invitation code of this very agent: give it to your partner's operator, who accepts it on their agent (an agent never pairs with itself)")
	}
	if c := a.pairedWith(inv.Inviter); c != nil {
		return ConnectionInfo{}, fmt.Errorf("this agent is already paired with %s (%s) on connection %s; revoke that connection first to pair again", c.rec.PartnerName, inv.Inviter.Short(), c.rec.ID)
	}
	if inv.URL == "" {
		return a.acceptWithoutURL(ctx, inv)
	}
	body, err := json.Marshal(pairing.RedeemRequest{InvitationID: inv.ID, Secret: inv.Secret, Name: a.Name(), URL: a.url})
	if err != nil {
		return ConnectionInfo{}, err
	}
	raw, err := transport.Pair(ctx, a.id, inv.Inviter, inv.URL, inv.ID, body)
	var se *transport.StatusError
	switch {
	case errors.As(err, &se) && se.Code < 500:
		return ConnectionInfo{}, fmt.Errorf("the inviter at %s refused the code: %s", inv.URL, se.Message)
	case err != nil:
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
	rec := connection{ID: resp.ConnectionID, Partner: inv.Inviter, PartnerName: resp.Name, PartnerURL: url, State: StateActive, Created: time.Now().UTC(),
		Pulls: a.url == ""}
	c, err := a.addPaired(ctx, rec, "accepted the invitation of")
	if err != nil {
		return ConnectionInfo{}, err
	}
	return a.info(c), nil
}

// addPaired saves a new connection, starts it, and records it in the audit log.
func (a *Agent) addPaired(ctx context.Context, rec connection, how string) (*conn, error) {
	if err := a.saveConnection(rec); err != nil {
		return nil, err
	}
	c, err := a.addConn(rec)
	if err != nil {
		return nil, err
	}
	a.record(ctx, audit.KindPairing, fmt.Sprintf("connection %s: %s %s (%s) at %s; verification code %s, not yet confirmed",
		rec.ID, how, rec.PartnerName, rec.Partner, orNone(rec.PartnerURL), pairing.VerificationCode(a.id.ID, rec.Partner)))
	a.log.Info("paired", "connection", rec.ID, "partner", rec.PartnerName, "partner_id", rec.Partner.Short())
	return c, nil
}

func orNone(url string) string {
	if url == "" {
		return "no URL (it pulls)"
	}
	return url
}

// pairedWith is the connection that pins key and is not revoked, or nil.
func (a *Agent) pairedWith(key interface{ String() string }) *conn {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.conns {
		if c.rec.Partner.String() == key.String() && c.rec.State != StateRevoked {
			return c
		}
	}
	return nil
}

// findConn resolves what the operator named: a connection ID, a unique start of one (at
// least 4 characters), or a partner's name.
func (a *Agent) findConn(ref string) (*conn, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, control.WithCode(errors.New("name a connection: its ID or the partner's name (tandem connections lists them)"), control.CodeInvalid)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.conns[ref]; ok {
		return c, nil
	}
	var found []*conn
	for _, c := range a.conns {
		if len(ref) >= 4 && strings.HasPrefix(c.rec.ID, strings.ToLower(ref)) || strings.EqualFold(c.rec.PartnerName, ref) {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		if acc, err := a.findAccepted(ref); err == nil {
			return nil, control.WithCode(fmt.Errorf("connection %s with %s is not paired yet: it waits for %s's operator to complete pairing with the reply code, so it cannot be verified, paused or revoked; tandem connections cancel %s cancels it",
				acc.ConnectionID, partnerName(acc.InviterName), partnerName(acc.InviterName), acc.ConnectionID), control.CodeInvalid)
		}
		return nil, control.WithCode(fmt.Errorf("%w %q; tandem connections lists them", ErrNoConnection, ref), control.CodeNotFound)
	}
	var ids []string
	for _, c := range found {
		ids = append(ids, c.rec.ID+" ("+c.rec.PartnerName+", "+string(c.rec.State)+")")
	}
	return nil, control.WithCode(fmt.Errorf("%q matches %d connections: %s; give the connection ID", ref, len(found), strings.Join(ids, ", ")), control.CodeInvalid)
}

// Verify records that the operator compared the verification code with the partner's operator
// and it matched. code, if not empty, must be that code (spaces ignored): the CLI passes what
// the operator typed.
func (a *Agent) Verify(ctx context.Context, ref, code string) (ConnectionInfo, error) {
	c, err := a.findConn(ref)
	if err != nil {
		return ConnectionInfo{}, err
	}
	want := pairing.VerificationCode(a.id.ID, c.rec.Partner)
	if code != "" && strings.ReplaceAll(code, " ", "") != strings.ReplaceAll(want, " ", "") {
		return ConnectionInfo{}, fmt.Errorf("the code %q is not this connection's verification code: do not mark it verified; if the partner's operator reads a different code, someone may be in the middle, so revoke the connection and pair again", code)
	}
	if c.state() == StateRevoked {
		return ConnectionInfo{}, fmt.Errorf("connection %s is revoked", c.ID())
	}
	a.mu.Lock()
	already := !c.rec.Verified.IsZero()
	if !already {
		c.rec.Verified = time.Now().UTC()
	}
	rec := c.rec
	a.mu.Unlock()
	if !already {
		if err := a.saveConnection(rec); err != nil {
			return ConnectionInfo{}, err
		}
		a.record(ctx, audit.KindVerification, fmt.Sprintf("connection %s with %s (%s): the operator confirmed the verification code %s matches", rec.ID, rec.PartnerName, rec.Partner, want))
	}
	return a.info(c), nil
}

// Pause stops sending and applying on a connection; the partner is told and holds its events.
func (a *Agent) Pause(ctx context.Context, ref string) (ConnectionInfo, error) {
	return a.changeState(ctx, ref, StatePaused, false)
}

// Resume restarts a paused connection where it stopped; the partner is told.
func (a *Agent) Resume(ctx context.Context, ref string) (ConnectionInfo, error) {
	return a.changeState(ctx, ref, StateActive, false)
}

// Revoke ends a connection for good: the partner is told when it is reachable, and its key is
// refused from then on. deleteQueued drops the events waiting in the connection's queues;
// otherwise they stay for inspection.
func (a *Agent) Revoke(ctx context.Context, ref string, deleteQueued bool) (ConnectionInfo, error) {
	return a.changeState(ctx, ref, StateRevoked, deleteQueued)
}

func (a *Agent) changeState(ctx context.Context, ref string, to ConnectionState, deleteQueued bool) (ConnectionInfo, error) {
	c, err := a.findConn(ref)
	if err != nil {
		return ConnectionInfo{}, err
	}
	a.mu.Lock()
	from := c.rec.State
	a.mu.Unlock()
	switch {
	case from == StateRevoked:
		return ConnectionInfo{}, fmt.Errorf("connection %s with %s is revoked; pair again to sync with them", c.rec.ID, c.rec.PartnerName)
	case from == to:
		return a.info(c), nil
	}
	if err := a.setState(c, to, revokedByOperator); err != nil {
		return ConnectionInfo{}, err
	}
	var kind, what string
	switch to {
	case StatePaused:
		kind, what = audit.KindPause, "paused"
	case StateActive:
		kind, what = audit.KindResume, "resumed"
	case StateRevoked:
		kind, what = audit.KindRevoke, "revoked; queued events kept"
		if deleteQueued {
			what = "revoked; queued events deleted"
			if err := a.dropQueues(c); err != nil {
				return a.info(c), fmt.Errorf("the connection is revoked, but deleting its queued events failed: %w", err)
			}
		}
	}
	a.record(ctx, kind, fmt.Sprintf("connection %s with %s (%s) %s", c.rec.ID, c.rec.PartnerName, c.rec.Partner, what))
	a.tellPartner(ctx, c, to)
	return a.info(c), nil
}

// Who revoked a connection.
const (
	revokedByOperator = "operator"
	revokedByPartner  = "partner"
)

// setState changes a connection's durable state and starts or stops its engine to match.
func (a *Agent) setState(c *conn, s ConnectionState, by string) error {
	a.mu.Lock()
	prevState, prevBy, prevAt := c.rec.State, c.rec.RevokedBy, c.rec.Revoked
	c.rec.State = s
	if s == StateRevoked {
		c.rec.RevokedBy, c.rec.Revoked = by, time.Now().UTC()
	}
	rec, serving := c.rec, a.serving
	a.mu.Unlock()
	if err := a.saveConnection(rec); err != nil {
		a.mu.Lock()
		c.rec.State, c.rec.RevokedBy, c.rec.Revoked = prevState, prevBy, prevAt
		a.mu.Unlock()
		return err
	}
	if s != StateActive {
		a.stopConn(c)
	} else if serving {
		a.newConns <- c
	}
	return nil
}

// dropQueues deletes the events waiting in a connection's outbox and inbox.
func (a *Agent) dropQueues(c *conn) error {
	if err := c.out.Drop(); err != nil {
		return err
	}
	return c.in.Drop()
}

// SetAllowList limits the addresses the partner of a connection may call from, as CIDR ranges
// (a bare address is one host); none removes the limit. Addresses outside every connection's
// list are refused before the TLS handshake.
func (a *Agent) SetAllowList(ctx context.Context, ref string, allow []string) (ConnectionInfo, error) {
	c, err := a.findConn(ref)
	if err != nil {
		return ConnectionInfo{}, err
	}
	var clean []string
	for _, s := range allow {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := parsePrefix(s)
		if err != nil {
			return ConnectionInfo{}, control.WithCode(err, control.CodeInvalid)
		}
		clean = append(clean, p.String())
	}
	a.mu.Lock()
	old := c.rec.Allow
	c.rec.Allow = clean
	rec := c.rec
	a.mu.Unlock()
	if err := a.saveConnection(rec); err != nil {
		a.mu.Lock()
		c.rec.Allow = old
		a.mu.Unlock()
		return ConnectionInfo{}, err
	}
	what := "any address"
	if len(clean) > 0 {
		what = strings.Join(clean, ", ")
	}
	a.record(ctx, audit.KindAllowList, fmt.Sprintf("connection %s with %s: partner may call from %s", rec.ID, rec.PartnerName, what))
	return a.info(c), nil
}

// parsePrefix reads a CIDR range or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("%q is neither an address range like 203.0.113.0/24 nor an address", s)
}

package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tandemsync/tandem/core/audit"
	"github.com/tandemsync/tandem/core/control"
	"github.com/tandemsync/tandem/core/pairing"
	"github.com/tandemsync/tandem/core/transport"
)

// Pairing with an inviter that accepts no connections (see core/pairing's Reply): the invitee
// keeps the accepted invitation as a pending pairing and shows a reply code; the inviter's
// operator pastes it, and the inviter dials the invitee to complete the pairing. The invitee
// never dials the inviter, and admits the inviter's key only for that pending pairing.

// timeForOperator is how times show in the sentences operators read.
const timeForOperator = "2006-01-02 15:04"

func partnerName(name string) string {
	if strings.TrimSpace(name) == "" {
		return "the partner"
	}
	return name
}

// acceptWithoutURL answers an invitation whose agent accepts no connections: it keeps it as a
// pending pairing, pinned to the inviter's key from the code, and returns it with the reply
// code the inviter's operator needs.
func (a *Agent) acceptWithoutURL(ctx context.Context, inv pairing.Invitation) (ConnectionInfo, error) {
	name := partnerName(inv.InviterName)
	if a.url == "" {
		return ConnectionInfo{}, fmt.Errorf("neither agent accepts connections: %s's agent made this code without an address (it is behind a firewall), and this agent has no listener either, so neither can reach the other, and Tandem uses no relay. One of the two must accept connections: give this agent a listen address and a URL that %s's agent can reach (Settings, or --listen and --url) and accept the code again, or ask %s's operator to do that on their side and send a new code",
			name, name, name)
	}
	a.pairMu.Lock()
	defer a.pairMu.Unlock()
	now := time.Now()
	connID := pairing.ReplyConnectionID(inv.ID, inv.Inviter, a.id.ID)
	if acc, ok := a.invites.AcceptedFor(connID); ok {
		return a.pendingInfo(acc, now), nil // the same code again: the same reply
	}
	if c, err := a.conn(connID); err == nil {
		return ConnectionInfo{}, fmt.Errorf("this invitation of %s made connection %s already (%s); a code works once: ask for a new invitation", name, connID, strings.ToLower(a.info(c).Status()))
	}
	// A newer code from the same inviter replaces a pairing still waiting for it: only one
	// could complete, and the operator holds the newer code.
	waiting, err := a.invites.AcceptedList()
	if err != nil {
		return ConnectionInfo{}, err
	}
	for _, old := range waiting {
		if old.Inviter != inv.Inviter {
			continue
		}
		if err := a.invites.DeleteAccepted(old.ConnectionID); err != nil {
			return ConnectionInfo{}, err
		}
		a.record(ctx, audit.KindPairing, fmt.Sprintf("connection %s: the pairing waiting for %s (%s) to complete invitation %s was replaced by its invitation %s; its reply code no longer works",
			old.ConnectionID, old.InviterName, old.Inviter, old.InvitationID, inv.ID))
	}
	reply, err := pairing.NewReply(inv, a.id.ID, a.url)
	if err != nil {
		return ConnectionInfo{}, err
	}
	acc := pairing.Accepted{ConnectionID: connID, InvitationID: inv.ID, Inviter: inv.Inviter, InviterName: inv.InviterName,
		SecretHash: pairing.SecretHash(inv.Secret), Reply: reply.Code(), URL: a.url, Created: now.UTC(), Expires: inv.Expires}
	if err := a.invites.SaveAccepted(acc); err != nil {
		return ConnectionInfo{}, err
	}
	a.record(ctx, audit.KindPairing, fmt.Sprintf("connection %s: accepted invitation %s of %s (%s), which has no URL (it accepts no connections); waiting until %s for its operator to complete pairing with the reply code; verification code %s",
		connID, inv.ID, inv.InviterName, inv.Inviter, inv.Expires.Format(time.RFC3339), pairing.VerificationCode(a.id.ID, inv.Inviter)))
	a.log.Info("accepted an invitation without a URL; waiting for the partner to complete pairing", "connection", connID, "partner", inv.InviterName, "until", inv.Expires)
	a.changed(TopicConnections)
	return a.pendingInfo(acc, now), nil
}

// pendingInfo describes a pairing that waits for the partner.
func (a *Agent) pendingInfo(acc pairing.Accepted, now time.Time) ConnectionInfo {
	name := partnerName(acc.InviterName)
	info := ConnectionInfo{ID: acc.ConnectionID, PartnerName: acc.InviterName, PartnerID: acc.Inviter.String(), State: StatePending,
		Created: acc.Created, VerificationCode: pairing.VerificationCode(a.id.ID, acc.Inviter), ReplyCode: acc.Reply, Expires: acc.Expires,
		Health: HealthPaused, HealthReason: "pairing is not complete"}
	if acc.Pending(now) {
		info.Problem = fmt.Sprintf("Waiting for %s's operator to complete pairing. Their agent accepts no connections, so send them the reply code: they paste it into their agent's Accept field (or run tandem accept with it) until %s. This agent must be running then, reachable at %s.",
			name, acc.Expires.Local().Format(timeForOperator), acc.URL)
	} else {
		info.Problem = fmt.Sprintf("%s's operator did not complete pairing before the invitation expired at %s. Cancel this, and ask them for a new invitation.", name, acc.Expires.Local().Format(timeForOperator))
	}
	return info
}

// PendingPairings lists the pairings that wait for the partner's operator to complete them
// with the reply code (or expired waiting), oldest first.
func (a *Agent) PendingPairings(ctx context.Context) ([]ConnectionInfo, error) {
	list, err := a.invites.AcceptedList()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]ConnectionInfo, 0, len(list))
	for _, acc := range list {
		if _, err := a.conn(acc.ConnectionID); err == nil {
			continue // completed; forgetting it failed
		}
		out = append(out, a.pendingInfo(acc, now))
	}
	return out, nil
}

// findAccepted resolves what the operator named among the pending pairings: the connection
// ID, a unique start of it (4+ characters), the partner's name or the invitation ID.
func (a *Agent) findAccepted(ref string) (pairing.Accepted, error) {
	ref = strings.TrimSpace(ref)
	list, err := a.invites.AcceptedList()
	if err != nil {
		return pairing.Accepted{}, err
	}
	var found []pairing.Accepted
	for _, acc := range list {
		switch {
		case acc.ConnectionID == ref || acc.InvitationID == ref:
			return acc, nil
		case len(ref) >= 4 && strings.HasPrefix(acc.ConnectionID, strings.ToLower(ref)), ref != "" && strings.EqualFold(acc.InviterName, ref):
			found = append(found, acc)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return pairing.Accepted{}, control.WithCode(fmt.Errorf("%w %q waiting for the partner to complete pairing; tandem connections lists them", ErrNoConnection, ref), control.CodeNotFound)
	}
	return pairing.Accepted{}, control.WithCode(fmt.Errorf("%q matches %d waiting pairings; give the connection ID", ref, len(found)), control.CodeInvalid)
}

// CancelPairing cancels a pairing that waits for the partner to complete it (or expired
// waiting): the reply code stops working, and the partner's key is no longer admitted for it.
// It answers the pairing as it was.
func (a *Agent) CancelPairing(ctx context.Context, ref string) (ConnectionInfo, error) {
	a.pairMu.Lock()
	defer a.pairMu.Unlock()
	acc, err := a.findAccepted(ref)
	if err != nil {
		if c, cerr := a.findConn(ref); cerr == nil {
			return ConnectionInfo{}, control.WithCode(fmt.Errorf("connection %s with %s is paired, not waiting: revoke it instead (tandem connections revoke %s)", c.ID(), c.rec.PartnerName, c.ID()), control.CodeInvalid)
		}
		return ConnectionInfo{}, err
	}
	info := a.pendingInfo(acc, time.Now())
	if err := a.invites.DeleteAccepted(acc.ConnectionID); err != nil {
		return ConnectionInfo{}, fmt.Errorf("cancel the pairing with %s: %w", partnerName(acc.InviterName), err)
	}
	a.record(ctx, audit.KindPairing, fmt.Sprintf("connection %s: the pairing waiting for %s (%s) to complete invitation %s was cancelled; its reply code no longer works",
		acc.ConnectionID, acc.InviterName, acc.Inviter, acc.InvitationID))
	a.changed(TopicConnections)
	return info, nil
}

// acceptReply completes, on the inviter, the pairing a reply code answers: it checks the reply
// against the invitation, dials the replier (pinned to the key in the reply), proves the
// invitation secret, and adds the connection once the replier confirmed.
func (a *Agent) acceptReply(ctx context.Context, code string) (ConnectionInfo, error) {
	r, err := pairing.ParseReply(code)
	if err != nil {
		return ConnectionInfo{}, err
	}
	switch {
	case r.Replier == a.id.ID:
		name := "the inviter"
		if acc, ok := a.invites.AcceptedFor(pairing.ReplyConnectionID(r.InvitationID, r.Inviter, a.id.ID)); ok {
			name = partnerName(acc.InviterName)
		}
		return ConnectionInfo{}, fmt.Errorf("this is the reply code this agent made when it accepted %s's invitation: send it to %s's operator, who pastes it into their agent (Accept, or tandem accept there) to complete the pairing", name, name)
	case r.Inviter != a.id.ID:
		return ConnectionInfo{}, fmt.Errorf("this reply code answers an invitation made by agent %s, not by this agent (%s): paste it into the agent that made the invitation", r.Inviter.Short(), a.id.ID.Short())
	}
	a.pairMu.Lock()
	defer a.pairMu.Unlock()
	connID := pairing.ReplyConnectionID(r.InvitationID, a.id.ID, r.Replier)
	if c := a.pairedWith(r.Replier); c != nil {
		if c.rec.ID == connID {
			return ConnectionInfo{}, fmt.Errorf("this reply code was used already: this agent is paired with %s on connection %s", c.rec.PartnerName, connID)
		}
		return ConnectionInfo{}, fmt.Errorf("this agent is already paired with %s (%s) on connection %s; revoke that connection first to pair again", c.rec.PartnerName, r.Replier.Short(), c.rec.ID)
	}
	now := time.Now()
	inv, hash, err := a.invites.CheckReply(r, now)
	switch {
	case errors.Is(err, pairing.ErrUnknown):
		return ConnectionInfo{}, fmt.Errorf("this reply code answers invitation %s, which this agent does not have (invitations are forgotten a month after they end); make a new invitation", r.InvitationID)
	case errors.Is(err, pairing.ErrReplyMismatch):
		return ConnectionInfo{}, fmt.Errorf("this reply code does not match invitation %s: it was not made from this agent's code, or it was altered; ask the partner's operator to copy the reply code again", r.InvitationID)
	case errors.Is(err, pairing.ErrUsed):
		return ConnectionInfo{}, fmt.Errorf("invitation %s was used already (at %s, by agent %s); a code works once: make a new invitation", r.InvitationID, inv.UsedAt.Local().Format(timeForOperator), inv.Invitee.Short())
	case errors.Is(err, pairing.ErrRevoked):
		return ConnectionInfo{}, fmt.Errorf("invitation %s was cancelled here, so its reply code no longer works; make a new invitation if you still want to pair (and ask the partner's operator to cancel the pairing that waits on their side)", r.InvitationID)
	case errors.Is(err, pairing.ErrLocked):
		return ConnectionInfo{}, fmt.Errorf("invitation %s is locked after too many wrong secrets; make a new invitation", r.InvitationID)
	case errors.Is(err, pairing.ErrExpired):
		return ConnectionInfo{}, fmt.Errorf("invitation %s expired at %s, so its reply code no longer works (the partner's waiting pairing expired with it); make a new invitation", r.InvitationID, inv.Expires.Local().Format(timeForOperator))
	case err != nil:
		return ConnectionInfo{}, err
	}
	body, err := json.Marshal(pairing.CompleteRequest{InvitationID: r.InvitationID, Proof: pairing.CompletionProof(hash, r.InvitationID, a.id.ID, r.Replier), Name: a.Name(), URL: a.url})
	if err != nil {
		return ConnectionInfo{}, err
	}
	raw, err := transport.CompletePair(ctx, a.id, r.Replier, r.URL, r.InvitationID, body)
	var (
		se  *transport.StatusError
		pin *transport.PinError
	)
	switch {
	case transport.IsRefused(err):
		return ConnectionInfo{}, fmt.Errorf("the partner's agent at %s no longer waits for this pairing: its operator cancelled it (or the agent was made anew); ask them to accept a new invitation", r.URL)
	case errors.As(err, &pin):
		return ConnectionInfo{}, fmt.Errorf("%v: the agent answering at %s is not the one that made this reply code; check the address with the partner's operator", pin, r.URL)
	case errors.As(err, &se) && se.Code < 500:
		return ConnectionInfo{}, fmt.Errorf("the partner's agent at %s refused to complete the pairing: %s", r.URL, se.Message)
	case err != nil:
		return ConnectionInfo{}, fmt.Errorf("complete the pairing at %s: %w; the reply code works until %s, so try again once the partner's agent runs there", r.URL, err, inv.Expires.Local().Format(timeForOperator))
	}
	var resp pairing.RedeemResponse
	if err := json.Unmarshal(raw, &resp); err != nil || resp.ConnectionID != connID {
		return ConnectionInfo{}, fmt.Errorf("the partner's agent at %s answered something that does not complete this pairing (connection %q, want %s; %v)", r.URL, resp.ConnectionID, connID, err)
	}
	if err := a.invites.UseForReply(r.InvitationID, r.Replier, connID, now); err != nil {
		return ConnectionInfo{}, err
	}
	url := resp.URL
	if url == "" {
		url = r.URL
	}
	rec := connection{ID: connID, Partner: r.Replier, PartnerName: resp.Name, PartnerURL: url, State: StateActive, Created: now.UTC(),
		Pulls: a.url == "", Invitation: r.InvitationID}
	c, err := a.addPaired(ctx, rec, "completed pairing, with the reply code to invitation "+r.InvitationID+", with")
	if err != nil {
		return ConnectionInfo{}, err
	}
	return a.info(c), nil
}

// complete is the replier's side of acceptReply: the inviter named in a pending pairing dialled
// in to complete it.
func (w wire) complete(ctx context.Context, req transport.PairRequest) (json.RawMessage, error) {
	a := w.a
	refuse := func(code int, format string, args ...any) error {
		return httpError{code: code, err: fmt.Errorf(format, args...)}
	}
	var body pairing.CompleteRequest
	if err := json.Unmarshal(req.Body, &body); err != nil {
		return nil, refuse(http.StatusBadRequest, "malformed pairing completion: %v", err)
	}
	if err := body.Check(); err != nil {
		return nil, refuse(http.StatusBadRequest, "malformed pairing completion: %v", err)
	}
	if body.InvitationID != req.Invitation {
		return nil, refuse(http.StatusForbidden, "the request completes another invitation than its connection named")
	}
	a.pairMu.Lock()
	defer a.pairMu.Unlock()
	connID := pairing.ReplyConnectionID(req.Invitation, req.Peer, a.id.ID)
	answer := func() (json.RawMessage, error) {
		return json.Marshal(pairing.RedeemResponse{ConnectionID: connID, Name: a.Name(), URL: a.url})
	}
	if c, err := a.conn(connID); err == nil {
		if c.state() == StateRevoked {
			return nil, refuse(http.StatusForbidden, "connection %s, which this invitation made, was revoked here; ask for a new invitation", connID)
		}
		return answer() // completed already: the inviter did not hear the answer
	}
	acc, ok := a.invites.AcceptedFor(connID)
	if !ok || acc.Inviter != req.Peer {
		return nil, refuse(http.StatusForbidden, "this agent does not wait for agent %s to complete invitation %s: its operator cancelled the pairing", req.Peer.Short(), req.Invitation)
	}
	now := time.Now()
	if !acc.Pending(now) {
		return nil, refuse(http.StatusForbidden, "the pairing for invitation %s waited until the invitation expired at %s; make a new invitation", req.Invitation, acc.Expires.Format(time.RFC3339))
	}
	if !pairing.CheckProof(body.Proof, pairing.CompletionProof(acc.SecretHash, req.Invitation, req.Peer, a.id.ID)) {
		return nil, refuse(http.StatusForbidden, "the completion's proof does not match invitation %s", req.Invitation)
	}
	if c := a.pairedWith(req.Peer); c != nil {
		return nil, refuse(http.StatusConflict, "agent %s is already paired with this agent (connection %s); revoke it there before pairing again", req.Peer.Short(), c.rec.ID)
	}
	name := strings.TrimSpace(body.Name)
	if name == "" {
		name = acc.InviterName
	}
	rec := connection{ID: connID, Partner: req.Peer, PartnerName: name, PartnerURL: body.URL, State: StateActive, Created: now.UTC(), Invitation: req.Invitation}
	if _, err := a.addPaired(ctx, rec, "the partner completed the pairing of invitation "+req.Invitation+" (accepted here) with its reply code:"); err != nil {
		return nil, err
	}
	if err := a.invites.DeleteAccepted(connID); err != nil {
		a.log.Warn("forget the completed pairing", "connection", connID, "err", err)
	}
	return answer()
}

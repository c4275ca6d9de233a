package agent

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/audit"
	"github.com/tandemsync/tandem/core/pairing"
	"github.com/tandemsync/tandem/core/transport"
)

// firewalledPair is Blue, which listens, and Red, which has no listener at all.
func firewalledPair(t *testing.T) (blue, red *running) {
	t.Helper()
	keys := testKeys(t)
	blue = start(t, Options{Dir: t.TempDir(), Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys})
	red = start(t, Options{Dir: t.TempDir(), Name: "Red", Listen: NoListener, Prefix: "RED", Keys: keys})
	if red.URL() != "" || red.ln != nil {
		t.Fatalf("red listens at %q", red.URL())
	}
	return blue, red
}

func pending(t *testing.T, a *running) []ConnectionInfo {
	t.Helper()
	list, err := a.PendingPairings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func auditSays(t *testing.T, a *running, kind, what string) bool {
	t.Helper()
	entries, err := a.AuditTail(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Kind == kind && strings.Contains(e.What, what) {
			return true
		}
	}
	return false
}

// An agent without a listener invites; the partner, which it cannot be dialled by, answers
// with a reply code; the firewalled side completes the pairing by dialling the partner. The
// pair then syncs both ways, the firewalled side pulling, with no relay.
func TestFirewalledInviterPairsByReplyAndSyncsBothWays(t *testing.T) {
	blue, red := firewalledPair(t)
	ctx := context.Background()

	inv, err := red.Invite(ctx, InviteRequest{Expires: time.Hour})
	if err != nil {
		t.Fatalf("invite from the firewalled agent: %v", err)
	}
	if inv.URL != "" || !inv.Reply {
		t.Fatalf("the firewalled agent's invitation = %+v, want no URL and the reply flow", inv)
	}
	p, err := blue.Accept(ctx, inv.Code)
	if err != nil {
		t.Fatalf("blue accepts the code without a URL: %v", err)
	}
	if p.State != StatePending || !pairing.IsReplyCode(p.ReplyCode) || p.PartnerName != "Red" || p.PartnerID != red.ID().String() {
		t.Fatalf("blue's answer = %+v, want a pending pairing with Red and a reply code", p)
	}
	if !strings.Contains(p.Problem, "Waiting for Red's operator") || p.Status() != "Waiting for the partner to complete pairing" {
		t.Errorf("the pending pairing says %q / %q, want it waiting for Red's operator", p.Status(), p.Problem)
	}
	if len(connList(t, blue)) != 0 || len(pending(t, blue)) != 1 {
		t.Fatalf("blue lists %d connections and %d pending; want the pairing only pending", len(connList(t, blue)), len(pending(t, blue)))
	}
	// Accepting the same code again shows the same reply (an operator who lost it).
	if again, err := blue.Accept(ctx, inv.Code); err != nil || again.ReplyCode != p.ReplyCode {
		t.Errorf("accepting the same code again = %+v, %v; want the same reply code", again, err)
	}
	// Nothing changed at red, which nobody can reach: its invitation still waits.
	if list, _ := red.Invitations(ctx); len(list) != 1 || list[0].State != InvitationPending || !list[0].Reply {
		t.Errorf("red's invitations = %+v, want one pending, answered by a reply code", list)
	}

	c, err := red.Accept(ctx, p.ReplyCode)
	if err != nil {
		t.Fatalf("red pastes the reply code: %v", err)
	}
	if c.ID != p.ID || c.State != StateActive || !c.Pulls || c.PartnerURL != blue.URL() || c.PartnerName != "Blue" {
		t.Fatalf("red's connection = %+v; want connection %s with Blue, pulling from %s", c, p.ID, blue.URL())
	}
	if c.VerificationCode != p.VerificationCode {
		t.Errorf("verification codes differ: red %s, blue %s", c.VerificationCode, p.VerificationCode)
	}
	bc := connInfo(t, blue, p.ID)
	if bc.PartnerURL != "" || bc.State != StateActive || bc.PartnerName != "Red" || bc.VerificationCode != c.VerificationCode {
		t.Errorf("blue's connection = %+v, want it active with Red, never dialling it", bc)
	}
	if n := len(pending(t, blue)); n != 0 {
		t.Errorf("blue still lists %d pending pairings after completion", n)
	}
	if list, _ := red.Invitations(ctx); list[0].State != InvitationUsed || list[0].Partner != "Blue" || list[0].Connection != p.ID {
		t.Errorf("red's invitation after completion = %+v, want used by Blue on %s", list[0], p.ID)
	}
	if _, err := red.Accept(ctx, p.ReplyCode); err == nil || !strings.Contains(err.Error(), "used already") {
		t.Errorf("pasting the reply code twice: %v, want it to say it was used already", err)
	}
	for _, tc := range []struct {
		a          *running
		kind, what string
	}{
		{red, audit.KindInvitation, "created for no URL"},
		{blue, audit.KindPairing, "which has no URL"},
		{blue, audit.KindPairing, "completed the pairing of invitation " + inv.ID},
		{red, audit.KindPairing, "completed pairing, with the reply code to invitation " + inv.ID},
	} {
		if !auditSays(t, tc.a, tc.kind, tc.what) {
			t.Errorf("%s's audit log has no %s entry saying %q", tc.a.Name(), tc.kind, tc.what)
		}
	}

	syncsBothWays(t, blue, red, p.ID)
}

// Every wrong turn of the reply flow gets one clear sentence, and nothing pairs.
func TestFirewalledInvitationWrongTurnsSaySo(t *testing.T) {
	blue, red := firewalledPair(t)
	keys := testKeys(t)
	green := start(t, Options{Dir: t.TempDir(), Name: "Green", Listen: "127.0.0.1:0", Prefix: "GREEN", Keys: keys})
	purple := start(t, Options{Dir: t.TempDir(), Name: "Purple", Listen: NoListener, Prefix: "PURPLE", Keys: keys})
	ctx := context.Background()
	invite := func() Invitation {
		t.Helper()
		inv, err := red.Invite(ctx, InviteRequest{Expires: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return inv
	}
	reply := func(a *running, code string) ConnectionInfo {
		t.Helper()
		p, err := a.Accept(ctx, code)
		if err != nil {
			t.Fatalf("%s accepts: %v", a.Name(), err)
		}
		return p
	}
	says := func(what string, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want it to say %q", what, err, want)
		}
	}

	// Both sides firewalled: neither can dial, and it says so.
	inv := invite()
	_, err := purple.Accept(ctx, inv.Code)
	says("a firewalled agent accepting a firewalled agent's code", err, "neither agent accepts connections")
	if len(pending(t, purple)) != 0 {
		t.Error("purple keeps a pairing that can never complete")
	}

	p := reply(blue, inv.Code)
	// The reply pasted where it does not belong: into a third agent, or back into its maker.
	_, err = green.Accept(ctx, p.ReplyCode)
	says("the reply pasted into another agent", err, "not by this agent")
	_, err = blue.Accept(ctx, p.ReplyCode)
	says("the reply pasted into the agent that made it", err, "send it to Red's operator")
	// Truncated, or with a proof that was not made from the code.
	_, err = red.Accept(ctx, p.ReplyCode[:len(p.ReplyCode)-6])
	says("a truncated reply", err, "the reply code is damaged")
	forged, _ := pairing.ParseReply(p.ReplyCode)
	forged.Proof[0] ^= 1
	_, err = red.Accept(ctx, forged.Code())
	says("a forged reply", err, "does not match invitation")
	// A pending pairing can be neither paused nor verified, only cancelled.
	if _, err := blue.Pause(ctx, p.ID); err == nil || !strings.Contains(err.Error(), "not paired yet") {
		t.Errorf("pausing a pending pairing: %v, want it to say it is not paired yet", err)
	}

	// The reply for an invitation cancelled at the inviter.
	if err := red.CancelInvitation(ctx, inv.ID); err != nil {
		t.Fatal(err)
	}
	_, err = red.Accept(ctx, p.ReplyCode)
	says("a reply for a cancelled invitation", err, "was cancelled here")
	if _, err := blue.CancelPairing(ctx, "Red"); err != nil {
		t.Fatal(err)
	}

	// The reply for an invitation that expired at the inviter.
	inv = invite()
	p = reply(blue, inv.Code)
	expire(t, red, inv.ID)
	_, err = red.Accept(ctx, p.ReplyCode)
	says("a reply for an expired invitation", err, "expired at")
	blue.CancelPairing(ctx, p.ID)

	// The reply for an invitation another partner completed first.
	inv = invite()
	first := reply(green, inv.Code)
	second := reply(blue, inv.Code)
	if _, err := red.Accept(ctx, first.ReplyCode); err != nil {
		t.Fatalf("green's reply: %v", err)
	}
	_, err = red.Accept(ctx, second.ReplyCode)
	says("a reply for a used invitation", err, "was used already")
	blue.CancelPairing(ctx, second.ID)

	// Blue's operator never sends the reply: the pairing waits, visibly, and can be cancelled;
	// after that red's key is refused at blue's handshake, and pasting the reply says why.
	inv = invite()
	p = reply(blue, inv.Code)
	if got := pending(t, blue); len(got) != 1 || got[0].Status() != "Waiting for the partner to complete pairing" {
		t.Fatalf("blue's pending pairings = %+v, want the one waiting", got)
	}
	// A newer code from red replaces it (only one could complete): the older reply is refused.
	older := p
	p = reply(blue, invite().Code)
	if got := pending(t, blue); len(got) != 1 || got[0].ID != p.ID {
		t.Errorf("after a newer code blue waits for %+v, want only the newer pairing", got)
	}
	_, err = red.Accept(ctx, older.ReplyCode)
	says("the reply of a pairing replaced by a newer code", err, "no longer waits for this pairing")
	cancelled, err := blue.CancelPairing(ctx, p.ID[:6])
	if err != nil || cancelled.ID != p.ID {
		t.Fatalf("CancelPairing = %+v, %v", cancelled, err)
	}
	if len(pending(t, blue)) != 0 || !auditSays(t, blue, audit.KindPairing, "was cancelled") {
		t.Error("the cancelled pairing is still listed, or not in the audit log")
	}
	_, err = red.Accept(ctx, p.ReplyCode)
	says("a reply whose pairing the partner cancelled", err, "no longer waits for this pairing")
	if _, err := blue.CancelPairing(ctx, p.ID); !errors.Is(err, ErrNoConnection) {
		t.Errorf("cancelling twice: %v, want ErrNoConnection", err)
	}

	// A pairing that waited until the invitation expired says so; the partner's late reply is
	// refused by blue with that reason.
	inv = invite()
	p = reply(blue, inv.Code)
	acc, _ := blue.invites.AcceptedFor(p.ID)
	acc.Expires = time.Now().Add(-time.Second)
	if err := blue.invites.SaveAccepted(acc); err != nil {
		t.Fatal(err)
	}
	if got := pending(t, blue); len(got) != 1 || got[0].Status() != "Pairing expired" || !strings.Contains(got[0].Problem, "did not complete pairing") {
		t.Errorf("an expired waiting pairing shows as %+v", got)
	}
	_, err = red.Accept(ctx, p.ReplyCode)
	says("a reply after the partner's pairing expired", err, "expired")

	// Of all this, red paired with green only, and blue with nobody.
	if n := len(connList(t, blue)); n != 0 {
		t.Errorf("blue has %d connections after the wrong turns", n)
	}
	if l := connList(t, red); len(l) != 1 || l[0].PartnerName != "Green" {
		t.Errorf("red's connections = %+v, want green's only", l)
	}
}

// Blue admits, for a pairing it awaits, only the key the invitation named; and a stranger's
// completion, even naming the right invitation, is refused at the handshake.
func TestAwaitedPairingAdmitsOnlyTheInvitersKey(t *testing.T) {
	blue, red := firewalledPair(t)
	stranger := start(t, Options{Dir: t.TempDir(), Name: "Mallory", Listen: NoListener, Keys: testKeys(t)})
	ctx := context.Background()
	inv, err := red.Invite(ctx, InviteRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blue.Accept(ctx, inv.Code); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(pairing.CompleteRequest{InvitationID: inv.ID, Proof: make([]byte, 16), Name: "Mallory"})
	_, err = transport.CompletePair(ctx, stranger.id, blue.ID(), blue.URL(), inv.ID, body)
	var refused *transport.RefusedError
	if !errors.As(err, &refused) {
		t.Errorf("a stranger completing red's pairing: %v, want its key refused at the handshake", err)
	}
	// Red's own key with a wrong proof is admitted, but refused by the handler.
	_, err = transport.CompletePair(ctx, red.id, blue.ID(), blue.URL(), inv.ID, body)
	var se *transport.StatusError
	if !errors.As(err, &se) || se.Code != 403 || !strings.Contains(se.Message, "proof does not match") {
		t.Errorf("red's key with a wrong proof: %v, want 403 saying the proof does not match", err)
	}
	if len(connList(t, blue)) != 0 || len(pending(t, blue)) != 1 {
		t.Error("a refused completion changed blue's connections")
	}
}

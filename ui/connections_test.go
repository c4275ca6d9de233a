package ui

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/tandemsync/tandem/core/agent"
)

func openConnections(t *testing.T, f *fakeAgent) (*UI, fyne.Window, *connectionsScreen) {
	t.Helper()
	u, w := newTestUI(t, f)
	u.win = w // verify and revoke ask in dialogs
	test.Tap(u.nav[screenConnections])
	u.refresh(context.Background())
	return u, w, &u.connections
}

func TestConnectionsInviteWithExpiryAndAccept(t *testing.T) {
	f := newFakeAgent()
	u, w, s := openConnections(t, f)

	s.inviteExpiry.SetSelected("3 days")
	test.Tap(s.inviteButton)
	u.pending.Wait()
	if s.inviteCode.Text != "tandem1-invitation-1" || !s.inviteBox.Visible() {
		t.Fatalf("invite shows %q (visible %v), want the agent's code", s.inviteCode.Text, s.inviteBox.Visible())
	}
	if len(f.inviteReqs) != 1 || f.inviteReqs[0].Expires != 72*time.Hour {
		t.Errorf("Invite got %+v, want an expiry of 72h as chosen", f.inviteReqs)
	}
	wantShown(t, w, "it works once, until")
	test.Tap(s.copyButton)
	if got := fyne.CurrentApp().Clipboard().Content(); got != "tandem1-invitation-1" {
		t.Errorf("clipboard = %q after Copy, want the code", got)
	}

	test.Tap(s.acceptButton) // nothing pasted yet
	u.pending.Wait()
	if len(f.accepted) != 0 {
		t.Errorf("Accept called with %v for an empty code", f.accepted)
	}
	wantShown(t, w, "paste the code your partner gave you first")
	closeDialogs(w)

	test.Type(s.acceptCode, "  tandem1-from-red \n")
	test.Tap(s.acceptButton)
	u.pending.Wait()
	if !slices.Equal(f.accepted, []string{"tandem1-from-red"}) {
		t.Errorf("Accept got %q, want the trimmed code", f.accepted)
	}
	if s.acceptCode.Text != "" {
		t.Errorf("code entry keeps %q after the agent accepted it", s.acceptCode.Text)
	}
	u.refresh(context.Background())
	// The new connection is selected, with its code and the request to compare it.
	wantShown(t, w, "Paired with Red", "4821-7730", "Red — Active · Unverified", "Status: Active · Unverified")
	wantShownWrapped(t, w, "read this code to the partner's operator")
}

func TestConnectionsInvitationsListedAndCancelled(t *testing.T) {
	f := newFakeAgent()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	f.invitations = []agent.InvitationInfo{
		{ID: "inv2", State: agent.InvitationPending, Created: now, Expires: now.Add(time.Hour)},
		{ID: "inv1", State: agent.InvitationUsed, Created: now.Add(-time.Hour), Expires: now.Add(23 * time.Hour), Connection: "c1", Partner: "Red"},
	}
	u, w, s := openConnections(t, f)
	wantShown(t, w, "Invitations (1 pending)", "inv2 · pending", "inv1 · used", "paired with Red")
	if !s.cancelButton.Disabled() {
		t.Error("Cancel is enabled with no invitation selected")
	}
	s.invList.Select(1) // the used one cannot be cancelled
	if !s.cancelButton.Disabled() {
		t.Error("Cancel is enabled for a used invitation")
	}
	s.invList.Select(0)
	test.Tap(s.cancelButton)
	u.pending.Wait()
	if !slices.Equal(f.cancelled, []string{"inv2"}) {
		t.Fatalf("CancelInvitation got %q, want inv2", f.cancelled)
	}
	u.refresh(context.Background())
	wantShown(t, w, "Invitations (0 pending)", "inv2 · cancelled")
	if !s.cancelButton.Disabled() {
		t.Error("Cancel stays enabled for the cancelled invitation")
	}
}

// Invitations are read only while the Connections screen shows.
func TestConnectionsReadInvitationsOnlyWhenShown(t *testing.T) {
	f := newFakeAgent()
	f.failing("Invitations", errAgentDown)
	u, w := newTestUI(t, f)
	u.refresh(context.Background())
	if strings.Contains(shown(w), "read invitations") {
		t.Fatal("the Overview read the invitations")
	}
	test.Tap(u.nav[screenConnections])
	u.refresh(context.Background())
	wantShown(t, w, "read invitations: agent is not running")
}

func twoConnections() *fakeAgent {
	f := newFakeAgent()
	f.connections = []agent.ConnectionInfo{
		{ID: "c1", PartnerName: "Red", PartnerID: "RRRR-1111", PartnerURL: "https://red.example:7443", VerificationCode: "123 456 789",
			State: agent.StateActive, Outbox: 4, Inbox: 1},
		{ID: "c2", PartnerName: "Green", VerificationCode: "987 654 321", State: agent.StateRevoked, RevokedBy: "partner",
			Problem: "The partner revoked this connection: it no longer accepts this agent's events or sends its own."},
	}
	return f
}

func TestConnectionsVerify(t *testing.T) {
	f := twoConnections()
	u, w, s := openConnections(t, f)
	s.list.Select(0)
	wantShown(t, w, "RRRR-1111", "123 456 789", "Status: Active · Unverified")
	test.Tap(copyButton(t, w))
	if got := fyne.CurrentApp().Clipboard().Content(); got != "RRRR-1111" {
		t.Errorf("Copy beside the partner's agent ID copied %q, want the ID alone", got)
	}
	test.Tap(s.verifyButton)
	if s.verifyDialog == nil {
		t.Fatal("Codes match did not ask")
	}
	wantShownWrapped(t, w, "Does Red's operator see the code 123 456 789 on their screen?")
	test.Tap(findButton(w, "Cancel"))
	u.pending.Wait()
	if len(f.connCalls) != 0 {
		t.Fatalf("Verify called after Cancel: %+v", f.connCalls)
	}
	test.Tap(s.verifyButton)
	test.Tap(findButton(w, "The codes match"))
	u.pending.Wait()
	if !slices.Equal(f.connCalls, []connectionCall{{method: "Verify", conn: "c1"}}) {
		t.Fatalf("calls %+v, want one Verify of c1", f.connCalls)
	}
	u.refresh(context.Background())
	wantShown(t, w, "Red — Active · Verified", "Status: Active · Verified")
	if !s.verifyButton.Disabled() {
		t.Error("Codes match stays enabled on a verified connection")
	}
}

func TestConnectionsPauseResumeRevoke(t *testing.T) {
	f := twoConnections()
	u, w, s := openConnections(t, f)
	s.list.Select(0)
	if s.pauseButton.Disabled() || !s.resumeButton.Disabled() {
		t.Fatalf("active connection: pause disabled %v, resume disabled %v; want pause only", s.pauseButton.Disabled(), s.resumeButton.Disabled())
	}
	test.Tap(s.pauseButton)
	u.pending.Wait()
	u.refresh(context.Background())
	wantShown(t, w, "Red — Paused", "Status: Paused")
	if !s.pauseButton.Disabled() || s.resumeButton.Disabled() {
		t.Errorf("paused connection: pause disabled %v, resume disabled %v; want resume only", s.pauseButton.Disabled(), s.resumeButton.Disabled())
	}
	test.Tap(s.resumeButton)
	u.pending.Wait()
	u.refresh(context.Background())
	wantShown(t, w, "Red — Active")

	test.Tap(s.revokeButton)
	if s.revokeDialog == nil {
		t.Fatal("Revoke did not ask")
	}
	wantShownWrapped(t, w, "Revoke the connection with Red?")
	wantShownWrapped(t, w, "4 events wait to be sent and 1 to be applied")
	test.Tap(findButton(w, "Cancel"))
	u.pending.Wait()
	test.Tap(s.revokeButton)
	s.revokeChoice.SetSelected(revokeDelete)
	test.Tap(findButton(w, "Revoke"))
	u.pending.Wait()
	want := []connectionCall{{method: "Pause", conn: "c1"}, {method: "Resume", conn: "c1"}, {method: "Revoke", conn: "c1", deleteQueued: true}}
	if !slices.Equal(f.connCalls, want) {
		t.Fatalf("calls %+v, want %+v", f.connCalls, want)
	}
	u.refresh(context.Background())
	wantShown(t, w, "Red — Revoked")
	for _, b := range []interface{ Disabled() bool }{s.pauseButton, s.resumeButton, s.revokeButton, s.verifyButton} {
		if !b.Disabled() {
			t.Errorf("a button stays enabled on a revoked connection")
		}
	}
}

// What the partner did shows in words: revoked by the partner, refused key, paused there.
func TestConnectionsShowWhatThePartnerDid(t *testing.T) {
	f := twoConnections()
	f.connections = append(f.connections, agent.ConnectionInfo{ID: "c3", PartnerName: "Blue", State: agent.StateActive, PartnerState: "refuses",
		Problem: "the partner at https://blue.example refuses this agent's key", Verified: time.Now()},
		agent.ConnectionInfo{ID: "c4", PartnerName: "Teal", State: agent.StateActive, PartnerState: "paused",
			Problem: "The partner paused this connection; events wait here until it resumes.", Verified: time.Now()})
	u, w, s := openConnections(t, f)
	wantShown(t, w, "Green — Revoked by the partner · Unverified", "Blue — Refused by the partner · Verified", "Teal — Paused by the partner · Verified")
	s.list.Select(1)
	wantShownWrapped(t, w, "The partner revoked this connection")
	_ = u
}

// closeDialogs dismisses the error dialogs an earlier step opened.
func closeDialogs(w fyne.Window) {
	for _, o := range w.Canvas().Overlays().List() {
		w.Canvas().Overlays().Remove(o)
	}
}

func TestConnectionsAllowList(t *testing.T) {
	f := twoConnections()
	u, w, s := openConnections(t, f)
	s.list.Select(0)
	if s.allow.Text != "" {
		t.Fatalf("allow-list shows %q for a connection without one", s.allow.Text)
	}
	s.allow.SetText(" 203.0.113.0/24 , 198.51.100.7 ")
	test.Tap(s.allowButton)
	u.pending.Wait()
	if got := f.connections[0].Allow; got != "203.0.113.0/24, 198.51.100.7" {
		t.Errorf("the agent got %q, want the two ranges trimmed", got)
	}
	wantShown(t, w, "Red may now call from 203.0.113.0/24, 198.51.100.7.")
	f.failing("SetAllowList", errors.New(`"nonsense" is neither an address range like 203.0.113.0/24 nor an address`))
	s.allow.SetText("nonsense")
	test.Tap(s.allowButton)
	u.pending.Wait()
	u.refresh(context.Background())
	wantShownWrapped(t, w, "is neither an address range")
	if s.allow.Text != "nonsense" {
		t.Errorf("a refused allow-list was replaced by %q; the operator's text must stay to be fixed", s.allow.Text)
	}
}

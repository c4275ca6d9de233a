package ui

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/tandemsync/tandem/core/agent"
)

// An agent without a listener invites: the screen explains the two steps, the invitation says
// to paste the reply, and Accept takes the reply code.
func TestConnectionsFirewalledInviteTakesTheReply(t *testing.T) {
	f := newFakeAgent()
	f.firewalled = true
	u, w, s := openConnections(t, f)
	test.Tap(s.inviteButton)
	u.pending.Wait()
	wantShownWrapped(t, w, "This agent accepts no connections, so pairing takes two steps")
	wantShownWrapped(t, w, "their agent answers it with a reply code, which you paste into Accept below")
	u.refresh(context.Background())
	wantShown(t, w, "inv1 · pending", "paste the partner's reply code into Accept")

	test.Type(s.acceptCode, "tandemreply1-from-blue")
	test.Tap(s.acceptButton)
	u.pending.Wait()
	if !slices.Equal(f.accepted, []string{"tandemreply1-from-blue"}) {
		t.Fatalf("Accept got %q, want the reply code", f.accepted)
	}
	u.refresh(context.Background())
	wantShown(t, w, "Paired with Blue", "777 000 111", "Blue — Active · Unverified")
	wantShownWrapped(t, w, "this agent has no listener and pulls")
}

// Accepting a code from an agent that accepts no connections shows the pairing waiting, with
// the reply code and Copy; it can be cancelled, after a question.
func TestConnectionsAcceptWithoutURLShowsTheReplyCode(t *testing.T) {
	f := newFakeAgent()
	u, w, s := openConnections(t, f)
	if !strings.Contains(s.acceptCode.PlaceHolder, "reply code") {
		t.Errorf("the Accept field's placeholder %q does not mention reply codes", s.acceptCode.PlaceHolder)
	}
	test.Type(s.acceptCode, "tandem1-nourl-kim")
	test.Tap(s.acceptButton)
	u.pending.Wait()
	// Shown at once, before the agent is read again.
	wantShown(t, w, "Kim — Waiting for the partner", "Status: Waiting for the partner to complete pairing", "tandemreply1-for-kim", "Copy")
	wantShownWrapped(t, w, "Send this reply code to Kim's operator:")
	wantShownWrapped(t, w, "copy the reply code and send it to Kim's operator")
	if s.detail.Visible() || findButton(w, "Codes match…") != nil || findButton(w, "Pause") != nil {
		t.Error("a waiting pairing offers verify, pause or revoke")
	}
	test.Tap(s.replyCopy)
	if got := fyne.CurrentApp().Clipboard().Content(); got != "tandemreply1-for-kim" {
		t.Errorf("clipboard = %q after Copy, want the reply code", got)
	}
	u.refresh(context.Background())
	wantShown(t, w, "Kim — Waiting for the partner", "tandemreply1-for-kim")
	wantShownWrapped(t, w, "Verification code, to compare with Kim's operator once paired: 555 123 987")

	test.Tap(s.cancelWait)
	if s.cancelDialog == nil {
		t.Fatal("Cancel pairing did not ask")
	}
	wantShownWrapped(t, w, "Stop waiting for Kim's operator?")
	test.Tap(findButton(w, "Keep waiting"))
	u.pending.Wait()
	if len(f.cancelledW) != 0 {
		t.Fatalf("CancelPairing called after Keep waiting: %q", f.cancelledW)
	}
	test.Tap(s.cancelWait)
	test.Tap(findButton(w, "Cancel pairing"))
	u.pending.Wait()
	if !slices.Equal(f.cancelledW, []string{"c-wait"}) {
		t.Fatalf("CancelPairing got %q, want c-wait", f.cancelledW)
	}
	u.refresh(context.Background())
	if strings.Contains(shown(w), "Kim — ") || strings.Contains(shown(w), "tandemreply1-for-kim") {
		t.Errorf("the cancelled pairing is still shown:\n%s", shown(w))
	}
	wantShownWrapped(t, w, "The pairing with Kim is cancelled")
}

// A pairing that waited until its invitation expired says so, hides the reply code, and is
// removed without a question.
func TestConnectionsExpiredWaitingPairing(t *testing.T) {
	f := newFakeAgent()
	f.waiting = []agent.ConnectionInfo{{ID: "c-old", PartnerName: "Kim", State: agent.StatePending, ReplyCode: "tandemreply1-old",
		Expires: time.Now().Add(-time.Minute), Problem: "Kim's operator did not complete pairing before the invitation expired."}}
	u, w, s := openConnections(t, f)
	s.list.Select(0)
	wantShown(t, w, "Kim — Pairing expired", "Status: Pairing expired", "Remove")
	wantShownWrapped(t, w, "did not complete pairing before the invitation expired")
	if strings.Contains(shown(w), "tandemreply1-old") {
		t.Error("the expired pairing still shows its reply code")
	}
	test.Tap(s.cancelWait)
	u.pending.Wait()
	if !slices.Equal(f.cancelledW, []string{"c-old"}) {
		t.Errorf("Remove called CancelPairing with %q, want c-old", f.cancelledW)
	}
}

// A failure to read the waiting pairings is said, like any read.
func TestConnectionsWaitingReadFailureShown(t *testing.T) {
	f := newFakeAgent()
	f.failing("PendingPairings", errAgentDown)
	_, w, _ := openConnections(t, f)
	wantShown(t, w, "read the pairings waiting for partners: agent is not running")
}

// A pairing that comes to wait while a connection is selected is listed first: the highlight
// stays on the selected connection, and a tap on the new first row shows the pairing.
func TestConnectionsSelectionFollowsTheConnection(t *testing.T) {
	f := twoConnections()
	u, w, s := openConnections(t, f)
	s.list.Select(0)
	wantShown(t, w, "Status: Active · Unverified")
	selected := s.selected
	f.waiting = []agent.ConnectionInfo{{ID: "c-wait", PartnerName: "Kim", State: agent.StatePending, ReplyCode: "tandemreply1-for-kim",
		Expires: time.Now().Add(time.Hour)}}
	u.refresh(context.Background())
	if s.selected != selected || !s.detail.Visible() {
		t.Fatalf("after a pairing came to wait, the detail shows %q (visible %v), want %q", s.selected, s.detail.Visible(), selected)
	}
	s.list.Select(0)
	if s.selected != "c-wait" || !s.waitDetail.Visible() {
		t.Fatalf("selecting the first row, now the waiting pairing, left %q selected", s.selected)
	}
	wantShown(t, w, "Kim — Waiting for the partner", "tandemreply1-for-kim")
}

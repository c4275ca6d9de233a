package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
)

// inviteExpiries are the lifetimes the operator may give an invitation, in menu order.
var inviteExpiries = []struct {
	label string
	d     time.Duration
}{
	{"1 hour", time.Hour},
	{"24 hours", 24 * time.Hour},
	{"3 days", 72 * time.Hour},
	{"7 days", 7 * 24 * time.Hour},
}

const defaultInviteExpiry = "24 hours"

// Revoke choices for the queued events.
const (
	revokeKeep   = "Keep the queued events (they stay listed; nothing is sent)"
	revokeDelete = "Delete the queued events"
)

// connectionsScreen pairs with partners and controls each connection: invite (with an expiry),
// accept, the invitations made, and per connection verify, pause, resume and revoke.
type connectionsScreen struct {
	u           *UI
	conns       []agent.ConnectionInfo
	waiting     []agent.ConnectionInfo // pairings waiting for the partner to complete them
	all         []agent.ConnectionInfo // what the list shows: the waiting pairings, then conns
	invitations []agent.InvitationInfo
	selected    string // the selected connection's ID

	list  *widget.List
	empty *widget.Label

	inviteButton *widget.Button
	inviteExpiry *widget.Select
	inviteCode   *widget.Label // selectable: the code to give the partner
	inviteUntil  *widget.Label
	copyButton   *widget.Button
	inviteBox    *fyne.Container
	screen       *fyne.Container // the whole screen, laid out again when the invitation shows

	acceptCode   *widget.Entry
	acceptButton *widget.Button

	// The selected connection.
	detailTitle   *widget.Label
	detailID      *widget.Label // the partner's agent ID
	detailStatus  *widget.Label
	detailProblem *widget.Label
	detailWhere   *widget.Label
	code          *widget.Label // the verification code, large
	codeHint      *widget.Label
	verifyButton  *widget.Button
	pauseButton   *widget.Button
	resumeButton  *widget.Button
	revokeButton  *widget.Button
	allow         *widget.Entry // the partner's allowed address ranges, comma-separated
	allowButton   *widget.Button
	allowShown    string // what the agent last said, so an edit in progress is kept
	allowFor      string // the connection allowShown belongs to
	detail        *fyne.Container
	noSelection   *widget.Label

	// The selected pairing, while it waits for the partner to complete it.
	waitTitle    *widget.Label
	waitID       *widget.Label
	waitStatus   *widget.Label
	waitProblem  *widget.Label
	replyLabel   *widget.Label
	replyCode    *widget.Label // selectable: the reply code to send the partner's operator
	replyCopy    *widget.Button
	waitCode     *widget.Label // the verification code, to compare once paired
	cancelWait   *widget.Button
	waitDetail   *fyne.Container
	cancelDialog *dialog.ConfirmDialog

	invList      *widget.List
	invSelected  string
	cancelButton *widget.Button
	invTitle     *widget.Label

	// The open questions, for tests.
	verifyDialog *dialog.ConfirmDialog
	revokeDialog *dialog.ConfirmDialog
	revokeChoice *widget.RadioGroup
}

func (s *connectionsScreen) build(u *UI) fyne.CanvasObject {
	s.u = u
	s.list = widget.NewList(
		func() int { return len(s.all) },
		func() fyne.CanvasObject {
			title := widget.NewLabelWithStyle("partner", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
			title.Truncation = fyne.TextTruncateEllipsis
			counts := widget.NewLabel("counts")
			counts.Truncation = fyne.TextTruncateEllipsis
			problem := widget.NewLabel("")
			problem.Truncation = fyne.TextTruncateEllipsis
			return container.NewVBox(title, counts, problem)
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < 0 || id >= len(s.all) {
				return
			}
			c := s.all[id]
			rows := o.(*fyne.Container).Objects
			rows[0].(*widget.Label).SetText(connectionTitle(c))
			rows[1].(*widget.Label).SetText(connectionCounts(c))
			p := rows[2].(*widget.Label)
			text, imp := connectionProblem(c)
			p.Importance = imp
			p.SetText(text)
		},
	)
	s.list.HideSeparators = false
	s.list.OnSelected = func(id widget.ListItemID) {
		if id >= 0 && id < len(s.all) {
			s.selected = s.all[id].ID
			s.showDetail()
		}
	}
	s.empty = widget.NewLabel("No connections yet. Invite a partner, or accept the code a partner gave you.")
	s.empty.Wrapping = fyne.TextWrapWord

	s.inviteCode = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	s.inviteCode.Selectable = true
	s.inviteCode.Wrapping = fyne.TextWrapBreak
	s.inviteUntil = widget.NewLabel("")
	s.inviteUntil.Wrapping = fyne.TextWrapWord
	s.copyButton = widget.NewButtonWithIcon("Copy", theme.ContentCopyIcon(), s.copyInvite)
	s.inviteBox = container.NewBorder(s.inviteUntil, nil, nil, s.copyButton, s.inviteCode)
	s.inviteBox.Hide()
	s.inviteButton = widget.NewButtonWithIcon("Invite a partner", theme.ContentAddIcon(), s.invite)
	s.inviteButton.Importance = widget.HighImportance
	var labels []string
	for _, e := range inviteExpiries {
		labels = append(labels, e.label)
	}
	s.inviteExpiry = widget.NewSelect(labels, nil)
	s.inviteExpiry.SetSelected(defaultInviteExpiry)

	s.acceptCode = widget.NewEntry()
	s.acceptCode.SetPlaceHolder("Paste the partner's invitation code (tandem1-…) or reply code (tandemreply1-…)")
	s.acceptButton = widget.NewButtonWithIcon("Accept", theme.ConfirmIcon(), s.accept)

	top := container.NewVBox(
		heading("Connections"),
		container.NewHBox(s.inviteButton, widget.NewLabel("valid for"), s.inviteExpiry),
		s.inviteBox,
		container.NewBorder(nil, nil, widget.NewLabel("Accept a partner's code:"), s.acceptButton, s.acceptCode),
		widget.NewSeparator(),
	)
	left := container.NewBorder(nil, nil, nil, nil, container.NewStack(s.list, container.NewVBox(s.empty)))
	split := container.NewHSplit(left, s.buildDetail())
	split.Offset = 0.42
	s.screen = container.NewBorder(top, s.buildInvitations(), nil, nil, split)
	return s.screen
}

// detailHead is the head of a detail pane: the partner's name, its agent ID (in a row with a
// Copy button), the status and what holds it up. The agent ID and the problem are read in
// full, selected and copied: an operator pastes them into a ticket or a chat with the partner.
// agentIDPrefix names the partner's agent ID in a detail pane; Copy leaves it out.
const agentIDPrefix = "Agent "

func detailHead() (title, id *widget.Label, idRow *fyne.Container, status, problem *widget.Label) {
	title = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	title.SizeName = theme.SizeNameSubHeadingText
	title.Truncation = fyne.TextTruncateEllipsis
	id, idRow = copyable("", func(shown string) string { return strings.TrimPrefix(shown, agentIDPrefix) })
	id.TextStyle = fyne.TextStyle{Monospace: true}
	status = widget.NewLabel("")
	problem = widget.NewLabel("")
	problem.Wrapping = fyne.TextWrapWord
	problem.Selectable = true
	return title, id, idRow, status, problem
}

func (s *connectionsScreen) buildDetail() fyne.CanvasObject {
	var idRow *fyne.Container
	s.detailTitle, s.detailID, idRow, s.detailStatus, s.detailProblem = detailHead()
	s.detailWhere = widget.NewLabel("")
	s.detailWhere.Wrapping = fyne.TextWrapBreak
	s.detailWhere.Selectable = true
	s.code = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	s.code.SizeName = theme.SizeNameHeadingText
	s.code.Selectable = true
	s.codeHint = widget.NewLabel("")
	s.codeHint.Wrapping = fyne.TextWrapWord
	s.verifyButton = widget.NewButtonWithIcon("Codes match…", theme.ConfirmIcon(), s.askVerify)
	s.verifyButton.Importance = widget.HighImportance
	s.pauseButton = widget.NewButtonWithIcon("Pause", theme.MediaPauseIcon(), func() { s.act("pause", s.u.agent.Pause) })
	s.resumeButton = widget.NewButtonWithIcon("Resume", theme.MediaPlayIcon(), func() { s.act("resume", s.u.agent.Resume) })
	s.revokeButton = widget.NewButtonWithIcon("Revoke…", theme.CancelIcon(), s.askRevoke)
	s.revokeButton.Importance = widget.DangerImportance
	s.allow = widget.NewEntry()
	s.allow.SetPlaceHolder("any address; or ranges such as 203.0.113.0/24, 198.51.100.7")
	s.allowButton = widget.NewButtonWithIcon("Save", theme.DocumentSaveIcon(), s.saveAllow)
	s.detail = container.NewVBox(
		s.detailTitle, idRow, s.detailStatus, s.detailProblem,
		container.NewHBox(widget.NewLabel("Verification code:"), s.code, s.verifyButton),
		s.codeHint,
		widget.NewSeparator(),
		container.NewHBox(s.pauseButton, s.resumeButton, s.revokeButton),
		s.detailWhere,
		container.NewBorder(nil, nil, widget.NewLabel("Partner may call from:"), s.allowButton, s.allow),
	)
	s.detail.Hide()
	s.noSelection = widget.NewLabel("Select a connection to see its verification code and to pause, resume or revoke it.")
	s.noSelection.Wrapping = fyne.TextWrapWord
	return container.NewVScroll(container.NewStack(s.detail, s.buildWaitDetail(), container.NewVBox(s.noSelection)))
}

// buildWaitDetail is the detail of a pairing that waits for the partner: the reply code to
// send, with Copy, and Cancel.
func (s *connectionsScreen) buildWaitDetail() fyne.CanvasObject {
	var idRow *fyne.Container
	s.waitTitle, s.waitID, idRow, s.waitStatus, s.waitProblem = detailHead()
	s.replyLabel = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	s.replyLabel.Wrapping = fyne.TextWrapWord
	s.replyCode = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	s.replyCode.Selectable = true
	s.replyCode.Wrapping = fyne.TextWrapBreak
	s.replyCopy = widget.NewButtonWithIcon("Copy", theme.ContentCopyIcon(), s.copyReply)
	s.replyCopy.Importance = widget.HighImportance
	s.waitCode = widget.NewLabel("")
	s.waitCode.Wrapping = fyne.TextWrapWord
	s.cancelWait = widget.NewButtonWithIcon("Cancel pairing…", theme.CancelIcon(), s.askCancelPairing)
	s.cancelWait.Importance = widget.DangerImportance
	s.waitDetail = container.NewVBox(
		s.waitTitle, idRow, s.waitStatus,
		s.replyLabel, s.replyCode,
		container.NewHBox(s.replyCopy, s.cancelWait),
		widget.NewSeparator(),
		s.waitProblem, s.waitCode,
	)
	s.waitDetail.Hide()
	return s.waitDetail
}

func (s *connectionsScreen) buildInvitations() fyne.CanvasObject {
	s.invTitle = widget.NewLabelWithStyle("Invitations", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	s.invList = widget.NewList(
		func() int { return len(s.invitations) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("invitation")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id >= 0 && id < len(s.invitations) {
				o.(*widget.Label).SetText(invitationLine(s.invitations[id]))
			}
		},
	)
	s.invList.OnSelected = func(id widget.ListItemID) {
		if id >= 0 && id < len(s.invitations) {
			s.invSelected = s.invitations[id].ID
			s.showInvitationActions()
		}
	}
	s.cancelButton = widget.NewButtonWithIcon("Cancel invitation", theme.DeleteIcon(), s.cancelInvitation)
	s.cancelButton.Disable()
	return container.NewVBox(
		widget.NewSeparator(),
		container.NewBorder(nil, nil, s.invTitle, s.cancelButton),
		container.NewGridWrap(fyne.NewSize(900, 110), s.invList),
	)
}

func (s *connectionsScreen) show(conns []agent.ConnectionInfo) {
	if slices.Equal(conns, s.conns) {
		return
	}
	s.conns = conns
	s.relist()
}

// showWaiting takes the pairings that wait for their partner, read while this screen shows.
func (s *connectionsScreen) showWaiting(waiting []agent.ConnectionInfo) {
	if slices.Equal(waiting, s.waiting) {
		return
	}
	s.waiting = waiting
	s.relist()
}

// relist shows the waiting pairings first, then the connections.
func (s *connectionsScreen) relist() {
	s.all = append(slices.Clone(s.waiting), s.conns...)
	s.empty.Hidden = len(s.all) > 0
	s.empty.Refresh()
	s.list.Refresh()
	// The list highlights a row by its place: keep it on the selected connection when rows come
	// or go above it (a waiting pairing is listed first), or a tap on the row that took the
	// highlighted place would do nothing.
	if i := slices.IndexFunc(s.all, func(c agent.ConnectionInfo) bool { return c.ID == s.selected }); i >= 0 {
		s.list.Select(i)
	} else {
		s.list.UnselectAll()
	}
	s.showDetail()
}

// showInvitations takes the invitations, read while this screen shows.
func (s *connectionsScreen) showInvitations(invitations []agent.InvitationInfo) {
	if !slices.Equal(invitations, s.invitations) {
		s.invitations = invitations
		pending := 0
		for _, inv := range invitations {
			if inv.State == agent.InvitationPending {
				pending++
			}
		}
		s.invTitle.SetText(fmt.Sprintf("Invitations (%d pending)", pending))
		s.invList.Refresh()
		s.showInvitationActions()
	}
}

// current is the selected connection, if it is still listed.
func (s *connectionsScreen) current() (agent.ConnectionInfo, bool) {
	i := slices.IndexFunc(s.all, func(c agent.ConnectionInfo) bool { return c.ID == s.selected })
	if i < 0 {
		return agent.ConnectionInfo{}, false
	}
	return s.all[i], true
}

func (s *connectionsScreen) showDetail() {
	c, ok := s.current()
	if !ok {
		s.detail.Hide()
		s.waitDetail.Hide()
		s.noSelection.Show()
		return
	}
	s.noSelection.Hide()
	if c.State == agent.StatePending {
		s.detail.Hide()
		s.showWaitDetail(c)
		return
	}
	s.waitDetail.Hide()
	s.detailTitle.SetText(orDash(c.PartnerName))
	s.detailID.SetText(agentIDPrefix + orDash(c.PartnerID))
	s.detailStatus.SetText("Status: " + c.Status() + " · " + c.Verification())
	text, imp := connectionProblem(c)
	s.detailProblem.Importance = imp
	s.detailProblem.SetText(text)
	s.detailProblem.Hidden = imp == widget.LowImportance // "No errors" says nothing here
	s.code.SetText(orDash(c.VerificationCode))
	switch {
	case c.IsVerified():
		s.codeHint.SetText(fmt.Sprintf("Verified on %s: you confirmed that the partner's operator sees this same code.", c.Verified.Local().Format(time.DateTime)))
		s.codeHint.Importance = widget.SuccessImportance
	default:
		s.codeHint.SetText("Unverified: read this code to the partner's operator over a channel you trust (phone, video). If their screen shows the same code, confirm it; if not, revoke the connection.")
		s.codeHint.Importance = widget.WarningImportance
	}
	s.codeHint.Refresh()
	setEnabled(s.verifyButton, !c.IsVerified() && c.State != agent.StateRevoked)
	setEnabled(s.pauseButton, c.State == agent.StateActive)
	setEnabled(s.resumeButton, c.State == agent.StatePaused)
	setEnabled(s.revokeButton, c.State != agent.StateRevoked)
	s.detailWhere.SetText(connectionWhere(c))
	if s.allow.Text == s.allowShown || s.allowFor != c.ID { // keep what the operator is typing
		s.allow.SetText(c.Allow)
	}
	s.allowShown, s.allowFor = c.Allow, c.ID
	setEnabled(s.allowButton, c.State != agent.StateRevoked)
	s.detail.Show()
}

// showWaitDetail shows a pairing that waits for the partner: what to do, and the reply code.
func (s *connectionsScreen) showWaitDetail(c agent.ConnectionInfo) {
	name := orPartner(c.PartnerName)
	s.waitTitle.SetText(orDash(c.PartnerName))
	s.waitID.SetText(agentIDPrefix + orDash(c.PartnerID))
	s.waitStatus.SetText("Status: " + c.Status())
	text, imp := connectionProblem(c)
	s.waitProblem.Importance = imp
	s.waitProblem.SetText(text)
	expired := c.Status() == "Pairing expired"
	s.replyLabel.SetText(fmt.Sprintf("Send this reply code to %s's operator:", name))
	s.replyCode.SetText(c.ReplyCode)
	s.replyLabel.Hidden, s.replyCode.Hidden, s.replyCopy.Hidden = expired, expired, expired
	s.waitCode.SetText(fmt.Sprintf("Verification code, to compare with %s's operator once paired: %s", name, orDash(c.VerificationCode)))
	if expired {
		s.cancelWait.SetText("Remove")
	} else {
		s.cancelWait.SetText("Cancel pairing…")
	}
	s.waitDetail.Show()
	s.waitDetail.Refresh()
}

func (s *connectionsScreen) copyReply() {
	s.copyCode(s.replyCode.Text, "Reply code copied to the clipboard: send it to the partner's operator.")
}

// copyCode puts a code on the clipboard and says so.
func (s *connectionsScreen) copyCode(code, said string) {
	if code == "" {
		return
	}
	fyne.CurrentApp().Clipboard().SetContent(code)
	s.u.setStatus(said, false)
}

// askCancelPairing asks before it cancels the selected waiting pairing (an expired one is
// removed without asking).
func (s *connectionsScreen) askCancelPairing() {
	c, ok := s.current()
	if !ok || c.State != agent.StatePending {
		return
	}
	cancel := func() {
		id := c.ID
		s.u.call("cancel the pairing", func(ctx context.Context) error {
			_, err := s.u.agent.CancelPairing(ctx, id)
			return err
		}, func(err error) {
			if err != nil {
				return
			}
			s.waiting = slices.DeleteFunc(slices.Clone(s.waiting), func(w agent.ConnectionInfo) bool { return w.ID == id })
			s.relist()
			s.u.setStatus(fmt.Sprintf("The pairing with %s is cancelled: its reply code no longer works.", orPartner(c.PartnerName)), false)
		})
	}
	if c.Status() == "Pairing expired" {
		cancel()
		return
	}
	if s.u.win == nil {
		s.u.showError(errors.New("cancel the pairing: no window to ask for confirmation in"))
		return
	}
	msg := widget.NewLabel(fmt.Sprintf("Stop waiting for %s's operator? The reply code stops working, and %s's agent is refused if it tries to complete the pairing. Pairing again needs a new invitation from %s.",
		orPartner(c.PartnerName), orPartner(c.PartnerName), orPartner(c.PartnerName)))
	msg.Wrapping = fyne.TextWrapWord
	s.cancelDialog = dialog.NewCustomConfirm("Cancel the pairing", "Cancel pairing", "Keep waiting", msg, func(yes bool) {
		if yes {
			cancel()
		}
	}, s.u.win)
	s.cancelDialog.Resize(fyne.NewSize(520, 220))
	s.cancelDialog.Show()
}

func setEnabled(b *widget.Button, on bool) {
	if on {
		b.Enable()
	} else {
		b.Disable()
	}
}

func (s *connectionsScreen) showInvitationActions() {
	i := slices.IndexFunc(s.invitations, func(inv agent.InvitationInfo) bool { return inv.ID == s.invSelected })
	setEnabled(s.cancelButton, i >= 0 && s.invitations[i].State == agent.InvitationPending)
}

// chosenExpiry is the lifetime picked for the next invitation.
func (s *connectionsScreen) chosenExpiry() time.Duration {
	for _, e := range inviteExpiries {
		if e.label == s.inviteExpiry.Selected {
			return e.d
		}
	}
	return 24 * time.Hour
}

// invite asks the agent for a new invitation code and shows it with a Copy button.
func (s *connectionsScreen) invite() {
	s.inviteButton.Disable()
	req := agent.InviteRequest{Expires: s.chosenExpiry()}
	var inv agent.Invitation
	s.u.call("create invitation", func(ctx context.Context) (err error) {
		inv, err = s.u.agent.Invite(ctx, req)
		return err
	}, func(err error) {
		s.inviteButton.Enable()
		if err != nil {
			return
		}
		s.inviteCode.SetText(inv.Code)
		until := inv.Expires.Local().Format(time.DateTime)
		if inv.Reply {
			s.inviteUntil.SetText(fmt.Sprintf("This agent accepts no connections, so pairing takes two steps: give this code to your partner (it works once, until %s); their agent answers it with a reply code, which you paste into Accept below:", until))
		} else {
			s.inviteUntil.SetText(fmt.Sprintf("Give this code to your partner; it works once, until %s:", until))
		}
		s.inviteBox.Show()
		// The top grew: lay the list and the detail out below it. Twice: the code wraps, and
		// its height is known only once the first layout gave it its width.
		s.screen.Refresh()
		s.screen.Refresh()
		s.u.setStatus("New invitation ready: copy it to your partner; it works once.", false)
	})
}

func (s *connectionsScreen) copyInvite() {
	s.copyCode(s.inviteCode.Text, "Invitation code copied to the clipboard.")
}

func (s *connectionsScreen) cancelInvitation() {
	id := s.invSelected
	if id == "" {
		return
	}
	s.cancelButton.Disable()
	s.u.call("cancel invitation", func(ctx context.Context) error {
		return s.u.agent.CancelInvitation(ctx, id)
	}, func(err error) {
		if err == nil {
			s.u.setStatus("Invitation "+id+" cancelled: its code no longer works.", false)
		}
		s.showInvitationActions()
	})
}

// accept redeems the pasted code. The entry keeps the code until the agent accepted it.
func (s *connectionsScreen) accept() {
	code := strings.TrimSpace(s.acceptCode.Text)
	if code == "" {
		s.u.showError(fmt.Errorf("accept invitation: paste the code your partner gave you first"))
		return
	}
	s.acceptButton.Disable()
	var c agent.ConnectionInfo
	s.u.call("accept invitation", func(ctx context.Context) (err error) {
		c, err = s.u.agent.Accept(ctx, code)
		return err
	}, func(err error) {
		s.acceptButton.Enable()
		if err != nil {
			return
		}
		s.acceptCode.SetText("")
		s.selected = c.ID
		if c.State == agent.StatePending {
			// Shown at once, with its reply code; the next read confirms it.
			s.waiting = append(slices.DeleteFunc(slices.Clone(s.waiting), func(w agent.ConnectionInfo) bool { return w.ID == c.ID }), c)
			s.relist()
			s.list.Select(slices.IndexFunc(s.all, func(w agent.ConnectionInfo) bool { return w.ID == c.ID }))
			s.u.setStatus(fmt.Sprintf("%s's agent accepts no connections: copy the reply code and send it to %s's operator; pairing completes when they paste it.",
				orPartner(c.PartnerName), orPartner(c.PartnerName)), false)
			return
		}
		s.u.setStatus(fmt.Sprintf("Paired with %s. Compare the verification code %s with your partner, then confirm it.",
			orDash(c.PartnerName), orDash(c.VerificationCode)), false)
	})
}

// saveAllow sets the selected connection's allow-list; the agent checks each range.
func (s *connectionsScreen) saveAllow() {
	c, ok := s.current()
	if !ok {
		return
	}
	var allow []string
	for _, r := range strings.Split(s.allow.Text, ",") {
		if r = strings.TrimSpace(r); r != "" {
			allow = append(allow, r)
		}
	}
	id := c.ID
	s.allowButton.Disable()
	s.u.call("set the allowed addresses", func(ctx context.Context) error {
		_, err := s.u.agent.SetAllowList(ctx, id, allow)
		return err
	}, func(err error) {
		s.allowButton.Enable()
		if err != nil {
			return
		}
		s.allow.SetText(strings.Join(allow, ", "))
		s.allowShown = s.allow.Text
		what := "any address"
		if len(allow) > 0 {
			what = strings.Join(allow, ", ")
		}
		s.u.setStatus(fmt.Sprintf("%s may now call from %s.", orDash(c.PartnerName), what), false)
	})
}

// askVerify asks the operator to confirm that both sides show the same code.
func (s *connectionsScreen) askVerify() {
	c, ok := s.current()
	if !ok {
		return
	}
	msg := fmt.Sprintf("Does %s's operator see the code %s on their screen?\n\nConfirm only if you compared it with them yourself, over a channel you trust.",
		orDash(c.PartnerName), c.VerificationCode)
	s.verifyDialog = s.u.confirm("Verify the connection", msg, "The codes match", func(yes bool) {
		if !yes {
			return
		}
		id := c.ID
		s.u.call("verify connection", func(ctx context.Context) error {
			_, err := s.u.agent.Verify(ctx, id, "")
			return err
		}, func(err error) {
			if err == nil {
				s.u.setStatus(fmt.Sprintf("%s is verified.", orDash(c.PartnerName)), false)
			}
		})
	})
}

// askRevoke asks for confirmation and what to do with the queued events.
func (s *connectionsScreen) askRevoke() {
	c, ok := s.current()
	if !ok {
		return
	}
	s.revokeChoice = widget.NewRadioGroup([]string{revokeKeep, revokeDelete}, nil)
	s.revokeChoice.Required = true
	s.revokeChoice.SetSelected(revokeKeep)
	msg := widget.NewLabel(fmt.Sprintf("Revoke the connection with %s? Their agent is told, and its key is refused from now on. Pairing again needs a new invitation.\n\n%d events wait to be sent and %d to be applied.",
		orDash(c.PartnerName), c.Outbox, c.Inbox))
	msg.Wrapping = fyne.TextWrapWord
	content := container.NewVBox(msg, s.revokeChoice)
	s.revokeDialog = s.u.confirmContent("Revoke the connection", content, "Revoke", func(yes bool) {
		if !yes {
			return
		}
		deleteQueued := s.revokeChoice.Selected == revokeDelete
		id := c.ID
		s.u.call("revoke connection", func(ctx context.Context) error {
			_, err := s.u.agent.Revoke(ctx, id, deleteQueued)
			return err
		}, func(err error) {
			if err == nil {
				s.u.setStatus(fmt.Sprintf("The connection with %s is revoked.", orDash(c.PartnerName)), false)
			}
		})
	})
}

// act pauses or resumes the selected connection.
func (s *connectionsScreen) act(what string, fn func(ctx context.Context, ref string) (agent.ConnectionInfo, error)) {
	c, ok := s.current()
	if !ok {
		return
	}
	id := c.ID
	s.u.call(what+" connection", func(ctx context.Context) error {
		_, err := fn(ctx, id)
		return err
	}, func(err error) {
		if err == nil {
			s.u.setStatus(fmt.Sprintf("The connection with %s: %sd; the partner is told.", orDash(c.PartnerName), what), false)
		}
	})
}

func connectionTitle(c agent.ConnectionInfo) string {
	if c.State == agent.StatePending && c.Status() == "Pairing expired" {
		return orDash(c.PartnerName) + " — Pairing expired"
	}
	if c.State == agent.StatePending {
		return orDash(c.PartnerName) + " — Waiting for the partner" // the detail says for what
	}
	return fmt.Sprintf("%s — %s · %s", orDash(c.PartnerName), c.Status(), c.Verification())
}

// orPartner is a partner's name, or "the partner" when it gave none.
func orPartner(name string) string {
	if name == "" {
		return "the partner"
	}
	return name
}

func connectionWhere(c agent.ConnectionInfo) string {
	url := c.PartnerURL
	if url == "" {
		url = "no URL (the partner pulls its events from this agent)"
	}
	if c.Pulls {
		url += "; this agent has no listener and pulls"
	}
	allow := c.Allow
	if allow == "" {
		allow = "any address"
	}
	return fmt.Sprintf("Connection %s · %s · partner may call from %s", orDash(c.ID), url, allow)
}

func connectionCounts(c agent.ConnectionInfo) string {
	if c.State == agent.StatePending {
		return "Not paired yet · reply code valid until " + c.Expires.Local().Format("Jan 2 15:04")
	}
	return fmt.Sprintf("%d twins · outbox %d · inbox %d · failed %d", c.Twins, c.Outbox, c.Inbox, c.Failed)
}

// connectionProblem is the line that says what holds a connection up, and how loudly.
func connectionProblem(c agent.ConnectionInfo) (string, widget.Importance) {
	switch {
	case c.State == agent.StatePending && c.Status() == "Pairing expired":
		return c.Problem, widget.DangerImportance
	case c.State == agent.StatePending:
		return c.Problem, widget.WarningImportance
	case c.Problem != "":
		return c.Problem, widget.DangerImportance
	case c.LastError != "":
		return "Last error: " + c.LastError, widget.DangerImportance
	case !c.IsVerified() && c.State != agent.StateRevoked:
		return "Unverified: compare the verification code with the partner's operator.", widget.WarningImportance
	}
	return "No errors", widget.LowImportance
}

func invitationLine(inv agent.InvitationInfo) string {
	line := fmt.Sprintf("%s · %s · made %s · expires %s", inv.ID, inv.State, inv.Created.Local().Format(time.DateTime), inv.Expires.Local().Format(time.DateTime))
	if inv.Reply && inv.State == agent.InvitationPending {
		line += " · paste the partner's reply code into Accept"
	}
	if inv.Partner != "" {
		line += " · paired with " + inv.Partner
	}
	return line
}

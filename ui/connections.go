package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
)

// connectionsScreen lists the pairings and offers Invite and Accept.
type connectionsScreen struct {
	u     *UI
	conns []agent.ConnectionInfo
	list  *widget.List
	empty *widget.Label

	inviteButton *widget.Button
	inviteCode   *widget.Label // selectable: the code to give the partner
	copyButton   *widget.Button
	inviteBox    *fyne.Container

	acceptCode   *widget.Entry
	acceptButton *widget.Button
}

func (s *connectionsScreen) build(u *UI) fyne.CanvasObject {
	s.u = u
	s.list = widget.NewList(
		func() int { return len(s.conns) },
		func() fyne.CanvasObject {
			title := widget.NewLabelWithStyle("partner", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
			where := widget.NewLabel("id · url")
			where.Truncation = fyne.TextTruncateEllipsis
			counts := widget.NewLabel("counts")
			counts.Truncation = fyne.TextTruncateEllipsis
			problem := widget.NewLabel("")
			problem.Importance = widget.DangerImportance
			problem.Truncation = fyne.TextTruncateEllipsis
			return container.NewVBox(title, where, counts, problem)
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < 0 || id >= len(s.conns) {
				return
			}
			c := s.conns[id]
			rows := o.(*fyne.Container).Objects
			rows[0].(*widget.Label).SetText(connectionTitle(c))
			rows[1].(*widget.Label).SetText(connectionWhere(c))
			rows[2].(*widget.Label).SetText(connectionCounts(c))
			problem := "No errors"
			if c.LastError != "" {
				problem = "Last error: " + c.LastError
			}
			p := rows[3].(*widget.Label)
			p.Importance = widget.LowImportance
			if c.LastError != "" {
				p.Importance = widget.DangerImportance
			}
			p.SetText(problem)
		},
	)
	s.list.HideSeparators = false
	s.empty = widget.NewLabel("No connections yet. Invite a partner, or accept the code a partner gave you.")

	s.inviteCode = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	s.inviteCode.Selectable = true
	s.inviteCode.Wrapping = fyne.TextWrapBreak
	s.copyButton = widget.NewButtonWithIcon("Copy", theme.ContentCopyIcon(), s.copyInvite)
	s.inviteBox = container.NewBorder(nil, nil, widget.NewLabel("Give this code to your partner:"), s.copyButton, s.inviteCode)
	s.inviteBox.Hide()
	s.inviteButton = widget.NewButtonWithIcon("Invite a partner", theme.ContentAddIcon(), s.invite)
	s.inviteButton.Importance = widget.HighImportance

	s.acceptCode = widget.NewEntry()
	s.acceptCode.SetPlaceHolder("Paste the partner's invitation code (tandem1-…)")
	s.acceptButton = widget.NewButtonWithIcon("Accept", theme.ConfirmIcon(), s.accept)

	top := container.NewVBox(
		heading("Connections"),
		container.NewHBox(s.inviteButton),
		s.inviteBox,
		container.NewBorder(nil, nil, widget.NewLabel("Accept an invitation:"), s.acceptButton, s.acceptCode),
		widget.NewSeparator(),
	)
	return container.NewBorder(top, nil, nil, nil, container.NewStack(s.list, container.NewVBox(s.empty)))
}

func (s *connectionsScreen) show(conns []agent.ConnectionInfo) {
	if slices.Equal(conns, s.conns) {
		return
	}
	s.conns = conns
	s.empty.Hidden = len(conns) > 0
	s.empty.Refresh()
	s.list.Refresh()
}

// invite asks the agent for a new invitation code and shows it with a Copy button.
func (s *connectionsScreen) invite() {
	s.inviteButton.Disable()
	var code string
	s.u.call("create invitation", func(ctx context.Context) (err error) {
		code, err = s.u.agent.Invite(ctx)
		return err
	}, func(err error) {
		s.inviteButton.Enable()
		if err != nil {
			return
		}
		s.inviteCode.SetText(code)
		s.inviteBox.Show()
		s.u.setStatus("New invitation ready: copy it to your partner; it works once.", false)
	})
}

func (s *connectionsScreen) copyInvite() {
	if s.inviteCode.Text == "" {
		return
	}
	fyne.CurrentApp().Clipboard().SetContent(s.inviteCode.Text)
	s.u.setStatus("Invitation code copied to the clipboard.", false)
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
		s.u.setStatus(fmt.Sprintf("Paired with %s. Compare the verification code %s with your partner.",
			orDash(c.PartnerName), orDash(c.VerificationCode)), false)
	})
}

func connectionTitle(c agent.ConnectionInfo) string {
	return fmt.Sprintf("%s — %s", orDash(c.PartnerName), orDash(string(c.State)))
}

func connectionWhere(c agent.ConnectionInfo) string {
	url := c.PartnerURL
	if url == "" {
		url = "no URL (partner pulls)"
	}
	return fmt.Sprintf("Connection %s · partner %s · %s", orDash(c.ID), orDash(c.PartnerID), url)
}

func connectionCounts(c agent.ConnectionInfo) string {
	return fmt.Sprintf("Verification code %s · %d twins · outbox %d · inbox %d · failed %d",
		orDash(c.VerificationCode), c.Twins, c.Outbox, c.Inbox, c.Failed)
}

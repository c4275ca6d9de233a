package ui

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
)

// historySettings is the Settings screen's part for the sync history: how many days it keeps,
// deleting it now, and each connection's debug capture of payloads.
type historySettings struct {
	u         *UI
	a         historyAgent
	retention *widget.Entry
	save      *widget.Button
	deleteNow *widget.Button
	captures  *fyne.Container
	conns     []agent.ConnectionInfo
	loaded    bool
}

func (s *historySettings) build(u *UI) fyne.CanvasObject {
	s.u, s.a = u, u.agent
	s.retention = widget.NewEntry()
	s.retention.SetPlaceHolder(strconv.Itoa(30))
	s.save = widget.NewButtonWithIcon("Save retention", theme.DocumentSaveIcon(), s.saveRetention)
	s.save.Disable() // until the agent's retention is in the entry
	s.deleteNow = widget.NewButtonWithIcon("Delete history now…", theme.DeleteIcon(), s.confirmDelete)
	s.deleteNow.Importance = widget.DangerImportance
	s.captures = container.NewVBox()
	explain := widget.NewLabel(fmt.Sprintf("The history keeps, for every event, when it was sent, applied, failed, retried or skipped, "+
		"with keys, error text and rule version, never field values. Keep it %d to %d days.", agent.MinHistoryRetentionDays, agent.MaxHistoryRetentionDays))
	explain.Wrapping = fyne.TextWrapWord
	capture := widget.NewLabel("Debug capture keeps the payloads a connection sends and receives, to see exactly what crossed. " +
		"It turns itself off after 24 hours and each payload is deleted 24 hours after it was captured.")
	capture.Wrapping = fyne.TextWrapWord
	return container.NewVBox(
		widget.NewSeparator(),
		widget.NewLabelWithStyle("Sync history", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		explain,
		container.NewHBox(widget.NewLabel("Keep history for"), container.NewGridWrap(fyne.NewSize(80, s.retention.MinSize().Height), s.retention),
			widget.NewLabel("days"), s.save, s.deleteNow),
		widget.NewLabelWithStyle("Debug capture", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		capture,
		s.captures,
	)
}

// shown loads the retention when the Settings screen is first shown.
func (s *historySettings) shown() {
	if s.loaded {
		return
	}
	var days int
	s.u.call("read the history retention", func(ctx context.Context) (err error) {
		days, err = s.a.HistoryRetention(ctx)
		return err
	}, func(err error) {
		if err != nil {
			return
		}
		s.loaded = true
		s.retention.SetText(strconv.Itoa(days))
		s.save.Enable()
	})
}

func (s *historySettings) saveRetention() {
	text := strings.TrimSpace(s.retention.Text)
	days, err := strconv.Atoi(text)
	if err != nil || days < agent.MinHistoryRetentionDays || days > agent.MaxHistoryRetentionDays {
		s.u.showError(fmt.Errorf("history retention %q: enter whole days from %d to %d", text, agent.MinHistoryRetentionDays, agent.MaxHistoryRetentionDays))
		return
	}
	s.save.Disable()
	s.u.call("save the history retention", func(ctx context.Context) error {
		return s.a.SetHistoryRetention(ctx, days)
	}, func(err error) {
		s.save.Enable()
		if err == nil {
			s.u.setStatus(fmt.Sprintf("The history keeps %d days; older records are deleted.", days), false)
		}
	})
}

func (s *historySettings) confirmDelete() {
	run := func() {
		s.u.call("delete the history", func(ctx context.Context) error { return s.a.DeleteHistory(ctx) }, func(err error) {
			if err == nil {
				s.u.setStatus("The sync history and every captured payload are deleted.", false)
			}
		})
	}
	if s.u.win == nil {
		run()
		return
	}
	dialog.ShowConfirm("Delete the sync history?", "Every history record and every captured payload is deleted now. "+
		"The queues and the sync are not touched. This cannot be undone.", func(ok bool) {
		if ok {
			run()
		}
	}, s.u.win)
}

// showConnections lists each connection with its capture switch.
func (s *historySettings) showConnections(conns []agent.ConnectionInfo) {
	if s.captures == nil || slicesEqualCapture(conns, s.conns) {
		return
	}
	s.conns = conns
	var rows []fyne.CanvasObject
	for _, c := range conns {
		on := !c.CaptureUntil.IsZero()
		state := "off"
		label := "Turn on for 24 hours"
		if on {
			state = "on until " + c.CaptureUntil.Local().Format("Jan 2 15:04")
			label = "Turn off and delete"
		}
		b := widget.NewButton(label, func() {
			s.u.call("set debug capture", func(ctx context.Context) error { return s.a.SetCapture(ctx, c.ID, !on) }, func(err error) {
				if err == nil {
					s.u.setStatus(fmt.Sprintf("Debug capture of %s is %s.", orDash(c.PartnerName), map[bool]string{true: "off; its payloads are deleted", false: "on for 24 hours"}[on]), false)
				}
			})
		})
		rows = append(rows, container.NewHBox(widget.NewLabel(fmt.Sprintf("%s (%s): capture %s", orDash(c.PartnerName), c.ID, state)), b))
	}
	if len(rows) == 0 {
		rows = append(rows, widget.NewLabel("No connections yet."))
	}
	s.captures.Objects = rows
	s.captures.Refresh()
}

func slicesEqualCapture(a, b []agent.ConnectionInfo) bool {
	if len(a) != len(b) || a == nil != (b == nil) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].PartnerName != b[i].PartnerName || !a[i].CaptureUntil.Equal(b[i].CaptureUntil) {
			return false
		}
	}
	return true
}

package ui

import (
	"strconv"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
)

// The Overview's counters, in display order.
var overviewCounters = []string{"Items", "Twins", "Queued", "Failed", "Connections", "Sent", "Applied"}

// overviewScreen shows the agent's identity and its counts.
type overviewScreen struct {
	name, id, tracker *widget.Label
	counts            map[string]*widget.Label
	hint              *widget.Label // how to start, while there is no connection
}

func (s *overviewScreen) build() fyne.CanvasObject {
	s.name = widget.NewLabel("…")
	s.id = widget.NewLabel("…")
	s.id.Selectable = true
	s.tracker = widget.NewLabel("…")
	s.counts = map[string]*widget.Label{}
	tiles := container.NewGridWrap(fyne.NewSize(150, 96))
	for _, name := range overviewCounters {
		v := widget.NewLabelWithStyle("–", fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
		v.SizeName = theme.SizeNameHeadingText
		s.counts[name] = v
		caption := widget.NewLabelWithStyle(name, fyne.TextAlignCenter, fyne.TextStyle{})
		tiles.Add(widget.NewCard("", "", container.NewVBox(v, caption)))
	}
	identity := widget.NewForm(
		widget.NewFormItem("Agent", s.name),
		widget.NewFormItem("Agent ID", s.id),
		widget.NewFormItem("Tracker", s.tracker),
	)
	s.hint = widget.NewLabel("No partner yet: open Connections to invite one, or to accept the code a partner gave you.")
	s.hint.Wrapping = fyne.TextWrapWord
	return container.NewVScroll(container.NewVBox(heading("Overview"), identity, widget.NewSeparator(), tiles, s.hint))
}

func (s *overviewScreen) show(o agent.Overview) {
	setText := func(l *widget.Label, v string) {
		if l.Text != v { // the loop calls this every few hundred ms: redraw only changes
			l.SetText(v)
		}
	}
	setText(s.name, orDash(o.Name))
	setText(s.id, orDash(o.AgentID))
	setText(s.tracker, orDash(o.Tracker))
	set := func(name, v string) { setText(s.counts[name], v) }
	if hide := o.Connections > 0; hide != s.hint.Hidden {
		s.hint.Hidden = hide
		s.hint.Refresh()
	}
	set("Items", strconv.Itoa(o.Items))
	set("Twins", strconv.Itoa(o.Twins))
	set("Queued", strconv.Itoa(o.Queued))
	set("Failed", strconv.Itoa(o.Failed))
	set("Connections", strconv.Itoa(o.Connections))
	set("Sent", strconv.FormatUint(o.Sent, 10))
	set("Applied", strconv.FormatUint(o.Applied, 10))
	imp := widget.MediumImportance
	if o.Failed > 0 {
		imp = widget.DangerImportance
	}
	if f := s.counts["Failed"]; f.Importance != imp {
		f.Importance = imp
		f.Refresh()
	}
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

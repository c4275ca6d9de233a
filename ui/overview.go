package ui

import (
	"context"
	"fmt"
	"image"
	"slices"
	"strconv"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
)

// The Overview's counters, in display order.
var overviewCounters = []string{"Items", "Twins", "Pending", "Blocked", "Retrying", "Failed", "Oldest wait", "Sent", "Applied"}

// The charts' spans and steps: the last hour by minute, the last day by half hour.
var chartSpans = []struct {
	title      string
	span, step time.Duration
}{
	{"Last hour", time.Hour, time.Minute},
	{"Last 24 hours", 24 * time.Hour, 30 * time.Minute},
}

// chartSize is the pixel size a chart is drawn at.
var chartSize = fyne.NewSize(440, 220)

// charts is one read of the throughput for the Overview's charts.
type charts struct {
	series []chartSeries
}

// readCharts reads the throughput the charts draw (a few hundred per-minute tallies).
func (u *UI) readCharts(ctx context.Context) (*charts, error) {
	c := &charts{}
	for _, sp := range chartSpans {
		t, err := u.agent.Throughput(ctx, "", sp.span, sp.step)
		if err != nil {
			return nil, err
		}
		c.series = append(c.series, chartSeries{title: sp.title, step: sp.step, tally: t})
	}
	return c, nil
}

// overviewScreen shows the agent's identity, each connection's health, counts per state and
// the throughput charts, and notifies the desktop when a connection starts failing or stays
// degraded.
type overviewScreen struct {
	u                 *UI
	name, id, tracker *widget.Label
	counts            map[string]*widget.Label
	hint              *widget.Label // how to start, while there is no connection
	incomplete        *widget.Label // the history could not all be written
	health            *fyne.Container
	healthKey         string // what health shows, to redraw only on change
	charts            []*canvas.Image
	drawn             []chartSeries

	// health last seen per connection, and failures, for desktop notifications
	lastHealth map[string]string
	lastFailed map[string]int
	// notify sends a desktop notification; the app's by default.
	notify func(n *fyne.Notification)
}

func (s *overviewScreen) build() fyne.CanvasObject {
	s.name = widget.NewLabel("…")
	s.id = widget.NewLabel("…")
	s.id.Selectable = true
	s.tracker = widget.NewLabel("…")
	s.counts = map[string]*widget.Label{}
	s.lastHealth, s.lastFailed = map[string]string{}, map[string]int{}
	if s.notify == nil {
		s.notify = func(n *fyne.Notification) {
			if app := fyne.CurrentApp(); app != nil {
				app.SendNotification(n)
			}
		}
	}
	tiles := container.NewGridWrap(fyne.NewSize(98, 84))
	for _, name := range overviewCounters {
		v := widget.NewLabelWithStyle("–", fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
		v.SizeName = theme.SizeNameSubHeadingText
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
	s.incomplete = widget.NewLabel("")
	s.incomplete.Wrapping = fyne.TextWrapWord
	s.incomplete.Importance = widget.DangerImportance
	s.incomplete.Hide()
	s.health = container.NewVBox()
	chartRow := container.NewGridWrap(chartSize)
	for range chartSpans {
		img := canvas.NewImageFromImage(image.NewRGBA(image.Rect(0, 0, 1, 1)))
		img.FillMode = canvas.ImageFillContain
		img.SetMinSize(chartSize)
		s.charts = append(s.charts, img)
		chartRow.Add(img)
	}
	return container.NewVScroll(container.NewVBox(heading("Overview"), identity, s.incomplete, widget.NewSeparator(),
		widget.NewLabelWithStyle("Connections", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), s.health, s.hint,
		tiles, widget.NewLabelWithStyle("Throughput and errors", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), chartRow))
}

func setText(l *widget.Label, v string) {
	if l.Text != v { // redraw only changes
		l.SetText(v)
	}
}

func (s *overviewScreen) show(o agent.Overview, conns []agent.ConnectionInfo) {
	setText(s.name, orDash(o.Name))
	setText(s.id, orDash(o.AgentID))
	setText(s.tracker, orDash(o.Tracker))
	if hide := o.Connections > 0; hide != s.hint.Hidden {
		s.hint.Hidden = hide
		s.hint.Refresh()
	}
	setText(s.incomplete, o.HistoryIncomplete)
	if (o.HistoryIncomplete == "") != s.incomplete.Hidden {
		s.incomplete.Hidden = o.HistoryIncomplete == ""
		s.incomplete.Refresh()
	}
	var total, failed, retrying, blocked int
	var oldest time.Time
	for _, c := range conns {
		total += c.Outbox + c.Inbox
		failed, retrying, blocked = failed+c.Failed, retrying+c.Retrying, blocked+c.Blocked
		if !c.Oldest.IsZero() && (oldest.IsZero() || c.Oldest.Before(oldest)) {
			oldest = c.Oldest
		}
	}
	set := func(name, v string) { setText(s.counts[name], v) }
	set("Items", thousands(o.Items))
	set("Twins", thousands(o.Twins))
	set("Pending", thousands(total-failed-retrying-blocked))
	set("Blocked", thousands(blocked))
	set("Retrying", thousands(retrying))
	set("Failed", thousands(failed))
	set("Sent", strconv.FormatUint(o.Sent, 10))
	set("Applied", strconv.FormatUint(o.Applied, 10))
	if oldest.IsZero() {
		set("Oldest wait", "–")
	} else {
		set("Oldest wait", age(time.Since(oldest)))
	}
	setImportance(s.counts["Failed"], map[bool]widget.Importance{true: widget.DangerImportance, false: widget.MediumImportance}[failed > 0])
	setImportance(s.counts["Blocked"], map[bool]widget.Importance{true: widget.WarningImportance, false: widget.MediumImportance}[blocked > 0])
	s.showHealth(conns)
	s.notifyChanges(conns)
}

// healthImportance colours a health word.
func healthImportance(h string) widget.Importance {
	switch h {
	case agent.HealthHealthy:
		return widget.SuccessImportance
	case agent.HealthDegraded:
		return widget.WarningImportance
	case agent.HealthFailing:
		return widget.DangerImportance
	}
	return widget.LowImportance
}

// showHealth lists each connection: its health in a word and a colour, why, how long its oldest
// event waits, its counts, and its debug capture when on.
func (s *overviewScreen) showHealth(conns []agent.ConnectionInfo) {
	key := ""
	for _, c := range conns {
		key += fmt.Sprintf("%s|%s|%s|%s|%d|%d|%d|%d|%v|%v|%s;", c.ID, c.PartnerName, c.Health, c.HealthReason, c.Outbox, c.Inbox, c.Failed, c.Retrying,
			c.CaptureUntil.IsZero(), c.IsVerified(), age(time.Since(c.Oldest)))
	}
	if key == s.healthKey {
		return
	}
	s.healthKey = key
	var rows []fyne.CanvasObject
	for _, c := range conns {
		word := widget.NewLabelWithStyle("● "+orDash(c.Health), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		word.Importance = healthImportance(c.Health)
		line := fmt.Sprintf("%s (%s) · %s out, %s in", orDash(c.PartnerName), c.ID, thousands(c.Outbox), thousands(c.Inbox))
		if !c.IsVerified() {
			line += " · unverified"
		}
		if c.Failed+c.Retrying > 0 {
			line += fmt.Sprintf(" · %s failed, %s retrying", thousands(c.Failed), thousands(c.Retrying))
		}
		if !c.Oldest.IsZero() {
			line += " · oldest waits " + age(time.Since(c.Oldest))
		}
		if !c.CaptureUntil.IsZero() {
			line += " · capture on until " + c.CaptureUntil.Local().Format("Jan 2 15:04")
		}
		text := newTapLabel(s.u, "Connection with "+orDash(c.PartnerName)) // cut off, it shows in full when tapped
		text.SetText(line)
		row := container.NewBorder(nil, nil, word, nil, text)
		if c.HealthReason != "" {
			why := widget.NewLabel(c.HealthReason)
			why.Wrapping = fyne.TextWrapWord
			why.Importance = word.Importance
			rows = append(rows, container.NewVBox(row, why))
		} else {
			rows = append(rows, row)
		}
	}
	s.health.Objects = rows
	s.health.Refresh()
}

// notifyChanges sends a desktop notification when a connection has new events failed for good
// or turns degraded (its errors lasted agent.DegradedAfter).
func (s *overviewScreen) notifyChanges(conns []agent.ConnectionInfo) {
	for _, c := range conns {
		prevHealth, seen := s.lastHealth[c.ID]
		prevFailed := s.lastFailed[c.ID]
		s.lastHealth[c.ID], s.lastFailed[c.ID] = c.Health, c.Failed
		if !seen {
			continue // what was so when the app opened is on screen, not news
		}
		switch {
		case c.Failed > prevFailed:
			s.notify(fyne.NewNotification(fmt.Sprintf("Tandem: %s failed with %s", orDash(c.PartnerName), countOf(c.Failed-prevFailed, "event", "events")),
				"They wait for you in Queue → Failed: fix the cause, then retry, or skip them. Other items keep syncing."))
		case c.Health == agent.HealthDegraded && prevHealth != agent.HealthDegraded:
			s.notify(fyne.NewNotification(fmt.Sprintf("Tandem: %s is not syncing", orDash(c.PartnerName)), c.HealthReason))
		}
	}
}

// showCharts draws the throughput charts when their data changed.
func (s *overviewScreen) showCharts(c charts) {
	if slices.EqualFunc(c.series, s.drawn, func(a, b chartSeries) bool { return a.title == b.title && slices.Equal(a.tally, b.tally) }) {
		return
	}
	s.drawn = c.series
	th := fyne.CurrentApp().Settings().Theme()
	v := fyne.CurrentApp().Settings().ThemeVariant()
	st := chartStyle{
		fg:     th.Color(theme.ColorNameForeground, v),
		grid:   th.Color(theme.ColorNameSeparator, v),
		synced: th.Color(theme.ColorNamePrimary, v),
		failed: th.Color(theme.ColorNameError, v),
	}
	for i, series := range c.series {
		if i >= len(s.charts) {
			break
		}
		img, err := renderChart(series, st, int(chartSize.Width), int(chartSize.Height))
		if err != nil {
			continue
		}
		s.charts[i].Image = img
		s.charts[i].Refresh()
	}
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

package ui

import (
	"bytes"
	"context"
	"encoding/json"
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

// historyAgent is what the History screen, its settings and the Overview's charts need.
type historyAgent interface {
	// History searches the sync history, newest first, a page at a time.
	History(ctx context.Context, q agent.HistoryQuery) (agent.HistoryPage, error)
	// Timeline is everything that happened to an item (its key on either side), oldest first.
	Timeline(ctx context.Context, key string) ([]agent.HistoryRecord, error)
	// Captured is the payload captured with a record, nil when none was.
	Captured(ctx context.Context, r agent.HistoryRecord) (json.RawMessage, error)
	SetCapture(ctx context.Context, connID string, on bool) error
	HistoryRetention(ctx context.Context) (int, error)
	SetHistoryRetention(ctx context.Context, days int) error
	DeleteHistory(ctx context.Context) error
	// Throughput counts outcomes per step over the last span, oldest first.
	Throughput(ctx context.Context, connID string, span, step time.Duration) ([]agent.HistoryTally, error)
}

// The time filter's choices.
var historySpans = []struct {
	name string
	d    time.Duration
}{
	{"Last hour", time.Hour}, {"Last 24 hours", 24 * time.Hour}, {"Last 7 days", 7 * 24 * time.Hour}, {"Everything kept", 0},
}

const anyOutcome = "Every outcome"

// historyScreen searches the sync history and shows one item's timeline, both ways.
type historyScreen struct {
	u       *UI
	a       historyAgent
	conns   []agent.ConnectionInfo
	records []agent.HistoryRecord
	next    string // continues the search with older records
	reached time.Time
	gen     int  // bumps with each new search; older answers are dropped
	dirty   bool // the history changed while the screen was hidden

	search     *widget.Entry
	connSelect *widget.Select
	outcome    *widget.Select
	span       *widget.Select
	incomplete *widget.Label
	list       *widget.List
	empty      *widget.Label
	older      *widget.Button

	timelineKey   string
	timelineTitle *widget.Label
	timeline      *fyne.Container
}

func (s *historyScreen) build(u *UI) fyne.CanvasObject {
	s.u, s.a = u, u.agent
	s.search = widget.NewEntry()
	s.search.SetPlaceHolder("Search by item key or text (an error, a kind, an event id)")
	s.search.OnChanged = func(string) { s.query() }
	s.search.OnSubmitted = func(text string) {
		if text = strings.TrimSpace(text); text != "" {
			s.showTimeline(text)
		}
	}
	s.connSelect = widget.NewSelect([]string{allConnections}, func(string) { s.query() })
	s.connSelect.Selected = allConnections
	outcomes := []string{anyOutcome}
	for _, o := range []agent.HistoryOutcome{agent.OutcomeSent, agent.OutcomeApplied, agent.OutcomeFailed, agent.OutcomeRetried, agent.OutcomeSkipped} {
		outcomes = append(outcomes, string(o))
	}
	s.outcome = widget.NewSelect(outcomes, func(string) { s.query() })
	s.outcome.Selected = anyOutcome
	var spans []string
	for _, sp := range historySpans {
		spans = append(spans, sp.name)
	}
	s.span = widget.NewSelect(spans, func(string) { s.query() })
	s.span.Selected = historySpans[1].name

	s.incomplete = widget.NewLabel("")
	s.incomplete.Importance = widget.DangerImportance
	s.incomplete.Wrapping = fyne.TextWrapWord
	s.incomplete.Hide()

	s.list = widget.NewList(
		func() int { return len(s.records) },
		func() fyne.CanvasObject {
			cells := make([]fyne.CanvasObject, len(historyHeaders))
			for i := range cells {
				l := widget.NewLabel("")
				l.Truncation = fyne.TextTruncateEllipsis
				cells[i] = l
			}
			return container.New(historyColumns, cells...)
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < 0 || id >= len(s.records) {
				return
			}
			r := s.records[id]
			cells := o.(*fyne.Container).Objects
			for i, t := range historyRow(r, s.connName(r.Connection)) {
				cells[i].(*widget.Label).SetText(t)
			}
			setImportance(cells[4].(*widget.Label), outcomeImportance(r.Outcome))
		},
	)
	s.list.OnSelected = func(id widget.ListItemID) {
		if id >= 0 && id < len(s.records) {
			r := s.records[id]
			key := r.Local
			if key == "" {
				key = r.Remote
			}
			s.showTimeline(key)
		}
	}
	s.empty = widget.NewLabel("Loading…")
	s.empty.Wrapping = fyne.TextWrapWord
	s.older = widget.NewButton("Show older", s.more)
	s.older.Hide()

	header := make([]fyne.CanvasObject, len(historyHeaders))
	for i, h := range historyHeaders {
		header[i] = widget.NewLabelWithStyle(h, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	}
	s.timelineTitle = widget.NewLabelWithStyle("Timeline", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	s.timelineTitle.Wrapping = fyne.TextWrapWord
	s.timeline = container.NewVBox(widget.NewLabel("Select a record, or type an item's key and press Enter, to see everything that happened to it, both ways."))
	for _, l := range s.timeline.Objects {
		l.(*widget.Label).Wrapping = fyne.TextWrapWord
	}

	filters := container.NewHBox(fixedWidth(s.connSelect, 220), fixedWidth(s.outcome, 150), fixedWidth(s.span, 160))
	top := container.NewVBox(heading("History"), s.incomplete, s.search, filters,
		container.New(historyColumns, header...), widget.NewSeparator())
	left := container.NewBorder(top, container.NewHBox(s.older), nil, nil, container.NewStack(s.list, container.NewVBox(s.empty)))
	right := container.NewBorder(s.timelineTitle, nil, nil, nil, container.NewVScroll(s.timeline))
	split := container.NewHSplit(left, right)
	split.Offset = 0.6
	return split
}

var historyHeaders = []string{"Time", "Partner", "Dir", "Item", "Outcome", "Error"}

var historyColumns = columns{124, 64, 60, 150, 136}

func outcomeImportance(o agent.HistoryOutcome) widget.Importance {
	switch o {
	case agent.OutcomeFailed:
		return widget.DangerImportance
	case agent.OutcomeSkipped, agent.OutcomeRetried:
		return widget.WarningImportance
	case agent.OutcomeApplied, agent.OutcomeSent:
		return widget.SuccessImportance
	}
	return widget.MediumImportance
}

func historyRow(r agent.HistoryRecord, conn string) []string {
	item := orDash(r.Local)
	if r.Remote != "" {
		item += " ⇄ " + r.Remote
	}
	outcome := string(r.Outcome)
	if r.Operator {
		outcome += " (you)"
	}
	return []string{r.Time.Local().Format("01-02 15:04:05"), conn, arrow(r.Direction), item, outcome + " · " + orDash(r.Kind), firstLine(r.Error, 100)}
}

func arrow(dir string) string {
	if dir == dirIn {
		return "← in"
	}
	return "→ out"
}

func (s *historyScreen) connName(id string) string {
	for _, c := range s.conns {
		if c.ID == id {
			return orDash(c.PartnerName)
		}
	}
	return id
}

// showConnections takes the agent's connections for the filter.
func (s *historyScreen) showConnections(conns []agent.ConnectionInfo) {
	if slices.EqualFunc(conns, s.conns, func(a, b agent.ConnectionInfo) bool {
		return a.ID == b.ID && a.PartnerName == b.PartnerName && a.CaptureUntil.IsZero() == b.CaptureUntil.IsZero()
	}) {
		return
	}
	s.conns = conns
	names := []string{allConnections}
	for _, c := range conns {
		names = append(names, connectionChoice(c))
	}
	sel := s.connSelect.Selected
	s.connSelect.SetOptions(names)
	if !slices.Contains(names, sel) {
		s.connSelect.Selected = allConnections
		s.connSelect.Refresh()
	}
}

// showIncomplete shows or hides the note that some outcomes could not be written.
func (s *historyScreen) showIncomplete(text string) {
	if s.incomplete.Text != text {
		s.incomplete.SetText(text)
	}
	if (text == "") != s.incomplete.Hidden {
		if text == "" {
			s.incomplete.Hide()
		} else {
			s.incomplete.Show()
		}
	}
}

// shown is called when the screen becomes visible.
func (s *historyScreen) shown() {
	if s.dirty || s.gen == 0 {
		s.dirty = false
		s.query()
		if s.timelineKey != "" {
			s.showTimeline(s.timelineKey)
		}
	}
}

// changed is called when the agent wrote history: re-read the first page (unless the operator
// is reading older pages) and the timeline shown.
func (s *historyScreen) changed() {
	if s.u.current != screenHistory {
		s.dirty = true
		return
	}
	if s.next == "" || len(s.records) <= 100 {
		s.query()
	}
	if s.timelineKey != "" {
		s.showTimeline(s.timelineKey)
	}
}

// historyQuery is what the search box and the filters ask for.
func (s *historyScreen) historyQuery() agent.HistoryQuery {
	q := agent.HistoryQuery{Text: strings.TrimSpace(s.search.Text), Limit: 100}
	for _, c := range s.conns {
		if connectionChoice(c) == s.connSelect.Selected {
			q.Connection = c.ID
		}
	}
	if s.outcome.Selected != anyOutcome && s.outcome.Selected != "" {
		q.Outcomes = []agent.HistoryOutcome{agent.HistoryOutcome(s.outcome.Selected)}
	}
	for _, sp := range historySpans {
		if sp.name == s.span.Selected && sp.d > 0 {
			q.Since = time.Now().Add(-sp.d)
		}
	}
	return q
}

// query starts a new search.
func (s *historyScreen) query() {
	s.gen++
	gen, q := s.gen, s.historyQuery()
	var page agent.HistoryPage
	s.u.call("search the history", func(ctx context.Context) (err error) {
		page, err = s.a.History(ctx, q)
		return err
	}, func(err error) {
		if gen != s.gen {
			return
		}
		if err != nil {
			s.empty.SetText("The history could not be read: " + err.Error())
			s.empty.Show()
			return
		}
		s.records, s.next, s.reached = page.Records, page.Next, page.Reached
		s.list.UnselectAll()
		s.list.Refresh()
		s.showState(q)
	})
}

// more reads the next page of older records.
func (s *historyScreen) more() {
	q := s.historyQuery()
	q.After = s.next
	gen := s.gen
	var page agent.HistoryPage
	s.older.Disable()
	s.u.call("search the history", func(ctx context.Context) (err error) {
		page, err = s.a.History(ctx, q)
		return err
	}, func(err error) {
		s.older.Enable()
		if gen != s.gen || err != nil {
			return
		}
		s.records = append(s.records, page.Records...)
		s.next, s.reached = page.Next, page.Reached
		s.list.Refresh()
		s.showState(q)
	})
}

func (s *historyScreen) showState(q agent.HistoryQuery) {
	switch {
	case len(s.records) > 0:
		s.empty.Hide()
	case q.Text != "" && s.next != "":
		s.empty.SetText(fmt.Sprintf("Nothing matches %q back to %s yet; Show older searches further.", q.Text, s.reached.Local().Format("2006-01-02 15:04")))
		s.empty.Show()
	case q.Text != "":
		s.empty.SetText(fmt.Sprintf("Nothing in the history matches %q with these filters. Check the key or widen the time range.", q.Text))
		s.empty.Show()
	case len(q.Outcomes) > 0 || q.Connection != "":
		s.empty.SetText("Nothing in the history matches these filters.")
		s.empty.Show()
	default:
		s.empty.SetText("No sync history in this time range yet. Every event sent, applied, failed, retried or skipped shows here.")
		s.empty.Show()
	}
	if s.next != "" {
		s.older.Show()
	} else {
		s.older.Hide()
	}
}

// showTimeline shows everything that happened to the item with this key, both ways.
func (s *historyScreen) showTimeline(key string) {
	s.timelineKey = key
	var recs []agent.HistoryRecord
	s.u.call("read the timeline of "+key, func(ctx context.Context) (err error) {
		recs, err = s.a.Timeline(ctx, key)
		return err
	}, func(err error) {
		if err != nil || s.timelineKey != key {
			return
		}
		s.drawTimeline(key, recs)
	})
}

func (s *historyScreen) drawTimeline(key string, recs []agent.HistoryRecord) {
	keys := []string{key}
	for _, r := range recs {
		for _, k := range []string{r.Local, r.Remote} {
			if k != "" && !slices.ContainsFunc(keys, func(x string) bool { return strings.EqualFold(x, k) }) {
				keys = append(keys, k)
			}
		}
	}
	s.timelineTitle.SetText(fmt.Sprintf("Timeline of %s: %s", strings.Join(keys, " ⇄ "), countOf(len(recs), "step", "steps")))
	var rows []fyne.CanvasObject
	if len(recs) == 0 {
		l := widget.NewLabel(fmt.Sprintf("Nothing recorded for %q: no event of an item with that key, on either side, in the history.", key))
		l.Wrapping = fyne.TextWrapWord
		rows = append(rows, l)
	}
	for _, r := range recs {
		rows = append(rows, s.timelineStep(r))
	}
	s.timeline.Objects = rows
	s.timeline.Refresh()
}

// timelineStep is one step of a timeline: when, which way, what, how it went, with the rule
// version, the error and, when captured, the payload.
func (s *historyScreen) timelineStep(r agent.HistoryRecord) fyne.CanvasObject {
	line := fmt.Sprintf("%s  %s %s  %s", r.Time.Local().Format("01-02 15:04:05.000"), arrow(r.Direction), orDash(r.Kind), historyRow(r, "")[3])
	head := widget.NewLabelWithStyle(line, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	head.Wrapping = fyne.TextWrapWord
	outcome := string(r.Outcome)
	if r.Operator {
		outcome += " by you"
	}
	var facts []string
	facts = append(facts, fmt.Sprintf("%s · %s", outcome, s.connName(r.Connection)))
	if r.Attempt > 0 {
		facts = append(facts, fmt.Sprintf("attempt %d", r.Attempt))
	}
	if r.Duration > 0 {
		facts = append(facts, "took "+r.Duration.Round(time.Millisecond).String())
	}
	if r.RuleVersion != "" {
		facts = append(facts, "rule "+r.RuleVersion)
	} else if r.Outcome != agent.OutcomeRetried && r.Outcome != agent.OutcomeSkipped && (r.Kind == "create" || r.Kind == "update") {
		facts = append(facts, "rule version not recorded")
	}
	if r.Permanent {
		facts = append(facts, "waits for you")
	}
	what := widget.NewLabel(strings.Join(facts, " · "))
	what.Importance = outcomeImportance(r.Outcome)
	what.Wrapping = fyne.TextWrapWord
	box := container.NewVBox(head, what)
	for _, l := range r.RuleLogs {
		ll := widget.NewLabel("Rule log: " + l)
		ll.Wrapping = fyne.TextWrapWord
		box.Add(ll)
	}
	if r.Error != "" {
		e := widget.NewLabel("Error: " + r.Error)
		e.Wrapping = fyne.TextWrapWord
		e.Importance = widget.DangerImportance
		e.Selectable = true
		box.Add(e)
	}
	if r.Captured {
		box.Add(container.NewHBox(widget.NewButtonWithIcon("Show captured payload", theme.DocumentIcon(), func() { s.showPayload(r) })))
	}
	box.Add(widget.NewSeparator())
	return box
}

// showPayload opens the payload debug capture kept with a record.
func (s *historyScreen) showPayload(r agent.HistoryRecord) {
	var p json.RawMessage
	s.u.call("read the captured payload", func(ctx context.Context) (err error) {
		p, err = s.a.Captured(ctx, r)
		return err
	}, func(err error) {
		if err != nil {
			return
		}
		text := "The payload was deleted: captures are kept 24 hours, or until capture is turned off."
		if p != nil {
			var b bytes.Buffer
			if json.Indent(&b, p, "", "  ") == nil {
				text = b.String()
			} else {
				text = string(p)
			}
		}
		if s.u.win == nil {
			s.u.setStatus(text, false)
			return
		}
		l := widget.NewLabelWithStyle(text, fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
		l.Selectable = true
		d := dialog.NewCustom(fmt.Sprintf("Captured payload: %s %s of %s", arrow(r.Direction), r.Kind, orDash(r.Local)), "Close", container.NewVScroll(l), s.u.win)
		d.Resize(fyne.NewSize(640, 480))
		d.Show()
	})
}

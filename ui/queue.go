package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
)

// queueAgent is what the Queue screen needs from the agent.
type queueAgent interface {
	// QueuePage reads a page of a query and how many events it matches.
	QueuePage(ctx context.Context, q agent.QueueQuery, offset, limit int) (agent.QueuePage, error)
	// QueueBulk retries (the failed ones) or skips every event of a query, in chunks, until
	// done or ctx ends, telling progress after each chunk.
	QueueBulk(ctx context.Context, q agent.QueueQuery, action string, progress func(done, total int)) (int, error)
	// Retry makes a failed event ready now; Skip drops an event for good. Both are recorded in
	// the history.
	Retry(ctx context.Context, connID, direction string, seq uint64) error
	Skip(ctx context.Context, connID, direction string, seq uint64) error
}

// The Queue screen's tabs.
const (
	tabOutgoing = "Outgoing"
	tabIncoming = "Incoming"
	tabFailed   = "Failed"
)

// Choices of the state filter.
const (
	stateAny       = "Every state"
	stateFailedAll = "Failed or retrying"
)

// stateChoices are the state filter's choices on a tab.
func stateChoices(tab string) []string {
	if tab == tabFailed {
		return []string{stateFailedAll, agent.QueueFailed, agent.QueueRetrying}
	}
	return []string{stateAny, agent.QueuePending, agent.QueueBlocked, agent.QueueRetrying, agent.QueueFailed}
}

const allConnections = "All connections"

const queueEmptyText = "Nothing waiting: every change has been delivered and applied."

// queueColumns are the widths of a row's columns; the last, the error, takes the rest.
var queueColumns = columns{100, 44, 92, 92, 64, 132, 52, 60}

// queueHeaders are the column titles; the sortable ones are buttons.
var queueHeaders = []string{"Connection", "Dir", "Local", "Remote", "Kind", "State", "Tries", "Age", "Last error"}

// queueScreen lists a page at a time of the outgoing, incoming or failed events of one
// connection or all, filtered and sorted, and acts on them one by one or in bulk.
type queueScreen struct {
	u       *UI
	a       queueAgent
	conns   []agent.ConnectionInfo
	connID  string // "" for every connection
	tab     string
	state   string // a stateChoices entry
	item    string
	order   string
	visible bool
	dirty   bool // the queues changed while the screen was hidden

	rows     *pager[agent.QueueEntry]
	selected *agent.QueueEntry // the selected event, as last read

	tabs        map[string]*widget.Button // the Outgoing, Incoming and Failed tabs
	tabBar      *fyne.Container
	connSelect  *widget.Select
	stateSelect *widget.Select
	itemEntry   *widget.Entry
	sortButtons map[string]*widget.Button
	summary     *widget.Label
	list        *widget.List
	empty       *widget.Label
	detail      *widget.Label

	retryButton    *widget.Button
	skipButton     *widget.Button
	retryAllButton *widget.Button
	skipAllButton  *widget.Button
	progress       *widget.ProgressBar
	cancelButton   *widget.Button
	progressBox    *fyne.Container
	cancelBulk     context.CancelFunc
	skipDialog     *dialog.ConfirmDialog // the open "Skip?" question, for tests
}

func (s *queueScreen) build(u *UI) fyne.CanvasObject {
	s.u, s.a = u, u.agent
	s.tab, s.state, s.order = tabOutgoing, stateAny, agent.QueueOldest
	s.rows = newPager[agent.QueueEntry](u, "read the queue", s.rowsArrived)

	s.tabs = map[string]*widget.Button{}
	s.tabBar = container.NewHBox()
	for _, tab := range []string{tabOutgoing, tabIncoming, tabFailed} {
		b := widget.NewButton(tab, func() { s.selectTab(tab) })
		s.tabs[tab] = b
		s.tabBar.Add(b)
	}
	s.showTabs()
	s.connSelect = widget.NewSelect([]string{allConnections}, func(name string) {
		id := ""
		for _, c := range s.conns {
			if connectionChoice(c) == name {
				id = c.ID
			}
		}
		if id != s.connID {
			s.connID = id
			s.requery()
		}
	})
	s.connSelect.SetSelected(allConnections)
	s.stateSelect = widget.NewSelect(stateChoices(tabOutgoing), func(v string) {
		if v != s.state {
			s.state = v
			s.requery()
		}
	})
	s.stateSelect.SetSelected(stateAny)
	s.itemEntry = widget.NewEntry()
	s.itemEntry.SetPlaceHolder("Item key starts with…")
	s.itemEntry.OnChanged = func(v string) {
		if v = strings.TrimSpace(v); v != s.item {
			s.item = v
			s.requery()
		}
	}
	s.summary = widget.NewLabel("")

	s.list = widget.NewList(
		func() int { return s.rows.total },
		func() fyne.CanvasObject {
			cells := make([]fyne.CanvasObject, len(queueHeaders))
			for i := range cells {
				l := widget.NewLabel("")
				l.Truncation = fyne.TextTruncateEllipsis
				cells[i] = l
			}
			return container.New(queueColumns, cells...)
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			cells := o.(*fyne.Container).Objects
			e, ok := s.rows.row(id)
			texts := make([]string, len(cells))
			texts[2] = "…"
			if ok {
				texts = queueRow(e, s.connName(e.Connection), time.Now())
			}
			for i, text := range texts {
				cells[i].(*widget.Label).SetText(text)
			}
			setImportance(cells[5].(*widget.Label), stateImportance(e.State))
		},
	)
	s.list.OnSelected = func(id widget.ListItemID) {
		if e, ok := s.rows.row(id); ok {
			s.selected = &e
		} else {
			s.selected = nil
		}
		s.showSelected()
	}
	s.list.OnUnselected = func(widget.ListItemID) {
		s.selected = nil
		s.showSelected()
	}
	s.empty = widget.NewLabel("Loading…")

	s.sortButtons = map[string]*widget.Button{}
	header := make([]fyne.CanvasObject, 0, len(queueHeaders))
	for _, h := range queueHeaders {
		if h == "Local" || h == "Age" {
			b := widget.NewButton(h, func() { s.sortBy(h) })
			b.Importance = widget.LowImportance
			b.Alignment = widget.ButtonAlignLeading
			s.sortButtons[h] = b
			header = append(header, b)
			continue
		}
		l := widget.NewLabelWithStyle(h, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		l.Truncation = fyne.TextTruncateEllipsis
		header = append(header, l)
	}
	s.showSort()

	s.detail = widget.NewLabel("")
	s.detail.Wrapping = fyne.TextWrapWord
	s.detail.Selectable = true
	s.retryButton = widget.NewButtonWithIcon("Retry now", theme.ViewRefreshIcon(), s.retry)
	s.skipButton = widget.NewButtonWithIcon("Skip…", theme.MediaSkipNextIcon(), s.skip)
	s.skipButton.Importance = widget.DangerImportance
	s.retryAllButton = widget.NewButtonWithIcon("Retry all failed", theme.ViewRefreshIcon(), func() { s.bulk(agent.BulkRetry) })
	s.skipAllButton = widget.NewButtonWithIcon("Skip all shown…", theme.MediaSkipNextIcon(), func() { s.bulk(agent.BulkSkip) })
	s.progress = widget.NewProgressBar()
	s.cancelButton = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), func() {
		if s.cancelBulk != nil {
			s.cancelBulk()
		}
	})
	s.progressBox = container.NewBorder(nil, nil, nil, s.cancelButton, s.progress)
	s.progressBox.Hide()
	s.showSelected()

	filters := container.NewHBox(widget.NewLabel("Connection"), fixedWidth(s.connSelect, 240), widget.NewLabel("State"), fixedWidth(s.stateSelect, 170))
	top := container.NewVBox(
		heading("Queue"),
		s.tabBar,
		container.NewBorder(nil, nil, filters, nil, s.itemEntry),
		container.NewBorder(nil, nil, nil, container.NewHBox(s.retryAllButton, s.skipAllButton), s.summary),
		s.progressBox,
		container.New(queueColumns, header...),
		widget.NewSeparator(),
	)
	bottom := container.NewVBox(
		widget.NewSeparator(),
		container.NewHBox(s.retryButton, s.skipButton),
		container.NewGridWrap(fyne.NewSize(760, 96), container.NewVScroll(s.detail)),
	)
	return container.NewBorder(top, bottom, nil, nil, container.NewStack(s.list, container.NewVBox(s.empty)))
}

// fixedWidth gives o a width of its own in a row, so a select shows its choice in full.
func fixedWidth(o fyne.CanvasObject, w float32) fyne.CanvasObject {
	return container.NewGridWrap(fyne.NewSize(w, o.MinSize().Height), o)
}

func setImportance(l *widget.Label, imp widget.Importance) {
	if l.Importance != imp {
		l.Importance = imp
		l.Refresh()
	}
}

func stateImportance(state string) widget.Importance {
	switch state {
	case agent.QueueFailed:
		return widget.DangerImportance
	case agent.QueueBlocked, agent.QueueRetrying:
		return widget.WarningImportance
	}
	return widget.MediumImportance
}

// connectionChoice names a connection in selects, saying when it is unverified and when
// its capture is on.
func connectionChoice(c agent.ConnectionInfo) string {
	s := fmt.Sprintf("%s (%s)", orDash(c.PartnerName), c.ID)
	if !c.IsVerified() {
		s += " · unverified"
	}
	if !c.CaptureUntil.IsZero() {
		s += " · capture on"
	}
	return s
}

func (s *queueScreen) connName(id string) string {
	for _, c := range s.conns {
		if c.ID == id {
			return orDash(c.PartnerName)
		}
	}
	return id
}

// query is what the screen's tab, connection and filters ask for.
func (s *queueScreen) query() agent.QueueQuery {
	q := agent.QueueQuery{Connection: s.connID, Item: s.item, Order: s.order}
	switch s.tab {
	case tabOutgoing:
		q.Direction = dirOut
	case tabIncoming:
		q.Direction = dirIn
	}
	switch s.state {
	case stateAny:
	case stateFailedAll:
		q.States = []string{agent.QueueFailed, agent.QueueRetrying}
	default:
		q.States = []string{s.state}
	}
	return q
}

// shown is called when the screen becomes visible: read it now if it changed meanwhile.
func (s *queueScreen) shown() {
	s.visible = true
	if s.dirty || s.rows.fetch == nil {
		s.dirty = false
		if s.rows.fetch == nil {
			s.requery()
		} else {
			s.rows.invalidate()
			s.list.Refresh()
		}
	}
}

// changed is called when the agent says the queues changed: re-read what shows, or remember
// to when the screen is shown again.
func (s *queueScreen) changed() {
	if s.u.current != screenQueue {
		s.dirty = true
		return
	}
	s.rows.invalidate()
	s.list.Refresh()
}

// requery starts over with the current tab, connection and filters.
func (s *queueScreen) requery() {
	q := s.query()
	s.selected = nil
	s.list.UnselectAll()
	s.rows.reset(func(ctx context.Context, offset, limit int) ([]agent.QueueEntry, int, error) {
		p, err := s.a.QueuePage(ctx, q, offset, limit)
		return p.Entries, p.Total, err
	})
	s.list.ScrollToTop()
	s.list.Refresh()
	s.showState()
	s.showSelected()
}

// rowsArrived redraws after a page read answered.
func (s *queueScreen) rowsArrived() {
	s.list.Refresh()
	s.showState()
	if s.selected != nil {
		s.refreshSelected()
	}
}

// refreshSelected updates the selected event from the rows read again, if it is among them.
func (s *queueScreen) refreshSelected() {
	for _, rows := range s.rows.blocks {
		for _, e := range rows {
			if e.Connection == s.selected.Connection && e.Direction == s.selected.Direction && e.Seq == s.selected.Seq {
				e := e
				s.selected = &e
				s.showSelected()
				return
			}
		}
	}
}

// showConnections takes the agent's connections.
func (s *queueScreen) showConnections(conns []agent.ConnectionInfo) {
	if slices.EqualFunc(conns, s.conns, func(a, b agent.ConnectionInfo) bool {
		return a.ID == b.ID && a.PartnerName == b.PartnerName && a.CaptureUntil.IsZero() == b.CaptureUntil.IsZero() && a.IsVerified() == b.IsVerified() &&
			a.Failed+a.Retrying == b.Failed+b.Retrying && a.Outbox == b.Outbox && a.Inbox == b.Inbox
	}) {
		return
	}
	s.conns = conns
	names := []string{allConnections}
	for _, c := range conns {
		names = append(names, connectionChoice(c))
	}
	s.connSelect.SetOptions(names)
	found := s.connID == ""
	for _, c := range conns {
		if c.ID == s.connID {
			found = true
			s.connSelect.Selected = connectionChoice(c)
			s.connSelect.Refresh()
		}
	}
	if !found { // the chosen connection is gone
		s.connSelect.SetSelected(allConnections)
	}
	s.showTabs()
	s.showState()
}

// selectTab switches to the Outgoing, Incoming or Failed tab.
func (s *queueScreen) selectTab(tab string) {
	if tab == s.tab {
		return
	}
	s.tab = tab
	choices := stateChoices(tab)
	s.stateSelect.SetOptions(choices)
	if !slices.Contains(choices, s.state) {
		s.state = choices[0]
		s.stateSelect.Selected = s.state
		s.stateSelect.Refresh()
	}
	s.showTabs()
	s.requery()
}

// showTabs marks the chosen tab and puts each tab's count of the chosen connection (or all)
// in its title.
func (s *queueScreen) showTabs() {
	var out, in, failed int
	for _, c := range s.conns {
		if s.connID == "" || c.ID == s.connID {
			out, in, failed = out+c.Outbox, in+c.Inbox, failed+c.Failed+c.Retrying
		}
	}
	titles := map[string]string{tabOutgoing: fmt.Sprintf("%s (%d)", tabOutgoing, out), tabIncoming: fmt.Sprintf("%s (%d)", tabIncoming, in),
		tabFailed: fmt.Sprintf("%s (%d)", tabFailed, failed)}
	for tab, b := range s.tabs {
		imp := widget.LowImportance
		if tab == s.tab {
			imp = widget.HighImportance
		}
		if b.Text != titles[tab] || b.Importance != imp {
			b.Text, b.Importance = titles[tab], imp
			b.Refresh()
		}
	}
}

func (s *queueScreen) sortBy(column string) {
	switch {
	case column == "Age" && s.order == agent.QueueOldest:
		s.order = agent.QueueNewest
	case column == "Age":
		s.order = agent.QueueOldest
	case s.order == agent.QueueByItem:
		s.order = agent.QueueByItemDesc
	default:
		s.order = agent.QueueByItem
	}
	s.showSort()
	s.requery()
}

// showSort marks the sorted column's header with the direction.
func (s *queueScreen) showSort() {
	labels := map[string]string{"Local": "Local", "Age": "Age"}
	switch s.order {
	case agent.QueueOldest:
		labels["Age"] = "Age ▼"
	case agent.QueueNewest:
		labels["Age"] = "Age ▲"
	case agent.QueueByItem:
		labels["Local"] = "Local ▲"
	case agent.QueueByItemDesc:
		labels["Local"] = "Local ▼"
	}
	for name, b := range s.sortButtons {
		if b.Text != labels[name] {
			b.SetText(labels[name])
		}
	}
}

// showState shows the empty state, the counts and what the bulk buttons can do.
func (s *queueScreen) showState() {
	filtered := s.item != "" || (s.state != stateAny && s.state != stateFailedAll)
	switch {
	case len(s.conns) == 0:
		s.empty.SetText("No connections yet, so nothing to deliver. Pair with a partner in Connections.")
		s.empty.Show()
	case !s.rows.known && s.rows.err == nil:
		s.empty.SetText("Loading…")
		s.empty.Show()
	case s.rows.err != nil && !s.rows.known:
		s.empty.SetText("The queue could not be read: " + s.rows.err.Error())
		s.empty.Show()
	case s.rows.total == 0 && filtered:
		s.empty.SetText(fmt.Sprintf("No event matches the filter%s. Clear the item key or choose another state.", quoteItem(s.item)))
		s.empty.Show()
	case s.rows.total == 0 && s.tab == tabFailed:
		s.empty.SetText("No failed events: nothing waits for you.")
		s.empty.Show()
	case s.rows.total == 0:
		s.empty.SetText(queueEmptyText)
		s.empty.Show()
	default:
		s.empty.Hide()
	}
	summary := ""
	if s.rows.known && s.rows.total > 0 {
		summary = fmt.Sprintf("%s shown", countOf(s.rows.total, "event", "events"))
		if filtered {
			summary += " (filtered)"
		}
	}
	if s.summary.Text != summary {
		s.summary.SetText(summary)
	}
	busy := s.cancelBulk != nil
	q := s.query()
	canRetry := len(q.States) == 0 || slices.Contains(q.States, agent.QueueFailed) || slices.Contains(q.States, agent.QueueRetrying)
	enable(s.retryAllButton, !busy && s.rows.total > 0 && canRetry && s.failedInScope() > 0)
	enable(s.skipAllButton, !busy && s.rows.total > 0)
}

// failedInScope is how many failed events the chosen connection (or all) has.
func (s *queueScreen) failedInScope() int {
	n := 0
	for _, c := range s.conns {
		if s.connID == "" || c.ID == s.connID {
			n += c.Failed + c.Retrying
		}
	}
	return n
}

func quoteItem(item string) string {
	if item == "" {
		return ""
	}
	return fmt.Sprintf(" (item key starting with %q)", item)
}

func enable(b *widget.Button, on bool) {
	if on && b.Disabled() {
		b.Enable()
	} else if !on && !b.Disabled() {
		b.Disable()
	}
}

// countOf writes n with thousands separators and the right noun.
func countOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return thousands(n) + " " + many
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// showSelected fills the detail area and enables what applies to the selected event.
func (s *queueScreen) showSelected() {
	if s.selected == nil {
		s.detail.SetText("Select an event to see its details and full error.")
		s.retryButton.Disable()
		s.skipButton.Disable()
		return
	}
	e := *s.selected
	s.detail.SetText(queueDetail(e, s.connName(e.Connection)))
	enable(s.retryButton, e.State == agent.QueueFailed || e.State == agent.QueueRetrying)
	s.skipButton.Enable()
}

// retry makes the selected failed event due now.
func (s *queueScreen) retry() {
	if s.selected == nil {
		return
	}
	e := *s.selected
	s.retryButton.Disable()
	s.u.call(fmt.Sprintf("retry event %d", e.Seq), func(ctx context.Context) error {
		return s.a.Retry(ctx, e.Connection, e.Direction, e.Seq)
	}, func(err error) {
		s.showSelected()
		if err == nil {
			s.u.setStatus(fmt.Sprintf("Event %d (%s of %s) will be tried again now.", e.Seq, e.Kind, itemName(e)), false)
		}
	})
}

// itemName is how the screen names an event's item: its local key, else the partner's.
func itemName(e agent.QueueEntry) string {
	switch {
	case e.Local != "":
		return e.Local
	case e.Remote != "":
		return e.Remote + " (partner)"
	}
	return orDash(e.ItemKey)
}

// confirm asks a question in a dialog and runs yes when the operator agrees.
func (s *queueScreen) confirm(title, button, text string, yes func()) {
	s.skipDialog = s.u.confirm(title, text, button, func(ok bool) {
		s.skipDialog = nil
		if ok {
			yes()
		}
	})
}

// skip asks first, since the event is dropped for good, then drops it.
func (s *queueScreen) skip() {
	if s.selected == nil {
		return
	}
	e := *s.selected
	what := "delivered to the partner"
	if e.Direction == dirIn {
		what = "applied here"
	}
	s.confirm("Skip this event?", "Skip event", fmt.Sprintf("Event %d (%s of %s) will be dropped and never %s.\n"+
		"Later changes of %s stop waiting behind it. The history records that you skipped it. This cannot be undone.",
		e.Seq, e.Kind, itemName(e), what, itemName(e)), func() {
		s.skipButton.Disable()
		s.u.call(fmt.Sprintf("skip event %d", e.Seq), func(ctx context.Context) error {
			return s.a.Skip(ctx, e.Connection, e.Direction, e.Seq)
		}, func(err error) {
			if err == nil {
				s.selected = nil
				s.list.UnselectAll()
				s.u.setStatus(fmt.Sprintf("Skipped event %d (%s of %s).", e.Seq, e.Kind, itemName(e)), false)
			}
			s.showSelected()
		})
	})
}

// Queue directions, as the agent names them.
const (
	dirOut = "out"
	dirIn  = "in"
)

// bulk retries the failed events, or skips every event, that the screen's query matches, with
// progress and a Cancel button. Skipping asks first.
func (s *queueScreen) bulk(action string) {
	q := s.query()
	total := s.rows.total
	run := func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.cancelBulk = cancel
		s.progress.SetValue(0)
		s.progressBox.Show()
		s.showState()
		verb := "Retrying"
		if action == agent.BulkSkip {
			verb = "Skipping"
		}
		s.u.pending.Add(1)
		go func() {
			defer s.u.pending.Done()
			n, err := s.a.QueueBulk(ctx, q, action, func(done, total int) {
				s.u.do(func() {
					if total > 0 {
						s.progress.SetValue(float64(done) / float64(total))
					}
					s.progress.TextFormatter = func() string { return fmt.Sprintf("%s: %s of %s", verb, thousands(done), thousands(total)) }
					s.progress.Refresh()
				})
			})
			cancel()
			s.u.do(func() {
				s.cancelBulk = nil
				s.progressBox.Hide()
				s.showState()
				past := map[string]string{agent.BulkRetry: "will be tried again now", agent.BulkSkip: "were skipped"}[action]
				switch {
				case errors.Is(err, context.Canceled):
					s.u.setStatus(fmt.Sprintf("Stopped: %s %s before you cancelled; the rest are as they were.", countOf(n, "event", "events"), past), false)
				case err != nil:
					s.u.showError(fmt.Errorf("%s events: %w (%s %s before the error)", strings.ToLower(verb), err, countOf(n, "event", "events"), past))
				default:
					s.u.setStatus(fmt.Sprintf("Done: %s %s.", countOf(n, "event", "events"), past), false)
				}
			})
		}()
	}
	if action == agent.BulkRetry {
		run()
		return
	}
	s.confirm("Skip all shown events?", fmt.Sprintf("Skip %s", countOf(total, "event", "events")),
		fmt.Sprintf("Every one of the %s this view shows will be dropped and never delivered or applied. "+
			"The history records each one. This cannot be undone.", countOf(total, "event", "events")), run)
}

// queueRow is a row's cell texts, in queueHeaders order.
func queueRow(e agent.QueueEntry, conn string, now time.Time) []string {
	state := e.State
	switch e.State {
	case agent.QueueRetrying:
		if e.NextRetry.After(now) {
			state = "retry at " + e.NextRetry.Local().Format("15:04:05")
		} else {
			state = "retrying now"
		}
	case agent.QueueBlocked:
		state = fmt.Sprintf("blocked by %d", e.BlockedBy)
	}
	return []string{conn, e.Direction, orDash(e.Local), orDash(e.Remote), orDash(e.Kind), state,
		strconv.Itoa(e.Attempts), age(now.Sub(e.Created)), firstLine(e.LastError, 120)}
}

// age writes a duration as an operator reads it: 45s, 12m, 3h, 2d.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(max(d, 0).Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// firstLine shortens an error for a row: its first line, at most n runes.
func firstLine(s string, n int) string {
	cut := false
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s, cut = s[:i], true
	}
	if r := []rune(s); len(r) > n {
		s, cut = string(r[:n]), true
	}
	if cut {
		s += "…"
	}
	return s
}

// queueDetail is the full description of one event, with its whole error.
func queueDetail(e agent.QueueEntry, conn string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Event %d · %s · %s of %s (partner's key %s) · %s · %s · id %s", e.Seq, conn, orDash(e.Kind), orDash(e.Local), orDash(e.Remote),
		map[string]string{dirOut: "outgoing", dirIn: "incoming"}[e.Direction], orDash(e.State), orDash(e.EventID))
	if !e.Created.IsZero() {
		fmt.Fprintf(&b, " · queued %s", e.Created.Local().Format("2006-01-02 15:04:05"))
	}
	fmt.Fprintf(&b, " · %d attempts", e.Attempts)
	switch e.State {
	case agent.QueueRetrying:
		if !e.NextRetry.IsZero() {
			fmt.Fprintf(&b, " · next retry %s", e.NextRetry.Local().Format("2006-01-02 15:04:05"))
		}
	case agent.QueueFailed:
		b.WriteString("\nFailed for good: fix the cause (often the rule), then Retry now, or Skip it.")
	case agent.QueueBlocked:
		fmt.Fprintf(&b, "\nWaits behind event %d of the same item, which failed: retry or skip that one first.", e.BlockedBy)
	}
	if e.LastError != "" {
		b.WriteString("\nLast error: " + e.LastError)
	}
	if e.Rule != "" {
		b.WriteString("\nRule: " + e.Rule)
	}
	for _, l := range e.RuleLogs {
		b.WriteString("\nRule log: " + l)
	}
	return b.String()
}

// columns lays out a row: fixed widths for the first cells, the rest of the width for the
// last, so every row and the header line up.
type columns []float32

func (c columns) MinSize(objs []fyne.CanvasObject) fyne.Size {
	pad := theme.Padding()
	var w, h float32
	for i, o := range objs {
		m := o.MinSize()
		if i < len(c) {
			w += c[i] + pad
		} else {
			w += m.Width
		}
		h = max(h, m.Height)
	}
	return fyne.NewSize(w, h)
}

func (c columns) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	pad := theme.Padding()
	var x float32
	for i, o := range objs {
		w := size.Width - x
		if i < len(c) {
			w = c[i]
		}
		o.Move(fyne.NewPos(x, 0))
		o.Resize(fyne.NewSize(max(w, 0), size.Height))
		x += w + pad
	}
}

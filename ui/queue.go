package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
)

// Queue directions, as the agent names them, and as the operator reads them.
const (
	dirOut      = "out"
	dirIn       = "in"
	dirOutLabel = "Outgoing (to the partner)"
	dirInLabel  = "Incoming (from the partner)"
)

const queueEmptyText = "Nothing waiting: every change has been delivered and applied."

// queueView is the queue the Queue screen shows, shared with the refresh loop: the screen sets
// it on the Fyne goroutine, the loop reads it.
type queueView struct {
	mu        sync.Mutex
	visible   bool
	conn, dir string
}

func (v *queueView) setVisible(on bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.visible = on
}

func (v *queueView) set(conn, dir string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.conn, v.dir = conn, dir
}

func (v *queueView) get() (visible bool, conn, dir string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.visible, v.conn, v.dir
}

// queueSnapshot is one read of a queue; read is false while the Queue screen is hidden.
type queueSnapshot struct {
	read      bool
	conn, dir string
	entries   []agent.QueueEntry
}

// readQueue reads the queue the Queue screen shows, only while it is visible; with no
// connection chosen yet it reads the first connection's.
func (u *UI) readQueue(ctx context.Context, conns []agent.ConnectionInfo) (queueSnapshot, error) {
	visible, conn, dir := u.queueView.get()
	if !visible || len(conns) == 0 {
		return queueSnapshot{}, nil
	}
	if !slices.ContainsFunc(conns, func(c agent.ConnectionInfo) bool { return c.ID == conn }) {
		conn = conns[0].ID
	}
	if dir == "" {
		dir = dirOut
	}
	entries, err := u.agent.Queue(ctx, conn, dir)
	if err != nil {
		return queueSnapshot{}, err
	}
	return queueSnapshot{read: true, conn: conn, dir: dir, entries: entries}, nil
}

// queueScreen lists one connection's outgoing or incoming events and acts on them.
type queueScreen struct {
	u       *UI
	conns   []agent.ConnectionInfo
	connID  string
	dir     string
	entries []agent.QueueEntry
	fresh   bool // entries are those of connID and dir (not a previous choice's)

	selected    uint64 // Seq of the selected row, when hasSelected
	hasSelected bool
	syncing     bool // the list selection is being moved by code, not by the operator

	connSelect *widget.Select
	connLabel  *widget.Label // the partner, when there is only one connection
	direction  *widget.RadioGroup
	summary    *widget.Label
	list       *widget.List
	empty      *widget.Label
	detail     *widget.Label

	retryButton    *widget.Button
	skipButton     *widget.Button
	retryAllButton *widget.Button
	skipDialog     *dialog.ConfirmDialog // the open "Skip?" question, for tests
}

// queueColumns are the widths of the row's columns; the last, the error, takes the rest.
var queueColumns = columns{56, 96, 96, 72, 88, 96}

func (s *queueScreen) build(u *UI) fyne.CanvasObject {
	s.u = u
	s.dir = dirOut
	u.queueView.set("", dirOut)

	s.connSelect = widget.NewSelect(nil, func(name string) {
		for _, c := range s.conns {
			if connectionChoice(c) == name && c.ID != s.connID {
				s.choose(c.ID, s.dir)
			}
		}
	})
	s.connSelect.PlaceHolder = "(choose a connection)"
	s.connSelect.Hide()
	s.connLabel = widget.NewLabel("No connections yet: pair with a partner in Connections.")
	s.direction = widget.NewRadioGroup([]string{dirOutLabel, dirInLabel}, func(label string) {
		dir := dirOut
		if label == dirInLabel {
			dir = dirIn
		}
		if dir != s.dir {
			s.choose(s.connID, dir)
		}
	})
	s.direction.Horizontal = true
	s.direction.Required = true
	s.direction.Selected = dirOutLabel
	s.summary = widget.NewLabel("")

	s.list = widget.NewList(
		func() int { return len(s.entries) },
		func() fyne.CanvasObject {
			cells := make([]fyne.CanvasObject, len(queueColumns)+1)
			for i := range cells {
				l := widget.NewLabel("")
				l.Truncation = fyne.TextTruncateEllipsis
				cells[i] = l
			}
			return container.New(queueColumns, cells...)
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < 0 || id >= len(s.entries) {
				return
			}
			e := s.entries[id]
			cells := o.(*fyne.Container).Objects
			for i, text := range queueRow(e) {
				cells[i].(*widget.Label).SetText(text)
			}
			state := cells[3].(*widget.Label)
			imp := widget.MediumImportance
			switch e.State {
			case agent.QueueFailed:
				imp = widget.DangerImportance
			case agent.QueueBlocked:
				imp = widget.WarningImportance
			}
			if state.Importance != imp {
				state.Importance = imp
				state.Refresh()
			}
		},
	)
	s.list.OnSelected = func(id widget.ListItemID) {
		if s.syncing || id < 0 || id >= len(s.entries) {
			return
		}
		s.selected, s.hasSelected = s.entries[id].Seq, true
		s.showSelected()
	}
	s.list.OnUnselected = func(widget.ListItemID) {
		if s.syncing {
			return
		}
		s.hasSelected = false
		s.showSelected()
	}
	s.empty = widget.NewLabel("Loading…")

	header := make([]fyne.CanvasObject, 0, len(queueColumns)+1)
	for _, h := range []string{"Seq", "Item", "Kind", "State", "Attempts", "Next retry", "Last error"} {
		l := widget.NewLabelWithStyle(h, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		l.Truncation = fyne.TextTruncateEllipsis
		header = append(header, l)
	}

	s.detail = widget.NewLabel("Select an event to see its details and full error.")
	s.detail.Wrapping = fyne.TextWrapWord
	s.detail.Selectable = true
	s.retryButton = widget.NewButtonWithIcon("Retry now", theme.ViewRefreshIcon(), s.retry)
	s.skipButton = widget.NewButtonWithIcon("Skip", theme.MediaSkipNextIcon(), s.skip)
	s.skipButton.Importance = widget.DangerImportance
	s.retryAllButton = widget.NewButtonWithIcon("Retry all failed", theme.ViewRefreshIcon(), s.retryAll)
	s.showSelected()

	top := container.NewVBox(
		heading("Queue"),
		container.NewHBox(widget.NewLabel("Connection:"), s.connSelect, s.connLabel),
		container.NewBorder(nil, nil, s.direction, s.retryAllButton, s.summary),
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

// connectionChoice names a connection in the select.
func connectionChoice(c agent.ConnectionInfo) string {
	return fmt.Sprintf("%s (%s)", orDash(c.PartnerName), c.ID)
}

// choose switches the screen to another connection or direction; the loop reads it at once.
func (s *queueScreen) choose(connID, dir string) {
	s.connID, s.dir = connID, dir
	s.entries, s.fresh, s.hasSelected = nil, false, false
	s.u.queueView.set(connID, dir)
	s.list.UnselectAll()
	s.list.Refresh()
	s.showState()
	s.showSelected()
	s.u.refreshSoon()
}

// show applies the connections and, when it is of the chosen queue, a queue read.
func (s *queueScreen) show(conns []agent.ConnectionInfo, snap queueSnapshot) {
	if !slices.Equal(conns, s.conns) {
		s.conns = conns
		s.showConnections()
	}
	if snap.read && snap.conn == s.connID && snap.dir == s.dir {
		if !s.fresh || !slices.Equal(snap.entries, s.entries) {
			s.entries, s.fresh = snap.entries, true
			s.list.Refresh()
			s.keepSelection()
		}
	}
	s.showState()
}

func (s *queueScreen) showConnections() {
	names := make([]string, len(s.conns))
	for i, c := range s.conns {
		names[i] = connectionChoice(c)
	}
	s.connSelect.SetOptions(names)
	if len(s.conns) > 0 && !slices.ContainsFunc(s.conns, func(c agent.ConnectionInfo) bool { return c.ID == s.connID }) {
		s.choose(s.conns[0].ID, s.dir) // the first by default, and after the chosen one is gone
	}
	for _, c := range s.conns {
		if c.ID == s.connID && s.connSelect.Selected != connectionChoice(c) {
			s.connSelect.SetSelected(connectionChoice(c)) // choose ignores the same ID
		}
	}
	switch len(s.conns) {
	case 0:
		s.connSelect.Hide()
		s.connLabel.SetText("No connections yet: pair with a partner in Connections.")
		s.connLabel.Show()
	case 1:
		s.connSelect.Hide()
		s.connLabel.SetText(connectionChoice(s.conns[0]))
		s.connLabel.Show()
	default:
		s.connSelect.Show()
		s.connLabel.Hide()
	}
}

// keepSelection moves the list's selection to the selected event's new row, or clears it when
// the event is gone (delivered, applied or skipped).
func (s *queueScreen) keepSelection() {
	s.syncing = true
	defer func() { s.syncing = false }()
	if !s.hasSelected {
		return
	}
	i := s.index(s.selected)
	if i < 0 {
		s.hasSelected = false
		s.list.UnselectAll()
	} else {
		s.list.Select(i)
	}
	s.showSelected()
}

func (s *queueScreen) index(seq uint64) int {
	return slices.IndexFunc(s.entries, func(e agent.QueueEntry) bool { return e.Seq == seq })
}

// showState shows the empty state and the counts, and what Retry all can do.
func (s *queueScreen) showState() {
	failed := s.failed()
	switch {
	case len(s.conns) == 0:
		s.empty.SetText("No connections yet, so nothing to deliver.")
		s.empty.Show()
	case !s.fresh:
		s.empty.SetText("Loading…")
		s.empty.Show()
	case len(s.entries) == 0:
		s.empty.SetText(queueEmptyText)
		s.empty.Show()
	default:
		s.empty.Hide()
	}
	summary := ""
	if s.fresh && len(s.entries) > 0 {
		summary = fmt.Sprintf("%d waiting, %d failed", len(s.entries), len(failed))
		if n := s.blocked(); n > 0 {
			summary += fmt.Sprintf(", %d blocked behind them", n)
		}
	}
	if s.summary.Text != summary {
		s.summary.SetText(summary)
	}
	if len(failed) > 0 {
		s.retryAllButton.Enable()
	} else {
		s.retryAllButton.Disable()
	}
}

func (s *queueScreen) blocked() int {
	n := 0
	for _, e := range s.entries {
		if e.State == agent.QueueBlocked {
			n++
		}
	}
	return n
}

func (s *queueScreen) failed() []uint64 {
	var seqs []uint64
	for _, e := range s.entries {
		if e.State == agent.QueueFailed {
			seqs = append(seqs, e.Seq)
		}
	}
	return seqs
}

// showSelected fills the detail area and enables what applies to the selected event.
func (s *queueScreen) showSelected() {
	i := -1
	if s.hasSelected {
		i = s.index(s.selected)
	}
	if i < 0 {
		s.detail.SetText("Select an event to see its details and full error.")
		s.retryButton.Disable()
		s.skipButton.Disable()
		return
	}
	e := s.entries[i]
	s.detail.SetText(queueDetail(e))
	if e.State == agent.QueueFailed {
		s.retryButton.Enable()
	} else {
		s.retryButton.Disable() // a pending event is already due
	}
	s.skipButton.Enable()
}

func (s *queueScreen) current() (agent.QueueEntry, bool) {
	if !s.hasSelected {
		return agent.QueueEntry{}, false
	}
	i := s.index(s.selected)
	if i < 0 {
		return agent.QueueEntry{}, false
	}
	return s.entries[i], true
}

// retry makes the selected failed event due now.
func (s *queueScreen) retry() {
	e, ok := s.current()
	if !ok {
		return
	}
	conn, dir := s.connID, s.dir
	s.retryButton.Disable()
	s.u.call(fmt.Sprintf("retry event %d", e.Seq), func(ctx context.Context) error {
		return s.u.agent.Retry(ctx, conn, dir, e.Seq)
	}, func(err error) {
		s.showSelected()
		if err == nil {
			s.u.setStatus(fmt.Sprintf("Event %d (%s of %s) will be tried again now.", e.Seq, e.Kind, e.ItemKey), false)
		}
	})
}

// skip asks first, since the event is dropped for good, then drops it.
func (s *queueScreen) skip() {
	e, ok := s.current()
	if !ok {
		return
	}
	if s.u.win == nil {
		s.u.showError(errors.New("skip event: no window to ask for confirmation in"))
		return
	}
	conn, dir := s.connID, s.dir
	what := "delivered to the partner"
	if dir == dirIn {
		what = "applied here"
	}
	msg := widget.NewLabel(fmt.Sprintf("Event %d (%s of %s) will be dropped and never %s.\n"+
		"Later changes of %s stop waiting behind it. This cannot be undone.", e.Seq, e.Kind, orDash(e.ItemKey), what, orDash(e.ItemKey)))
	msg.Wrapping = fyne.TextWrapWord
	s.skipDialog = dialog.NewCustomConfirm("Skip this event?", "Skip event", "Cancel", msg, func(yes bool) {
		s.skipDialog = nil
		if !yes {
			return
		}
		s.skipButton.Disable()
		s.u.call(fmt.Sprintf("skip event %d", e.Seq), func(ctx context.Context) error {
			return s.u.agent.Skip(ctx, conn, dir, e.Seq)
		}, func(err error) {
			s.showSelected()
			if err == nil {
				s.u.setStatus(fmt.Sprintf("Skipped event %d (%s of %s).", e.Seq, e.Kind, orDash(e.ItemKey)), false)
			}
		})
	}, s.u.win)
	s.skipDialog.Resize(fyne.NewSize(480, 200))
	s.skipDialog.Show()
}

// retryAll makes every failed event of the shown queue due now.
func (s *queueScreen) retryAll() {
	seqs := s.failed()
	if len(seqs) == 0 {
		return
	}
	conn, dir := s.connID, s.dir
	s.retryAllButton.Disable()
	s.u.call("retry failed events", func(ctx context.Context) error {
		var errs []error
		for _, seq := range seqs {
			if err := s.u.agent.Retry(ctx, conn, dir, seq); err != nil {
				errs = append(errs, fmt.Errorf("event %d: %w", seq, err))
			}
		}
		return errors.Join(errs...)
	}, func(err error) {
		s.showState()
		if err == nil {
			s.u.setStatus(fmt.Sprintf("%d failed events will be tried again now.", len(seqs)), false)
		}
	})
}

// queueRow is a row's cell texts, in queueColumns order plus the error.
func queueRow(e agent.QueueEntry) []string {
	next := "–"
	if !e.NextRetry.IsZero() && e.State == agent.QueueFailed {
		next = e.NextRetry.Local().Format("15:04:05")
	}
	return []string{
		strconv.FormatUint(e.Seq, 10), orDash(e.ItemKey), orDash(e.Kind), orDash(e.State),
		strconv.Itoa(e.Attempts), next, firstLine(e.LastError, 120),
	}
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
func queueDetail(e agent.QueueEntry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Event %d · %s of %s · %s · id %s", e.Seq, orDash(e.Kind), orDash(e.ItemKey), orDash(e.State), orDash(e.EventID))
	if !e.Created.IsZero() {
		fmt.Fprintf(&b, " · queued %s", e.Created.Local().Format("2006-01-02 15:04:05"))
	}
	fmt.Fprintf(&b, " · %d attempts", e.Attempts)
	if !e.NextRetry.IsZero() && e.State == agent.QueueFailed {
		fmt.Fprintf(&b, " · next retry %s", e.NextRetry.Local().Format("2006-01-02 15:04:05"))
	}
	if e.State == agent.QueueBlocked {
		fmt.Fprintf(&b, "\nWaits behind event %d of the same item, which failed: retry or skip that one first.", e.BlockedBy)
	}
	if e.LastError != "" {
		b.WriteString("\nLast error: " + e.LastError)
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

package ui

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
)

// findButton returns the visible button titled text in w or its dialogs, nil if none.
func findButton(w fyne.Window, text string) *widget.Button {
	var found *widget.Button
	visit(w, func(o fyne.CanvasObject) bool {
		if b, ok := o.(*widget.Button); ok && b.Text == text {
			found = b
		}
		return found == nil
	})
	return found
}

// wantShownWrapped is wantShown for text that word wrapping may break over lines.
func wantShownWrapped(t *testing.T, w fyne.Window, want string) {
	t.Helper()
	if got := strings.Join(strings.Fields(shown(w)), " "); !strings.Contains(got, want) {
		t.Errorf("window does not show %q; it shows:\n%s", want, got)
	}
}

const longError = "rule incoming.go:12: status \"reopened\" is not one of open, in progress, done; map it in the incoming rule or add it to the tracker\nsecond line of detail"

// withQueues has two connections with events in both directions.
func withQueues() *fakeAgent {
	f := newFakeAgent()
	f.connections = []agent.ConnectionInfo{
		{ID: "c1", PartnerName: "Red", State: agent.StateActive, Outbox: 3, Inbox: 1, Failed: 1, Retrying: 1},
		{ID: "c2", PartnerName: "Green", State: agent.StateActive, CaptureUntil: time.Now().Add(time.Hour)},
	}
	retry := time.Now().Add(time.Hour)
	f.queues["c1/out"] = []agent.QueueEntry{
		{Connection: "c1", Direction: "out", Seq: 7, EventID: "ev-7", ItemKey: "T-3", Local: "T-3", Remote: "R-30", Kind: "update", State: agent.QueueFailed,
			Attempts: 4, LastError: longError},
		{Connection: "c1", Direction: "out", Seq: 9, EventID: "ev-9", ItemKey: "T-5", Local: "T-5", Kind: "create", State: agent.QueuePending},
		{Connection: "c1", Direction: "out", Seq: 11, EventID: "ev-11", ItemKey: "T-6", Local: "T-6", Kind: "comment", State: agent.QueueRetrying,
			Attempts: 1, LastError: "partner answered 503", NextRetry: retry},
		{Connection: "c1", Direction: "out", Seq: 12, EventID: "ev-12", ItemKey: "T-3", Local: "T-3", Remote: "R-30", Kind: "update", State: agent.QueueBlocked, BlockedBy: 7},
	}
	f.queues["c1/in"] = []agent.QueueEntry{
		{Connection: "c1", Direction: "in", Seq: 3, EventID: "ev-r3", ItemKey: "R-100", Remote: "R-100", Kind: "create", State: agent.QueuePending},
	}
	return f
}

// openQueue shows the Queue screen and waits for its first page.
func openQueue(t *testing.T, f *fakeAgent) (*UI, fyne.Window, *queueScreen) {
	t.Helper()
	u, w := newTestUI(t, f)
	u.win = w
	u.pending.Wait()
	u.refresh(context.Background())
	test.Tap(u.nav[screenQueue])
	settle(u)
	return u, w, &u.queue
}

// settle waits until every agent call (and the page reads they start) answered.
func settle(u *UI) {
	for range 20 {
		u.pending.Wait()
		if u.queue.rows.loaded() {
			return
		}
	}
}

// rowTexts is what the list shows in its rendered rows.
func rowTexts(s *queueScreen) []string {
	var out []string
	for i := 0; i < s.rows.total && i < 20; i++ {
		if e, ok := s.rows.row(i); ok {
			out = append(out, fmt.Sprintf("%d:%s", e.Seq, e.State))
		}
	}
	return out
}

func selectTab(s *queueScreen, name string) { test.Tap(s.tabs[name]) }

func TestQueueTabsConnectionsAndFilters(t *testing.T) {
	f := withQueues()
	u, w, s := openQueue(t, f)
	if got := fmt.Sprint(rowTexts(s)); got != "[7:failed 9:pending 11:retrying 12:blocked]" {
		t.Errorf("outgoing of every connection: %s", got)
	}
	wantShown(t, w, "Outgoing (3)", "Incoming (1)", "Failed (2)", "4 events shown", "blocked by 7", "R-30", "retry at ")

	selectTab(s, tabIncoming)
	settle(u)
	if got := fmt.Sprint(rowTexts(s)); got != "[3:pending]" {
		t.Errorf("incoming tab: %s", got)
	}
	selectTab(s, tabFailed)
	settle(u)
	if got := fmt.Sprint(rowTexts(s)); got != "[7:failed 11:retrying]" {
		t.Errorf("failed tab: %s", got)
	}
	if last := f.pageReads[len(f.pageReads)-1].q; last.Direction != "" || strings.Join(last.States, ",") != "failed,retrying" {
		t.Errorf("failed tab asked for %+v, want both directions, failed and retrying", last)
	}

	selectTab(s, tabOutgoing)
	s.stateSelect.SetSelected(agent.QueueBlocked)
	settle(u)
	if got := fmt.Sprint(rowTexts(s)); got != "[12:blocked]" {
		t.Errorf("state filter blocked: %s", got)
	}
	s.stateSelect.SetSelected(stateAny)
	test.Type(s.itemEntry, "T-3")
	settle(u)
	if got := fmt.Sprint(rowTexts(s)); got != "[7:failed 12:blocked]" {
		t.Errorf("item filter T-3: %s", got)
	}
	// Odd characters and no match: a clear empty state.
	s.itemEntry.SetText(`%*[("`)
	settle(u)
	if s.empty.Hidden || !strings.Contains(s.empty.Text, "No event matches the filter") {
		t.Errorf("no match shows %q (hidden %v)", s.empty.Text, s.empty.Hidden)
	}
	s.itemEntry.SetText("")
	// One connection: Green has nothing.
	s.connSelect.SetSelected(connectionChoice(f.connections[1]))
	settle(u)
	if s.rows.total != 0 || s.empty.Hidden || s.empty.Text != queueEmptyText {
		t.Errorf("Green's outbox: %d rows, empty state %q", s.rows.total, s.empty.Text)
	}
	if !strings.HasSuffix(s.connSelect.Selected, "· capture on") {
		t.Errorf("the connection chosen shows %q, want its capture on", s.connSelect.Selected)
	}

	// Sorting by the column headers.
	s.connSelect.SetSelected(allConnections)
	test.Tap(s.sortButtons["Age"])
	settle(u)
	if got := fmt.Sprint(rowTexts(s)); got != "[12:blocked 11:retrying 9:pending 7:failed]" || s.sortButtons["Age"].Text != "Age ▲" {
		t.Errorf("newest first: %s (header %q)", got, s.sortButtons["Age"].Text)
	}
	test.Tap(s.sortButtons["Local"])
	settle(u)
	if got := fmt.Sprint(rowTexts(s)); got != "[7:failed 12:blocked 9:pending 11:retrying]" {
		t.Errorf("by item key: %s", got)
	}
}

// The queue screen with 100,000 events: it reads only the pages it shows, scrolls to the end,
// filters, and retries all failed events in bulk with progress and a Cancel that stops it.
func TestQueueWith100000Events(t *testing.T) {
	f := newFakeAgent()
	f.connections = []agent.ConnectionInfo{{ID: "c1", PartnerName: "Red", State: agent.StateActive, Outbox: 100000, Failed: 2000}}
	entries := make([]agent.QueueEntry, 100000)
	now := time.Now()
	for i := range entries {
		e := agent.QueueEntry{Connection: "c1", Direction: "out", Seq: uint64(i + 1), ItemKey: fmt.Sprintf("T-%d", i%10000), Kind: "update",
			State: agent.QueuePending, Created: now.Add(-time.Duration(100000-i) * time.Second)}
		e.Local = e.ItemKey
		if i%50 == 0 {
			e.State, e.LastError, e.Attempts = agent.QueueFailed, "rule error", 1
		}
		entries[i] = e
	}
	f.queues["c1/out"] = entries
	u, w, s := openQueue(t, f)
	if s.list.Length() != 100000 {
		t.Fatalf("list length %d, want 100000", s.list.Length())
	}
	wantShown(t, w, "100,000 events shown")
	for _, r := range f.pageReads {
		if r.offset > pageRows {
			t.Errorf("opening the screen read the page at %d: only what shows should be read", r.offset)
		}
	}
	// Scroll to the end: the last rows are read, and nothing in between.
	before := len(f.pageReads)
	s.list.ScrollToBottom()
	test.WidgetRenderer(s.list).Refresh()
	settle(u)
	s.list.Refresh()
	settle(u)
	reads := f.pageReads[before:]
	if len(reads) == 0 || len(reads) > 3 {
		t.Fatalf("scrolling to the end read %d pages, want the one or two shown", len(reads))
	}
	if e, ok := s.rows.row(99999); !ok || e.Seq != 100000 {
		t.Errorf("the last row: %+v, %v", e, ok)
	}
	// Filter by item: T-4711's 10 events.
	test.Type(s.itemEntry, "T-4711")
	settle(u)
	if s.rows.total != 10 {
		t.Errorf("item filter T-4711: %d events, want 10", s.rows.total)
	}
	s.itemEntry.SetText("")
	settle(u)

	// Retry all failed, cancelled after the first chunk of 500.
	f.bulkGate = make(chan struct{})
	if s.retryAllButton.Disabled() {
		t.Fatal("Retry all failed is disabled with 2,000 failed events")
	}
	test.Tap(s.retryAllButton)
	waitFor(t, "the first chunk's progress", func() bool { return s.progress.Value > 0 })
	if s.progressBox.Hidden || !s.retryAllButton.Disabled() {
		t.Error("while the bulk retry runs, its progress shows and the bulk buttons wait")
	}
	wantShown(t, w, "Retrying: 500 of 2,000")
	test.Tap(s.cancelButton)
	settle(u)
	if len(f.retried) != 500 {
		t.Errorf("cancelled after one chunk: %d retried, want 500", len(f.retried))
	}
	if !strings.Contains(u.status.Text, "Stopped: 500 events will be tried again now before you cancelled") || !s.progressBox.Hidden {
		t.Errorf("after Cancel: status %q, progress hidden %v", u.status.Text, s.progressBox.Hidden)
	}

	// Skip one, confirmed: recorded by the agent, the row goes.
	f.tell(agent.TopicQueues)
	s.list.Select(0)
	if s.selected == nil || s.selected.Seq != 1 {
		t.Fatalf("selected %+v, want event 1", s.selected)
	}
	test.Tap(s.skipButton)
	if s.skipDialog == nil {
		t.Fatal("Skip did not ask first")
	}
	wantShownWrapped(t, w, "Event 1 (update of T-0) will be dropped and never delivered to the partner")
	test.Tap(findButton(w, "Skip event"))
	settle(u)
	if len(f.skipped) != 1 || f.skipped[0].seq != 1 {
		t.Errorf("skipped %+v, want event 1", f.skipped)
	}
	u.queue.changed()
	settle(u)
	if s.rows.total != 99999 {
		t.Errorf("after the skip the list has %d rows", s.rows.total)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestQueueRetryAndSkipOne(t *testing.T) {
	f := withQueues()
	u, w, s := openQueue(t, f)
	s.list.Select(0)
	wantShownWrapped(t, w, "Event 7 · Red · update of T-3 (partner's key R-30) · outgoing · failed")
	wantShownWrapped(t, w, "second line of detail")
	if s.retryButton.Disabled() || s.skipButton.Disabled() {
		t.Fatal("a failed event can be retried and skipped")
	}
	test.Tap(s.retryButton)
	u.pending.Wait()
	if len(f.retried) != 1 || f.retried[0] != (queueCall{"c1", "out", 7}) {
		t.Errorf("retried %+v", f.retried)
	}
	s.list.Select(3) // the blocked one: only Skip applies
	if !s.retryButton.Disabled() || s.skipButton.Disabled() {
		t.Error("a blocked event cannot be retried, only skipped")
	}
	wantShownWrapped(t, w, "Waits behind event 7 of the same item")
	test.Tap(s.skipButton)
	test.Tap(findButton(w, "Cancel"))
	u.pending.Wait()
	if len(f.skipped) != 0 {
		t.Errorf("Cancel skipped %+v", f.skipped)
	}
	f.failing("Skip", errAgentDown)
	test.Tap(s.skipButton)
	test.Tap(findButton(w, "Skip event"))
	u.pending.Wait()
	if !strings.Contains(u.status.Text, "skip event 12: agent is not running") {
		t.Errorf("a failed skip says %q", u.status.Text)
	}
}

func TestQueueWithoutConnections(t *testing.T) {
	_, w, s := openQueue(t, newFakeAgent())
	if s.empty.Hidden || !strings.Contains(s.empty.Text, "No connections yet") {
		t.Errorf("empty state %q", s.empty.Text)
	}
	if !s.retryAllButton.Disabled() || !s.skipAllButton.Disabled() {
		t.Error("bulk actions with nothing to act on")
	}
	wantShown(t, w, "No connections yet")
}

// The queue screen reads nothing while hidden and catches up when shown.
func TestQueueReadsOnlyWhileVisible(t *testing.T) {
	f := withQueues()
	u, _, _ := openQueue(t, f)
	test.Tap(u.nav[screenOverview])
	n := len(f.pageReads)
	u.round(context.Background(), agent.TopicQueues)
	u.pending.Wait()
	if len(f.pageReads) != n {
		t.Errorf("the hidden Queue screen read %d pages", len(f.pageReads)-n)
	}
	test.Tap(u.nav[screenQueue])
	settle(u)
	if len(f.pageReads) == n {
		t.Error("showing the Queue screen again did not read what changed")
	}
}

package ui

import (
	"context"
	"reflect"
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

// queueAgent has two connections with events in both directions.
func queueAgent() *fakeAgent {
	f := newFakeAgent()
	f.connections = []agent.ConnectionInfo{
		{ID: "c1", PartnerName: "Red", State: agent.StateActive},
		{ID: "c2", PartnerName: "Green", State: agent.StateActive},
	}
	retry := time.Date(2026, 3, 4, 10, 11, 12, 0, time.UTC)
	f.queues["c1/out"] = []agent.QueueEntry{
		{Connection: "c1", Direction: "out", Seq: 7, EventID: "ev-7", ItemKey: "T-3", Kind: "update", State: "failed",
			Attempts: 4, LastError: longError, NextRetry: retry},
		{Connection: "c1", Direction: "out", Seq: 9, EventID: "ev-9", ItemKey: "T-5", Kind: "create", State: "pending"},
		{Connection: "c1", Direction: "out", Seq: 11, EventID: "ev-11", ItemKey: "T-6", Kind: "comment", State: "failed",
			Attempts: 1, LastError: "partner answered 503", NextRetry: retry},
	}
	f.queues["c1/in"] = []agent.QueueEntry{
		{Connection: "c1", Direction: "in", Seq: 3, EventID: "ev-r3", ItemKey: "R-100", Kind: "create", State: "pending"},
	}
	return f
}

// openQueue shows the Queue screen and reads it once, as the refresh loop does.
func openQueue(t *testing.T, f *fakeAgent) (*UI, fyne.Window, *queueScreen) {
	t.Helper()
	u, w := newTestUI(t, f)
	u.pending.Wait()
	test.Tap(u.nav[screenQueue])
	u.refresh(context.Background())
	return u, w, &u.queue
}

func seqs(entries []agent.QueueEntry) []uint64 {
	out := make([]uint64, len(entries))
	for i, e := range entries {
		out[i] = e.Seq
	}
	return out
}

func TestQueueListsChosenConnectionAndDirection(t *testing.T) {
	f := queueAgent()
	u, w, s := openQueue(t, f)
	if s.connID != "c1" || s.list.Length() != 3 {
		t.Fatalf("queue shows connection %q with %d rows, want c1 (the first) with 3", s.connID, s.list.Length())
	}
	wantShown(t, w, "Red (c1)", "T-3", "update", "failed", "T-5", "create", "pending", "partner answered 503",
		"3 waiting, 2 failed")
	if got := shown(w); strings.Contains(got, "second line of detail") {
		t.Errorf("a row shows the error's second line; rows show the first line only")
	}

	tests := []struct {
		conn, dir string
		choose    func()
		want      []uint64
	}{
		{"c1", dirIn, func() { s.direction.SetSelected(dirInLabel) }, []uint64{3}},
		{"c2", dirIn, func() { s.connSelect.SetSelected("Green (c2)") }, []uint64{}},
		{"c2", dirOut, func() { s.direction.SetSelected(dirOutLabel) }, []uint64{}},
		{"c1", dirOut, func() { s.connSelect.SetSelected("Red (c1)") }, []uint64{7, 9, 11}},
	}
	for _, tc := range tests {
		tc.choose()
		u.refresh(context.Background())
		if s.connID != tc.conn || s.dir != tc.dir || !reflect.DeepEqual(seqs(s.entries), tc.want) {
			t.Errorf("after choosing %s/%s: screen shows %s/%s with seqs %v, want %v",
				tc.conn, tc.dir, s.connID, s.dir, seqs(s.entries), tc.want)
		}
		if empty := len(tc.want) == 0; s.empty.Visible() != empty || (empty && s.empty.Text != queueEmptyText) {
			t.Errorf("%s/%s: empty state visible %v with %q, want visible %v with %q",
				tc.conn, tc.dir, s.empty.Visible(), s.empty.Text, empty, queueEmptyText)
		}
	}
}

func TestQueueReadsOnlyWhileVisible(t *testing.T) {
	f := queueAgent()
	u, _ := newTestUI(t, f)
	u.pending.Wait()
	f.failing("Queue", errAgentDown) // any read would show on the status line
	u.refresh(context.Background())
	if u.status.Text != "" {
		t.Errorf("the queue was read while hidden: status %q", u.status.Text)
	}
	test.Tap(u.nav[screenQueue])
	u.refresh(context.Background())
	if !strings.Contains(u.status.Text, "read queue: agent is not running") {
		t.Errorf("status line = %q, want the queue read error", u.status.Text)
	}
}

func TestQueueEmptyStateAndSelectionDetail(t *testing.T) {
	f := queueAgent()
	f.queues["c1/out"] = nil
	u, w, s := openQueue(t, f)
	wantShown(t, w, queueEmptyText)
	if !s.retryAllButton.Disabled() || !s.retryButton.Disabled() || !s.skipButton.Disabled() {
		t.Errorf("buttons enabled with nothing to act on")
	}

	f.queues["c1/out"] = queueAgent().queues["c1/out"]
	u.refresh(context.Background())
	if s.empty.Visible() {
		t.Errorf("empty state still shows next to %d events", s.list.Length())
	}
	s.list.Select(0)
	if !strings.Contains(s.detail.Text, "second line of detail") || !strings.Contains(s.detail.Text, "ev-7") {
		t.Errorf("detail = %q, want the full error and the event id", s.detail.Text)
	}
	if s.retryButton.Disabled() || s.skipButton.Disabled() {
		t.Errorf("Retry now / Skip disabled on a selected failed event")
	}
	s.list.Select(1) // pending: already due, nothing to retry
	if !s.retryButton.Disabled() || s.skipButton.Disabled() {
		t.Errorf("on a pending event: Retry disabled %v, Skip disabled %v; want true, false",
			s.retryButton.Disabled(), s.skipButton.Disabled())
	}

	// The selected event keeps its selection when rows before it go away.
	f.queues["c1/out"] = f.queues["c1/out"][1:]
	u.refresh(context.Background())
	if !s.hasSelected || s.selected != 9 || !strings.Contains(s.detail.Text, "ev-9") {
		t.Errorf("after the row above left: selected %v seq %d detail %q, want seq 9", s.hasSelected, s.selected, s.detail.Text)
	}
}

func TestQueueRetryAndSkip(t *testing.T) {
	f := queueAgent()
	u, w, s := openQueue(t, f)
	u.win = w
	s.direction.SetSelected(dirOutLabel)

	s.list.Select(s.index(11))
	test.Tap(s.retryButton)
	u.pending.Wait()
	if want := []queueCall{{"c1", "out", 11}}; !reflect.DeepEqual(f.retried, want) {
		t.Errorf("Retry got %+v, want %+v", f.retried, want)
	}
	wantShown(t, w, "Event 11 (comment of T-6) will be tried again now.")

	// Skip asks first; Cancel drops nothing.
	s.list.Select(s.index(7))
	test.Tap(s.skipButton)
	if s.skipDialog == nil || findButton(w, "Skip event") == nil {
		t.Fatalf("Skip did not ask for confirmation")
	}
	wantShown(t, w, "Skip this event?")
	wantShownWrapped(t, w, "Event 7 (update of T-3) will be dropped and never delivered to the partner")
	if len(f.skipped) != 0 {
		t.Fatalf("Skip called before the operator confirmed: %+v", f.skipped)
	}
	test.Tap(findButton(w, "Cancel"))
	u.pending.Wait()
	if len(f.skipped) != 0 {
		t.Fatalf("Skip called after Cancel: %+v", f.skipped)
	}

	test.Tap(s.skipButton)
	test.Tap(findButton(w, "Skip event"))
	u.pending.Wait()
	if want := []queueCall{{"c1", "out", 7}}; !reflect.DeepEqual(f.skipped, want) {
		t.Errorf("Skip got %+v, want %+v", f.skipped, want)
	}
	u.refresh(context.Background())
	if s.index(7) >= 0 || s.hasSelected {
		t.Errorf("skipped event still listed (%v) or selected (%v)", seqs(s.entries), s.hasSelected)
	}

	// Incoming events go to the incoming queue.
	s.direction.SetSelected(dirInLabel)
	u.refresh(context.Background())
	s.list.Select(0)
	test.Tap(s.skipButton)
	wantShownWrapped(t, w, "never applied here")
	test.Tap(findButton(w, "Skip event"))
	u.pending.Wait()
	if want := []queueCall{{"c1", "out", 7}, {"c1", "in", 3}}; !reflect.DeepEqual(f.skipped, want) {
		t.Errorf("Skip got %+v, want %+v", f.skipped, want)
	}
}

func TestQueueRetryAllFailed(t *testing.T) {
	f := queueAgent()
	u, w, s := openQueue(t, f)
	test.Tap(s.retryAllButton)
	u.pending.Wait()
	if want := []queueCall{{"c1", "out", 7}, {"c1", "out", 11}}; !reflect.DeepEqual(f.retried, want) {
		t.Errorf("Retry got %+v, want every failed event: %+v", f.retried, want)
	}
	wantShown(t, w, "2 failed events will be tried again now.")
	u.refresh(context.Background())
	if !s.retryAllButton.Disabled() {
		t.Errorf("Retry all failed enabled with no failed event left")
	}
}

func TestQueueSingleConnectionNeedsNoSelect(t *testing.T) {
	f := queueAgent()
	f.connections = f.connections[:1]
	_, w, s := openQueue(t, f)
	if s.connSelect.Visible() || !s.connLabel.Visible() {
		t.Errorf("with one connection: select visible %v, label visible %v; want the label only", s.connSelect.Visible(), s.connLabel.Visible())
	}
	wantShown(t, w, "Red (c1)", "T-3")
}

func TestQueueShowsBlockedEvents(t *testing.T) {
	f := queueAgent()
	f.queues["c1/out"] = append(f.queues["c1/out"][:1], agent.QueueEntry{Connection: "c1", Direction: "out", Seq: 8, EventID: "ev-8",
		ItemKey: "T-3", Kind: "update", State: agent.QueueBlocked, BlockedBy: 7})
	_, w, s := openQueue(t, f)
	wantShown(t, w, "blocked", "2 waiting, 1 failed, 1 blocked behind them")
	s.list.Select(s.index(8))
	if !strings.Contains(s.detail.Text, "Waits behind event 7 of the same item") {
		t.Errorf("detail of a blocked event: %q, want it to name event 7", s.detail.Text)
	}
	if !s.retryButton.Disabled() || s.skipButton.Disabled() {
		t.Errorf("on a blocked event: Retry disabled %v, Skip disabled %v; want true, false", s.retryButton.Disabled(), s.skipButton.Disabled())
	}
}

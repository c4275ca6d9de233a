package ui

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
)

func withHistory() *fakeAgent {
	f := newFakeAgent()
	f.connections = []agent.ConnectionInfo{{ID: "c1", PartnerName: "Red", State: agent.StateActive}}
	t0 := time.Now().Add(-time.Hour)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	f.history = []agent.HistoryRecord{
		{ID: 1, Time: at(0), Connection: "c1", Direction: "out", Local: "T-1", Kind: "create", Outcome: agent.OutcomeSent, RuleVersion: "out-v3", Duration: 12 * time.Millisecond},
		{ID: 2, Time: at(1), Connection: "c1", Direction: "in", Local: "T-1", Remote: "R-7", Kind: "receipt", Outcome: agent.OutcomeApplied},
		{ID: 3, Time: at(2), Connection: "c1", Direction: "in", Remote: "R-7", Kind: "update", Outcome: agent.OutcomeFailed, Attempt: 1, Permanent: true,
			Error: `incoming rule: status "reopened" is not mapped`, RuleVersion: "in-v1", Captured: true},
		{ID: 4, Time: at(3), Connection: "c1", Direction: "in", Remote: "R-7", Kind: "update", Outcome: agent.OutcomeRetried, Operator: true},
		{ID: 5, Time: at(4), Connection: "c1", Direction: "in", Local: "T-1", Remote: "R-7", Kind: "update", Outcome: agent.OutcomeApplied, RuleVersion: "in-v2", Attempt: 2},
		{ID: 6, Time: at(5), Connection: "c1", Direction: "out", Local: "T-2", Kind: "create", Outcome: agent.OutcomeSkipped, Operator: true},
	}
	f.captured = map[uint64]json.RawMessage{3: json.RawMessage(`{"replica":{"status":"reopened"}}`)}
	return f
}

func openHistory(t *testing.T, f *fakeAgent) (*historyScreen, *UI) {
	t.Helper()
	u, _ := newTestUI(t, f)
	u.refresh(context.Background())
	test.Tap(u.nav[screenHistory])
	u.pending.Wait()
	return &u.history, u
}

// timelineText is every text of the timeline pane, whatever the pane's width truncates.
func timelineText(s *historyScreen) string {
	var out []string
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		switch x := o.(type) {
		case *widget.Label:
			out = append(out, x.Text)
		case *widget.Button:
			out = append(out, x.Text)
		case *fyne.Container:
			for _, c := range x.Objects {
				walk(c)
			}
		}
	}
	out = append(out, s.timelineTitle.Text)
	walk(s.timeline)
	return strings.Join(out, "\n")
}

func TestHistoryTimelineBothWays(t *testing.T) {
	f := withHistory()
	s, u := openHistory(t, f)
	if len(s.records) != 6 || s.records[0].ID != 6 {
		t.Fatalf("history shows %d records, newest first want 6 (got first %d)", len(s.records), s.records[0].ID)
	}
	// Selecting the failed incoming update shows the item's whole timeline, both ways.
	s.list.Select(3)
	u.pending.Wait()
	text := strings.Join(strings.Fields(timelineText(s)), " ")
	for _, want := range []string{
		"Timeline of R-7 ⇄ T-1: 5 steps",
		"→ out create T-1", "sent · Red · took 12ms · rule out-v3",
		"← in update – ⇄ R-7", "failed · Red · attempt 1 · rule in-v1 · waits for you",
		`Error: incoming rule: status "reopened" is not mapped`,
		"retried by you", "applied · Red · attempt 2 · rule in-v2",
		"Show captured payload",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the timeline does not show %q; it shows:\n%s", want, text)
		}
	}
	if strings.Contains(text, "T-2") && strings.Contains(text, "Timeline of T-2") {
		t.Error("another item's record is in the timeline")
	}
	var show *widget.Button
	var find func(o fyne.CanvasObject)
	find = func(o fyne.CanvasObject) {
		if b, ok := o.(*widget.Button); ok && b.Text == "Show captured payload" {
			show = b
		}
		if c, ok := o.(*fyne.Container); ok {
			for _, x := range c.Objects {
				find(x)
			}
		}
	}
	find(s.timeline)
	test.Tap(show)
	u.pending.Wait()
	if !strings.Contains(u.status.Text, `"status": "reopened"`) {
		t.Errorf("the captured payload: %q", u.status.Text)
	}

	// Searching: by key, by error text; odd characters find nothing and say so.
	s.search.SetText("reopened")
	u.pending.Wait()
	if len(s.records) != 1 || s.records[0].ID != 3 {
		t.Errorf("search by error text: %d records", len(s.records))
	}
	s.search.SetText(`%_[*("\`)
	u.pending.Wait()
	if len(s.records) != 0 || s.empty.Hidden || !strings.Contains(s.empty.Text, "Nothing in the history matches") {
		t.Errorf("odd characters: %d records, empty state %q", len(s.records), s.empty.Text)
	}
	// Enter on a key shows its timeline; an unknown key says so.
	s.search.SetText("NOPE-1")
	s.search.OnSubmitted("NOPE-1")
	u.pending.Wait()
	if !strings.Contains(timelineText(s), `Nothing recorded for "NOPE-1"`) {
		t.Errorf("the timeline of an unknown key does not say so")
	}
	s.search.SetText("")
	s.outcome.SetSelected(string(agent.OutcomeSkipped))
	u.pending.Wait()
	if len(s.records) != 1 || s.records[0].ID != 6 {
		t.Errorf("outcome filter skipped: %d records", len(s.records))
	}
}

func TestHistoryIncompleteAndFollowsChanges(t *testing.T) {
	f := withHistory()
	f.overview.HistoryIncomplete = "The history is incomplete: 1,200 outcomes between 10:00 and 10:05 could not be written (disk full). Syncing went on."
	s, u := openHistory(t, f)
	if s.incomplete.Hidden || !strings.Contains(s.incomplete.Text, "disk full") {
		t.Errorf("incomplete note %q (hidden %v)", s.incomplete.Text, s.incomplete.Hidden)
	}
	f.mu.Lock()
	f.history = append(f.history, agent.HistoryRecord{ID: 7, Time: time.Now(), Connection: "c1", Direction: "out", Local: "T-9", Kind: "create", Outcome: agent.OutcomeSent})
	f.mu.Unlock()
	u.round(context.Background(), agent.TopicHistory)
	u.pending.Wait()
	if len(s.records) != 7 || s.records[0].ID != 7 {
		t.Errorf("after new history: %d records", len(s.records))
	}
}

func TestHistorySettings(t *testing.T) {
	f := withHistory()
	u, w := newTestUI(t, f)
	u.win = w
	u.refresh(context.Background())
	test.Tap(u.nav[screenSettings])
	u.pending.Wait()
	s := &u.historySet
	if s.retention.Text != "30" || s.save.Disabled() {
		t.Fatalf("retention shows %q (save disabled %v)", s.retention.Text, s.save.Disabled())
	}
	for _, bad := range []string{"0", "-3", "abc", "366", "2.5"} {
		s.retention.SetText(bad)
		test.Tap(s.save)
		u.pending.Wait()
		if !strings.Contains(u.status.Text, "enter whole days from 1 to 365") {
			t.Errorf("retention %q: status %q", bad, u.status.Text)
		}
		if d := w.Canvas().Overlays().Top(); d != nil {
			w.Canvas().Overlays().Remove(d)
		}
	}
	s.retention.SetText("7")
	test.Tap(s.save)
	u.pending.Wait()
	if f.retention != 7 {
		t.Errorf("retention saved %d, want 7", f.retention)
	}
	test.Tap(findButton(w, "Turn on for 24 hours"))
	u.pending.Wait()
	if f.connections[0].CaptureUntil.IsZero() {
		t.Error("capture not turned on")
	}
}

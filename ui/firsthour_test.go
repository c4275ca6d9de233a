package ui

import (
	"context"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/item"
)

// The status line belongs to the screen that wrote it: moving on clears it, coming back does
// not bring it back, and an answer that arrives after the operator left its screen (a
// connection test that fails late) does not land on the screen the operator is on now.
func TestStatusLineBelongsToItsScreen(t *testing.T) {
	f := newFakeAgent()
	u, w := newTestUI(t, f)
	test.Tap(u.nav[screenTracker])
	s := &u.tracker
	test.Tap(s.save) // no title
	if !strings.Contains(u.status.Text, "the title is empty") {
		t.Fatalf("status %q, want the empty-title error", u.status.Text)
	}
	test.Tap(u.nav[screenQueue])
	if u.status.Text != "" {
		t.Errorf("on Queue the status still says %q", u.status.Text)
	}
	test.Tap(u.nav[screenTracker])
	if u.status.Text != "" {
		t.Errorf("back on Tracker the status says %q again", u.status.Text)
	}

	// A connection test that answers after the operator went to the Tracker.
	f.check = agent.TrackerCheck{Summary: "RT does not answer at https://rt.example.com: connection refused"}
	gate := make(chan struct{})
	f.mu.Lock()
	f.gate = gate
	f.mu.Unlock()
	test.Tap(u.nav[screenSettings])
	u.pending.Wait()
	st := &u.settings
	st.kind.SetSelected(choiceRT)
	typeInto(field(t, st, "url"), "https://rt.example.com")
	typeInto(field(t, st, "queues"), "General")
	test.Tap(st.testButton)
	test.Tap(u.nav[screenTracker])
	close(gate)
	u.pending.Wait()
	if u.status.Text != "" {
		t.Errorf("the Settings test's answer landed on the Tracker's status line: %q", u.status.Text)
	}
	test.Tap(u.nav[screenSettings])
	wantShown(t, w, "connection refused") // Settings' own result line keeps it

	// The same answer while the operator stays on Settings shows there.
	test.Tap(st.testButton)
	u.pending.Wait()
	if !strings.Contains(u.status.Text, "Connection test failed") {
		t.Errorf("status on Settings %q, want the failed test", u.status.Text)
	}

	// A refresh error is the window's: it shows on every screen until a refresh works.
	f.failing("Overview", errAgentDown)
	u.refresh(context.Background())
	test.Tap(u.nav[screenQueue])
	if !strings.Contains(u.status.Text, "agent is not running") {
		t.Errorf("a refresh error %q is not on every screen", u.status.Text)
	}
	f.failing("Overview", nil)
	u.refresh(context.Background())
	if u.status.Text != "" {
		t.Errorf("after a good refresh the status still says %q", u.status.Text)
	}
}

// A message cut off on the status line is read in full by tapping it.
func TestStatusLineShowsAllWhenTapped(t *testing.T) {
	u, _ := newTestUI(t, newFakeAgent())
	long := "save item: " + strings.Repeat("the tracker said something long ", 20) + "END"
	u.setStatus(long, true)
	test.Tap(u.status)
	if u.lastFullText != long {
		t.Errorf("tapping the status line showed %q, want the whole message", u.lastFullText)
	}
}

// "(no priority)" is a choice that means none: a new item keeps none, and an item with a
// priority can go back to none.
func TestTrackerNoPriority(t *testing.T) {
	f := newFakeAgent()
	f.add(item.Item{Title: "Has one", Status: "open", Priority: "high"})
	u, _ := newTestUI(t, f)
	test.Tap(u.nav[screenTracker])
	u.refresh(context.Background())
	s := &u.tracker

	test.Tap(s.newButton)
	if s.priority.Selected != noPriority {
		t.Errorf("a new item's priority shows %q, want %q", s.priority.Selected, noPriority)
	}
	if s.priority.Options[0] != noPriority {
		t.Errorf("priority choices %q do not offer %q", s.priority.Options, noPriority)
	}
	fillForm(s, "No rush", "", "open", noPriority, "", "")
	test.Tap(s.save)
	u.pending.Wait()
	if len(f.created) != 1 || f.created[0].Priority != "" {
		t.Fatalf("created %+v, want no priority", f.created)
	}

	s.list.Select(s.index("T-1"))
	u.pending.Wait() // the item is read in full
	if s.priority.Selected != "high" {
		t.Fatalf("T-1 shows priority %q, want high", s.priority.Selected)
	}
	s.priority.SetSelected(noPriority)
	test.Tap(s.save)
	u.pending.Wait()
	if len(f.updated) != 1 || f.updated[0].Priority != "" {
		t.Fatalf("updated %+v, want T-1 back to no priority", f.updated)
	}
	s.list.Select(s.index("T-1"))
	u.pending.Wait() // the item is read in full
	if s.priority.Selected != noPriority {
		t.Errorf("after saving, T-1 shows %q, want %q", s.priority.Selected, noPriority)
	}
}

// The key prefix is set in Settings: new items take it, the Tracker says so, and a prefix
// the agent refuses keeps the old one with the agent's reason.
func TestKeyPrefixSetting(t *testing.T) {
	f := newFakeAgent()
	u, w, _ := openSettings(t, f)
	a := &u.agentSet
	if a.prefix.Text != "T" {
		t.Fatalf("Settings shows the prefix %q, want the agent's T", a.prefix.Text)
	}
	typeInto(a.prefix, "acme ")
	test.Tap(a.save)
	u.pending.Wait()
	if f.KeyPrefix() != "ACME" {
		t.Fatalf("the agent's prefix is %q, want ACME (upper case, trimmed)", f.KeyPrefix())
	}
	wantShown(t, w, "New items' keys start with ACME-")
	test.Tap(u.nav[screenTracker])
	s := &u.tracker
	if s.nextKey.Text != "new keys: ACME-n" {
		t.Errorf("the Tracker says %q about new keys, want ACME-n", s.nextKey.Text)
	}
	fillForm(s, "First of Acme", "", "open", noPriority, "", "")
	test.Tap(s.save)
	u.pending.Wait()
	if s.selected != "ACME-1" {
		t.Errorf("the new item is %q, want ACME-1", s.selected)
	}

	test.Tap(u.nav[screenSettings])
	u.pending.Wait()
	f.failing("SetKeyPrefix", errorString("invalid key prefix \"2X\": use 1 to 10 upper-case letters or digits, starting with a letter (e.g. BLUE)"))
	typeInto(a.prefix, "2x")
	test.Tap(a.save)
	u.pending.Wait()
	if f.KeyPrefix() != "ACME" || a.prefix.Text != "ACME" {
		t.Errorf("after a refused prefix: agent %q, field %q; want ACME kept", f.KeyPrefix(), a.prefix.Text)
	}
	if !strings.Contains(u.status.Text, "starting with a letter") {
		t.Errorf("status %q does not say why the prefix was refused", u.status.Text)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// Every item shows its twin's key and the partner's name, in the list and in the detail,
// where the key can be copied.
func TestTrackerShowsTwinAndPartner(t *testing.T) {
	f := newFakeAgent()
	f.add(item.Item{Title: "Linked", Status: "open"})
	f.add(item.Item{Title: "Not linked", Status: "open"})
	f.itemSync = map[string][]agent.ItemSync{
		"T-1": {{Connection: "c1", Partner: "Red", Remote: "RED-4", State: agent.ItemSynced}},
		"T-2": {{Connection: "c1", Partner: "Red", State: agent.ItemNotLinked}},
	}
	u, w := newTestUI(t, f)
	test.Tap(u.nav[screenTracker])
	u.refresh(context.Background())
	wantShown(t, w, "synced ⇄ RED-4 at Red", "not linked with Red")
	s := &u.tracker
	s.list.Select(s.index("T-1"))
	u.pending.Wait() // the item is read in full
	if got := shown(w); strings.Count(got, "RED-4 at Red") < 2 {
		t.Errorf("the detail of T-1 does not show its twin:\n%s", got)
	}
	s.list.Select(s.index("T-1"))
	test.Tap(copyButton(t, w))
	if got := fyne.CurrentApp().Clipboard().Content(); got != "RED-4" {
		t.Errorf("Copy beside the twin copied %q, want its key RED-4", got)
	}
	s.list.Select(s.index("T-2"))
	u.pending.Wait() // the item is read in full
	wantShown(t, w, "not linked with Red")
}

// copyButton is the one Copy button (an icon without a word) that w shows.
func copyButton(t *testing.T, w fyne.Window) *widget.Button {
	t.Helper()
	var found []*widget.Button
	visit(w, func(o fyne.CanvasObject) bool {
		if b, ok := o.(*widget.Button); ok && b.Text == "" && b.Icon == theme.ContentCopyIcon() {
			found = append(found, b)
		}
		return true
	})
	if len(found) != 1 {
		t.Fatalf("the window shows %d Copy buttons without a word, want 1", len(found))
	}
	return found[0]
}

// Without a system tray, closing the window asks; Quit ends the app, Keep open keeps it.
func TestCloseAsksBeforeQuitting(t *testing.T) {
	test.NewTempApp(t)
	w := test.NewTempWindow(t, widget.NewLabel("agent"))
	w.Resize(fyne.NewSize(800, 600))
	quits := 0
	askQuit(w, func() { quits++ })
	wantShown(t, w, "Quit Tandem?", "does not sync", "systemctl --user enable --now tandem")
	tapButton(t, w, "Keep open")
	if quits != 0 {
		t.Fatalf("Keep open quit the app")
	}
	askQuit(w, func() { quits++ })
	tapButton(t, w, "Quit")
	if quits != 1 {
		t.Errorf("Quit called quit %d times, want once", quits)
	}
}

// tapButton taps the visible button labelled text.
func tapButton(t *testing.T, w fyne.Window, text string) {
	t.Helper()
	var found *widget.Button
	visit(w, func(o fyne.CanvasObject) bool {
		if b, ok := o.(*widget.Button); ok && b.Text == text {
			found = b
			return false
		}
		return true
	})
	if found == nil {
		t.Fatalf("no button %q is shown:\n%s", text, shown(w))
	}
	test.Tap(found)
}

package ui

import (
	"context"
	"errors"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/ui/uitest"
)

// newTestUI builds the app on a fresh test app, in a window the size of the real one.
func newTestUI(t *testing.T, f *fakeAgent) (*UI, fyne.Window) {
	t.Helper()
	test.NewTempApp(t)
	u := New(f, Options{Title: "Tandem — Test"})
	t.Cleanup(u.pending.Wait) // the settings load started by New ends before the app does
	w := test.NewTempWindow(t, u.Content())
	w.Resize(fyne.NewSize(1000, 680))
	return u, w
}

// visit calls fn for every visible object in w, overlays first (see uitest.Visit).
func visit(w fyne.Window, fn func(fyne.CanvasObject) bool) { uitest.Visit(w, fn) }

// shown returns every text visible in w, one per line.
func shown(w fyne.Window) string {
	var out []string
	visit(w, func(o fyne.CanvasObject) bool {
		if x, ok := o.(*canvas.Text); ok {
			out = append(out, x.Text)
		}
		return true
	})
	return strings.Join(out, "\n")
}

func wantShown(t *testing.T, w fyne.Window, texts ...string) {
	t.Helper()
	got := shown(w)
	for _, want := range texts {
		if !strings.Contains(got, want) {
			t.Errorf("window does not show %q; it shows:\n%s", want, got)
		}
	}
}

func TestNavigationSwitchesScreens(t *testing.T) {
	u, w := newTestUI(t, newFakeAgent())
	if u.current != screenOverview {
		t.Fatalf("first screen = %q, want %q", u.current, screenOverview)
	}
	tests := []struct {
		tap  string
		want string // a text only that screen shows
	}{
		{screenConnections, "Invite a partner"},
		{screenRules, "then its rules appear here"},
		{screenQueue, "Retry all failed"},
		{screenHistory, "Search by item key or text"},
		{screenTracker, "New item"},
		{screenSettings, "Test connection"},
		{screenOverview, "Agent ID"},
	}
	for _, tc := range tests {
		test.Tap(u.nav[tc.tap])
		u.pending.Wait() // Settings loads the agent's settings when first shown
		if u.current != tc.tap {
			t.Errorf("after tapping %s: current screen = %q", tc.tap, u.current)
		}
		if got := u.body.Objects; len(got) != 1 || got[0] != u.screens[tc.tap] {
			t.Errorf("after tapping %s: body shows %v, want that screen", tc.tap, got)
		}
		if u.nav[tc.tap].Importance != widget.HighImportance {
			t.Errorf("after tapping %s: its button is not highlighted", tc.tap)
		}
		wantShown(t, w, tc.want)
	}
}

func TestOverviewShowsCounts(t *testing.T) {
	f := newFakeAgent()
	f.overview = agent.Overview{
		AgentID: "ABCD-EFGH-IJKL", Name: "Blue", Tracker: "embedded",
		Items: 12, Twins: 7, Queued: 10, Failed: 2, Connections: 2, Sent: 40, Applied: 38,
	}
	f.connections = []agent.ConnectionInfo{
		{ID: "c1", PartnerName: "Red", State: agent.StateActive, Outbox: 6, Inbox: 1, Failed: 2, Retrying: 1, Blocked: 3,
			Oldest: time.Now().Add(-3 * time.Hour), Health: agent.HealthFailing, HealthReason: "2 events failed for good and wait for you"},
		{ID: "c2", PartnerName: "Green", State: agent.StateActive, Outbox: 3, Health: agent.HealthDegraded,
			HealthReason: "not syncing for 5m0s: partner unreachable", CaptureUntil: time.Now().Add(time.Hour), Verified: time.Now()},
	}
	u, w := newTestUI(t, f)
	u.refresh(context.Background())
	if got := shown(w); !strings.Contains(got, "Red (c1) · 6 out, 1 in · unverified") || strings.Contains(got, "Green (c2) · 3 out, 0 in · unverified") {
		t.Errorf("the Overview does not tell the unverified connection (only): %s", got)
	}
	want := map[string]string{
		"Items": "12", "Twins": "7", "Pending": "4", "Blocked": "3", "Retrying": "1", "Failed": "2", "Oldest wait": "3h", "Sent": "40", "Applied": "38",
	}
	for name, v := range want {
		if got := u.overview.counts[name].Text; got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	if u.overview.counts["Failed"].Importance != widget.DangerImportance {
		t.Errorf("Failed count is not shown as a problem")
	}
	wantShown(t, w, "Blue", "ABCD-EFGH-IJKL", "embedded", "Applied", "38", "● failing", "● degraded", "2 events failed for good",
		"partner unreachable", "capture on until", "oldest waits 3h")
	if len(u.overview.drawn) != 2 || len(u.overview.drawn[0].tally) != 60 || len(u.overview.drawn[1].tally) != 48 {
		t.Errorf("charts drawn from %d series", len(u.overview.drawn))
	}
}

// A connection that fails anew, or turns degraded, is told on the desktop; what was already so
// when the app opened is not.
func TestOverviewNotifies(t *testing.T) {
	f := newFakeAgent()
	f.connections = []agent.ConnectionInfo{{ID: "c1", PartnerName: "Red", State: agent.StateActive, Failed: 1, Health: agent.HealthFailing}}
	u, _ := newTestUI(t, f)
	var sent []*fyne.Notification
	u.overview.notify = func(n *fyne.Notification) { sent = append(sent, n) }
	u.refresh(context.Background())
	if len(sent) != 0 {
		t.Fatalf("notified of what was so at start: %+v", sent[0])
	}
	f.mu.Lock()
	f.connections[0].Failed = 3
	f.mu.Unlock()
	u.refresh(context.Background())
	if len(sent) != 1 || !strings.Contains(sent[0].Title, "Red failed with 2 events") {
		t.Fatalf("after 2 new failures: %+v", sent)
	}
	f.mu.Lock()
	f.connections[0].Health, f.connections[0].HealthReason = agent.HealthDegraded, "not syncing for 4m0s: connection refused"
	f.mu.Unlock()
	u.refresh(context.Background())
	u.refresh(context.Background())
	if len(sent) != 2 || !strings.Contains(sent[1].Title, "Red is not syncing") || !strings.Contains(sent[1].Content, "connection refused") {
		t.Fatalf("degraded: %+v", sent)
	}
}

// fillForm types into the tracker form as an operator would.
func fillForm(s *trackerScreen, title, desc, status, priority, labels, assignee string) {
	for _, e := range []struct {
		entry *widget.Entry
		text  string
	}{{s.title, title}, {s.description, desc}, {s.labels, labels}, {s.assignee, assignee}} {
		e.entry.SetText("")
		test.Type(e.entry, e.text)
	}
	s.status.SetSelected(status)
	s.priority.SetSelected(priority)
}

func TestTrackerCreatesItem(t *testing.T) {
	f := newFakeAgent()
	u, w := newTestUI(t, f)
	test.Tap(u.nav[screenTracker])
	s := &u.tracker

	fillForm(s, "Printer on fire", "Third floor.", "in progress", "high", "hardware, urgent ,hardware", "ann")
	test.Tap(s.save)
	u.pending.Wait()

	if len(f.created) != 1 {
		t.Fatalf("CreateItem called %d times, want 1", len(f.created))
	}
	got := f.created[0]
	want := item.Item{
		Title: "Printer on fire", Description: "Third floor.", Status: "in progress", Priority: "high",
		Labels: []string{"hardware", "urgent"}, Assignee: item.User{ID: "ann", Name: "ann"},
	}
	if got.Title != want.Title || got.Description != want.Description || got.Status != want.Status ||
		got.Priority != want.Priority || !slices.Equal(got.Labels, want.Labels) || got.Assignee != want.Assignee {
		t.Errorf("CreateItem got %+v, want %+v", got, want)
	}
	if s.list.Length() != 1 || s.page[0].Key != "T-1" {
		t.Fatalf("list has %d items (%v), want the new T-1", s.list.Length(), s.page)
	}
	if s.selected != "T-1" || s.save.Text != "Save" {
		t.Errorf("after create: form edits %q with button %q, want T-1 and Save", s.selected, s.save.Text)
	}
	wantShown(t, w, "T-1", "Printer on fire", "Created T-1.")

	// A refresh that brings the same item keeps it once.
	u.refresh(context.Background())
	if s.list.Length() != 1 {
		t.Errorf("after refresh: list has %d items, want 1", s.list.Length())
	}
}

func TestTrackerEditsItem(t *testing.T) {
	f := newFakeAgent()
	f.add(item.Item{Title: "Old", Status: "open", Custom: map[string]string{"customer": "ACME"}, Reporter: item.User{ID: "ann", Name: "Ann Reporter"}})
	f.add(item.Item{Title: "Other", Status: "open"})
	u, w := newTestUI(t, f)
	test.Tap(u.nav[screenTracker]) // items are read while the Tracker shows
	u.refresh(context.Background())
	s := &u.tracker

	s.list.Select(s.index("T-1"))
	u.pending.Wait() // the item is read in full
	if s.selected != "T-1" || s.title.Text != "Old" {
		t.Fatalf("selecting T-1 loaded %q titled %q", s.selected, s.title.Text)
	}
	if !strings.Contains(s.header.Text, "by Ann Reporter") {
		t.Errorf("item header %q does not name the reporter", s.header.Text)
	}
	s.title.SetText("")
	test.Type(s.title, "New title")
	s.status.SetSelected("done")
	// Meanwhile the partner changes the description: the save must not undo that.
	f.edit("T-1", func(it *item.Item) { it.Description = "from the partner" })
	u.refresh(context.Background())
	if s.title.Text != "New title" {
		t.Fatalf("a refresh replaced the typed title with %q", s.title.Text)
	}
	test.Tap(s.save)
	u.pending.Wait()

	if len(f.updated) != 1 {
		t.Fatalf("UpdateItem called %d times, want 1", len(f.updated))
	}
	got := f.updated[0]
	if got.Key != "T-1" || got.Title != "New title" || got.Status != "done" ||
		got.Description != "from the partner" || got.Custom["customer"] != "ACME" {
		t.Errorf("UpdateItem got %+v, want T-1 with the new title and status, the partner's description and the custom field", got)
	}
	if i := s.index("T-1"); i < 0 || s.page[i].Title != "New title" {
		t.Errorf("list does not show the new title: %v", s.page)
	}
	if s.description.Text != "from the partner" {
		t.Errorf("description = %q after save, want the partner's", s.description.Text)
	}
	wantShown(t, w, "New title", "Saved T-1.")

	// A comment.
	test.Type(s.commentEntry, "Looked at it.")
	test.Tap(s.commentButton)
	u.pending.Wait()
	if c := f.comments["T-1"]; len(c) != 1 || c[0].Body != "Looked at it." {
		t.Errorf("AddComment got %v, want one comment", c)
	}
	if s.commentEntry.Text != "" {
		t.Errorf("comment entry keeps %q after a successful add", s.commentEntry.Text)
	}
	wantShown(t, w, "Looked at it.", "Operator")
}

// Each item's row says where it stands with the partner and its twin's key.
func TestTrackerShowsSyncState(t *testing.T) {
	f := newFakeAgent()
	f.add(item.Item{Title: "Linked", Status: "open"})
	f.add(item.Item{Title: "Broken", Status: "open"})
	f.itemSync = map[string][]agent.ItemSync{
		"T-1": {{Connection: "c1", Partner: "Red", Remote: "RED-7", State: agent.ItemSynced}},
		"T-2": {{Connection: "c1", Partner: "Red", State: agent.ItemFailed}},
	}
	u, w := newTestUI(t, f)
	test.Tap(u.nav[screenTracker])
	u.refresh(context.Background())
	wantShown(t, w, "synced ⇄ RED-7", "failed")
}

func TestTrackerFollowsAgentWhenUntouched(t *testing.T) {
	f := newFakeAgent()
	f.add(item.Item{Title: "Before", Status: "open"})
	u, _ := newTestUI(t, f)
	test.Tap(u.nav[screenTracker])
	u.refresh(context.Background())
	s := &u.tracker
	s.list.Select(0)
	u.pending.Wait() // the item is read in full
	f.edit("T-1", func(it *item.Item) {
		it.Title = "After"
		it.Comments = append(it.Comments, item.Comment{ID: "p1", Body: "from the partner"})
	})
	u.refresh(context.Background())
	if s.title.Text != "After" {
		t.Errorf("untouched form shows %q, want the agent's newer %q", s.title.Text, "After")
	}
	if len(s.base.Comments) != 1 {
		t.Errorf("form has %d comments, want the partner's one", len(s.base.Comments))
	}
}

func TestConnectionsListsAgentRows(t *testing.T) {
	f := newFakeAgent()
	f.connections = []agent.ConnectionInfo{
		{ID: "c1", PartnerName: "Red", PartnerID: "RRRR-1111", PartnerURL: "https://red.example:7443",
			VerificationCode: "1234-5678", State: agent.StateActive, Twins: 4, Outbox: 2, Inbox: 1},
		{ID: "c2", PartnerName: "Green", PartnerID: "GGGG-2222", State: agent.StatePaused,
			Failed: 3, LastError: "partner answered 503"},
	}
	u, w := newTestUI(t, f)
	u.refresh(context.Background())
	test.Tap(u.nav[screenConnections])
	if got := u.connections.list.Length(); got != 2 {
		t.Fatalf("list has %d rows, want 2", got)
	}
	wantShown(t, w,
		"Red — Active · Unverified", "outbox 2", "inbox 1", "Unverified: compare the verification code",
		"Green — Paused · Unverified", "failed 3", "Last error: partner answered 503")
	if u.connections.empty.Visible() {
		t.Errorf("the empty-list hint shows next to two connections")
	}
}

func TestAgentErrorsShowAndLoseNothing(t *testing.T) {
	f := newFakeAgent()
	f.overview = agent.Overview{Name: "Blue", Items: 5}
	u, w := newTestUI(t, f)
	u.win = w // errors of operations open a dialog too
	u.refresh(context.Background())
	test.Tap(u.nav[screenTracker])
	s := &u.tracker

	f.failing("CreateItem", errors.New("database is locked"))
	fillForm(s, "Keep me", "All of this.", "open", "low", "a, b", "bob")
	test.Tap(s.save)
	u.pending.Wait()

	if len(f.items) != 0 {
		t.Errorf("the agent stored %v despite its error", f.items)
	}
	if got := s.form(); got != (itemFields{"Keep me", "All of this.", "open", "low", "a, b", "bob"}) {
		t.Errorf("after the error the form holds %+v, want everything typed", got)
	}
	if u.status.Importance != widget.DangerImportance || !strings.Contains(u.status.Text, "create item: database is locked") {
		t.Errorf("status line = %q (importance %v), want the error in red", u.status.Text, u.status.Importance)
	}
	if w.Canvas().Overlays().Top() == nil {
		t.Errorf("no error dialog shown")
	}
	wantShown(t, w, "database is locked")
	if s.save.Disabled() {
		t.Errorf("Save stays disabled after the error, so the operator cannot retry")
	}

	// Once the agent recovers, the same form saves.
	f.failing("CreateItem", nil)
	test.Tap(s.save)
	u.pending.Wait()
	if len(f.created) != 1 || f.created[0].Title != "Keep me" {
		t.Errorf("retry created %v, want the kept item", f.created)
	}

	// A failing refresh keeps what the screens showed and says why.
	f.failing("ItemPage", errAgentDown)
	u.refresh(context.Background())
	if !strings.Contains(u.status.Text, "read items: agent is not running") {
		t.Errorf("status line = %q, want the refresh error", u.status.Text)
	}
	if s.list.Length() != 1 || u.overview.counts["Items"].Text != "5" {
		t.Errorf("a failed refresh emptied the screens: %d items, Items count %q", s.list.Length(), u.overview.counts["Items"].Text)
	}
	f.failing("ItemPage", nil)
	u.refresh(context.Background())
	if u.status.Text != "" {
		t.Errorf("status line = %q after the agent recovered, want it cleared", u.status.Text)
	}
}

func TestTrackerRefusesEmptyTitle(t *testing.T) {
	f := newFakeAgent()
	u, _ := newTestUI(t, f)
	s := &u.tracker
	test.Type(s.description, "no title")
	test.Tap(s.save)
	u.pending.Wait()
	if len(f.created) != 0 {
		t.Errorf("CreateItem called for an item without title: %v", f.created)
	}
	if !strings.Contains(u.status.Text, "title is empty") || s.description.Text != "no title" {
		t.Errorf("status %q, description %q: want the error and the description kept", u.status.Text, s.description.Text)
	}
}

// TestRefreshLoopPicksUpChanges runs the real loop: an item added elsewhere (another window, the
// partner) reaches the list, and the loop ends with its context.
func TestRefreshLoopPicksUpChanges(t *testing.T) {
	f := newFakeAgent()
	u, w := newTestUI(t, f)
	reads := make(chan int, 1)
	f.mu.Lock()
	f.itemsRead = reads
	f.mu.Unlock()

	test.Tap(u.nav[screenTracker])
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { u.serve(ctx); close(done) }()
	<-reads // the first round reads everything
	f.add(item.Item{Title: "Made in the other window"})
	f.tell(agent.TopicItems) // the agent says what changed; nothing is read without it
	// Wait for a round that read the new item; that round shows it before the next begins.
	for n := 0; n < 1; {
		select {
		case n = <-reads:
		case <-time.After(10 * time.Second):
			t.Fatal("the refresh loop did not read the new item")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the refresh loop did not stop when its context ended")
	}
	test.Tap(u.nav[screenTracker])
	wantShown(t, w, "T-1", "Made in the other") // long titles are truncated in the list
}

func TestOverviewHintOnlyWithoutConnections(t *testing.T) {
	f := newFakeAgent()
	u, w := newTestUI(t, f)
	u.refresh(context.Background())
	wantShown(t, w, "No partner yet")
	f.mu.Lock()
	f.overview.Connections = 1
	f.mu.Unlock()
	u.refresh(context.Background())
	if strings.Contains(shown(w), "No partner yet") {
		t.Errorf("the how-to-start hint still shows with a connection")
	}
}

func TestNewWindow(t *testing.T) {
	app := test.NewTempApp(t)
	w := NewWindow(app, newFakeAgent(), Options{Title: "Tandem — Blue"})
	defer w.Close()
	if got := w.Title(); got != "Tandem — Blue" {
		t.Errorf("title = %q, want %q", got, "Tandem — Blue")
	}
	if got := w.Canvas().Size(); got.Width < 900 || got.Height < 600 {
		t.Errorf("window size = %v, want about 1000x680", got)
	}
	if w.Content() == nil {
		t.Errorf("window has no content")
	}
}

// TestImportsStayOutOfStorageAndCrypto keeps the rule that ui talks to the agent only through
// its Agent interface: no direct import of the store, the rule interpreter, the keychain or JWT.
func TestImportsStayOutOfStorageAndCrypto(t *testing.T) {
	banned := []string{"go.etcd.io/bbolt", "github.com/traefik/yaegi", "github.com/zalando/go-keyring", "github.com/golang-jwt/jwt"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, b := range banned {
				if strings.HasPrefix(path, b) {
					t.Errorf("%s imports %s; ui must reach it through the Agent interface", name, path)
				}
			}
		}
	}
}

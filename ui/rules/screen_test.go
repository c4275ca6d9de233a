package rules

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules/model"
	"github.com/tandemsync/tandem/core/rules/srcdiff"
	"github.com/tandemsync/tandem/ui/rules/rulestest"
	"github.com/tandemsync/tandem/ui/uitest"
)

// testHost runs calls as the window does: off the UI goroutine, then back through fyne.Do.
type testHost struct {
	pending sync.WaitGroup
	ui      sync.Mutex // the test driver runs fyne.Do on the caller: one callback at a time, as on the UI goroutine
	mu      sync.Mutex
	status  string
	isErr   bool
	win     fyne.Window
}

func (h *testHost) Call(what string, fn func(ctx context.Context) error, done func(err error)) {
	h.pending.Add(1)
	go func() {
		defer h.pending.Done()
		err := fn(context.Background())
		if err != nil {
			err = fmt.Errorf("%s: %w", what, err)
		}
		fyne.Do(func() {
			h.ui.Lock()
			defer h.ui.Unlock()
			done(err)
			if err != nil {
				h.SetStatus(err.Error(), true)
			}
		})
	}()
}

func (h *testHost) SetStatus(text string, isErr bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status, h.isErr = text, isErr
}

func (h *testHost) Window() fyne.Window { return h.win }

func (h *testHost) lastStatus() (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.status, h.isErr
}

// open builds the screen on a connection with Red, shows it, and waits for the rule.
func open(t *testing.T, f *rulestest.Fake) (*Screen, *testHost, fyne.Window) {
	t.Helper()
	test.NewTempApp(t)
	h := &testHost{}
	s := New(f, h)
	w := test.NewTempWindow(t, s.Content())
	w.Resize(fyne.NewSize(1000, 760))
	h.win = w
	t.Cleanup(h.pending.Wait)
	s.Show([]agent.ConnectionInfo{{ID: "c1", PartnerName: "Red"}})
	s.SetVisible(true)
	h.pending.Wait()
	if s.cur == nil {
		t.Fatal("the rule did not load")
	}
	return s, h, w
}

func waitFor(t *testing.T, h *testHost, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
		h.pending.Wait()
	}
}

func texts(w fyne.Window) string                       { return uitest.Texts(w) }
func button(w fyne.Window, text string) *widget.Button { return uitest.Button(w, text) }

func selectTab(s *Screen, name string) {
	for _, ti := range s.tabs.Items {
		if ti.Text == name {
			s.tabs.Select(ti)
		}
	}
}

// TestBuildValueMapVisually: build a value map in the visual editor, see the generated
// source, test-run it on an item, save and deploy, roll back.
func TestBuildValueMapVisually(t *testing.T) {
	f := rulestest.New()
	f.SetItems([]item.Item{{Key: "BLUE-1", Title: "Printer jams", Status: "open"}})
	s, h, w := open(t, f)

	// A new connection runs the default script; the visual editor offers the same rule.
	if !s.cur.starter || len(s.visual.rows) != 5 {
		t.Fatalf("first draft: starter %v, %d mappings; want the default rule as 5 visual mappings", s.cur.starter, len(s.visual.rows))
	}
	if !strings.Contains(texts(w), "Live: version 1, the embedded tracker's default script") {
		t.Errorf("the screen does not say which rule is live:\n%s", texts(w))
	}

	// The status mapping becomes a value map: open → in progress, anything else "open".
	row := s.visual.rows[2]
	if row.m().Target != item.FieldStatus {
		t.Fatalf("row 3 maps %s, want status", row.m().Target)
	}
	row.kind.SetSelected(kindLabels[model.Map])
	row = s.visual.rows[2]
	test.Tap(row.addValue)
	row = s.visual.rows[2]
	test.Type(row.pairs[0].from, "open")
	test.Type(row.pairs[0].to, "in progress")
	row.other.SetSelected("becomes the default:")
	test.Type(row.def, "open")
	want := `mapped: "open" → "in progress"; anything else becomes "open".`
	if row.words.Text != want {
		t.Errorf("the mapping says %q, want %q", row.words.Text, want)
	}
	// Priority stops being sent.
	test.Tap(s.visual.rows[3].remove)
	if len(s.visual.rows) != 4 || s.visual.rows[3].m().Target != item.FieldLabels {
		t.Fatalf("after removing priority: %d rows", len(s.visual.rows))
	}

	// The Script tab shows the generated source, read-only.
	selectTab(s, "Script")
	src := s.script.editor.Text()
	for _, part := range []string{`var statusValues = tandem.ValueMap{`, `"open": "in progress",`, `Default: "open",`, `statusValues.Map(item.Status)`} {
		if !strings.Contains(src, part) {
			t.Errorf("generated source lacks %q:\n%s", part, src)
		}
	}
	if strings.Contains(src, "replica.Priority") || !s.script.editor.readOnly {
		t.Errorf("generated source still sends priority, or is editable (read-only %v)", s.script.editor.readOnly)
	}

	// A test run on a real item sends the draft and shows the result.
	selectTab(s, "Test run")
	h.pending.Wait()
	if len(s.test.options) != 1 || s.test.options[0] != "BLUE-1 — Printer jams" {
		t.Fatalf("item picker offers %q", s.test.options)
	}
	s.test.item.SetText(s.test.options[0])
	test.Tap(s.test.run)
	h.pending.Wait()
	if len(f.Tests) != 1 || f.Tests[0].Input.ItemKey != "BLUE-1" || f.Tests[0].Draft.Mode != agent.RuleVisual ||
		len(f.Tests[0].Draft.Model.Mappings) != 4 {
		t.Fatalf("test runs asked: %+v", f.Tests)
	}
	if s.test.last == nil || !strings.Contains(texts(w), "The replica that would be sent") || !strings.Contains(texts(w), "fake run on BLUE-1") {
		t.Errorf("the test run's result is not shown:\n%s", texts(w))
	}

	// Save and deploy: version 2 is live.
	test.Type(s.note, "open means in progress at Red; priority stays here")
	test.Tap(s.deployNow)
	h.pending.Wait()
	if f.Live("c1", agent.RuleOutgoing) != 2 {
		t.Fatalf("live version after Save and deploy: %d, want 2", f.Live("c1", agent.RuleOutgoing))
	}
	if msg, isErr := h.lastStatus(); isErr || !strings.Contains(msg, "Saved and deployed version 2") {
		t.Errorf("status %q (error %v)", msg, isErr)
	}
	if s.cur.dirty || s.cur.base != 2 || !strings.Contains(s.liveLabel.Text, "Live: version 2, a visual rule") {
		t.Errorf("after deploy: dirty %v, base %d, live label %q", s.cur.dirty, s.cur.base, s.liveLabel.Text)
	}

	// The versions list names both; comparing says what changed.
	selectTab(s, "Versions")
	h.pending.Wait()
	if len(s.versions.versions) != 2 || !s.versions.versions[0].Live || !strings.Contains(versionLine(s.versions.versions[0]), "open means in progress") {
		t.Fatalf("versions: %+v", s.versions.versions)
	}
	s.versions.from.SetSelected("1")
	s.versions.to.SetSelected("2")
	test.Tap(s.versions.compareBtn)
	h.pending.Wait()
	if s.versions.last == nil || !strings.Contains(s.versions.summary.Text, "a script became a visual rule") || !srcdiff.Changed(s.versions.last.Diff) {
		t.Errorf("comparison: %q", s.versions.summary.Text)
	}

	// Roll back: confirm in the dialog, version 1 is live again.
	test.Tap(s.rollback)
	confirm := button(w, "Roll back")
	if confirm == nil || confirm == s.rollback {
		// the dialog's button is found first (overlays first)
		t.Fatalf("no roll back confirmation:\n%s", texts(w))
	}
	test.Tap(confirm)
	h.pending.Wait()
	if f.Live("c1", agent.RuleOutgoing) != 1 {
		t.Errorf("live version after rollback: %d, want 1", f.Live("c1", agent.RuleOutgoing))
	}
	if msg, _ := h.lastStatus(); !strings.Contains(msg, "Rolled the outgoing rule back to version 1") {
		t.Errorf("status after rollback: %q", msg)
	}
}

// TestScriptAndBackShowsTheLoss: "Edit as script" makes the rule editable; a compile error
// shows at its line before saving; going back to visual shows what the script's changes
// would lose, as a diff, and asks first.
func TestScriptAndBackShowsTheLoss(t *testing.T) {
	f := rulestest.New()
	s, h, w := open(t, f)
	selectTab(s, "Script")
	test.Tap(s.script.editAs)
	if s.cur.mode != agent.RuleScript || s.script.editor.readOnly || strings.Contains(s.script.editor.Text(), "DO NOT EDIT") {
		t.Fatalf("after Edit as script: mode %s, read-only %v", s.cur.mode, s.script.editor.readOnly)
	}

	// Break line 1: the error shows at its line, before any save.
	test.Type(s.script.editor, "}")
	waitFor(t, h, "compile error at line 1", func() bool { return strings.HasPrefix(s.script.problem.Text, "Line 1:") })
	if s.script.editor.errLine != 1 {
		t.Errorf("error line marked: %d, want 1", s.script.editor.errLine)
	}
	// Mend it: Backspace; then add a line the visual rule does not have.
	s.script.editor.TypedKey(&fyne.KeyEvent{Name: fyne.KeyBackspace})
	s.script.editor.TypedKey(&fyne.KeyEvent{Name: fyne.KeyEnd})
	test.Type(s.script.editor, " // keep this note")
	waitFor(t, h, "compiles again", func() bool { return s.script.problem.Text == "Compiles." })
	if s.script.editor.errLine != 0 || !strings.Contains(s.cur.script, "// keep this note") {
		t.Errorf("after the fix: error line %d, script has the note: %v", s.script.editor.errLine, strings.Contains(s.cur.script, "// keep this note"))
	}

	// Back to visual: the dialog shows the loss and asks.
	test.Tap(s.script.back)
	if s.script.lossDialog == nil {
		t.Fatal("going back to visual did not ask")
	}
	removed, _ := srcdiff.Count(s.script.lossDiff)
	lost := false
	for _, l := range s.script.lossDiff {
		if l.Kind == srcdiff.Removed && strings.Contains(l.Text, "keep this note") {
			lost = true
		}
	}
	if !lost || removed == 0 || w.Canvas().Overlays().Top() == nil || !strings.Contains(texts(w), "would be lost (1)") {
		t.Errorf("the loss shown does not include the script's note (%d lines removed)", removed)
	}
	if s.cur.mode != agent.RuleScript {
		t.Fatal("the rule went back before the operator agreed")
	}
	test.Tap(button(w, "Discard the script's changes"))
	if s.cur.mode != agent.RuleVisual || !s.script.editor.readOnly || !s.visual.editor.Visible() {
		t.Errorf("after agreeing: mode %s, read-only %v", s.cur.mode, s.script.editor.readOnly)
	}
}

// TestBrokenScriptSavedAsDraftNotDeployed: a script that does not compile is kept as a draft
// that says why, and the live rule stays.
func TestBrokenScriptSavedAsDraftNotDeployed(t *testing.T) {
	f := rulestest.New()
	s, h, _ := open(t, f)
	selectTab(s, "Script")
	test.Tap(s.script.editAs)
	test.Type(s.script.editor, "}")
	test.Tap(s.deployNow)
	h.pending.Wait()
	msg, isErr := h.lastStatus()
	if !isErr || !strings.Contains(msg, "Saved version 2 as a draft; it does not compile") {
		t.Errorf("status %q (error %v)", msg, isErr)
	}
	if f.Live("c1", agent.RuleOutgoing) != 1 {
		t.Errorf("live version: %d, want 1", f.Live("c1", agent.RuleOutgoing))
	}
}

// TestIncomingChoices: on the incoming rule, conflict policies and comment choices reach the
// generated source; an invalid mapping is named and keeps the rule from being saved.
func TestIncomingChoices(t *testing.T) {
	f := rulestest.New()
	s, h, _ := open(t, f)
	s.direction.SetSelected(dirInLabel)
	h.pending.Wait()
	if s.dir != agent.RuleIncoming || s.cur == nil || s.cur.model.Direction != model.Incoming {
		t.Fatalf("incoming rule not shown: dir %s", s.dir)
	}
	s.visual.rows[2].conflict.SetSelected("a local change wins")
	s.visual.followDeletes.SetChecked(false)
	src, err := s.cur.source()
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{`ctx.Conflict("status", "local")`, `ctx.FollowCommentDeletions(false)`} {
		if !strings.Contains(src, part) {
			t.Errorf("generated source lacks %s", part)
		}
	}

	s.visual.rows[0].target.SetText("headline")
	if !s.visual.problem.Visible() || !strings.Contains(s.visual.problem.Text, `mapping 1 (title → headline): target: unknown field "headline"`) || !s.saveButton.Disabled() {
		t.Errorf("an unknown field: problem %q (shown %v), save disabled %v", s.visual.problem.Text, s.visual.problem.Visible(), s.saveButton.Disabled())
	}
	s.visual.rows[0].target.SetText("title")
	if s.visual.problem.Visible() || s.saveButton.Disabled() {
		t.Error("the problem stays after the fix")
	}

	// The outgoing draft is kept while the incoming one is edited.
	s.direction.SetSelected(dirOutLabel)
	h.pending.Wait()
	if s.dir != agent.RuleOutgoing || s.cur.model.Direction != model.Outgoing {
		t.Errorf("back on outgoing: %s", s.dir)
	}
	s.direction.SetSelected(dirInLabel)
	if !strings.Contains(s.script.editor.Text(), `ctx.Conflict("status", "local")`) {
		t.Error("the incoming draft's edits were lost when switching direction")
	}
}

// TestTriggerBuilder: conditions added in the trigger builder reach the generated source,
// with all/any.
func TestTriggerBuilder(t *testing.T) {
	f := rulestest.New()
	s, _, _ := open(t, f)
	test.Tap(s.visual.addCondition)
	c := s.visual.condRows[0]
	c.field.SetText("labels")
	c.op.SetSelected(model.OpContains)
	test.Type(c.value, "partner")
	test.Tap(s.visual.addCondition)
	c = s.visual.condRows[1]
	c.field.SetText("status")
	c.op.SetSelected(model.OpOneOf)
	test.Type(c.value, "open, waiting")
	s.visual.match.SetSelected("any")
	src, err := s.cur.source()
	if err != nil {
		t.Fatal(err)
	}
	want := "inTrigger := ctx.HasLabel(item.Labels, \"partner\") ||\n\t\tctx.OneOf(item.Status, \"open\", \"waiting\")"
	if !strings.Contains(src, want) {
		t.Errorf("generated trigger:\n%s\nwant it to contain\n%s", src, want)
	}
}

// The test run's item picker reads one page of the newest items, not the whole tracker, and
// starting a sample from an item reads that item in full.
func TestTestRunPicksFromAPageOfItems(t *testing.T) {
	f := rulestest.New()
	items := make([]item.Item, 10000)
	for i := range items {
		n := len(items) - i // newest first
		items[i] = item.Item{Key: fmt.Sprintf("BLUE-%d", n), Title: fmt.Sprintf("item %d", n), Description: fmt.Sprintf("all of item %d", n), Status: "open"}
	}
	f.SetItems(items)
	s, h, _ := open(t, f)
	s.direction.SetSelected(dirInLabel)
	h.pending.Wait()
	selectTab(s, "Test run")
	h.pending.Wait()
	if got := f.PageItems(); got != pickItems || len(s.test.options) != pickItems || s.test.options[0] != "BLUE-10000 — item 10000" {
		t.Fatalf("the picker read %d items and offers %d starting %q; want one page of %d, newest first", got, len(s.test.options), s.test.options, pickItems)
	}
	s.test.item.SetText(s.test.options[3])
	test.Tap(s.test.fill)
	h.pending.Wait()
	if !strings.Contains(s.test.sample.Text, "all of item 9997") {
		t.Errorf("the sample started from BLUE-9997 lacks its description:\n%s", s.test.sample.Text)
	}
	if got := f.PageItems(); got != pickItems {
		t.Errorf("%d items listed after starting a sample; want only the first page's %d", got, pickItems)
	}
}

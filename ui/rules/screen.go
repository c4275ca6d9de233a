// Package rules is the Rules screen: a connection's outgoing and incoming rules, edited
// visually or as Go, tried on real items, saved as versions, deployed and rolled back.
package rules

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules/model"
)

// Agent is what the Rules screen needs from the agent.
type Agent interface {
	// RuleVersion returns version n of a rule (0: the live one); RuleVersions pages them,
	// newest first.
	RuleVersion(ctx context.Context, connID, dir string, n int) (agent.RuleVersion, error)
	RuleVersions(ctx context.Context, connID, dir string, offset, limit int) ([]agent.RuleVersion, int, error)
	SaveRule(ctx context.Context, connID, dir string, d agent.RuleDraft) (agent.RuleVersion, error)
	DeployRule(ctx context.Context, connID, dir string, n int) error
	RollbackRule(ctx context.Context, connID, dir string) (agent.RuleVersion, error)
	// CheckRule compiles a source without saving it: nil or an *agent.RuleError.
	CheckRule(ctx context.Context, dir, src string) error
	CompareRules(ctx context.Context, connID, dir string, from, to int) (agent.RuleComparison, error)
	TestRule(ctx context.Context, connID, dir string, d agent.RuleDraft, in agent.RuleTestInput) (agent.RuleTestResult, error)
	// ItemPage lists a page of the embedded tracker's items, newest first, for choosing one
	// to test on; Item reads one in full, to start a sample from its fields.
	ItemPage(ctx context.Context, offset, limit int) (agent.ItemPage, error)
	Item(ctx context.Context, key string) (item.Item, error)
}

// Host is what the screen needs from the window around it.
type Host interface {
	// Call runs fn off the Fyne goroutine, then done on it; an error is shown to the operator.
	Call(what string, fn func(ctx context.Context) error, done func(err error))
	// SetStatus shows a line at the bottom of the window.
	SetStatus(text string, isErr bool)
	// Window is where dialogs open; nil when there is none (some tests).
	Window() fyne.Window
}

// Directions as the operator reads them.
const (
	dirOutLabel = "Outgoing: what leaves for the partner"
	dirInLabel  = "Incoming: how the partner's changes apply here"
)

// versionsPage is how many versions the screen reads at a time.
const versionsPage = 50

// draft is the rule being edited for one connection and direction. Drafts of every rule
// opened are kept while the app runs, so switching rules loses nothing.
type draft struct {
	live   agent.RuleVersion // the deployed version, as last read
	base   int               // the version the draft started from; 0 for a starter
	mode   string            // agent.RuleVisual or agent.RuleScript
	model  *model.Rule       // the visual rule; in script mode, what going back to visual returns to
	script string            // the script, in script mode
	dirty  bool              // changed since loaded or saved
	// starter is set when the visual rule is the starting point offered for a rule that is
	// still a tracker's default script.
	starter bool
}

// source is the draft's Go source: generated for a visual rule.
func (d *draft) source() (string, error) {
	if d.mode == agent.RuleScript {
		return d.script, nil
	}
	return model.Generate(d.model)
}

func (d *draft) agentDraft(note string) agent.RuleDraft {
	if d.mode == agent.RuleScript {
		return agent.RuleDraft{Mode: agent.RuleScript, Source: d.script, Note: note}
	}
	return agent.RuleDraft{Mode: agent.RuleVisual, Model: d.model.Clone(), Note: note}
}

// Screen is the Rules screen. Build it with New; it touches widgets only on the Fyne goroutine.
type Screen struct {
	agent Agent
	host  Host

	conns   []agent.ConnectionInfo
	connID  string
	dir     string
	drafts  map[string]*draft // by connID + "/" + dir
	cur     *draft            // the shown draft, nil while loading
	visible bool              // the screen is shown: only then does it read rules
	loading string            // the connID/dir being read, "" when none

	content    fyne.CanvasObject
	connSelect *widget.Select
	connLabel  *widget.Label
	direction  *widget.RadioGroup
	liveLabel  *widget.Label
	editLabel  *widget.Label
	note       *widget.Entry
	saveButton *widget.Button
	deployNow  *widget.Button
	rollback   *widget.Button
	tabs       *container.AppTabs
	body       *fyne.Container // the tabs, or a message while there is nothing to edit
	message    *widget.Label

	visual   visualEditor
	script   scriptView
	test     testRun
	versions versionsView
}

// New builds the Rules screen.
func New(a Agent, h Host) *Screen {
	s := &Screen{agent: a, host: h, dir: agent.RuleOutgoing, drafts: map[string]*draft{}}
	s.build()
	return s
}

// Content is the screen's root object.
func (s *Screen) Content() fyne.CanvasObject { return s.content }

func (s *Screen) build() {
	s.connSelect = widget.NewSelect(nil, func(name string) {
		for _, c := range s.conns {
			if choice(c) == name && c.ID != s.connID {
				s.choose(c.ID, s.dir)
			}
		}
	})
	s.connSelect.PlaceHolder = "(choose a connection)"
	s.connSelect.Hide()
	s.connLabel = widget.NewLabel("")
	s.direction = widget.NewRadioGroup([]string{dirOutLabel, dirInLabel}, func(label string) {
		dir := agent.RuleOutgoing
		if label == dirInLabel {
			dir = agent.RuleIncoming
		}
		if dir != s.dir {
			s.choose(s.connID, dir)
		}
	})
	s.direction.Horizontal = true
	s.direction.Required = true
	s.direction.Selected = dirOutLabel

	s.liveLabel = widget.NewLabel("")
	s.liveLabel.Wrapping = fyne.TextWrapWord
	s.editLabel = widget.NewLabel("")
	s.editLabel.Wrapping = fyne.TextWrapWord
	s.note = widget.NewEntry()
	s.note.SetPlaceHolder("Note for the version history: what changes and why")
	s.saveButton = widget.NewButtonWithIcon("Save version", theme.DocumentSaveIcon(), func() { s.save(false) })
	s.deployNow = widget.NewButtonWithIcon("Save and deploy", theme.UploadIcon(), func() { s.save(true) })
	s.deployNow.Importance = widget.HighImportance
	s.rollback = widget.NewButtonWithIcon("Roll back", theme.HistoryIcon(), s.confirmRollback)

	s.tabs = container.NewAppTabs(
		container.NewTabItem("Visual", s.visual.build(s)),
		container.NewTabItem("Script", s.script.build(s)),
		container.NewTabItem("Test run", s.test.build(s)),
		container.NewTabItem("Versions", s.versions.build(s)),
	)
	s.tabs.OnSelected = func(t *container.TabItem) {
		switch t.Text {
		case "Versions":
			s.versions.shown()
		case "Test run":
			s.test.shown()
		}
	}
	s.message = widget.NewLabel("No connections yet: pair with a partner in Connections, then its rules appear here.")
	s.message.Wrapping = fyne.TextWrapWord
	s.body = container.NewStack(container.NewVBox(s.message))

	title := widget.NewLabelWithStyle("Rules", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	title.SizeName = theme.SizeNameHeadingText
	top := container.NewVBox(
		container.NewHBox(title, widget.NewLabel("   Connection:"), s.connSelect, s.connLabel),
		s.direction,
		s.liveLabel,
	)
	bottom := container.NewVBox(
		widget.NewSeparator(),
		s.editLabel,
		container.NewBorder(nil, nil, nil, container.NewHBox(s.saveButton, s.deployNow, s.rollback), s.note),
	)
	s.content = container.NewBorder(top, bottom, nil, nil, s.body)
	s.showState()
}

func choice(c agent.ConnectionInfo) string {
	name := c.PartnerName
	if name == "" {
		name = "(unnamed partner)"
	}
	id := c.ID
	if len(id) > 8 {
		id = id[:8] + "…"
	}
	return fmt.Sprintf("%s (%s)", name, id)
}

// Show applies the agent's connections; the window's refresh loop calls it.
func (s *Screen) Show(conns []agent.ConnectionInfo) {
	if slices.EqualFunc(conns, s.conns, func(a, b agent.ConnectionInfo) bool { return a.ID == b.ID && a.PartnerName == b.PartnerName }) {
		return
	}
	s.conns = slices.Clone(conns)
	names := make([]string, len(conns))
	for i, c := range conns {
		names[i] = choice(c)
	}
	s.connSelect.SetOptions(names)
	switch len(conns) {
	case 0:
		s.connSelect.Hide()
		s.connLabel.SetText("none yet")
	case 1:
		s.connSelect.Hide()
		s.connLabel.SetText(choice(conns[0]))
	default:
		s.connSelect.Show()
		s.connLabel.SetText("")
	}
	if len(conns) > 0 && !slices.ContainsFunc(conns, func(c agent.ConnectionInfo) bool { return c.ID == s.connID }) {
		s.choose(conns[0].ID, s.dir)
	}
	for _, c := range conns {
		if c.ID == s.connID && s.connSelect.Selected != choice(c) {
			s.connSelect.SetSelected(choice(c))
		}
	}
	if len(conns) == 0 {
		s.connID, s.cur = "", nil
		s.showState()
	}
}

// choose shows a connection's rule for a direction, loading it the first time.
func (s *Screen) choose(connID, dir string) {
	s.connID, s.dir = connID, dir
	label := dirOutLabel
	if dir == agent.RuleIncoming {
		label = dirInLabel
	}
	if s.direction.Selected != label {
		s.direction.SetSelected(label)
	}
	if d, ok := s.drafts[connID+"/"+dir]; ok {
		s.cur = d
		s.showDraft()
		return
	}
	s.cur = nil
	s.showState()
	if s.visible {
		s.load(connID, dir, nil)
	}
}

// SetVisible tells the screen whether it is shown; it reads the chosen rule when it first is.
func (s *Screen) SetVisible(on bool) {
	s.visible = on
	if on && s.cur == nil && s.connID != "" {
		s.load(s.connID, s.dir, nil)
	}
}

// load reads a rule's live version and the latest visual one, and makes its draft; then, if
// given, calls then.
func (s *Screen) load(connID, dir string, then func()) {
	if s.loading == connID+"/"+dir {
		return
	}
	s.loading = connID + "/" + dir
	var live agent.RuleVersion
	var lastVisual *model.Rule
	s.host.Call("read the "+dir+" rule", func(ctx context.Context) error {
		var err error
		if live, err = s.agent.RuleVersion(ctx, connID, dir, 0); err != nil {
			return err
		}
		if live.Model == nil {
			vs, _, err := s.agent.RuleVersions(ctx, connID, dir, 0, versionsPage)
			if err != nil {
				return err
			}
			for _, v := range vs {
				if v.Model != nil {
					lastVisual = v.Model
					break
				}
			}
		}
		return nil
	}, func(err error) {
		s.loading = ""
		if err != nil {
			if s.connID == connID && s.dir == dir {
				s.message.SetText("The rule could not be read: " + err.Error())
			}
			return
		}
		d := &draft{live: live, base: live.Number}
		switch {
		case live.Model != nil:
			d.mode, d.model = agent.RuleVisual, live.Model.Clone()
		case live.Defaults != "":
			// Still the tracker's default script: offer the same rule as a visual one.
			d.mode, d.model, d.starter, d.base = agent.RuleVisual, model.Starter(live.Defaults, model.Direction(dir)), true, 0
		default:
			d.mode, d.script = agent.RuleScript, live.Source
			d.model = lastVisual
			if d.model == nil {
				d.model = model.Starter("", model.Direction(dir))
			}
		}
		s.drafts[connID+"/"+dir] = d
		if s.connID == connID && s.dir == dir {
			s.cur = d
			s.showDraft()
		}
		if then != nil {
			then()
		}
	})
}

// showDraft fills every tab from the current draft.
func (s *Screen) showDraft() {
	s.visual.show()
	s.script.show()
	s.test.reset()
	s.versions.reset()
	s.showState()
}

// showState shows which rule is live, what is being edited, and what can be done.
func (s *Screen) showState() {
	switch {
	case len(s.conns) == 0:
		s.message.SetText("No connections yet: pair with a partner in Connections, then its rules appear here.")
		s.setBody(nil)
	case s.cur == nil:
		s.message.SetText("Loading the rule…")
		s.setBody(nil)
	default:
		s.setBody(s.tabs)
	}
	d := s.cur
	if d == nil {
		s.liveLabel.SetText("")
		s.editLabel.SetText("")
		for _, b := range []*widget.Button{s.saveButton, s.deployNow, s.rollback} {
			b.Disable()
		}
		return
	}
	s.liveLabel.SetText(liveText(d.live))
	s.editLabel.SetText(editText(d))
	s.rollback.Enable()
	if _, err := d.source(); err != nil && d.mode == agent.RuleVisual {
		s.saveButton.Disable()
		s.deployNow.Disable()
		return
	}
	s.saveButton.Enable()
	s.deployNow.Enable()
}

func (s *Screen) setBody(o fyne.CanvasObject) {
	if o == nil {
		o = container.NewVBox(s.message)
	}
	if len(s.body.Objects) == 1 && s.body.Objects[0] == o {
		return
	}
	s.body.Objects = []fyne.CanvasObject{o}
	s.body.Refresh()
}

func liveText(v agent.RuleVersion) string {
	what := "a script"
	switch {
	case v.Defaults != "":
		what = "the " + v.Defaults + " tracker's default script"
	case v.Mode == agent.RuleVisual:
		what = "a visual rule"
	}
	t := fmt.Sprintf("Live: version %d, %s, saved %s by %s", v.Number, what, v.Created.Local().Format("2006-01-02 15:04"), orDash(v.Author))
	if v.Note != "" && v.Defaults == "" {
		t += ": " + v.Note
	}
	return t + "."
}

func editText(d *draft) string {
	var t string
	switch {
	case d.starter:
		t = "Editing: the default rule shown as a visual rule. Change it and save to make it your own version."
	case d.base == 0:
		t = "Editing: a new rule."
	default:
		t = fmt.Sprintf("Editing: based on version %d", d.base)
		if d.mode == agent.RuleScript {
			t += ", as a script"
		} else {
			t += ", visually"
		}
		if d.dirty {
			t += ", with unsaved changes"
		}
		t += "."
	}
	if _, err := d.source(); err != nil && d.mode == agent.RuleVisual {
		t += " Fix this before saving: " + err.Error()
	}
	return t
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// edited records a change to the draft and refreshes what depends on it.
func (s *Screen) edited() {
	if s.cur == nil {
		return
	}
	s.cur.dirty = true
	s.script.show()
	s.showState()
}

// save saves the draft as a version, and deploys it when deploy is set.
func (s *Screen) save(deploy bool) {
	d := s.cur
	if d == nil {
		return
	}
	if _, err := d.source(); err != nil && d.mode == agent.RuleVisual {
		s.host.SetStatus("Cannot save: "+err.Error(), true)
		return
	}
	connID, dir := s.connID, s.dir
	note := strings.TrimSpace(s.note.Text)
	ad := d.agentDraft(note)
	var saved agent.RuleVersion
	var deployErr error
	s.saveButton.Disable()
	s.deployNow.Disable()
	s.host.Call("save the "+dir+" rule", func(ctx context.Context) error {
		var err error
		if saved, err = s.agent.SaveRule(ctx, connID, dir, ad); err != nil {
			return err
		}
		if deploy && saved.CompileError == "" {
			deployErr = s.agent.DeployRule(ctx, connID, dir, saved.Number)
		}
		return nil
	}, func(err error) {
		defer s.showState()
		if err != nil {
			return
		}
		d.dirty, d.base, d.starter = false, saved.Number, false
		s.note.SetText("")
		s.versions.reset()
		switch {
		case saved.CompileError != "":
			s.host.SetStatus(fmt.Sprintf("Saved version %d as a draft; it does not compile, so it cannot be deployed: %s", saved.Number, saved.CompileError), true)
		case deploy && deployErr != nil:
			s.host.SetStatus(fmt.Sprintf("Saved version %d, but did not deploy it: %v", saved.Number, deployErr), true)
		case deploy:
			s.host.SetStatus(fmt.Sprintf("Saved and deployed version %d of the %s rule: the next change uses it.", saved.Number, dir), false)
			s.refreshLive(connID, dir)
		default:
			s.host.SetStatus(fmt.Sprintf("Saved version %d of the %s rule. Try it in Test run, then deploy it from Versions.", saved.Number, dir), false)
		}
	})
}

// refreshLive reads the live version again after a deploy or rollback.
func (s *Screen) refreshLive(connID, dir string) {
	var live agent.RuleVersion
	s.host.Call("read the live "+dir+" rule", func(ctx context.Context) (err error) {
		live, err = s.agent.RuleVersion(ctx, connID, dir, 0)
		return err
	}, func(err error) {
		if err != nil {
			return
		}
		if d, ok := s.drafts[connID+"/"+dir]; ok {
			d.live = live
		}
		s.versions.reset()
		s.showState()
	})
}

// deploy makes version n live.
func (s *Screen) deploy(n int) {
	connID, dir := s.connID, s.dir
	s.host.Call(fmt.Sprintf("deploy version %d", n), func(ctx context.Context) error {
		return s.agent.DeployRule(ctx, connID, dir, n)
	}, func(err error) {
		if err == nil {
			s.host.SetStatus(fmt.Sprintf("Deployed version %d of the %s rule: the next change uses it.", n, dir), false)
			s.refreshLive(connID, dir)
		}
	})
}

// confirmRollback asks before going back to the previous version.
func (s *Screen) confirmRollback() {
	if s.cur == nil {
		return
	}
	w := s.host.Window()
	if w == nil {
		s.doRollback()
		return
	}
	msg := widget.NewLabel(fmt.Sprintf("The %s rule goes back to the version that was live before version %d.\nThe next change uses it; version %d stays in the history.", s.dir, s.cur.live.Number, s.cur.live.Number))
	msg.Wrapping = fyne.TextWrapWord
	d := dialog.NewCustomConfirm("Roll back?", "Roll back", "Cancel", msg, func(yes bool) {
		if yes {
			s.doRollback()
		}
	}, w)
	d.Resize(fyne.NewSize(480, 200))
	d.Show()
}

func (s *Screen) doRollback() {
	connID, dir := s.connID, s.dir
	var back agent.RuleVersion
	s.host.Call("roll back the "+dir+" rule", func(ctx context.Context) (err error) {
		back, err = s.agent.RollbackRule(ctx, connID, dir)
		return err
	}, func(err error) {
		if err == nil {
			s.host.SetStatus(fmt.Sprintf("Rolled the %s rule back to version %d: the next change uses it.", dir, back.Number), false)
			s.refreshLive(connID, dir)
		}
	})
}

// open makes version v the draft being edited.
func (s *Screen) open(v agent.RuleVersion) {
	d := s.cur
	if d == nil {
		return
	}
	d.base, d.dirty, d.starter = v.Number, false, false
	if v.Model != nil {
		d.mode, d.model = agent.RuleVisual, v.Model.Clone()
	} else {
		d.mode, d.script = agent.RuleScript, v.Source
	}
	s.visual.show()
	s.script.show()
	s.showState()
	s.host.SetStatus(fmt.Sprintf("Editing version %d.", v.Number), false)
}

var errNoRule = errors.New("no rule is open")

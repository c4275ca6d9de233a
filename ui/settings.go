package ui

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/trackers/connector"
)

// settingsScreen chooses the tracker the agent syncs and how to reach it. Its forms are drawn
// from the agent's connector registry: each connector's fields, which of them are secrets
// (kept in the keychain, never shown back) and which apply only with some choice.
type settingsScreen struct {
	u       *UI
	loaded  bool // the agent's settings are in the form
	loading bool // a load is in flight

	connectors []agent.ConnectorInfo
	kind       *widget.RadioGroup // by connector label
	forms      map[string]*connectorForm
	formBox    *fyne.Container // the chosen connector's form
	remoteBox  *fyne.Container // what every remote tracker has: poll interval, budget, keychain note
	poll       *widget.Entry
	rpm        *widget.Entry

	testButton *widget.Button
	saveButton *widget.Button
	progress   *widget.ProgressBarInfinite
	result     *widget.Label // the outcome of Test connection
	foundLine  *widget.Label // which queues, repositories or projects the test found and missed
}

// connectorForm is one connector's fields.
type connectorForm struct {
	info   agent.ConnectorInfo
	form   *widget.Form
	items  map[string]*widget.FormItem
	entry  map[string]*widget.Entry
	choice map[string]*widget.RadioGroup
}

func (s *settingsScreen) build(u *UI) fyne.CanvasObject {
	s.u = u
	s.connectors = u.agent.Connectors()
	s.forms = map[string]*connectorForm{}
	var labels []string
	for _, c := range s.connectors {
		labels = append(labels, c.Label)
		s.forms[c.Kind] = s.newForm(c)
	}
	s.kind = widget.NewRadioGroup(labels, func(string) { s.showKind() })
	s.kind.Horizontal = true
	s.kind.Required = true
	s.kind.Selected = labels[0]

	s.poll = widget.NewEntry()
	s.poll.SetPlaceHolder("10")
	s.rpm = widget.NewEntry()
	s.rpm.SetPlaceHolder("0 (unlimited)")
	keychain := widget.NewLabelWithStyle("Tokens, passwords and keys are kept in the OS keychain, never in Tandem's data directory or logs.",
		fyne.TextAlignLeading, fyne.TextStyle{Italic: true})
	keychain.Wrapping = fyne.TextWrapWord
	s.remoteBox = container.NewVBox(widget.NewForm(
		widget.NewFormItem("Poll every (seconds)", s.poll),
		widget.NewFormItem("Requests per minute", s.rpm),
	), keychain)
	s.formBox = container.NewVBox()

	s.testButton = widget.NewButtonWithIcon("Test connection", theme.SearchIcon(), s.test)
	s.saveButton = widget.NewButtonWithIcon("Save", theme.DocumentSaveIcon(), s.save)
	s.saveButton.Importance = widget.HighImportance
	s.progress = widget.NewProgressBarInfinite()
	s.progress.Stop()
	s.progress.Hide()
	s.result = widget.NewLabel("")
	s.result.Wrapping = fyne.TextWrapWord
	s.result.Hide()
	s.foundLine = widget.NewLabel("")
	s.foundLine.Wrapping = fyne.TextWrapWord
	s.foundLine.Hide()

	s.showKind()
	s.testButton.Disable() // until the agent's settings are in the form
	s.saveButton.Disable()

	return container.NewVScroll(container.NewVBox(
		heading("Settings"),
		widget.NewLabelWithStyle("Tracker", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		widget.NewLabel("Which tracker this agent keeps in sync with its partners:"),
		s.kind,
		s.formBox,
		s.remoteBox,
		container.NewHBox(s.testButton, s.saveButton),
		s.progress,
		s.result,
		s.foundLine,
		u.historySet.build(u),
		u.agentSet.build(u),
	))
}

// newForm draws a connector's fields: an entry per text field (a password entry for a
// secret), radio buttons per choice.
func (s *settingsScreen) newForm(c agent.ConnectorInfo) *connectorForm {
	f := &connectorForm{info: c, form: widget.NewForm(), items: map[string]*widget.FormItem{},
		entry: map[string]*widget.Entry{}, choice: map[string]*widget.RadioGroup{}}
	for _, fd := range c.Fields {
		var w fyne.CanvasObject
		switch fd.Kind {
		case connector.Choice:
			r := widget.NewRadioGroup(fd.Choices, func(string) { s.layout(f) })
			r.Horizontal = true
			r.Required = true
			r.Selected = fd.Default
			f.choice[fd.Key] = r
			w = r
		default:
			var e *widget.Entry
			if fd.IsSecret() {
				e = widget.NewPasswordEntry()
			} else {
				e = widget.NewEntry()
			}
			e.SetPlaceHolder(fd.Placeholder)
			e.SetText(fd.Default)
			f.entry[fd.Key] = e
			w = e
		}
		item := widget.NewFormItem(fd.Label, w)
		item.HintText = fd.Hint
		if fd.IsSecret() {
			item.HintText = strings.TrimSpace(fd.Hint + " Empty keeps the one in the keychain.")
		}
		f.items[fd.Key] = item
	}
	s.layout(f)
	return f
}

// values are the form's current settings values (secrets excluded).
func (f *connectorForm) values() connector.Values {
	v := connector.Values{}
	for _, fd := range f.info.Fields {
		switch {
		case fd.IsSecret():
		case f.choice[fd.Key] != nil:
			v[fd.Key] = f.choice[fd.Key].Selected
		default:
			v[fd.Key] = strings.TrimSpace(f.entry[fd.Key].Text)
		}
	}
	return v
}

// layout shows the fields that apply to the current choices.
func (s *settingsScreen) layout(f *connectorForm) {
	v := f.values()
	var items []*widget.FormItem
	for _, fd := range f.info.Fields {
		if fd.Applies(v) {
			items = append(items, f.items[fd.Key])
		}
	}
	f.form.Items = items
	f.form.Refresh()
}

// chosen is the connector the kind radio names.
func (s *settingsScreen) chosen() *connectorForm {
	for _, c := range s.connectors {
		if c.Label == s.kind.Selected {
			return s.forms[c.Kind]
		}
	}
	return s.forms[s.connectors[0].Kind]
}

// load asks the agent for its settings and shows them. Test and Save wait for it, so a save
// never replaces the agent's settings with a form it did not fill; opening the screen again
// retries a load that failed.
func (s *settingsScreen) load() {
	if s.loading {
		return
	}
	s.loading = true
	s.progress.Show()
	s.progress.Start()
	var ts agent.TrackerSettings
	s.u.call("read tracker settings", func(ctx context.Context) (err error) {
		ts, err = s.u.agent.TrackerSettings(ctx)
		return err
	}, func(err error) {
		s.loading = false
		s.progress.Stop()
		s.progress.Hide()
		if err != nil || s.loaded {
			return
		}
		s.loaded = true
		s.fill(ts)
		s.idle()
	})
}

// fill shows settings in the form. Secrets are never shown back.
func (s *settingsScreen) fill(ts agent.TrackerSettings) {
	kind := ts.Kind
	if kind == "" {
		kind = agent.TrackerEmbedded
	}
	f := s.forms[kind]
	if f == nil {
		s.u.setStatus(fmt.Sprintf("This agent syncs a tracker of kind %q, which this version does not know.", kind), true)
		return
	}
	for _, fd := range f.info.Fields {
		switch {
		case f.choice[fd.Key] != nil:
			sel := ts.Values[fd.Key]
			if sel == "" {
				sel = fd.Default
			}
			f.choice[fd.Key].SetSelected(sel)
		case fd.IsSecret():
			f.entry[fd.Key].SetText("")
		default:
			f.entry[fd.Key].SetText(ts.Values[fd.Key])
		}
	}
	s.poll.SetText("")
	if ts.Poll > 0 {
		s.poll.SetText(strconv.FormatFloat(ts.Poll.Seconds(), 'f', -1, 64))
	}
	s.rpm.SetText("")
	if ts.RequestsPerMinute > 0 {
		s.rpm.SetText(strconv.Itoa(ts.RequestsPerMinute))
	}
	s.kind.SetSelected(f.info.Label)
	s.layout(f)
	s.showKind()
}

// showKind shows the chosen connector's form, and what remote trackers share.
func (s *settingsScreen) showKind() {
	if s.formBox == nil {
		return // SetSelected during build
	}
	f := s.chosen()
	s.formBox.Objects = nil
	if len(f.info.Fields) > 0 {
		s.formBox.Objects = []fyne.CanvasObject{f.form}
	}
	s.formBox.Refresh()
	if f.info.Remote {
		s.remoteBox.Show()
	} else {
		s.remoteBox.Hide()
	}
	s.result.Hide()
	s.foundLine.Hide()
}

// settings reads the form; a value the agent could not use is an error naming the field.
func (s *settingsScreen) settings() (agent.TrackerSettings, map[string]string, error) {
	f := s.chosen()
	ts := agent.TrackerSettings{Kind: f.info.Kind}
	v := f.values()
	secrets := map[string]string{}
	for _, fd := range f.info.Fields {
		if !fd.Applies(v) {
			continue
		}
		if fd.IsSecret() {
			if t := strings.TrimSpace(f.entry[fd.Key].Text); t != "" {
				secrets[fd.Key] = t
			}
			continue
		}
		val := v[fd.Key]
		if fd.Kind == connector.List {
			val = strings.Join(v.List(fd.Key), ", ")
		}
		if val == "" && fd.Required {
			msg := fmt.Sprintf("enter the %s %s", f.info.Label, strings.ToLower(fd.Label))
			if fd.Placeholder != "" {
				msg += ", e.g. " + fd.Placeholder
			}
			return ts, nil, errors.New(msg)
		}
		if val != "" {
			if ts.Values == nil {
				ts.Values = map[string]string{}
			}
			ts.Values[fd.Key] = val
		}
	}
	if !f.info.Remote {
		return ts, nil, nil
	}
	if p := strings.TrimSpace(s.poll.Text); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return ts, nil, fmt.Errorf("poll interval %q: enter whole seconds above zero, e.g. 10", p)
		}
		ts.Poll = time.Duration(n) * time.Second
	}
	if r := strings.TrimSpace(s.rpm.Text); r != "" {
		n, err := strconv.Atoi(r)
		if err != nil || n < 0 {
			return ts, nil, fmt.Errorf("request budget %q: enter requests per minute, 0 for unlimited", r)
		}
		ts.RequestsPerMinute = n
	}
	if len(secrets) == 0 {
		secrets = nil
	}
	return ts, secrets, nil
}

// busy shows progress on long calls and keeps the buttons from starting a second one.
func (s *settingsScreen) busy(what string) {
	s.testButton.Disable()
	s.saveButton.Disable()
	switch what {
	case "test":
		s.testButton.SetText("Testing…")
	case "save":
		s.saveButton.SetText("Saving…")
	}
	s.progress.Show()
	s.progress.Start()
}

func (s *settingsScreen) idle() {
	s.progress.Stop()
	s.progress.Hide()
	s.testButton.SetText("Test connection")
	s.saveButton.SetText("Save")
	s.testButton.Enable()
	s.saveButton.Enable()
}

// test checks the form's values with the agent without saving them.
func (s *settingsScreen) test() {
	ts, secrets, err := s.settings()
	if err != nil {
		s.u.showError(fmt.Errorf("test connection: %w", err))
		return
	}
	s.busy("test")
	s.result.Hide()
	s.foundLine.Hide()
	var check agent.TrackerCheck
	s.u.call("test connection", func(ctx context.Context) error {
		check = s.u.agent.TestTracker(ctx, ts, secrets)
		return nil
	}, func(error) {
		s.idle()
		s.showCheck(check)
	})
}

func (s *settingsScreen) showCheck(c agent.TrackerCheck) {
	summary := c.Summary
	if summary == "" {
		summary = "The tracker did not say what is wrong."
		if c.OK {
			summary = "The tracker is ready."
		}
	}
	if c.OK {
		s.result.Importance = widget.SuccessImportance
		s.result.SetText("✓ " + summary)
		s.u.setStatus("Connection test passed.", false)
	} else {
		s.result.Importance = widget.DangerImportance
		s.result.SetText("✗ " + summary)
		s.u.setStatus("Connection test failed: "+summary, true)
	}
	s.result.Show()
	scope := c.Scope
	if scope == "" {
		scope = "found"
	}
	var parts []string
	if len(c.Found) > 0 {
		parts = append(parts, strings.ToUpper(scope[:1])+scope[1:]+" found: "+strings.Join(c.Found, ", "))
	}
	if len(c.Missing) > 0 {
		parts = append(parts, "missing or hidden from this account: "+strings.Join(c.Missing, ", "))
	}
	s.foundLine.Importance = widget.MediumImportance
	if len(c.Missing) > 0 {
		s.foundLine.Importance = widget.WarningImportance
	}
	s.foundLine.SetText(strings.Join(parts, " · "))
	s.foundLine.Hidden = len(parts) == 0
	s.foundLine.Refresh()
}

// save stores the form's values; on error the form keeps everything typed.
func (s *settingsScreen) save() {
	ts, secrets, err := s.settings()
	if err != nil {
		s.u.showError(fmt.Errorf("save settings: %w", err))
		return
	}
	f := s.chosen()
	s.busy("save")
	s.u.call("save settings", func(ctx context.Context) error {
		return s.u.agent.SaveTrackerSettings(ctx, ts, secrets)
	}, func(err error) {
		s.idle()
		if err != nil {
			return
		}
		s.loaded = true
		for _, fd := range f.info.Fields {
			if fd.IsSecret() {
				f.entry[fd.Key].SetText("") // kept in the keychain now, never shown back
			}
		}
		what := "the embedded tracker"
		if ts.Kind != agent.TrackerEmbedded {
			what = ts.Describe()
		}
		s.u.setStatus("Saved: syncing "+what+".", false)
	})
}

// shown is called when the screen opens: the first time it loads the agent's settings, and
// later it retries a load that failed.
func (s *settingsScreen) shown() {
	if !s.loaded {
		s.load()
	}
}

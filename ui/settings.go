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
)

// The choices of the Settings screen, as the operator reads them.
const (
	choiceEmbedded = "Embedded tracker"
	choiceRT       = "Request Tracker (RT)"
	authToken      = "API token"
	authPassword   = "User name and password"
)

// settingsScreen chooses the tracker the agent syncs and how to reach it.
type settingsScreen struct {
	u       *UI
	loaded  bool // the agent's settings are in the form
	loading bool // a load is in flight

	kind       *widget.RadioGroup
	rtBox      *fyne.Container // everything that only RT needs
	rtForm     *widget.Form
	url        *widget.Entry
	queues     *widget.Entry
	auth       *widget.RadioGroup
	user       *widget.Entry
	credential *widget.Entry
	credHint   *widget.Label
	poll       *widget.Entry
	rpm        *widget.Entry

	testButton *widget.Button
	saveButton *widget.Button
	progress   *widget.ProgressBarInfinite
	result     *widget.Label // the outcome of Test connection
	queueLine  *widget.Label // which queues the test found and missed
}

func (s *settingsScreen) build(u *UI) fyne.CanvasObject {
	s.u = u
	s.kind = widget.NewRadioGroup([]string{choiceEmbedded, choiceRT}, func(string) { s.showKind() })
	s.kind.Horizontal = true
	s.kind.Required = true
	s.kind.Selected = choiceEmbedded

	s.url = widget.NewEntry()
	s.url.SetPlaceHolder("https://rt.example.com")
	s.queues = widget.NewEntry()
	s.queues.SetPlaceHolder("comma-separated, e.g. General, Support")
	s.auth = widget.NewRadioGroup([]string{authToken, authPassword}, func(string) { s.showAuth() })
	s.auth.Horizontal = true
	s.auth.Required = true
	s.auth.Selected = authToken
	s.user = widget.NewEntry()
	s.credential = widget.NewPasswordEntry()
	s.credHint = widget.NewLabel("")
	s.credHint.Importance = widget.LowImportance
	s.credHint.Wrapping = fyne.TextWrapWord
	s.poll = widget.NewEntry()
	s.poll.SetPlaceHolder("10")
	s.rpm = widget.NewEntry()
	s.rpm.SetPlaceHolder("0 (unlimited)")

	s.rtForm = widget.NewForm(
		widget.NewFormItem("URL", s.url),
		widget.NewFormItem("Queues", s.queues),
		widget.NewFormItem("Sign in with", s.auth),
		widget.NewFormItem("User name", s.user),
		widget.NewFormItem("Token or password", s.credential),
		widget.NewFormItem("", s.credHint),
		widget.NewFormItem("Poll every (seconds)", s.poll),
		widget.NewFormItem("Requests per minute", s.rpm),
	)
	keychain := widget.NewLabelWithStyle("The credential is kept in the OS keychain, never in Tandem's data directory or logs.",
		fyne.TextAlignLeading, fyne.TextStyle{Italic: true})
	keychain.Wrapping = fyne.TextWrapWord
	s.rtBox = container.NewVBox(s.rtForm, keychain)

	s.testButton = widget.NewButtonWithIcon("Test connection", theme.SearchIcon(), s.test)
	s.saveButton = widget.NewButtonWithIcon("Save", theme.DocumentSaveIcon(), s.save)
	s.saveButton.Importance = widget.HighImportance
	s.progress = widget.NewProgressBarInfinite()
	s.progress.Stop()
	s.progress.Hide()
	s.result = widget.NewLabel("")
	s.result.Wrapping = fyne.TextWrapWord
	s.result.Hide()
	s.queueLine = widget.NewLabel("")
	s.queueLine.Wrapping = fyne.TextWrapWord
	s.queueLine.Hide()

	s.showKind()
	s.showAuth()
	s.testButton.Disable() // until the agent's settings are in the form
	s.saveButton.Disable()

	return container.NewVScroll(container.NewVBox(
		heading("Settings"),
		widget.NewLabelWithStyle("Tracker", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		widget.NewLabel("Which tracker this agent keeps in sync with its partners:"),
		s.kind,
		s.rtBox,
		container.NewHBox(s.testButton, s.saveButton),
		s.progress,
		s.result,
		s.queueLine,
		u.historySet.build(u),
	))
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

// fill shows settings in the form. The credential is never shown back.
func (s *settingsScreen) fill(ts agent.TrackerSettings) {
	if ts.Kind == agent.TrackerRT {
		s.kind.SetSelected(choiceRT)
	} else {
		s.kind.SetSelected(choiceEmbedded)
	}
	s.url.SetText(ts.URL)
	s.queues.SetText(strings.Join(ts.Queues, ", "))
	if ts.User != "" {
		s.auth.SetSelected(authPassword)
	} else {
		s.auth.SetSelected(authToken)
	}
	s.user.SetText(ts.User)
	s.credential.SetText("")
	s.poll.SetText("")
	if ts.Poll > 0 {
		s.poll.SetText(strconv.FormatFloat(ts.Poll.Seconds(), 'f', -1, 64))
	}
	s.rpm.SetText("")
	if ts.RequestsPerMinute > 0 {
		s.rpm.SetText(strconv.Itoa(ts.RequestsPerMinute))
	}
	s.showKind()
	s.showAuth()
}

// showKind hides what only RT needs while the embedded tracker is chosen.
func (s *settingsScreen) showKind() {
	if s.rtBox == nil {
		return // SetSelected during build
	}
	if s.kind.Selected == choiceRT {
		s.rtBox.Show()
	} else {
		s.rtBox.Hide()
	}
	s.result.Hide()
	s.queueLine.Hide()
}

func (s *settingsScreen) showAuth() {
	if s.credHint == nil {
		return // SetSelected during build
	}
	if s.auth.Selected == authPassword {
		s.user.Enable()
		s.user.SetPlaceHolder("RT user name")
		s.credential.SetPlaceHolder("RT password")
		s.credHint.SetText("Leave empty to keep the password already in the keychain.")
	} else {
		s.user.Disable()
		s.user.SetPlaceHolder("not needed with a token")
		s.credential.SetPlaceHolder("RT authentication token")
		s.credHint.SetText("Leave empty to keep the token already in the keychain.")
	}
	if s.rtForm != nil {
		s.rtForm.Refresh() // the form greys a label only as its field is when it refreshes
	}
}

// settings reads the form; a value the agent could not use is an error naming the field.
func (s *settingsScreen) settings() (agent.TrackerSettings, string, error) {
	if s.kind.Selected != choiceRT {
		return agent.TrackerSettings{Kind: agent.TrackerEmbedded}, "", nil
	}
	ts := agent.TrackerSettings{Kind: agent.TrackerRT, URL: strings.TrimSpace(s.url.Text)}
	for _, q := range strings.Split(s.queues.Text, ",") {
		if q = strings.TrimSpace(q); q != "" {
			ts.Queues = append(ts.Queues, q)
		}
	}
	if ts.URL == "" {
		return ts, "", errors.New("enter RT's address, e.g. https://rt.example.com")
	}
	if len(ts.Queues) == 0 {
		return ts, "", errors.New("enter at least one RT queue to sync, e.g. General")
	}
	if s.auth.Selected == authPassword {
		ts.User = strings.TrimSpace(s.user.Text)
		if ts.User == "" {
			return ts, "", errors.New("enter the RT user name, or choose to sign in with a token")
		}
	}
	if p := strings.TrimSpace(s.poll.Text); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return ts, "", fmt.Errorf("poll interval %q: enter whole seconds above zero, e.g. 10", p)
		}
		ts.Poll = time.Duration(n) * time.Second
	}
	if r := strings.TrimSpace(s.rpm.Text); r != "" {
		n, err := strconv.Atoi(r)
		if err != nil || n < 0 {
			return ts, "", fmt.Errorf("request budget %q: enter requests per minute, 0 for unlimited", r)
		}
		ts.RequestsPerMinute = n
	}
	return ts, s.credential.Text, nil
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
	ts, cred, err := s.settings()
	if err != nil {
		s.u.showError(fmt.Errorf("test connection: %w", err))
		return
	}
	s.busy("test")
	s.result.Hide()
	s.queueLine.Hide()
	var check agent.TrackerCheck
	s.u.call("test connection", func(ctx context.Context) error {
		check = s.u.agent.TestTracker(ctx, ts, cred)
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
	var parts []string
	if len(c.QueuesFound) > 0 {
		parts = append(parts, "Queues found: "+strings.Join(c.QueuesFound, ", "))
	}
	if len(c.QueuesMissing) > 0 {
		parts = append(parts, "missing or hidden from this account: "+strings.Join(c.QueuesMissing, ", "))
	}
	s.queueLine.Importance = widget.MediumImportance
	if len(c.QueuesMissing) > 0 {
		s.queueLine.Importance = widget.WarningImportance
	}
	s.queueLine.SetText(strings.Join(parts, " · "))
	s.queueLine.Hidden = len(parts) == 0
	s.queueLine.Refresh()
}

// save stores the form's values; on error the form keeps everything typed.
func (s *settingsScreen) save() {
	ts, cred, err := s.settings()
	if err != nil {
		s.u.showError(fmt.Errorf("save settings: %w", err))
		return
	}
	s.busy("save")
	s.u.call("save settings", func(ctx context.Context) error {
		return s.u.agent.SaveTrackerSettings(ctx, ts, cred)
	}, func(err error) {
		s.idle()
		if err != nil {
			return
		}
		s.loaded = true
		s.credential.SetText("") // kept in the keychain now, never shown back
		what := "the embedded tracker"
		if ts.Kind == agent.TrackerRT {
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

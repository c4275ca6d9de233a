package ui

import (
	"errors"

	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"

	"fyne.io/fyne/v2/test"

	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
)

// typeInto replaces an entry's text as an operator would.
func typeInto(e *widget.Entry, text string) {
	e.SetText("")
	test.Type(e, text)
}

// openSettings shows the Settings screen once it has loaded the agent's settings.
func openSettings(t *testing.T, f *fakeAgent) (*UI, fyne.Window, *settingsScreen) {
	t.Helper()
	u, w := newTestUI(t, f)
	test.Tap(u.nav[screenSettings])
	u.pending.Wait()
	return u, w, &u.settings
}

// field is the chosen connector's entry for key.
func field(t *testing.T, s *settingsScreen, key string) *widget.Entry {
	t.Helper()
	e := s.chosen().entry[key]
	if e == nil {
		t.Fatalf("the %s form has no entry %q", s.chosen().info.Label, key)
	}
	return e
}

// choice is the chosen connector's radio group for key.
func choice(t *testing.T, s *settingsScreen, key string) *widget.RadioGroup {
	t.Helper()
	r := s.chosen().choice[key]
	if r == nil {
		t.Fatalf("the %s form has no choice %q", s.chosen().info.Label, key)
	}
	return r
}

// formLabels are the labels of the fields the chosen form shows.
func formLabels(s *settingsScreen) []string {
	var out []string
	for _, it := range s.chosen().form.Items {
		out = append(out, it.Text)
	}
	return out
}

const (
	choiceEmbedded = "Embedded tracker"
	choiceRT       = "Request Tracker (RT)"
	choiceGitHub   = "GitHub"
)

func rtValues(url, queues, user string) map[string]string {
	v := map[string]string{"url": url, "queues": queues, "auth": "token"}
	if user != "" {
		v["auth"], v["user"] = "password", user
	}
	return v
}

func TestSettingsOffersEveryConnectorOfTheRegistry(t *testing.T) {
	f := newFakeAgent()
	_, _, s := openSettings(t, f)
	var want []string
	for _, c := range agent.Registry() {
		want = append(want, c.Label)
	}
	if !reflect.DeepEqual(s.kind.Options, want) || len(want) < 3 {
		t.Errorf("tracker choices %q, want the registry's %q", s.kind.Options, want)
	}
	// Each form has an input for every field of its connector, secrets as password entries.
	for _, c := range agent.Registry() {
		form := s.forms[c.Kind]
		for _, fd := range c.Fields {
			e, r := form.entry[fd.Key], form.choice[fd.Key]
			switch {
			case e == nil && r == nil:
				t.Errorf("%s: no input for %s", c.Label, fd.Key)
			case fd.IsSecret() && (e == nil || !e.Password):
				t.Errorf("%s: secret %s is not a password entry", c.Label, fd.Key)
			}
		}
	}
}

func TestSettingsShowsAgentSettings(t *testing.T) {
	f := newFakeAgent()
	f.settings = agent.TrackerSettings{Kind: agent.TrackerRT, Values: rtValues("https://rt.example.com", "General, Support", "root"),
		Poll: 30 * time.Second, RequestsPerMinute: 120}
	_, w, s := openSettings(t, f)

	got := map[string]string{
		"kind": s.kind.Selected, "url": field(t, s, "url").Text, "queues": field(t, s, "queues").Text, "auth": choice(t, s, "auth").Selected,
		"user": field(t, s, "user").Text, "credential": field(t, s, "credential").Text, "poll": s.poll.Text, "rpm": s.rpm.Text,
	}
	want := map[string]string{
		"kind": choiceRT, "url": "https://rt.example.com", "queues": "General, Support", "auth": "password",
		"user": "root", "credential": "", "poll": "30", "rpm": "120",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("form shows %v, want %v", got, want)
	}
	if !s.remoteBox.Visible() || !slices.Contains(formLabels(s), "User name") {
		t.Errorf("RT fields visible %v, form %q: want the user name shown with password sign-in", s.remoteBox.Visible(), formLabels(s))
	}
	wantShown(t, w, "https://rt.example.com", "OS keychain", "Empty keeps the one in the keychain")
}

func TestSettingsTestAndSaveUseTheFormsValues(t *testing.T) {
	f := newFakeAgent()
	f.check = agent.TrackerCheck{OK: true, Summary: "RT 5.0.3 reachable, signed in as root, queues found: General",
		Reachable: true, AuthOK: true, User: "root", Version: "5.0.3", Scope: "queues", Found: []string{"General"}}
	u, w, s := openSettings(t, f)

	s.kind.SetSelected(choiceRT)
	typeInto(field(t, s, "url"), " https://rt.example.com/rt ")
	typeInto(field(t, s, "queues"), "General , Support,")
	typeInto(field(t, s, "credential"), "s3cret token")
	typeInto(s.poll, "15")
	typeInto(s.rpm, "60")
	want := agent.TrackerSettings{Kind: agent.TrackerRT, Values: map[string]string{"url": "https://rt.example.com/rt", "queues": "General, Support", "auth": "token"},
		Poll: 15 * time.Second, RequestsPerMinute: 60}

	// While the agent tests, the screen shows progress and refuses a second call.
	gate := make(chan struct{})
	f.mu.Lock()
	f.gate = gate
	f.mu.Unlock()
	test.Tap(s.testButton)
	if s.testButton.Text != "Testing…" || !s.testButton.Disabled() || !s.saveButton.Disabled() || !s.progress.Visible() {
		t.Errorf("during the test: button %q disabled %v, save disabled %v, progress %v; want Testing…, both disabled, progress shown",
			s.testButton.Text, s.testButton.Disabled(), s.saveButton.Disabled(), s.progress.Visible())
	}
	close(gate)
	u.pending.Wait()
	secret := map[string]string{"credential": "s3cret token"}
	if want := []trackerCall{{want, secret}}; !reflect.DeepEqual(f.tested, want) {
		t.Fatalf("TestTracker got %+v, want %+v", f.tested, want)
	}
	if s.result.Importance != widget.SuccessImportance || s.testButton.Disabled() || s.progress.Visible() {
		t.Errorf("after the test: result importance %v, button disabled %v, progress %v; want success, enabled, hidden",
			s.result.Importance, s.testButton.Disabled(), s.progress.Visible())
	}
	wantShown(t, w, "RT 5.0.3 reachable, signed in as root, queues found: General", "Queues found: General")

	test.Tap(s.saveButton)
	u.pending.Wait()
	if want := []trackerCall{{want, secret}}; !reflect.DeepEqual(f.saved, want) {
		t.Fatalf("SaveTrackerSettings got %+v, want %+v", f.saved, want)
	}
	if field(t, s, "credential").Text != "" {
		t.Errorf("credential entry shows %q after saving, want it empty (kept in the keychain)", field(t, s, "credential").Text)
	}
	wantShown(t, w, "Saved: syncing Request Tracker at https://rt.example.com/rt (General, Support).")

	// Saving again without typing a credential keeps the keychain's: the agent gets none.
	choice(t, s, "auth").SetSelected("password")
	typeInto(field(t, s, "user"), "root")
	test.Tap(s.saveButton)
	u.pending.Wait()
	want.Values["auth"], want.Values["user"] = "password", "root"
	if len(f.saved) != 2 || !reflect.DeepEqual(f.saved[1], trackerCall{want, nil}) {
		t.Errorf("second save got %+v, want %+v with no secret", f.saved[1:], want)
	}
}

// TestSettingsGitHubForm fills GitHub's form as an operator would, both ways of signing in.
func TestSettingsGitHubForm(t *testing.T) {
	f := newFakeAgent()
	f.check = agent.TrackerCheck{Summary: "GitHub has no repository octo-org/nope that tandem-bot can see: check the names",
		Reachable: true, AuthOK: true, Scope: "repositories", Found: []string{"octo-org/app"}, Missing: []string{"octo-org/nope"}}
	u, w, s := openSettings(t, f)
	s.kind.SetSelected(choiceGitHub)
	if got, want := formLabels(s), []string{"URL", "Repositories", "Sign in with", "Access token", "Webhook address", "Webhook secret"}; !reflect.DeepEqual(got, want) {
		t.Errorf("GitHub form with a token shows %q, want %q", got, want)
	}
	typeInto(field(t, s, "repositories"), "octo-org/app, octo-org/nope")
	typeInto(field(t, s, "token"), "ghp_abc")
	test.Tap(s.testButton)
	u.pending.Wait()
	want := trackerCall{agent.TrackerSettings{Kind: "github", Values: map[string]string{"repositories": "octo-org/app, octo-org/nope", "auth": "token"}},
		map[string]string{"token": "ghp_abc"}}
	if len(f.tested) != 1 || !reflect.DeepEqual(f.tested[0], want) {
		t.Fatalf("TestTracker got %+v, want %+v", f.tested, want)
	}
	wantShown(t, w, "GitHub has no repository octo-org/nope", "Repositories found: octo-org/app", "missing or hidden from this account: octo-org/nope")

	// Signing in as an app shows the app's fields instead of the token.
	choice(t, s, "auth").SetSelected("app")
	if got, want := formLabels(s), []string{"URL", "Repositories", "Sign in with", "App ID", "Installation ID", "App private key", "Webhook address", "Webhook secret"}; !reflect.DeepEqual(got, want) {
		t.Errorf("GitHub form as an app shows %q, want %q", got, want)
	}
	test.Tap(s.saveButton)
	u.pending.Wait()
	if len(f.saved) != 0 || !strings.Contains(u.status.Text, "enter the GitHub app id") {
		t.Errorf("saving without the app id: agent called %+v, status %q", f.saved, u.status.Text)
	}
	typeInto(field(t, s, "app_id"), "42")
	typeInto(field(t, s, "installation_id"), "7")
	typeInto(field(t, s, "private_key"), "-----BEGIN RSA PRIVATE KEY----- abc -----END RSA PRIVATE KEY-----")
	test.Tap(s.saveButton)
	u.pending.Wait()
	if len(f.saved) != 1 || f.saved[0].secrets["private_key"] == "" || f.saved[0].secrets["token"] != "" || f.saved[0].settings.Values["app_id"] != "42" {
		t.Errorf("save as an app got %+v: want the app's fields and key, not the token typed before", f.saved)
	}
}

func TestSettingsShowsWhatIsWrong(t *testing.T) {
	f := newFakeAgent()
	f.check = agent.TrackerCheck{Reachable: true, AuthOK: true, User: "root", Version: "5.0.3",
		Summary: "queue Support does not exist or root cannot see it",
		Scope:   "queues", Found: []string{"General"}, Missing: []string{"Support"}}
	u, w, s := openSettings(t, f)
	s.kind.SetSelected(choiceRT)
	typeInto(field(t, s, "url"), "https://rt.example.com")
	typeInto(field(t, s, "queues"), "General, Support")
	test.Tap(s.testButton)
	u.pending.Wait()
	if len(f.tested) != 1 || f.tested[0].secrets != nil {
		t.Fatalf("TestTracker got %+v, want one call with no secret typed", f.tested)
	}
	if s.result.Importance != widget.DangerImportance {
		t.Errorf("a failed check shows with importance %v, want danger", s.result.Importance)
	}
	wantShown(t, w, "queue Support does not exist or root cannot see it", "Queues found: General",
		"missing or hidden from this account: Support")
}

func TestSettingsSaveErrorKeepsTheForm(t *testing.T) {
	f := newFakeAgent()
	f.failing("SaveTrackerSettings", errors.New("keep the RT credential in the keychain: keychain is locked"))
	u, w, s := openSettings(t, f)
	u.win = w
	s.kind.SetSelected(choiceRT)
	choice(t, s, "auth").SetSelected("password")
	typeInto(field(t, s, "url"), "https://rt.example.com")
	typeInto(field(t, s, "queues"), "General")
	typeInto(field(t, s, "user"), "root")
	typeInto(field(t, s, "credential"), "password")
	test.Tap(s.saveButton)
	u.pending.Wait()

	if len(f.saved) != 1 || f.saved[0].settings.Values["user"] != "root" || f.saved[0].secrets["credential"] != "password" {
		t.Errorf("SaveTrackerSettings got %+v, want root with the typed password", f.saved)
	}
	if !strings.Contains(u.status.Text, "keychain is locked") || u.status.Importance != widget.DangerImportance {
		t.Errorf("status line = %q (importance %v), want the error in red", u.status.Text, u.status.Importance)
	}
	if w.Canvas().Overlays().Top() == nil {
		t.Errorf("no error dialog shown")
	}
	got := []string{s.kind.Selected, field(t, s, "url").Text, field(t, s, "queues").Text, choice(t, s, "auth").Selected, field(t, s, "user").Text, field(t, s, "credential").Text}
	want := []string{choiceRT, "https://rt.example.com", "General", "password", "root", "password"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after the error the form holds %q, want %q", got, want)
	}
	if s.saveButton.Disabled() || s.saveButton.Text != "Save" {
		t.Errorf("Save is %q, disabled %v after the error: the operator cannot retry", s.saveButton.Text, s.saveButton.Disabled())
	}
}

func TestSettingsRefusesBadNumbersWithoutCallingTheAgent(t *testing.T) {
	tests := []struct {
		field string
		set   func(t *testing.T, s *settingsScreen)
		want  string
	}{
		{"poll", func(t *testing.T, s *settingsScreen) { typeInto(s.poll, "ten") }, `poll interval "ten"`},
		{"poll zero", func(t *testing.T, s *settingsScreen) { typeInto(s.poll, "0") }, `poll interval "0"`},
		{"rpm", func(t *testing.T, s *settingsScreen) { typeInto(s.rpm, "-1") }, `request budget "-1"`},
		{"url", func(t *testing.T, s *settingsScreen) { field(t, s, "url").SetText("") }, "enter the Request Tracker (RT) url, e.g. https://rt.example.com"},
		{"queues", func(t *testing.T, s *settingsScreen) { typeInto(field(t, s, "queues"), " , ") }, "enter the Request Tracker (RT) queues"},
		{"user", func(t *testing.T, s *settingsScreen) {
			choice(t, s, "auth").SetSelected("password")
			field(t, s, "user").SetText("")
		}, "enter the Request Tracker (RT) user name"},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			f := newFakeAgent()
			u, _, s := openSettings(t, f)
			s.kind.SetSelected(choiceRT)
			typeInto(field(t, s, "url"), "https://rt.example.com")
			typeInto(field(t, s, "queues"), "General")
			tc.set(t, s)
			test.Tap(s.saveButton)
			test.Tap(s.testButton)
			u.pending.Wait()
			if len(f.saved)+len(f.tested) != 0 {
				t.Errorf("agent called with %+v / %+v for bad input", f.saved, f.tested)
			}
			if !strings.Contains(u.status.Text, tc.want) {
				t.Errorf("status line = %q, want it to contain %q", u.status.Text, tc.want)
			}
		})
	}
}

func TestSettingsEmbeddedHidesRTFields(t *testing.T) {
	f := newFakeAgent()
	f.settings = agent.TrackerSettings{Kind: agent.TrackerRT, Values: rtValues("https://rt.example.com", "General", "")}
	u, w, s := openSettings(t, f)
	if !s.remoteBox.Visible() || len(s.formBox.Objects) == 0 {
		t.Fatalf("RT fields hidden while RT is the agent's tracker")
	}
	s.kind.SetSelected(choiceEmbedded)
	if s.remoteBox.Visible() || len(s.formBox.Objects) != 0 {
		t.Errorf("RT fields visible while the embedded tracker is chosen")
	}
	if got := shown(w); strings.Contains(got, "https://rt.example.com") || strings.Contains(got, "Requests per minute") {
		t.Errorf("window still shows RT fields with the embedded tracker chosen:\n%s", got)
	}
	test.Tap(s.saveButton)
	u.pending.Wait()
	if want := []trackerCall{{agent.TrackerSettings{Kind: agent.TrackerEmbedded}, nil}}; !reflect.DeepEqual(f.saved, want) {
		t.Errorf("SaveTrackerSettings got %+v, want %+v", f.saved, want)
	}
	wantShown(t, w, "Saved: syncing the embedded tracker.")
}

func TestSettingsLoadRetriedWhenShown(t *testing.T) {
	f := newFakeAgent()
	f.failing("TrackerSettings", errAgentDown)
	f.settings = agent.TrackerSettings{Kind: agent.TrackerRT, Values: rtValues("https://rt.example.com", "General", "")}
	u, _, s := openSettings(t, f)
	if !strings.Contains(u.status.Text, "read tracker settings: agent is not running") {
		t.Errorf("status line = %q, want the load error", u.status.Text)
	}
	if !s.saveButton.Disabled() || !s.testButton.Disabled() {
		t.Errorf("Save and Test enabled without the agent's settings: a save would replace them with defaults")
	}
	f.failing("TrackerSettings", nil)
	test.Tap(u.nav[screenOverview])
	test.Tap(u.nav[screenSettings])
	u.pending.Wait()
	if s.kind.Selected != choiceRT || field(t, s, "url").Text != "https://rt.example.com" || s.saveButton.Disabled() {
		t.Errorf("after opening Settings again the form shows %q at %q (save disabled %v), want the agent's RT settings",
			s.kind.Selected, field(t, s, "url").Text, s.saveButton.Disabled())
	}
}

// The "User name" field is shown exactly while it is used (password sign-in).
func TestSettingsUserNameFollowsSignIn(t *testing.T) {
	f := newFakeAgent()
	f.settings = agent.TrackerSettings{Kind: agent.TrackerRT, Values: rtValues("https://rt.example.com", "General", "")}
	_, w, s := openSettings(t, f)
	for _, step := range []struct {
		auth string
		want bool
	}{{"token", false}, {"password", true}, {"token", false}} {
		choice(t, s, "auth").SetSelected(step.auth)
		if got := strings.Contains(shown(w), "User name"); got != step.want {
			t.Errorf("signing in with %q: User name shown %v, want %v", step.auth, got, step.want)
		}
	}
}

// TestSettingsJiraForm: Jira's form, drawn from its registry entry, asks for an e-mail and API
// token or an OAuth token, never both, and hands the agent only the secret that applies.
func TestSettingsJiraForm(t *testing.T) {
	f := newFakeAgent()
	f.check = agent.TrackerCheck{OK: true, Summary: "Jira at https://acme.atlassian.net reachable, signed in as Tandem Bot, projects found: SUP",
		Scope: "projects", Found: []string{"SUP"}}
	u, w, s := openSettings(t, f)
	s.kind.SetSelected("Jira Cloud")
	if got, want := formLabels(s), []string{"URL", "Projects", "New issue type", "Custom fields", "Sign in with", "E-mail", "API token"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Jira form with an API token shows %q, want %q", got, want)
	}
	if field(t, s, "issue_type").Text != "Task" {
		t.Errorf("new issue type starts as %q, want the default Task", field(t, s, "issue_type").Text)
	}
	typeInto(field(t, s, "url"), "https://acme.atlassian.net")
	typeInto(field(t, s, "projects"), "sup")
	typeInto(field(t, s, "token"), "atl-token")
	test.Tap(s.testButton)
	u.pending.Wait()
	if len(f.tested) != 0 || !strings.Contains(u.status.Text, "enter the Jira Cloud e-mail") {
		t.Errorf("testing without the e-mail: agent called %+v, status %q", f.tested, u.status.Text)
	}
	choice(t, s, "auth").SetSelected("oauth")
	if got, want := formLabels(s), []string{"URL", "Projects", "New issue type", "Custom fields", "Sign in with", "OAuth token"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Jira form with OAuth shows %q, want %q", got, want)
	}
	typeInto(field(t, s, "oauth_token"), "bearer-xyz")
	test.Tap(s.testButton)
	u.pending.Wait()
	want := trackerCall{agent.TrackerSettings{Kind: "jira", Values: map[string]string{"url": "https://acme.atlassian.net", "projects": "sup",
		"issue_type": "Task", "auth": "oauth"}}, map[string]string{"oauth_token": "bearer-xyz"}}
	if len(f.tested) != 1 || !reflect.DeepEqual(f.tested[0], want) {
		t.Errorf("TestTracker got %+v, want %+v (the API token typed before is not sent)", f.tested, want)
	}
	wantShown(t, w, "projects found: SUP", "Projects found: SUP")
}

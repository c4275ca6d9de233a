package ui

import (
	"errors"
	"image/color"
	"reflect"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
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

func TestSettingsShowsAgentSettings(t *testing.T) {
	f := newFakeAgent()
	f.settings = agent.TrackerSettings{Kind: agent.TrackerRT, URL: "https://rt.example.com", Queues: []string{"General", "Support"},
		User: "root", Poll: 30 * time.Second, RequestsPerMinute: 120}
	_, w, s := openSettings(t, f)

	got := map[string]string{
		"kind": s.kind.Selected, "url": s.url.Text, "queues": s.queues.Text, "auth": s.auth.Selected,
		"user": s.user.Text, "credential": s.credential.Text, "poll": s.poll.Text, "rpm": s.rpm.Text,
	}
	want := map[string]string{
		"kind": choiceRT, "url": "https://rt.example.com", "queues": "General, Support", "auth": authPassword,
		"user": "root", "credential": "", "poll": "30", "rpm": "120",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("form shows %v, want %v", got, want)
	}
	if !s.rtBox.Visible() || s.user.Disabled() {
		t.Errorf("RT fields visible %v, user name disabled %v: want visible and enabled", s.rtBox.Visible(), s.user.Disabled())
	}
	wantShown(t, w, "https://rt.example.com", "OS keychain", "Leave empty to keep the password already in the keychain")
}

func TestSettingsTestAndSaveUseTheFormsValues(t *testing.T) {
	f := newFakeAgent()
	f.check = agent.TrackerCheck{OK: true, Summary: "RT 5.0.3 reachable, signed in as root, queues found: General",
		Reachable: true, AuthOK: true, User: "root", Version: "5.0.3", QueuesFound: []string{"General"}}
	u, w, s := openSettings(t, f)

	s.kind.SetSelected(choiceRT)
	typeInto(s.url, " https://rt.example.com/rt ")
	typeInto(s.queues, "General , Support,")
	typeInto(s.credential, "s3cret token")
	typeInto(s.poll, "15")
	typeInto(s.rpm, "60")
	want := agent.TrackerSettings{Kind: agent.TrackerRT, URL: "https://rt.example.com/rt", Queues: []string{"General", "Support"},
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
	if want := []trackerCall{{want, "s3cret token"}}; !reflect.DeepEqual(f.tested, want) {
		t.Fatalf("TestTracker got %+v, want %+v", f.tested, want)
	}
	if s.result.Importance != widget.SuccessImportance || s.testButton.Disabled() || s.progress.Visible() {
		t.Errorf("after the test: result importance %v, button disabled %v, progress %v; want success, enabled, hidden",
			s.result.Importance, s.testButton.Disabled(), s.progress.Visible())
	}
	wantShown(t, w, "RT 5.0.3 reachable, signed in as root, queues found: General", "Queues found: General")

	test.Tap(s.saveButton)
	u.pending.Wait()
	if want := []trackerCall{{want, "s3cret token"}}; !reflect.DeepEqual(f.saved, want) {
		t.Fatalf("SaveTrackerSettings got %+v, want %+v", f.saved, want)
	}
	if s.credential.Text != "" {
		t.Errorf("credential entry shows %q after saving, want it empty (kept in the keychain)", s.credential.Text)
	}
	wantShown(t, w, "Saved: syncing Request Tracker at https://rt.example.com/rt (General, Support).")

	// Saving again without typing a credential keeps the keychain's: the agent gets "".
	s.auth.SetSelected(authPassword)
	typeInto(s.user, "root")
	test.Tap(s.saveButton)
	u.pending.Wait()
	want.User = "root"
	if len(f.saved) != 2 || !reflect.DeepEqual(f.saved[1], trackerCall{want, ""}) {
		t.Errorf("second save got %+v, want %+v with an empty credential", f.saved[1:], want)
	}
}

func TestSettingsShowsWhatIsWrong(t *testing.T) {
	f := newFakeAgent()
	f.check = agent.TrackerCheck{Reachable: true, AuthOK: true, User: "root", Version: "5.0.3",
		Summary:     "queue Support does not exist or root cannot see it",
		QueuesFound: []string{"General"}, QueuesMissing: []string{"Support"}}
	u, w, s := openSettings(t, f)
	s.kind.SetSelected(choiceRT)
	typeInto(s.url, "https://rt.example.com")
	typeInto(s.queues, "General, Support")
	test.Tap(s.testButton)
	u.pending.Wait()
	if len(f.tested) != 1 || f.tested[0].credential != "" {
		t.Fatalf("TestTracker got %+v, want one call with an empty credential", f.tested)
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
	s.auth.SetSelected(authPassword)
	typeInto(s.url, "https://rt.example.com")
	typeInto(s.queues, "General")
	typeInto(s.user, "root")
	typeInto(s.credential, "password")
	test.Tap(s.saveButton)
	u.pending.Wait()

	if len(f.saved) != 1 || f.saved[0].settings.User != "root" || f.saved[0].credential != "password" {
		t.Errorf("SaveTrackerSettings got %+v, want root with the typed password", f.saved)
	}
	if !strings.Contains(u.status.Text, "keychain is locked") || u.status.Importance != widget.DangerImportance {
		t.Errorf("status line = %q (importance %v), want the error in red", u.status.Text, u.status.Importance)
	}
	if w.Canvas().Overlays().Top() == nil {
		t.Errorf("no error dialog shown")
	}
	got := []string{s.kind.Selected, s.url.Text, s.queues.Text, s.auth.Selected, s.user.Text, s.credential.Text}
	want := []string{choiceRT, "https://rt.example.com", "General", authPassword, "root", "password"}
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
		set   func(s *settingsScreen)
		want  string
	}{
		{"poll", func(s *settingsScreen) { typeInto(s.poll, "ten") }, `poll interval "ten"`},
		{"poll zero", func(s *settingsScreen) { typeInto(s.poll, "0") }, `poll interval "0"`},
		{"rpm", func(s *settingsScreen) { typeInto(s.rpm, "-1") }, `request budget "-1"`},
		{"url", func(s *settingsScreen) { s.url.SetText("") }, "enter RT's address"},
		{"queues", func(s *settingsScreen) { typeInto(s.queues, " , ") }, "at least one RT queue"},
		{"user", func(s *settingsScreen) { s.auth.SetSelected(authPassword); s.user.SetText("") }, "enter the RT user name"},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			f := newFakeAgent()
			u, _, s := openSettings(t, f)
			s.kind.SetSelected(choiceRT)
			typeInto(s.url, "https://rt.example.com")
			typeInto(s.queues, "General")
			tc.set(s)
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
	f.settings = agent.TrackerSettings{Kind: agent.TrackerRT, URL: "https://rt.example.com", Queues: []string{"General"}}
	u, w, s := openSettings(t, f)
	if !s.rtBox.Visible() {
		t.Fatalf("RT fields hidden while RT is the agent's tracker")
	}
	s.kind.SetSelected(choiceEmbedded)
	if s.rtBox.Visible() {
		t.Errorf("RT fields visible while the embedded tracker is chosen")
	}
	if got := shown(w); strings.Contains(got, "https://rt.example.com") || strings.Contains(got, "Requests per minute") {
		t.Errorf("window still shows RT fields with the embedded tracker chosen:\n%s", got)
	}
	test.Tap(s.saveButton)
	u.pending.Wait()
	if want := []trackerCall{{agent.TrackerSettings{Kind: agent.TrackerEmbedded}, ""}}; !reflect.DeepEqual(f.saved, want) {
		t.Errorf("SaveTrackerSettings got %+v, want %+v", f.saved, want)
	}
	wantShown(t, w, "Saved: syncing the embedded tracker.")
}

func TestSettingsLoadRetriedWhenShown(t *testing.T) {
	f := newFakeAgent()
	f.failing("TrackerSettings", errAgentDown)
	f.settings = agent.TrackerSettings{Kind: agent.TrackerRT, URL: "https://rt.example.com", Queues: []string{"General"}}
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
	if s.kind.Selected != choiceRT || s.url.Text != "https://rt.example.com" || s.saveButton.Disabled() {
		t.Errorf("after opening Settings again the form shows %q at %q (save disabled %v), want the agent's RT settings",
			s.kind.Selected, s.url.Text, s.saveButton.Disabled())
	}
}

// The "User name" label is greyed exactly while its field is unused (token sign-in).
func TestSettingsUserNameLabelFollowsSignIn(t *testing.T) {
	f := newFakeAgent()
	f.settings = agent.TrackerSettings{Kind: agent.TrackerRT, URL: "https://rt.example.com", Queues: []string{"General"}}
	_, w, s := openSettings(t, f)
	label := func() *canvas.Text {
		var found *canvas.Text
		visit(w, func(o fyne.CanvasObject) bool {
			if x, ok := o.(*canvas.Text); ok && x.Text == "User name" {
				found = x
			}
			return found == nil
		})
		if found == nil {
			t.Fatal("no User name label in the window")
		}
		return found
	}
	th := fyne.CurrentApp().Settings().Theme()
	v := fyne.CurrentApp().Settings().ThemeVariant()
	grey, normal := th.Color(theme.ColorNameDisabled, v), th.Color(theme.ColorNameForeground, v)
	for _, step := range []struct {
		auth string
		want color.Color
	}{{authToken, grey}, {authPassword, normal}, {authToken, grey}} {
		s.auth.SetSelected(step.auth)
		if got := label().Color; got != step.want {
			t.Errorf("signing in with %q: User name label colour %v, want %v", step.auth, got, step.want)
		}
	}
}

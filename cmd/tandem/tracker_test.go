package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/secrets"
	"github.com/tandemsync/tandem/core/trackers/github/githubtest"
)

// TestTrackerCommand sets, shows and tests GitHub settings from the command line, with the
// token piped in, then refuses what an operator could get wrong.
func TestTrackerCommand(t *testing.T) {
	srv := githubtest.New(t, "octo-org/app")
	keys := secrets.NewMemory()
	opt := agent.Options{Dir: t.TempDir(), Keys: keys, TrackerTransport: srv.Client().Transport}
	ctx := context.Background()
	run := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		err := runTracker(ctx, opt, args, strings.NewReader(stdin), &out)
		return out.String(), err
	}
	if out, err := run("", "set", "github", "url="+srv.URL, "repositories=octo-org/app"); err == nil {
		t.Fatalf("set without a token: %q, want an error asking for it", out)
	} else if !strings.Contains(err.Error(), "no GitHub access token in the keychain") {
		t.Errorf("set without a token: %v", err)
	}
	out, err := run(srv.Token+"\n", "set", "github", "url="+srv.URL, "repositories=octo-org/app", "poll=30")
	if err != nil || !strings.Contains(out, "Saved: this agent syncs GitHub at") {
		t.Fatalf("set: %q, %v", out, err)
	}
	if got, err := keys.Get(ctx, "tracker-github-token:"+opt.Dir); err != nil || got != srv.Token {
		// the agent resolves the directory to an absolute path; t.TempDir is one already
		t.Errorf("token in the keychain: %q, %v", got, err)
	}
	out, err = run("", "show")
	for _, want := range []string{"GitHub (github)", "repositories", "octo-org/app", "token", "kept in the keychain", "poll", "30 seconds"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("show: %q (%v), want it to contain %q", out, err, want)
		}
	}
	if strings.Contains(out, srv.Token) {
		t.Errorf("show prints the token: %q", out)
	}
	if out, err := run("", "test"); err != nil || !strings.Contains(out, "OK: GitHub at") || !strings.Contains(out, "repositories found: octo-org/app") {
		t.Errorf("test: %q, %v", out, err)
	}
	// Changing one value keeps the others and the token in the keychain.
	if _, err := run("", "set", "github", "repositories=octo-org/app, octo-org/gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := run("", "test"); err == nil || !strings.Contains(err.Error(), "has no repository octo-org/gone") {
		t.Errorf("test with a missing repository: %v", err)
	}
	// A token typed on the command line, an unknown setting or kind, a bad choice: refused.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"set", "github", "token=ghp_x"}, "token is a secret: it is read from standard input or a prompt, never from the command line"},
		{[]string{"set", "github", "colour=red"}, `GitHub has no setting "colour"; its settings: url, repositories`},
		{[]string{"set", "gitlab"}, `unknown tracker kind "gitlab": choose one of embedded, rt, github, jira`},
		{[]string{"set", "github", "auth=password"}, `auth "password" is not one of token, app`},
		{[]string{"set", "github", "poll=often"}, `poll "often": enter whole seconds`},
		{[]string{"frobnicate"}, `unknown tracker command "frobnicate"`},
	} {
		if _, err := run("", tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
	// A secret piped as KEY=VALUE lines, the app's PEM key over several lines.
	sec, err := readSecrets(agent.TrackerSettings{Kind: "github", Values: map[string]string{"auth": "app"}},
		strings.NewReader("webhook_secret=w1\nprivate_key=-----BEGIN RSA PRIVATE KEY-----\nAAAA\nBBBB\n-----END RSA PRIVATE KEY-----\n"), &bytes.Buffer{})
	if err != nil || sec["webhook_secret"] != "w1" || sec["private_key"] != "-----BEGIN RSA PRIVATE KEY-----\nAAAA\nBBBB\n-----END RSA PRIVATE KEY-----" {
		t.Errorf("secrets from KEY=VALUE lines: %q, %v", sec, err)
	}
	if _, err := readSecrets(agent.TrackerSettings{Kind: "github", Values: map[string]string{"auth": "token"}}, strings.NewReader("token=a\npassword=b"), &bytes.Buffer{}); err == nil {
		t.Errorf("an unknown secret key on standard input was accepted")
	}
	// Every change is in the audit log, secrets by name only.
	a, err := agent.Open(ctx, agent.Options{Dir: opt.Dir, Keys: keys, Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := a.AuditTail(ctx, 100)
	a.Close()
	var log []string
	for _, e := range entries {
		log = append(log, e.Kind+": "+e.What)
	}
	joined := strings.Join(log, "\n")
	if !strings.Contains(joined, `settings: tracker set: github auth="token" repositories="octo-org/app, octo-org/gone"`) ||
		!strings.Contains(joined, "secret: GitHub access token stored in ") || strings.Contains(joined, srv.Token) {
		t.Errorf("audit log:\n%s", joined)
	}

	// On a running agent the command goes through its control socket.
	run2 := start(t, agent.Options{Dir: opt.Dir, Keys: keys, TrackerTransport: srv.Client().Transport, Listen: "127.0.0.1:0"})
	if out, err := run("", "set", "github", "repositories=octo-org/app"); err != nil || !strings.Contains(out, "Saved") {
		t.Fatalf("set on a running agent: %q, %v", out, err)
	}
	if s, _ := run2.TrackerSettings(ctx); s.Values["repositories"] != "octo-org/app" {
		t.Errorf("the running agent syncs %v after set, want octo-org/app", s.Values)
	}
	if out, err := run("", "test"); err != nil || !strings.Contains(out, "OK: GitHub at") {
		t.Errorf("test on a running agent: %q, %v", out, err)
	}

	var fields bytes.Buffer
	if err := runTracker(ctx, opt, []string{"fields"}, nil, &fields); err != nil || !strings.Contains(fields.String(), "jira  ") {
		t.Errorf("fields: %q, %v", fields.String(), err)
	}
}

// start runs an agent in this process until the test ends.
func start(t *testing.T, opt agent.Options) *agent.Agent {
	t.Helper()
	a, err := agent.Open(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done; a.Close() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(opt.Dir, "control.sock")); err == nil {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent did not open its control socket")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

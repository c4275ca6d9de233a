package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/trackers/github"
	"github.com/tandemsync/tandem/core/trackers/github/githubtest"
	"github.com/tandemsync/tandem/core/trackers/jira"
	"github.com/tandemsync/tandem/core/trackers/jira/jiratest"
)

// TestGitHubAgentSyncsWithJiraAgent pairs an agent on (a fake, description-checked) GitHub
// with an agent on Jira Cloud over real HTTPS between the agents, and syncs items, status,
// labels, assignees through the rules' user maps and comments with their authors both ways;
// the GitHub agent is stopped half-way while both sides change, and nothing is lost.
func TestGitHubAgentSyncsWithJiraAgent(t *testing.T) {
	const repo = "acme/app"
	gh := githubtest.New(t, repo)
	jr := jiratest.New(t, "SUP")
	jr.AddUser(jiratest.User{AccountID: "557058:alice", Name: "Alice Jones", Email: "alice@acme.example"})
	ctx := context.Background()
	keys := testKeys(t)
	devDir := t.TempDir()
	devOpt := Options{Dir: devDir, Name: "Dev", Listen: "127.0.0.1:0", Keys: keys, TrackerTransport: gh.Client().Transport}
	dev := start(t, devOpt)
	devOpt.Listen = strings.TrimPrefix(dev.URL(), "https://") // the partner dials the same address after the restart
	desk := start(t, Options{Dir: t.TempDir(), Name: "Desk", Listen: "127.0.0.1:0", Keys: keys, TrackerTransport: jr.Client().Transport})

	ghSettings := TrackerSettings{Kind: "github", Values: map[string]string{"url": gh.URL, "repositories": repo, "auth": github.AuthToken},
		Poll: 300 * time.Millisecond, Timeout: 5 * time.Second}
	if c := dev.TestTracker(ctx, ghSettings, map[string]string{"token": gh.Token}); !c.OK {
		t.Fatalf("github test connection: %s", c.Summary)
	}
	if err := dev.SaveTrackerSettings(ctx, ghSettings, map[string]string{"token": gh.Token}); err != nil {
		t.Fatal(err)
	}
	jiraSettings := TrackerSettings{Kind: "jira", Values: map[string]string{"url": jr.URL, "projects": "SUP", "auth": jira.AuthToken, "email": jr.Email},
		Poll: 300 * time.Millisecond, Timeout: 5 * time.Second}
	if err := desk.SaveTrackerSettings(ctx, jiraSettings, map[string]string{"token": jr.Token}); err != nil {
		t.Fatal(err)
	}
	// Pairing takes each side's default rules; each operator fills in the user map.
	devConn := pair(t, dev, desk)
	deskConn := onlyConnection(t, desk)
	setRules := func(a *running, conn, out, in, from, to string) {
		t.Helper()
		if err := a.SetRules(conn, RuleSources{Outgoing: out, Incoming: strings.Replace(in, from, to, 1)}); err != nil {
			t.Fatal(err)
		}
	}
	setRules(dev, devConn, github.DefaultOutgoing, github.DefaultIncoming, `// "alice@partner.example": "alice-gh",`, `"557058:alice": "alice-gh",`)
	setRules(desk, deskConn, jira.DefaultOutgoing, jira.DefaultIncoming, `// "alice-gh": "5b10a2844c20165700ede21g",`, `"alice-gh": "557058:alice",`)

	// A GitHub issue, assigned and commented, arrives in Jira.
	crash := gh.AddIssue(repo, githubtest.Issue{Title: "Crash on save", Body: "Steps:\n\n1. open\n2. save twice", Labels: []string{"bug"},
		Assignees: []string{"alice-gh"}})
	gh.AddComment(repo, crash, "carol", "Same here on 2.1.")
	var crashKey string
	eventually(t, 90*time.Second, "github issue in jira", func() (bool, string) {
		is, cs, ok := jiraIssue(jr, "Crash on save")
		crashKey = is.Key
		return ok && is.Status == "To Do" && slices.Equal(is.Labels, []string{"bug"}) && is.Assignee == "557058:alice" &&
				jiratest.Text(is.Description) == "Steps:\nopen\nsave twice" && len(cs) == 1 && strings.Contains(jiratest.Text(cs[0].Body), "[carol via Tandem]\nSame here on 2.1."),
			fmt.Sprintf("%+v %+v", is, cs)
	})

	// A Jira issue, assigned, arrives in GitHub with the assignee's login.
	printer := jr.AddIssue(jiratest.Issue{Summary: "Printer jams", Description: "Floor 3.", Priority: "High", Labels: []string{"hardware"}, Assignee: "557058:alice"})
	eventually(t, 90*time.Second, "jira issue in github", func() (bool, string) {
		is, _, ok := githubIssue(gh, repo, "Printer jams")
		return ok && is.State == "open" && is.Body == "Floor 3." && slices.Equal(is.Labels, []string{"hardware"}) && slices.Equal(is.Assignees, []string{"alice-gh"}),
			fmt.Sprintf("%+v", is)
	})

	// Jira resolves the crash with a comment: GitHub closes it and shows who wrote.
	jr.EditIssue(crashKey, func(is *jiratest.Issue) { is.Status = "Done" })
	jr.AddComment(crashKey, "557058:alice", "Fixed in 2.2.")
	eventually(t, 90*time.Second, "jira resolution in github", func() (bool, string) {
		is, cs, _ := githubIssue(gh, repo, "Crash on save")
		return is.State == "closed" && is.StateReason == "completed" && len(cs) == 2 && cs[1].Body == "[Alice Jones <alice@acme.example> via Tandem]\nFixed in 2.2.",
			fmt.Sprintf("%+v %+v", is, cs)
	})

	// The GitHub agent stops; both sides change meanwhile; it starts again and catches up.
	dev.stop()
	gh.Tick(time.Second)
	gh.EditIssue(repo, crash, func(is *githubtest.Issue) {
		is.Labels = []string{"bug", "regression"}
		is.State, is.StateReason = "open", "reopened"
	})
	gh.AddComment(repo, crash, "carol", "Back in 2.2.1.")
	jr.EditIssue(printer, func(is *jiratest.Issue) {
		is.Summary = "Printer jams on floor 3"
		is.Labels = []string{"hardware", "urgent"}
	})
	dev = start(t, devOpt)
	eventually(t, 90*time.Second, "github changes made while the agent was down, in jira", func() (bool, string) {
		is, cs, _ := jiraIssue(jr, "Crash on save")
		return is.Status == "To Do" && slices.Equal(is.Labels, []string{"bug", "regression"}) && len(cs) == 3 &&
			strings.Contains(jiratest.Text(cs[2].Body), "Back in 2.2.1."), fmt.Sprintf("%+v %d comments", is, len(cs))
	})
	eventually(t, 90*time.Second, "jira changes made while the agent was down, in github", func() (bool, string) {
		is, _, ok := githubIssue(gh, repo, "Printer jams on floor 3")
		return ok && slices.Equal(is.Labels, []string{"hardware", "urgent"}), fmt.Sprintf("%+v", gh.Issues(repo))
	})

	// Nothing was made twice, nothing echoes: the counts stay put.
	time.Sleep(2 * time.Second)
	if n := len(gh.Issues(repo)); n != 2 {
		t.Errorf("github has %d issues, want 2: %+v", n, gh.Issues(repo))
	}
	if n := len(jr.Keys()); n != 2 {
		t.Errorf("jira has %d issues, want 2: %v", n, jr.Keys())
	}
	_, cs, _ := githubIssue(gh, repo, "Crash on save")
	if len(cs) != 3 {
		t.Errorf("github comments on the crash: %d, want 3 (carol, Alice's via Tandem, carol again)", len(cs))
	}
}

// onlyConnection is the id of an agent's one connection.
func onlyConnection(t *testing.T, a *running) string {
	t.Helper()
	conns, err := a.Connections(context.Background())
	if err != nil || len(conns) != 1 {
		t.Fatalf("connections: %+v, %v", conns, err)
	}
	return conns[0].ID
}

func jiraIssue(s *jiratest.Server, summary string) (jiratest.Issue, []jiratest.Comment, bool) {
	for _, k := range s.Keys() {
		if is, cs, ok := s.Issue(k); ok && is.Summary == summary {
			return is, cs, true
		}
	}
	return jiratest.Issue{}, nil, false
}

func githubIssue(s *githubtest.Server, repo, title string) (githubtest.Issue, []githubtest.Comment, bool) {
	for _, is := range s.Issues(repo) {
		if is.Title == title {
			is, cs, ok := s.Issue(repo, is.Number)
			return is, cs, ok
		}
	}
	return githubtest.Issue{}, nil, false
}

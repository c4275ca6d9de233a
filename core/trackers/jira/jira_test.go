package jira_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules"
	"github.com/tandemsync/tandem/core/trackers/connector"
	"github.com/tandemsync/tandem/core/trackers/connector/connectortest"
	"github.com/tandemsync/tandem/core/trackers/jira"
	"github.com/tandemsync/tandem/core/trackers/jira/jiratest"
	"github.com/tandemsync/tandem/core/trackers/spectest"
)

func newTracker(t testing.TB, srv *jiratest.Server, mod func(*jira.Config)) *jira.Tracker {
	t.Helper()
	cfg := jira.Config{URL: srv.URL, Projects: []string{"SUP"}, Email: srv.Email, APIToken: srv.Token, Transport: srv.Client().Transport,
		Timeout: 5 * time.Second, PageSize: 2, Fields: []string{"Customer", "Story Points", "Severity"}}
	if mod != nil {
		mod(&cfg)
	}
	tr, err := jira.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestContract drives every operation the connector uses against a fake held to Atlassian's
// description of the REST API v3.
func TestContract(t *testing.T) {
	srv := jiratest.New(t, "SUP", "DEV")
	srv.AddUser(jiratest.User{AccountID: "557058:alice", Name: "Alice", Email: "alice@example.com"})
	srv.AddUser(jiratest.User{AccountID: "557058:bob", Name: "Bob"})
	tr := newTracker(t, srv, func(c *jira.Config) { c.Projects = []string{"SUP", "DEV"} })
	ctx := context.Background()

	if c := tr.TestConnection(ctx); !c.OK() || c.User != "Tandem Bot" || !slices.Equal(c.Found, []string{"SUP", "DEV"}) {
		t.Fatalf("TestConnection: %+v", c)
	}
	a := srv.AddIssue(jiratest.Issue{Summary: "Login fails", Description: "Since Monday.\nOnly on Safari.", Priority: "High",
		Labels: []string{"web"}, Assignee: "557058:alice",
		Custom: map[string]any{"customfield_10010": "ACME", "customfield_10020": 5.0, "customfield_10030": map[string]any{"value": "S2", "id": "1"}}})
	srv.AddIssue(jiratest.Issue{Summary: "Export to CSV", Project: "DEV"})
	srv.AddIssue(jiratest.Issue{Summary: "Typo on help page"})
	srv.AddComment(a, "557058:alice", "Still failing.")
	items, cursor := connectortest.Poll(t, tr, "", 3)
	if got, want := connectortest.Titles(items), []string{"Export to CSV", "Typo on help page", "Login fails"}; !slices.Equal(got, want) {
		t.Fatalf("first poll: %q, want %q", got, want)
	}
	login := items[2]
	if login.Key != a || login.Description != "Since Monday.\n\nOnly on Safari." || login.Status != "To Do" || login.Priority != "High" ||
		login.Assignee != (item.User{ID: "557058:alice", Name: "Alice", Email: "alice@example.com"}) || login.Reporter.ID != "557058:person" ||
		login.Custom["Customer"] != "ACME" || login.Custom["Story Points"] != "5" || login.Custom["Severity"] != "S2" ||
		login.Custom[jira.ProjectField] != "SUP" || login.Custom[jira.IssueTypeField] != "Task" ||
		len(login.Comments) != 1 || login.Comments[0].Body != "Still failing." || login.Comments[0].Author.Name != "Alice" {
		t.Errorf("issue read as %+v", login)
	}

	// An idle poll only searches (the overlap's pages) and returns nothing, however often.
	before, searches := srv.Requests(), srv.Searches
	for range 3 {
		if more, _ := connectortest.Poll(t, tr, cursor, 3); len(more) != 0 {
			t.Fatalf("idle poll returned %q", connectortest.Titles(more))
		}
	}
	if n, s := srv.Requests()-before, srv.Searches-searches; n != s || n == 0 {
		t.Errorf("three idle polls took %d requests of which %d searches, want only searches", n, s)
	}

	// Tandem creates an issue in progress, with priority, labels, people, custom fields and
	// comments; Jira takes no spaces in labels.
	res, err := tr.Apply(ctx, []engine.Write{{Item: item.Item{Title: "From partner", Description: "Steps:\n\n1. open\n2. save\n\nSee [docs](https://example.com).",
		Status: "In Progress", Priority: "Highest", Labels: []string{"needs triage"}, Assignee: item.User{ID: "557058:bob"},
		Custom: map[string]string{"Story Points": "3", "Severity": "S1", jira.ProjectField: "DEV", jira.IssueTypeField: "Bug"}},
		NewComments: []item.Comment{{Author: item.User{Name: "Pat Partner", Email: "pat@partner.example"}, Body: "Hello **there**"}}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("create: %v %v", err, res[0].Err)
	}
	created, comments, _ := srv.Issue(res[0].Key)
	if !strings.HasPrefix(res[0].Key, "DEV-") || created.Status != "In Progress" || created.Priority != "Highest" || created.Type != "Bug" ||
		!slices.Equal(created.Labels, []string{"needs_triage"}) || created.Assignee != "557058:bob" || created.Custom["customfield_10020"] != 3.0 ||
		len(comments) != 1 || !strings.HasPrefix(jiratest.Text(comments[0].Body), "[Pat Partner <pat@partner.example> via Tandem]") {
		t.Errorf("created %+v, comments %+v", created, comments)
	}
	got, err := tr.Get(ctx, res[0].Key)
	if err != nil || got.Description != "Steps:\n\n1. open\n2. save\n\nSee [docs](https://example.com)." || got.Comments[0].Author.Name != "Pat Partner" ||
		got.Comments[0].Body != "Hello **there**" {
		t.Errorf("read back: %q, comments %+v, %v", got.Description, got.Comments, err)
	}
	// Update: summary, status through the workflow, description, unassign, clear a custom
	// field; edit and delete comments.
	w := engine.Write{Key: a, Item: login.Clone(), Fields: []string{item.FieldTitle, item.FieldStatus, item.FieldDescription,
		item.FieldAssignee, item.CustomField("Customer")}}
	w.Item.Title, w.Item.Status, w.Item.Description, w.Item.Assignee = "Login fails on Safari", "Done", "Fixed in 2.1", item.User{}
	delete(w.Item.Custom, "Customer")
	w.EditComments = []item.Comment{{ID: login.Comments[0].ID, Author: item.User{Name: "Alice"}, Body: "Still failing (edited)."}}
	w.DeleteComments = []string{comments[0].ID + "0"} // not there: nothing to do
	if res, err := tr.Apply(ctx, []engine.Write{w}); err != nil || res[0].Err != nil {
		t.Fatalf("update: %v %v", err, res[0].Err)
	}
	upd, ucs, _ := srv.Issue(a)
	if upd.Summary != "Login fails on Safari" || upd.Status != "Done" || jiratest.Text(upd.Description) != "Fixed in 2.1" ||
		upd.Assignee != "" || upd.Custom["customfield_10010"] != nil || !strings.Contains(jiratest.Text(ucs[0].Body), "Still failing (edited).") {
		t.Errorf("updated to %+v, comments %+v", upd, ucs)
	}
	if res, _ := tr.Apply(ctx, []engine.Write{{Key: res[0].Key, Item: got, DeleteComments: []string{comments[0].ID}}}); res[0].Err != nil {
		t.Fatalf("delete comment: %v", res[0].Err)
	}
	// Tandem's own writes are not read back as changes.
	more, cursor := connectortest.Poll(t, tr, cursor, 3)
	if len(more) != 0 {
		t.Errorf("poll after Tandem's writes returned %q, want none (its own echo)", connectortest.Titles(more))
	}
	// A person's change is, through 429 (RateLimit-Reason) and 503 answers.
	srv.Tick(time.Second)
	srv.EditIssue(a, func(is *jiratest.Issue) { is.Labels = []string{"web", "safari"} })
	srv.Fail(spectest.Fault{Op: "POST /rest/api/3/search/jql", Status: 429, Header: map[string]string{"Retry-After": "1", "RateLimit-Reason": "jira-burst-based"}},
		spectest.Fault{Op: "POST /rest/api/3/search/jql", Status: 503})
	more, _ = connectortest.Poll(t, tr, cursor, 3)
	if len(more) != 1 || !slices.Equal(more[0].Labels, []string{"web", "safari"}) {
		t.Errorf("after a person's edit: %+v", more)
	}
	// Retrying a create whose answer was lost adopts the issue.
	n := len(srv.Keys())
	res, _ = tr.Apply(ctx, []engine.Write{{Item: item.Item{Title: "From partner", Custom: map[string]string{jira.ProjectField: "DEV"}}, Retry: true,
		Linked: func(string) bool { return false }}})
	if res[0].Err != nil || !strings.HasPrefix(res[0].Key, "DEV-") || len(srv.Keys()) != n {
		t.Errorf("retried create: %q %v, %d issues (was %d)", res[0].Key, res[0].Err, len(srv.Keys()), n)
	}
	// A retried comment that the lost attempt posted is found, not posted twice.
	c := item.Comment{Author: item.User{Name: "Pat"}, Body: "Once"}
	tr.Apply(ctx, []engine.Write{{Key: a, Item: more[0], NewComments: []item.Comment{c}}})
	res, _ = tr.Apply(ctx, []engine.Write{{Key: a, Item: more[0], NewComments: []item.Comment{c}, Retry: true}})
	if _, cs, _ := srv.Issue(a); res[0].Err != nil || len(cs) != 2 || len(res[0].CommentIDs) != 1 {
		t.Errorf("retried comment: %v, %d comments", res[0].Err, len(cs))
	}
	if u := srv.Uncovered(); len(u) != 0 {
		t.Errorf("operations of the description never exercised: %q", u)
	}
}

func TestBadInput(t *testing.T) {
	srv := jiratest.New(t, "SUP")
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>Confluence</html>", http.StatusNotFound)
	}))
	defer other.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		mod  func(*jira.Config)
		want string
	}{
		{"wrong token", func(c *jira.Config) { c.APIToken = "nope" }, "rejected the credential (401)"},
		{"missing project", func(c *jira.Config) { c.Projects = []string{"SUP", "NOPE"} }, "has no project NOPE that Tandem Bot can browse"},
		{"unknown field", func(c *jira.Config) { c.Fields = []string{"Customer", "Colour"} }, `has no field named "Colour"`},
		{"not jira", func(c *jira.Config) { c.URL = other.URL; c.Transport = other.Client().Transport }, "not as Jira Cloud's REST API does"},
	} {
		if c := newTracker(t, srv, tc.mod).TestConnection(ctx); c.OK() || !strings.Contains(c.Problem, tc.want) {
			t.Errorf("%s: TestConnection says %q, want %q", tc.name, c.Problem, tc.want)
		}
	}
	for _, cfg := range []jira.Config{{URL: "x", Projects: []string{"A"}, OAuthToken: "t"}, {URL: "https://x", OAuthToken: "t"},
		{URL: "https://x", Projects: []string{"A B"}, OAuthToken: "t"}, {URL: "https://x", Projects: []string{"A"}, APIToken: "t"}} {
		if _, err := jira.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}

	tr := newTracker(t, srv, nil)
	key := srv.AddIssue(jiratest.Issue{Summary: "Here", Status: "Done", Description: map[string]any{"type": "doc", "version": 1, "content": []any{
		map[string]any{"type": "table", "content": []any{}}}}})
	if _, err := tr.Get(ctx, key); err != nil { // reading marks the description as holding a table
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		w    engine.Write
		want string
	}{
		{"transition the workflow forbids", engine.Write{Key: key, Item: item.Item{Status: "In Progress"}, Fields: []string{item.FieldStatus}},
			`the workflow of Task issues in project SUP has no transition from "Done" to "In Progress" for SUP-1 (it offers "To Do")`},
		{"field that does not exist", engine.Write{Key: key, Item: item.Item{Custom: map[string]string{"Colour": "red"}}, Fields: []string{"custom.Colour"}},
			`has no field named "Colour"`},
		{"field Jira cannot take as text", engine.Write{Key: key, Item: item.Item{Custom: map[string]string{"Sprint": "5"}}, Fields: []string{"custom.Sprint"}},
			`field "Sprint" holds a list of json`},
		{"number field given words", engine.Write{Key: key, Item: item.Item{Custom: map[string]string{"Story Points": "lots"}}, Fields: []string{"custom.Story Points"}},
			`takes a number, not "lots"`},
		{"assignee without an account id", engine.Write{Key: key, Item: item.Item{Assignee: item.User{Name: "Alice", Email: "alice@x"}}, Fields: []string{item.FieldAssignee}},
			`assignee "Alice" has no jira account id: add them to the user map`},
		{"description with a table", engine.Write{Key: key, Item: item.Item{Description: "plain"}, Fields: []string{item.FieldDescription}},
			"holds Jira content with no text form (table)"},
		{"priority Jira has not", engine.Write{Key: key, Item: item.Item{Priority: "P0"}, Fields: []string{item.FieldPriority}},
			"priority: Specify the Priority"},
		{"deleted issue", engine.Write{Key: "SUP-99", Item: item.Item{Title: "x"}, Fields: []string{item.FieldTitle}}, "has no issue SUP-99"},
		{"project not synced", engine.Write{Item: item.Item{Title: "x", Custom: map[string]string{jira.ProjectField: "OPS"}}}, `project "OPS" is not one of the synced projects`},
		{"empty summary", engine.Write{Item: item.Item{Title: " "}}, "jira issues need a summary"},
		{"internal note", engine.Write{Key: key, Item: item.Item{}, NewComments: []item.Comment{{Body: "secret", Internal: true}}}, "does not post internal notes"},
		{"bad key", engine.Write{Key: "12", Item: item.Item{Title: "x"}, Fields: []string{item.FieldTitle}}, `"12" is not a jira issue key`},
	} {
		res, err := tr.Apply(ctx, []engine.Write{tc.w})
		if err != nil {
			t.Fatal(err)
		}
		if e := res[0].Err; e == nil || !strings.Contains(e.Error(), tc.want) || !connector.IsPermanent(e) {
			t.Errorf("%s: got %v (permanent %v), want a permanent error containing %q", tc.name, e, connector.IsPermanent(e), tc.want)
		}
	}
	srv.DeleteIssue(key)
	if _, err := tr.Get(ctx, key); err == nil || !connector.IsPermanent(err) {
		t.Errorf("Get of a deleted issue: %v", err)
	}
}

// TestDefaultRulesCompile runs Jira's default rules on an issue and a partner's replica.
func TestDefaultRulesCompile(t *testing.T) {
	out, err := rules.Compile("outgoing.go", jira.DefaultOutgoing)
	if err != nil {
		t.Fatal(err)
	}
	in, err := rules.Compile("incoming.go", strings.Replace(jira.DefaultIncoming, `// "alice-gh": "5b10a2844c20165700ede21g",`, `"alice-gh": "557058:alice",`, 1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rep, _, err := out.Outgoing(ctx, item.Item{Title: "T", Status: "In Progress", Priority: "High"}, rules.Env{})
	if err != nil || rep.Status != "in progress" || rep.Priority != "high" {
		t.Errorf("outgoing: %+v, %v", rep, err)
	}
	it, _, err := in.Incoming(ctx, item.Replica{Title: "T", Status: "closed", Priority: "urgent", Assignee: item.User{ID: "alice-gh"}}, item.Item{}, rules.Env{})
	if err != nil || it.Status != "Done" || it.Priority != "Highest" || it.Assignee.ID != "557058:alice" {
		t.Errorf("incoming: %+v, %v", it, err)
	}
}

// TestOwnWritesRecognisedAfterARestart restarts the tracker (a new instance, built through the
// registry entry as the agent does, on the same bbolt file reopened): Tandem's last write to an
// issue is still recognised as its own echo, so detection does not read it back and it is
// never sent to the partner; a person's change after it is read.
func TestOwnWritesRecognisedAfterARestart(t *testing.T) {
	srv := jiratest.New(t, "SUP")
	ctx := context.Background()
	r := connectortest.NewRestartable(t, jira.Connector, connector.Env{Values: connector.Values{"url": srv.URL, "projects": "SUP", "auth": jira.AuthToken, "email": srv.Email},
		Secrets: connector.Values{"token": srv.Token}, Transport: srv.Client().Transport, Timeout: 5 * time.Second}, "jira "+srv.URL)
	build, open := r.Build, r.Open
	changes := func(tr engine.Tracker, cursor string) ([]item.Item, string) {
		t.Helper()
		return connectortest.Changes(t, tr, cursor, 10)
	}

	key := srv.AddIssue(jiratest.Issue{Summary: "Login fails"})
	srv.Tick(time.Second)
	st := open()
	before := build(st)
	items, cursor := changes(before, "")
	if len(items) != 1 {
		t.Fatalf("first poll: %q", connectortest.Titles(items))
	}

	// Tandem renames the issue (as the partner asked), then stops.
	srv.Tick(time.Second)
	w := engine.Write{Key: key, Item: items[0].Clone(), Fields: []string{item.FieldTitle}}
	w.Item.Title = "Login fails on Safari"
	if res, err := before.Apply(ctx, []engine.Write{w}); err != nil || res[0].Err != nil {
		t.Fatalf("Tandem's write: %v %v", err, res[0].Err)
	}
	st.Close()

	// Without the marks, a restarted tracker reads Tandem's own write back as a change: what
	// this test guards against.
	if forgetful, _ := changes(build(nil), cursor); len(forgetful) != 1 {
		t.Fatalf("a tracker without memory read %q after Tandem's write, want its echo: the test cannot tell", connectortest.Titles(forgetful))
	}

	st = open()
	defer st.Close()
	after := build(st)
	if echo, next := changes(after, cursor); len(echo) != 0 {
		t.Errorf("after a restart, Tandem's own write was read back as a change: %q", connectortest.Titles(echo))
	} else {
		cursor = next
	}

	// A person's edit after Tandem's write is a change again.
	srv.Tick(time.Second)
	srv.EditIssue(key, func(is *jiratest.Issue) { is.Labels = []string{"safari"} })
	if got, _ := changes(after, cursor); len(got) != 1 || !slices.Equal(got[0].Labels, []string{"safari"}) {
		t.Errorf("a person's edit after the restart: got %+v, want it", got)
	}
}

package agent

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/trackers/httpx"
	"github.com/tandemsync/tandem/core/trackers/rt"
	"github.com/tandemsync/tandem/core/trackers/rt/rttest"
)

// rtServer is one throwaway Request Tracker shared by this package's tests.
var rtServer *rttest.Server

func TestMain(m *testing.M) { os.Exit(rttest.Main(m, &rtServer)) }

// rtDirect talks to RT's REST 2 API as a person at the helpdesk would, not through Tandem.
func rtDirect(t *testing.T, s *rttest.Server, method, path string, in, out any) {
	t.Helper()
	c := httpx.New(httpx.Config{Tracker: "RT", Auth: httpx.BasicAuth(s.User, s.Password)})
	if err := c.DoJSON(context.Background(), method, s.URL+"/REST/2.0"+path, in, out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

// rtTickets reads every ticket of the General queue through the connector, keyed by subject.
func rtTickets(t *testing.T, s *rttest.Server) map[string][]item.Item {
	t.Helper()
	tr, err := rt.New(rt.Config{URL: s.URL, Queues: []string{"General"}, User: s.User, Password: s.Password})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A ticket that changes while it is read is listed again: keep its latest reading.
	byKey := map[string]item.Item{}
	cursor := ""
	for range 100 {
		items, next, err := tr.Changes(ctx, cursor, 100)
		if err != nil {
			t.Fatalf("read rt tickets: %v", err)
		}
		for _, it := range items {
			full, err := tr.Get(ctx, it.Key)
			if err != nil {
				t.Fatalf("get rt ticket %s: %v", it.Key, err)
			}
			byKey[full.Key] = full
		}
		if len(items) == 0 || next == cursor {
			break
		}
		cursor = next
	}
	byTitle := map[string][]item.Item{}
	for _, it := range byKey {
		byTitle[it.Title] = append(byTitle[it.Title], it)
	}
	return byTitle
}

func findItem(t *testing.T, a *running, title string) (item.Item, bool) {
	t.Helper()
	items, err := a.Items(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Title == title {
			return it, true
		}
	}
	return item.Item{}, false
}

func TestRTAgentSyncsWithEmbeddedAgent(t *testing.T) {
	srv := rttest.Need(t, rtServer)
	keys := testKeys(t)
	ctx := context.Background()
	helpdesk := start(t, Options{Dir: t.TempDir(), Name: "Helpdesk", Listen: "127.0.0.1:0", Keys: keys})
	settings := rtSettings(srv.URL, "General", srv.User)
	settings.Poll, settings.Timeout = 300*time.Millisecond, 10*time.Second
	if check := helpdesk.TestTracker(ctx, settings, secret(srv.Password)); !check.OK {
		t.Fatalf("test connection: %s", check.Summary)
	}
	if err := helpdesk.SaveTrackerSettings(ctx, settings, secret(srv.Password)); err != nil {
		t.Fatalf("save rt settings: %v", err)
	}
	dev := start(t, Options{Dir: t.TempDir(), Name: "Dev", Listen: "127.0.0.1:0", Prefix: "DEV", Keys: keys})
	pair(t, helpdesk, dev)

	// A ticket opened at the helpdesk reaches the partner, with RT's lifecycle mapped.
	var created struct {
		ID string `json:"id"`
	}
	rtDirect(t, srv, "POST", "/ticket", map[string]any{"Queue": "General", "Subject": "VPN drops every hour", "Content": "Since Monday, says the requester.", "ContentType": "text/plain"}, &created)
	eventually(t, 60*time.Second, "rt ticket in dev", func() (bool, string) {
		it, ok := findItem(t, dev, "VPN drops every hour")
		return ok && it.Status == "open" && strings.Contains(it.Description, "Since Monday"), fmt.Sprintf("%+v", it)
	})

	// An update in RT follows.
	rtDirect(t, srv, "PUT", "/ticket/"+created.ID, map[string]any{"Subject": "VPN drops every hour (Berlin office)", "Status": "open"}, nil)
	eventually(t, 60*time.Second, "rt update in dev", func() (bool, string) {
		it, ok := findItem(t, dev, "VPN drops every hour (Berlin office)")
		return ok && it.Status == "in progress", fmt.Sprintf("%+v", it)
	})

	// A reply written in RT arrives with its author; an internal RT comment stays in RT.
	rtDirect(t, srv, "POST", "/ticket/"+created.ID+"/correspond", map[string]any{"Content": "We are looking into it.", "ContentType": "text/plain"}, nil)
	rtDirect(t, srv, "POST", "/ticket/"+created.ID+"/comment", map[string]any{"Content": "Internal: probably the new firewall.", "ContentType": "text/plain"}, nil)
	eventually(t, 60*time.Second, "rt reply in dev", func() (bool, string) {
		it, _ := findItem(t, dev, "VPN drops every hour (Berlin office)")
		for _, c := range it.Comments {
			if strings.Contains(c.Body, "We are looking into it.") && c.Author.Name != "" && c.Author.Name != "Tandem" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", it.Comments)
	})
	if it, _ := findItem(t, dev, "VPN drops every hour (Berlin office)"); len(it.Comments) != 1 {
		t.Errorf("dev comments: got %+v, want only the public reply (internal comments stay in RT)", it.Comments)
	}

	// An item and a comment made on the partner's side arrive in RT, with the author kept.
	it, err := dev.CreateItem(ctx, item.Item{Title: "Add SSO to the portal", Description: "Customer asks for SAML.", Status: "in progress", Priority: "high"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dev.AddComment(ctx, it.Key, item.Comment{Author: item.User{Name: "Dana Dev"}, Body: "Planned for sprint 12."}); err != nil {
		t.Fatal(err)
	}
	vpn, _ := findItem(t, dev, "VPN drops every hour (Berlin office)")
	if _, err := dev.AddComment(ctx, vpn.Key, item.Comment{Author: item.User{Name: "Dana Dev"}, Body: "Found it: the DHCP lease."}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "dev's item and comments in rt", func() (bool, string) {
		tickets := rtTickets(t, srv)
		sso, vpn := tickets["Add SSO to the portal"], tickets["VPN drops every hour (Berlin office)"]
		if len(sso) != 1 || len(vpn) != 1 {
			return false, fmt.Sprintf("sso %d vpn %d tickets", len(sso), len(vpn))
		}
		ok := sso[0].Status == "open" && sso[0].Priority == "high" && hasComment(sso[0], "Dana Dev", "Planned for sprint 12.") && hasComment(vpn[0], "Dana Dev", "Found it: the DHCP lease.")
		ok = ok && len(vpn[0].Comments) == 3 // the reply, the internal note, Dana's: nothing echoed back twice
		return ok, fmt.Sprintf("sso %+v\nvpn comments %+v", sso[0], vpn[0].Comments)
	})

	// RT stops answering: the partner's change waits in the helpdesk's inbox, then flows.
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume()
		}
	}()
	sso, _ := findItem(t, dev, "Add SSO to the portal")
	sso.Title = "Add SSO (SAML) to the portal"
	if _, err := dev.UpdateItem(ctx, sso); err != nil {
		t.Fatal(err)
	}
	// A new item too: its create reaches RT, but RT cannot answer before the request times
	// out; the retry must find that ticket instead of making a second one.
	if _, err := dev.CreateItem(ctx, item.Item{Title: "Order spare VPN tokens", Status: "open"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the changes wait at the helpdesk while rt is down", func() (bool, string) {
		c, _ := helpdesk.Connections(ctx)
		return len(c) == 1 && c[0].Inbox > 0, fmt.Sprintf("%+v", c)
	})
	eventually(t, 60*time.Second, "the create timed out and failed, to be retried", inboxHas(helpdesk, func(e QueueEntry) bool {
		return e.Kind == "create" && (e.State == QueueFailed || e.State == QueueRetrying)
	}))
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed = true
	eventually(t, 90*time.Second, "the waiting changes reach rt", func() (bool, string) {
		tickets := rtTickets(t, srv)
		return len(tickets["Add SSO (SAML) to the portal"]) == 1 && len(tickets["Order spare VPN tokens"]) >= 1, fmt.Sprintf("%v", keysOf(tickets))
	})

	// RT is shut down outright (connections refused, not left hanging): the partner's edit
	// fails with a message that names RT, waits, and flows once RT is back on its database.
	srv.Halt()
	restarted := false
	defer func() {
		if !restarted {
			srv.Restart(context.Background())
		}
	}()
	sso, _ = findItem(t, dev, "Add SSO (SAML) to the portal")
	sso.Priority = "low"
	if _, err := dev.UpdateItem(ctx, sso); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the edit fails while rt is down, saying why", inboxHas(helpdesk, func(e QueueEntry) bool {
		if (e.State == QueueFailed || e.State == QueueRetrying) && strings.Contains(e.LastError, "RT") {
			t.Logf("while rt is down the queue says: %s", e.LastError)
			return true
		}
		return false
	}))
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	eventually(t, 90*time.Second, "the edit reaches rt after its restart", func() (bool, string) {
		ts := rtTickets(t, srv)["Add SSO (SAML) to the portal"]
		return len(ts) == 1 && ts[0].Priority == "low", fmt.Sprintf("%+v", ts)
	})

	// Nothing was duplicated on either side, and nothing is still moving.
	eventually(t, 30*time.Second, "queues drained", func() (bool, string) {
		h, _ := helpdesk.Overview(ctx)
		d, _ := dev.Overview(ctx)
		return h.Queued == 0 && d.Queued == 0 && h.Failed == 0 && d.Failed == 0, fmt.Sprintf("helpdesk %+v dev %+v", h, d)
	})
	tickets := rtTickets(t, srv)
	if len(tickets) != 3 {
		t.Errorf("rt tickets: got %d (%v), want 3", len(tickets), keysOf(tickets))
	}
	for title, ts := range tickets {
		if len(ts) != 1 {
			t.Errorf("rt ticket %q exists %d times", title, len(ts))
		}
	}
	if items, _ := dev.Items(ctx); len(items) != 3 {
		t.Errorf("dev items: got %d, want 3", len(items))
	}
	d, _ := dev.Overview(ctx)
	if d.Twins != 3 {
		t.Errorf("dev twins: got %d, want 3", d.Twins)
	}
}

// inboxHas is a condition for eventually: a's only connection has an inbox event that match accepts.
func inboxHas(a *running, match func(QueueEntry) bool) func() (bool, string) {
	return func() (bool, string) {
		ctx := context.Background()
		c, _ := a.Connections(ctx)
		if len(c) != 1 {
			return false, fmt.Sprintf("%d connections, want 1", len(c))
		}
		in, _ := a.Queue(ctx, c[0].ID, "in")
		for _, e := range in {
			if match(e) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", in)
	}
}

func hasComment(it item.Item, author, body string) bool {
	for _, c := range it.Comments {
		if c.Author.Name == author && strings.TrimSpace(c.Body) == body {
			return true
		}
	}
	return false
}

func keysOf[V any](m map[string]V) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}

func TestTrackerSettingsSayWhatIsWrong(t *testing.T) {
	srv := rttest.Need(t, rtServer)
	a := start(t, Options{Dir: t.TempDir(), Keys: testKeys(t)})
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		s          TrackerSettings
		credential string
		want       string
	}{
		{"wrong password", rtSettings(srv.URL, "General", "root"), "nope", "401"},
		{"missing queue", rtSettings(srv.URL, "Helpdesk", "root"), srv.Password, "Helpdesk"},
		{"no credential stored", rtSettings(srv.URL, "General", "root"), "", "token or password in the keychain"},
		{"not a url", rtSettings("rt.example", "General", "root"), "x", "web address"},
	} {
		c := a.TestTracker(ctx, tc.s, secret(tc.credential))
		if c.OK || !strings.Contains(c.Summary, tc.want) {
			t.Errorf("%s: got ok=%v %q, want a failure mentioning %q", tc.name, c.OK, c.Summary, tc.want)
		}
	}
	// A rejected save changes nothing.
	if err := a.SaveTrackerSettings(ctx, rtSettings("rt.example", "General", ""), secret("x")); err == nil {
		t.Errorf("saving an invalid URL: no error")
	}
	if s, _ := a.TrackerSettings(ctx); s.Kind != TrackerEmbedded {
		t.Errorf("after a rejected save the tracker is %q, want embedded", s.Kind)
	}
}

// rtSettings are RT settings with a password (user set) or a token (user empty).
func rtSettings(url, queues, user string) TrackerSettings {
	v := map[string]string{"url": url, "queues": queues, "auth": rt.AuthToken}
	if user != "" {
		v["auth"], v["user"] = rt.AuthPassword, user
	}
	return TrackerSettings{Kind: TrackerRT, Values: v}
}

// secret is RT's credential as typed into Settings.
func secret(credential string) map[string]string { return map[string]string{"credential": credential} }

// A partner's comment edit arrives in RT, whose transactions cannot change, as a follow-up
// comment with the new text, and a deletion as a short internal note; neither comes back to
// the partner as a new comment.
func TestRTCommentEditsArriveAsNotes(t *testing.T) {
	srv := rttest.Need(t, rtServer)
	keys := testKeys(t)
	ctx := context.Background()
	helpdesk := start(t, Options{Dir: t.TempDir(), Name: "Helpdesk", Listen: "127.0.0.1:0", Keys: keys})
	settings := rtSettings(srv.URL, "General", srv.User)
	settings.Poll, settings.Timeout = 300*time.Millisecond, 10*time.Second
	if err := helpdesk.SaveTrackerSettings(ctx, settings, secret(srv.Password)); err != nil {
		t.Fatalf("save rt settings: %v", err)
	}
	dev := start(t, Options{Dir: t.TempDir(), Name: "Dev", Listen: "127.0.0.1:0", Prefix: "DEV", Keys: keys})
	pair(t, helpdesk, dev)

	title := fmt.Sprintf("Printer jams %d", time.Now().UnixNano())
	it, err := dev.CreateItem(ctx, item.Item{Title: title, Status: "open"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := dev.AddComment(ctx, it.Key, item.Comment{Author: item.User{Name: "Dana Dev"}, Body: "Paper tray 2 is bent."})
	if err != nil {
		t.Fatal(err)
	}
	ticket := func() item.Item {
		ts := rtTickets(t, srv)[title]
		if len(ts) != 1 {
			return item.Item{}
		}
		return ts[0]
	}
	eventually(t, 60*time.Second, "the comment in rt", func() (bool, string) {
		tk := ticket()
		return hasComment(tk, "Dana Dev", "Paper tray 2 is bent."), fmt.Sprintf("%+v", tk.Comments)
	})
	if _, err := dev.Local().EditComment(ctx, it.Key, c.ID, "Paper tray 2 is bent; tray 1 is fine."); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the edit as a follow-up in rt", func() (bool, string) {
		tk := ticket()
		for _, cm := range tk.Comments {
			if cm.Author.Name == "Dana Dev" && strings.Contains(cm.Body, "(edited comment #") && strings.Contains(cm.Body, "tray 1 is fine") {
				return len(tk.Comments) == 2, fmt.Sprintf("%+v", tk.Comments)
			}
		}
		return false, fmt.Sprintf("%+v", tk.Comments)
	})
	if _, err := dev.Local().DeleteComment(ctx, it.Key, c.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the deletion as a note in rt", func() (bool, string) {
		tk := ticket()
		for _, cm := range tk.Comments {
			if cm.Internal && strings.Contains(cm.Body, "deleted comment #") {
				return len(tk.Comments) == 3, fmt.Sprintf("%+v", tk.Comments)
			}
		}
		return false, fmt.Sprintf("%+v", tk.Comments)
	})
	// The notes stand for Dana's comment: nothing comes back to dev.
	eventually(t, 30*time.Second, "queues drained", func() (bool, string) {
		h, _ := helpdesk.Overview(ctx)
		d, _ := dev.Overview(ctx)
		return h.Queued == 0 && d.Queued == 0 && h.Failed == 0 && d.Failed == 0, fmt.Sprintf("helpdesk %+v dev %+v", h, d)
	})
	time.Sleep(2 * time.Second) // a few of the helpdesk's polls
	if got, _ := dev.Local().Get(ctx, it.Key); len(got.Comments) != 0 {
		t.Errorf("dev's item after the deletion: %+v; want no comments (the notes are never sent back)", got.Comments)
	}
}

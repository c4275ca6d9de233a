package rt

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/store"
	"github.com/tandemsync/tandem/core/trackers/connector"
	"github.com/tandemsync/tandem/core/trackers/httpx"
	"github.com/tandemsync/tandem/core/trackers/rt/rttest"
)

var srv *rttest.Server

func TestMain(m *testing.M) { os.Exit(rttest.Main(m, &srv)) }

// live returns a tracker on the shared RT for queue General, signed in as root.
func live(t testing.TB, mod ...func(*Config)) (*Tracker, *rttest.Server) {
	t.Helper()
	s := rttest.Need(t, srv)
	cfg := Config{URL: s.URL, Queues: []string{"General"}, User: s.User, Password: s.Password}
	for _, f := range mod {
		f(&cfg)
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr, s
}

// direct sends a REST 2 request to RT as user, as a person or another tool would.
func direct(t testing.TB, s *rttest.Server, user, pass, method, path string, in, out any) {
	t.Helper()
	c := httpx.New(httpx.Config{Tracker: "RT", Auth: httpx.BasicAuth(user, pass)})
	if err := c.DoJSON(context.Background(), method, s.URL+"/REST/2.0"+path, in, out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

// drain polls Changes from cur until it has seen want (bounded), returning all keys seen in
// order and the last cursor. RT hands out a second only once it is over, so this may wait.
func drain(t *testing.T, tr *Tracker, cur string, limit int, want ...string) ([]string, []item.Item, string) {
	t.Helper()
	var keys []string
	var items []item.Item
	for range 40 {
		its, next, err := tr.Changes(context.Background(), cur, limit)
		if err != nil {
			t.Fatalf("Changes(%q): %v", cur, err)
		}
		for _, it := range its {
			keys = append(keys, it.Key)
			items = append(items, it)
		}
		cur = next
		if len(its) == 0 && containsAll(keys, want) {
			return keys, items, cur
		}
		if len(its) == 0 {
			time.Sleep(250 * time.Millisecond)
		}
	}
	t.Fatalf("Changes never returned all of %v; got %v", want, keys)
	return nil, nil, ""
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func TestLiveApplyAndGet(t *testing.T) {
	tr, _ := live(t)
	ctx := context.Background()
	alice := item.User{ID: "alice@partner", Name: "Alice Smith", Email: "alice@partner.example"}
	res, err := tr.Apply(ctx, []engine.Write{{
		Item: item.Item{Title: "Printer on fire", Description: "Third floor.\nPlease hurry.",
			Status: "open", Priority: "high"},
		NewComments: []item.Comment{
			{ID: "p1", Author: alice, Body: "We are on it."},
			{ID: "p2", Author: alice, Body: "Internal: budget code 42", Internal: true},
		},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("Apply create: %v %v", err, res[0].Err)
	}
	key := res[0].Key
	if len(res[0].CommentIDs) != 2 {
		t.Fatalf("CommentIDs: got %v, want 2 ids", res[0].CommentIDs)
	}
	got, err := tr.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"title", got.Title, "Printer on fire"},
		{"description", got.Description, "Third floor.\nPlease hurry."},
		{"status", got.Status, "open"},
		{"priority", got.Priority, "high"},
		{"assignee", fmt.Sprint(got.Assignee), fmt.Sprint(item.User{})},
		{"reporter", got.Reporter.ID, "root"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("after create, %s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if len(got.Comments) != 2 {
		t.Fatalf("comments: got %+v, want 2", got.Comments)
	}
	for i, c := range got.Comments {
		if c.ID != res[0].CommentIDs[i] {
			t.Errorf("comment %d id: got %s, want the id Apply returned, %s", i, c.ID, res[0].CommentIDs[i])
		}
		if c.Author.Name != "Alice Smith" || c.Author.Email != "alice@partner.example" {
			t.Errorf("comment %d author: got %+v, want Alice Smith <alice@partner.example>", i, c.Author)
		}
		if wantInternal := i == 1; c.Internal != wantInternal {
			t.Errorf("comment %d internal: got %v, want %v", i, c.Internal, wantInternal)
		}
	}
	if got.Comments[0].Body != "We are on it." {
		t.Errorf("comment body: got %q, want the body without the author line", got.Comments[0].Body)
	}

	// Update only the named fields; the title stays although the write carries another.
	res, err = tr.Apply(ctx, []engine.Write{{
		Key:    key,
		Item:   item.Item{Title: "not written", Status: "stalled", Priority: "low", Assignee: item.User{ID: "root"}},
		Fields: []string{item.FieldStatus, item.FieldPriority, item.FieldAssignee},
	}})
	if err != nil || res[0].Err != nil || res[0].Key != key {
		t.Fatalf("Apply update: %v %+v", err, res[0])
	}
	got, err = tr.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "Printer on fire" || got.Status != "stalled" || got.Priority != "low" || got.Assignee.ID != "root" {
		t.Errorf("after update: got title %q status %q priority %q assignee %+v; want Printer on fire, stalled, low, root",
			got.Title, got.Status, got.Priority, got.Assignee)
	}

	// A bad status is refused with RT's own words and a permanent error; later writes go on.
	res, _ = tr.Apply(ctx, []engine.Write{
		{Key: key, Item: item.Item{Status: "bogus"}, Fields: []string{item.FieldStatus}},
		{Key: key, Item: item.Item{Title: "Printer fixed"}, Fields: []string{item.FieldTitle}},
	})
	if err := res[0].Err; err == nil || !strings.Contains(err.Error(), "isn't a valid status") || !isPermanent(err) {
		t.Errorf("bogus status: got %v, want a permanent error quoting RT", err)
	}
	if res[1].Err != nil {
		t.Errorf("write after a failed one: %v", res[1].Err)
	}
	if _, err := tr.Get(ctx, "999999"); err == nil || !isPermanent(err) {
		t.Errorf("Get of a missing ticket: got %v, want a permanent error", err)
	}
}

func isPermanent(err error) bool {
	var p interface{ Permanent() bool }
	for e := err; e != nil; {
		if pp, ok := e.(interface{ Permanent() bool }); ok {
			p = pp
			break
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	return p != nil && p.Permanent()
}

func TestLiveChanges(t *testing.T) {
	dir := t.TempDir()
	openStore := func() *store.Store {
		st, err := store.Open(dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := openStore()
	withMemory := func(c *Config) { c.PageSize, c.Memory = 2, st.Notebook("connectors", "rt "+c.URL) }
	tr, s := live(t, withMemory)
	ctx := context.Background()
	// Start from now: the cursor after everything that exists (once RT's second is over).
	time.Sleep(1100 * time.Millisecond)
	_, _, cur := drain(t, tr, "", 100)

	// A person creates three tickets and comments, straight in RT.
	if err := s.AddUser(ctx, "bob", "Bob Jones", "bob@example.com", "bobpassword1"); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 3 {
		var out struct{ ID string }
		direct(t, s, "root", "password", "POST", "/ticket", map[string]any{
			"Queue": "General", "Subject": fmt.Sprintf("direct %d", i), "Content": "body", "Requestor": "carol@example.com",
		}, &out)
		ids = append(ids, out.ID)
	}
	direct(t, s, "bob", "bobpassword1", "POST", "/ticket/"+ids[1]+"/correspond", map[string]any{"Content": "hello from bob", "ContentType": "text/plain"}, nil)

	keys, items, cur := drain(t, tr, cur, 1, ids...)
	// Ordered by LastUpdated then id; bob's answer may or may not move ids[1] to a later second.
	if sorted := slices.Sorted(slices.Values(keys)); !slices.Equal(sorted, ids) || keys[0] != ids[0] {
		t.Errorf("keys with limit 1: got %v, want %v once each, %s first", keys, ids, ids[0])
	}
	for _, it := range items {
		if it.Key == ids[1] {
			if len(it.Comments) != 1 || it.Comments[0].Author.ID != "bob" || it.Comments[0].Author.Name != "Bob Jones" {
				t.Errorf("bob's comment: got %+v, want one by bob (Bob Jones)", it.Comments)
			}
		}
		if it.Reporter.Email != "carol@example.com" {
			t.Errorf("ticket %s reporter: got %+v, want carol@example.com", it.Key, it.Reporter)
		}
	}

	// An update in RT comes again; nothing else does.
	direct(t, s, "root", "password", "PUT", "/ticket/"+ids[0], map[string]any{"Subject": "direct 0 renamed"}, nil)
	keys, items, cur = drain(t, tr, cur, 10, ids[0])
	if !slices.Equal(keys, ids[:1]) || items[0].Title != "direct 0 renamed" {
		t.Errorf("after an update: got %v, want only %s with the new title", keys, ids[0])
	}

	// Tandem's own write is not reported back, also by a tracker restarted on the same bbolt
	// file (its echo marks are durable), and its comment is known by id on the next read.
	res, err := tr.Apply(ctx, []engine.Write{{Key: ids[2], Item: item.Item{Title: "set by tandem"},
		Fields:      []string{item.FieldTitle},
		NewComments: []item.Comment{{Author: item.User{Name: "Dana Partner"}, Body: "from the partner"}}}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res[0].Err)
	}
	st.Close()
	st = openStore()
	defer st.Close()
	tr, _ = live(t, withMemory)
	time.Sleep(1100 * time.Millisecond) // let RT's second end, so a report would be due
	keys, _, cur = drain(t, tr, cur, 10)
	if len(keys) != 0 {
		t.Errorf("after Tandem's own write and a restart: got %v, want nothing", keys)
	}
	// Someone answers in RT after Tandem: the ticket comes, with Tandem's comment recognisable.
	direct(t, s, "bob", "bobpassword1", "POST", "/ticket/"+ids[2]+"/comment", map[string]any{"Content": "seen", "ContentType": "text/plain"}, nil)
	keys, items, _ = drain(t, tr, cur, 10, ids[2])
	if !slices.Equal(keys, ids[2:]) {
		t.Fatalf("after bob's comment: got %v, want %s", keys, ids[2])
	}
	cs := items[0].Comments
	if len(cs) != 2 || cs[0].ID != res[0].CommentIDs[0] || cs[0].Author.Name != "Dana Partner" || cs[1].Author.ID != "bob" {
		t.Errorf("comments: got %+v, want Dana Partner's (id %s) then bob's", cs, res[0].CommentIDs[0])
	}
}

func TestLiveToken(t *testing.T) {
	s := rttest.Need(t, srv)
	tok, err := s.Token(context.Background(), "root")
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := live(t, func(c *Config) { c.User, c.Token = "", tok })
	if c := tr.TestConnection(context.Background()); !c.OK() || c.User != "root" {
		t.Errorf("TestConnection with a token: got %+v, want OK as root", c)
	}
}

func TestLiveTestConnection(t *testing.T) {
	s := rttest.Need(t, srv)
	tests := []struct {
		name    string
		mod     func(*Config)
		wantOK  bool
		want    string
		reach   bool
		auth    bool
		missing []string
	}{
		{name: "ok", mod: func(*Config) {}, wantOK: true, want: "signed in as root, queues found: General", reach: true, auth: true},
		{name: "wrong password", mod: func(c *Config) { c.Password = "wrong" }, reach: true,
			want: "RT at " + s.URL + " rejected the credentials (401)"},
		{name: "wrong queue", mod: func(c *Config) { c.Queues = []string{"General", "Helpdesk"} }, reach: true, auth: true,
			want: `has no queue "Helpdesk" that root can see`, missing: []string{"Helpdesk"}},
		{name: "dead port", mod: func(c *Config) { c.URL = deadURL(t) }, want: "is not reachable: check the address and that RT is running"},
		{name: "not RT", mod: func(c *Config) { c.URL = s.URL + "/nothing" }, reach: true, want: "answered, but not as RT's REST 2 API does"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, _ := live(t, tc.mod)
			c := tr.TestConnection(context.Background())
			if c.OK() != tc.wantOK || !strings.Contains(c.String(), tc.want) || c.Reachable != tc.reach || c.AuthOK != tc.auth ||
				!slices.Equal(c.Missing, tc.missing) {
				t.Errorf("got %+v (%q); want ok %v, reachable %v, auth %v, missing %v, message containing %q",
					c, c, tc.wantOK, tc.reach, tc.auth, tc.missing, tc.want)
			}
		})
	}
}

func deadURL(t *testing.T) string {
	l := httpTestListener(t)
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// BenchmarkAPIEconomy reports the requests one synced change and one idle poll cost.
func BenchmarkAPIEconomy(b *testing.B) {
	tr, s := live(b)
	ctx := context.Background()
	its, cur, err := tr.Changes(ctx, "", 1000)
	_ = its
	if err != nil {
		b.Fatal(err)
	}
	var change, write, echo, idle, n int64
	count := func(total *int64, f func()) {
		before := tr.Requests()
		f()
		*total += tr.Requests() - before
	}
	for i := 0; i < b.N; i++ {
		n++
		var out struct{ ID string }
		direct(b, s, "root", "password", http.MethodPost, "/ticket", map[string]any{"Queue": "General", "Subject": "bench", "Content": "x"}, &out)
		time.Sleep(1100 * time.Millisecond) // RT reports a second once it is over
		count(&change, func() {
			got, next, err := tr.Changes(ctx, cur, 100)
			if err != nil || len(got) != 1 {
				b.Fatalf("Changes: %d items, %v; want 1", len(got), err)
			}
			cur = next
		})
		// The partner answers: a status change and a reply, as one write.
		count(&write, func() {
			res, err := tr.Apply(ctx, []engine.Write{{Key: out.ID, Item: item.Item{Status: "stalled"}, Fields: []string{item.FieldStatus},
				NewComments: []item.Comment{{ID: fmt.Sprint("p", i), Author: item.User{Name: "Dana Dev"}, Body: "On it."}}}})
			if err != nil || res[0].Err != nil {
				b.Fatalf("Apply: %v / %v", err, res[0].Err)
			}
		})
		time.Sleep(1100 * time.Millisecond)
		count(&echo, func() {
			got, next, err := tr.Changes(ctx, cur, 100)
			if err != nil || len(got) != 0 {
				b.Fatalf("poll after Tandem's write: %d items, %v; want its echo skipped", len(got), err)
			}
			cur = next
		})
		count(&idle, func() {
			got, next, err := tr.Changes(ctx, cur, 100)
			if err != nil || len(got) != 0 {
				b.Fatalf("idle Changes: %d items, %v", len(got), err)
			}
			cur = next
		})
	}
	b.ReportMetric(float64(change)/float64(n), "req/change")
	b.ReportMetric(float64(write)/float64(n), "req/write")
	b.ReportMetric(float64(echo)/float64(n), "req/echo-poll")
	b.ReportMetric(float64(idle)/float64(n), "req/idle-poll")
}

// A create retried after its answer was lost adopts the ticket the first attempt made.
func TestLiveRetriedCreateAdoptsTicket(t *testing.T) {
	tr, s := live(t)
	ctx := context.Background()
	subject := fmt.Sprintf("lost answer %d", time.Now().UnixNano())
	var first struct {
		ID string `json:"id"`
	}
	direct(t, s, "root", "password", http.MethodPost, "/ticket", map[string]any{"Queue": "General", "Subject": subject, "Content": "made by the first attempt"}, &first)

	res, err := tr.Apply(ctx, []engine.Write{{Item: item.Item{Title: subject, Status: "open"}, Retry: true}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("retried create: %v / %v", err, res[0].Err)
	}
	if res[0].Key != first.ID {
		t.Errorf("retried create: got ticket %s, want the first attempt's %s", res[0].Key, first.ID)
	}
	// Not a retry, or a retry of something never created: a new ticket.
	for _, w := range []engine.Write{{Item: item.Item{Title: subject}}, {Item: item.Item{Title: subject + " other"}, Retry: true}} {
		res, err := tr.Apply(ctx, []engine.Write{w})
		if err != nil || res[0].Err != nil {
			t.Fatalf("create %q: %v / %v", w.Item.Title, err, res[0].Err)
		}
		if res[0].Key == first.ID {
			t.Errorf("create %q (retry %v) reused ticket %s", w.Item.Title, w.Retry, first.ID)
		}
	}
}

// A retried create never adopts a ticket already linked to another partner item, even one
// with the same subject: it takes the newest unlinked one, or makes a new ticket.
func TestLiveRetriedCreateSkipsLinkedTickets(t *testing.T) {
	tr, s := live(t)
	ctx := context.Background()
	subject := fmt.Sprintf("printer on floor 2 is jammed %d", time.Now().UnixNano())
	var older, newer struct {
		ID string `json:"id"`
	}
	direct(t, s, "root", "password", http.MethodPost, "/ticket", map[string]any{"Queue": "General", "Subject": subject}, &older)
	direct(t, s, "root", "password", http.MethodPost, "/ticket", map[string]any{"Queue": "General", "Subject": subject}, &newer)

	linkedNewer := func(key string) bool { return key == newer.ID }
	res, err := tr.Apply(ctx, []engine.Write{{Item: item.Item{Title: subject}, Retry: true, Linked: linkedNewer}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("retried create: %v / %v", err, res[0].Err)
	}
	if res[0].Key != older.ID {
		t.Errorf("retried create with ticket %s linked: got %s, want the unlinked %s", newer.ID, res[0].Key, older.ID)
	}

	linkedBoth := func(key string) bool { return key == newer.ID || key == older.ID }
	res, err = tr.Apply(ctx, []engine.Write{{Item: item.Item{Title: subject}, Retry: true, Linked: linkedBoth}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("retried create: %v / %v", err, res[0].Err)
	}
	if res[0].Key == older.ID || res[0].Key == newer.ID || res[0].Key == "" {
		t.Errorf("retried create with every candidate linked: got %q, want a new ticket", res[0].Key)
	}
}

// A retried write finds the comments its earlier attempt posted and links them instead of
// posting them twice, but never takes a comment already linked to another partner comment.
func TestLiveRetriedCommentsAreNotPostedTwice(t *testing.T) {
	tr, s := live(t)
	ctx := context.Background()
	var tk struct {
		ID string `json:"id"`
	}
	direct(t, s, "root", "password", http.MethodPost, "/ticket", map[string]any{"Queue": "General", "Subject": fmt.Sprintf("retried comments %d", time.Now().UnixNano())}, &tk)
	ann := item.User{Name: "Ann Partner", Email: "ann@partner.example"}
	post := func(body string) {
		direct(t, s, "root", "password", http.MethodPost, "/ticket/"+tk.ID+"/correspond", map[string]any{"Content": connector.WithAuthor(ann, body), "ContentType": "text/plain"}, nil)
	}
	post("+1") // synced earlier, linked to the partner's first "+1"
	post("+1") // posted by the attempt whose answer was lost
	before, err := tr.Get(ctx, tk.ID)
	if err != nil || len(before.Comments) != 2 {
		t.Fatalf("ticket before the retry: %+v, %v", before.Comments, err)
	}
	earlier, lost := before.Comments[0].ID, before.Comments[1].ID

	w := engine.Write{Key: tk.ID, Retry: true, Known: map[string]bool{earlier: true},
		NewComments: []item.Comment{{ID: "p2", Author: ann, Body: "+1"}, {ID: "p3", Author: ann, Body: "Any news?"}}}
	res, err := tr.Apply(ctx, []engine.Write{w})
	if err != nil || res[0].Err != nil {
		t.Fatalf("retried write: %v / %v", err, res[0].Err)
	}
	after, err := tr.Get(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Comments) != 3 {
		t.Fatalf("comments after the retry: got %d (%+v), want 3: the lost attempt's +1 is reused, only the new one posted", len(after.Comments), after.Comments)
	}
	if len(res[0].CommentIDs) != 2 || res[0].CommentIDs[0] != lost || res[0].CommentIDs[1] != after.Comments[2].ID {
		t.Errorf("comment ids: got %v, want [%s %s]", res[0].CommentIDs, lost, after.Comments[2].ID)
	}

	// Every candidate linked already: a retried "+1" is a new comment.
	w = engine.Write{Key: tk.ID, Retry: true, Known: map[string]bool{earlier: true, lost: true},
		NewComments: []item.Comment{{ID: "p4", Author: ann, Body: "+1"}}}
	if res, err = tr.Apply(ctx, []engine.Write{w}); err != nil || res[0].Err != nil {
		t.Fatalf("second retried write: %v / %v", err, res[0].Err)
	}
	if after, _ = tr.Get(ctx, tk.ID); len(after.Comments) != 4 {
		t.Errorf("comments after a retry whose candidates are all linked: got %d, want 4", len(after.Comments))
	}
}

// A rule chooses the queue through the custom field Queue: new tickets are created there,
// an update moves them, the queue is read back, and a queue Tandem does not sync is refused
// with a permanent error instead of sending the ticket out of sight.
func TestLiveQueueIsReadAndWritten(t *testing.T) {
	_, s := live(t)
	ctx := context.Background()
	support := fmt.Sprintf("Support %d", time.Now().UnixNano())
	direct(t, s, "root", "password", http.MethodPost, "/queue", map[string]any{"Name": support}, nil)
	tr, _ := live(t, func(c *Config) { c.Queues = []string{"General", support} })

	res, err := tr.Apply(ctx, []engine.Write{{Item: item.Item{Title: "Needs second line", Custom: map[string]string{QueueField: strings.ToLower(support)}}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("create in %s: %v / %v", support, err, res[0].Err)
	}
	got, err := tr.Get(ctx, res[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Custom[QueueField] != support {
		t.Errorf("new ticket's queue: got %q, want %q", got.Custom[QueueField], support)
	}

	got.Custom[QueueField] = "General"
	res2, err := tr.Apply(ctx, []engine.Write{{Key: got.Key, Item: got, Fields: []string{item.CustomField(QueueField)}}})
	if err != nil || res2[0].Err != nil {
		t.Fatalf("move to General: %v / %v", err, res2[0].Err)
	}
	if got, _ = tr.Get(ctx, got.Key); got.Custom[QueueField] != "General" {
		t.Errorf("queue after the move: got %q, want General", got.Custom[QueueField])
	}

	got.Custom[QueueField] = "Nowhere"
	res3, err := tr.Apply(ctx, []engine.Write{{Key: got.Key, Item: got, Fields: []string{item.CustomField(QueueField)}}})
	if err != nil {
		t.Fatal(err)
	}
	if !isPermanent(res3[0].Err) || !strings.Contains(res3[0].Err.Error(), "not one of the synced queues") {
		t.Errorf("move to a queue not synced: got %v, want a permanent error naming the synced queues", res3[0].Err)
	}
	if got, _ = tr.Get(ctx, got.Key); got.Custom[QueueField] != "General" {
		t.Errorf("queue after a refused move: got %q, want General", got.Custom[QueueField])
	}
}

// RT cannot change or delete a transaction: a partner's comment edit arrives as a follow-up
// comment with the new text, a deletion as a short internal note; both are answered as
// NoteIDs, so the engine never sends them back. Without the rule's leave, they are refused.
func TestLiveCommentEditsAndDeletionsAsNotes(t *testing.T) {
	tr, _ := live(t)
	ctx := context.Background()
	ann := item.User{Name: "Ann Partner", Email: "ann@partner.example"}
	res, err := tr.Apply(ctx, []engine.Write{{Item: item.Item{Title: fmt.Sprintf("comment notes %d", time.Now().UnixNano())},
		NewComments: []item.Comment{{ID: "p1", Author: ann, Body: "The printer smokes."}, {ID: "p2", Author: ann, Body: "Internal: ask facilities", Internal: true}}}})
	if err != nil || res[0].Err != nil || len(res[0].CommentIDs) != 2 {
		t.Fatalf("create with comments: %v / %+v", err, res)
	}
	key, first, second := res[0].Key, res[0].CommentIDs[0], res[0].CommentIDs[1]

	edit := engine.Write{Key: key, EditComments: []item.Comment{{ID: first, Author: ann, Body: "The printer smokes and beeps."}}, DeleteComments: []string{second}}
	res, err = tr.Apply(ctx, []engine.Write{edit})
	if err != nil {
		t.Fatal(err)
	}
	if !isPermanent(res[0].Err) {
		t.Errorf("edits without CommentNotes: %v, want a permanent error", res[0].Err)
	}
	edit.CommentNotes = true
	res, err = tr.Apply(ctx, []engine.Write{edit})
	if err != nil || res[0].Err != nil {
		t.Fatalf("edit and delete as notes: %v / %v", err, res[0].Err)
	}
	got, err := tr.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Comments) != 4 || len(res[0].NoteIDs) != 2 {
		t.Fatalf("after the notes: %d comments (%+v), note ids %v; want the 2 originals kept and 2 notes", len(got.Comments), got.Comments, res[0].NoteIDs)
	}
	editNote, delNote := got.Comments[2], got.Comments[3]
	if editNote.ID != res[0].NoteIDs[0] || delNote.ID != res[0].NoteIDs[1] {
		t.Errorf("note ids %v, comments %s and %s", res[0].NoteIDs, editNote.ID, delNote.ID)
	}
	if editNote.Author.Name != "Ann Partner" || editNote.Internal || !strings.Contains(editNote.Body, "edited comment #"+first) || !strings.Contains(editNote.Body, "smokes and beeps") {
		t.Errorf("edit note %+v: want Ann's correspondence naming the comment, with the new text", editNote)
	}
	if !delNote.Internal || !strings.Contains(delNote.Body, "deleted comment #"+second) {
		t.Errorf("deletion note %+v: want an internal note naming the comment", delNote)
	}
}

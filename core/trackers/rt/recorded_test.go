package rt

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
)

// cannedRT serves RT REST 2 answers as recorded from RT 5.0.3: five tickets in pages of two.
// fail, when set, answers instead of the nth tickets request (1-based).
type cannedRT struct {
	searches atomic.Int64
	fail     map[int64]func(w http.ResponseWriter)
}

const emptyPage = `{"per_page":100,"pages":0.0,"items":[],"total":0,"count":0,"page":1}`

func (c *cannedRT) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	switch {
	case r.URL.Path == "/REST/2.0/tickets":
		n := c.searches.Add(1)
		if f := c.fail[n]; f != nil {
			f(w)
			return
		}
		var page, only int
		fmt.Sscan(r.URL.Query().Get("page"), &page)
		fmt.Sscanf(r.URL.Query().Get("query"), "id = %d", &only)
		from, to := page*2-1, min(page*2, 5)
		if only > 0 {
			from, to = only, only
		}
		var items []string
		for id := from; id <= to; id++ {
			items = append(items, fmt.Sprintf(`{"id":"%d","type":"ticket","Subject":"t%d","Status":"open","Priority":"50",
"Owner":{"id":"Nobody","Name":"Nobody","RealName":"Nobody in particular","EmailAddress":""},
"Requestor":[{"id":"carol@example.com","Name":"carol@example.com","RealName":"","EmailAddress":"carol@example.com"}],
"Creator":{"id":"root","Name":"root","RealName":"Enoch Root","EmailAddress":"root@localhost"},
"Queue":{"id":"1","Name":"General"},"Created":"2020-01-01T00:00:00Z","LastUpdated":"2020-01-01T00:00:0%dZ",
"CustomFields":[{"id":"1","name":"Site","type":"Freeform","values":["Berlin"]}]}`, id, id, (id+1)/2))
		}
		fmt.Fprintf(w, `{"per_page":2,"pages":3,"total":5,"count":%d,"page":%d,"items":[%s]}`, len(items), page, strings.Join(items, ","))
	default: // transactions and attachments: none
		fmt.Fprint(w, emptyPage)
	}
}

func canned(t *testing.T, c *cannedRT) *Tracker {
	t.Helper()
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	tr, err := New(Config{URL: srv.URL, Queues: []string{"General"}, Token: "1-1-abc", PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	tr.hc = tr.hc.WithoutWaiting() // no real sleeps in unit tests
	return tr
}

func TestRecordedPaging(t *testing.T) {
	tr := canned(t, &cannedRT{})
	var keys []string
	cur := ""
	for range 10 {
		items, next, err := tr.Changes(context.Background(), cur, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			keys = append(keys, it.Key)
			if it.Custom["Site"] != "Berlin" || it.Priority != "medium" || it.Reporter.Email != "carol@example.com" || !it.Assignee.IsZero() {
				t.Errorf("ticket %s: got %+v, want Site Berlin, medium, reporter carol, no assignee", it.Key, it)
			}
		}
		if len(items) == 0 {
			break
		}
		cur = next
	}
	if got := strings.Join(keys, ","); got != "1,2,3,4,5" {
		t.Errorf("keys over pages: got %s, want 1,2,3,4,5", got)
	}
	if want := "rt1:1577836803:5"; cur != want {
		t.Errorf("final cursor: got %q, want %q", cur, want)
	}
}

func TestRecordedErrors(t *testing.T) {
	status := func(code int, hdr, body string) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			if hdr != "" {
				w.Header().Set("Retry-After", hdr)
			}
			w.WriteHeader(code)
			fmt.Fprint(w, body)
		}
	}
	tests := []struct {
		name     string
		fail     map[int64]func(http.ResponseWriter)
		wantErr  string
		wantPerm bool
		wantKeys int
	}{
		{name: "429 then success", fail: map[int64]func(http.ResponseWriter){1: status(429, "1", "")}, wantKeys: 2},
		{name: "503 then success", fail: map[int64]func(http.ResponseWriter){1: status(503, "", "")}, wantKeys: 2},
		{name: "503 for ever", fail: map[int64]func(http.ResponseWriter){1: status(503, "", ""), 2: status(503, "", ""),
			3: status(503, "", ""), 4: status(503, "", "")}, wantErr: "had a server error on GET /REST/2.0/tickets (503 Service Unavailable)"},
		{name: "malformed JSON", fail: map[int64]func(http.ResponseWriter){1: status(200, "", `{"items":[{"id":`)},
			wantErr: "sent an answer to GET /REST/2.0/tickets that is not valid JSON"},
		{name: "401", fail: map[int64]func(http.ResponseWriter){1: status(401, "", `{"message":"Unauthorized"}`)},
			wantErr: "rejected the credentials (401): Unauthorized: check the token in Settings", wantPerm: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := canned(t, &cannedRT{fail: tc.fail})
			items, next, err := tr.Changes(context.Background(), "rt1:10:", 2)
			if tc.wantErr == "" {
				if err != nil || len(items) != tc.wantKeys {
					t.Fatalf("got %d items, %v; want %d, no error", len(items), err, tc.wantKeys)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
			if len(items) != 0 || next != "rt1:10:" {
				t.Errorf("on error got %d items and cursor %q; want none and the cursor unchanged", len(items), next)
			}
			if isPermanent(err) != tc.wantPerm {
				t.Errorf("permanent: got %v, want %v", isPermanent(err), tc.wantPerm)
			}
		})
	}
}

func TestCursorAndMarker(t *testing.T) {
	for _, s := range []string{"", "rt1:0:", "rt1:1577836800:1,2"} {
		c, err := parseCursor(s)
		if err != nil || (s != "" && c.String() != s) {
			t.Errorf("parseCursor(%q): got %v, %v", s, c, err)
		}
	}
	for _, s := range []string{"x", "rt1:abc:", "rt1:1:a"} {
		if _, err := parseCursor(s); err == nil {
			t.Errorf("parseCursor(%q): want an error", s)
		}
	}
	_ = time.Second
}

// writeRT answers a write to ticket 7 and then lists the ticket's transactions, newest first,
// as RT 5 does; others acted on the ticket right after Tandem when busy is set.
type writeRT struct{ busy bool }

func (c *writeRT) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	switch {
	case r.Method == http.MethodPut && r.URL.Path == "/REST/2.0/ticket/7":
		fmt.Fprint(w, `["Status changed from 'new' to 'open'"]`)
	case r.Method == http.MethodPost && r.URL.Path == "/REST/2.0/ticket/7/correspond":
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `["Correspondence added"]`)
	case r.URL.Path == "/REST/2.0/transactions":
		txn := func(id int, typ, who string) string {
			return fmt.Sprintf(`{"id":"%d","type":"transaction","Type":"%s","Creator":{"id":"%s","Name":"%s"}}`, id, typ, who, who)
		}
		// RT's scrips add transactions of their own after a reply, as RT_System.
		items := []string{txn(104, "Status", "RT_System"), txn(103, "EmailRecord", "RT_System"),
			txn(102, "Correspond", "tandem"), txn(101, "Status", "tandem"), txn(90, "Create", "ann")}
		if c.busy { // Ann answered the ticket between Tandem's write and its read
			items = append([]string{txn(106, "EmailRecord", "RT_System"), txn(105, "Correspond", "ann")}, items...)
		}
		fmt.Fprintf(w, `{"per_page":20,"pages":1,"total":%d,"count":%d,"page":1,"items":[%s]}`, len(items), len(items), strings.Join(items, ","))
	default:
		http.NotFound(w, r)
	}
}

// Tandem's own comment is told from a person's posted at the same moment, and a ticket that
// someone else touched after Tandem's write carries no echo mark, so their change is read.
func TestWriteTellsOwnTransactionsFromOthers(t *testing.T) {
	for _, busy := range []bool{false, true} {
		srv := httptest.NewServer(&writeRT{busy: busy})
		tr, err := New(Config{URL: srv.URL, Queues: []string{"General"}, User: "tandem", Password: "pw"})
		if err != nil {
			t.Fatal(err)
		}
		tr.hc = tr.hc.WithoutWaiting()
		res, err := tr.Apply(context.Background(), []engine.Write{{Key: "7", Item: item.Item{Status: "open"}, Fields: []string{item.FieldStatus},
			NewComments: []item.Comment{{ID: "p1", Author: item.User{Name: "Dana Dev"}, Body: "On it."}}}})
		srv.Close()
		if err != nil || res[0].Err != nil {
			t.Fatalf("busy %v: write: %v / %v", busy, err, res[0].Err)
		}
		if want := []string{"102"}; !slices.Equal(res[0].CommentIDs, want) {
			t.Errorf("busy %v: comment ids %v, want %v (Tandem's own, not Ann's)", busy, res[0].CommentIDs, want)
		}
		mark, marked := tr.own.Get("7")
		switch {
		case !busy && (!marked || mark != "104"):
			t.Errorf("quiet ticket: echo mark %q (set %v), want 104, the newest", mark, marked)
		case busy && marked:
			t.Errorf("ticket Ann touched after Tandem's write: echo mark %s set; her reply would be skipped as Tandem's echo", mark)
		}
	}
}

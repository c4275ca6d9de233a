package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/store"
)

// open opens the tracker on a real bbolt file in dir; the store is closed when the test ends.
func open(t testing.TB, dir string, opt Options) (*Tracker, *store.Store) {
	t.Helper()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tr, err := Open(st, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return tr, st
}

func newTracker(t testing.TB) *Tracker {
	tr, _ := open(t, t.TempDir(), Options{})
	return tr
}

func mustCreate(t testing.TB, tr *Tracker, title string) item.Item {
	t.Helper()
	it, err := tr.Create(context.Background(), item.Item{Title: title})
	if err != nil {
		t.Fatalf("Create(%q): %v", title, err)
	}
	return it
}

func isPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

func keys(items []item.Item) []string {
	var ks []string
	for _, it := range items {
		ks = append(ks, it.Key)
	}
	return ks
}

func fullItem() item.Item {
	return item.Item{
		Title:       "Printer on fire",
		Description: "Third floor, the big one.\nSmoke visible.",
		Status:      "in progress",
		Priority:    "highest",
		Labels:      []string{"hardware", "urgent"},
		Assignee:    item.User{ID: "ana", Name: "Ana Lima", Email: "ana@example.com"},
		Reporter:    item.User{ID: "bo", Name: "Bo Berg"},
		Custom:      map[string]string{"site": "Lisbon", "asset": "PR-7"},
		Comments: []item.Comment{
			{Author: item.User{ID: "bo", Name: "Bo Berg"}, Body: "It smells.", Internal: true},
			{Author: item.User{ID: "ana"}, Body: "On my way."},
		},
	}
}

func TestCreateGetRoundTrip(t *testing.T) {
	ctx := context.Background()
	tr := newTracker(t)
	in := fullItem()
	got, err := tr.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != "TDM-1" {
		t.Errorf("Key: got %q, want TDM-1", got.Key)
	}
	if got.Created.IsZero() || !got.Updated.Equal(got.Created) {
		t.Errorf("times: got created %v updated %v, want both set and equal", got.Created, got.Updated)
	}
	want := in.Clone()
	want.Key, want.Created, want.Updated = got.Key, got.Created, got.Updated
	if len(got.Comments) != 2 {
		t.Fatalf("comments: got %d, want 2", len(got.Comments))
	}
	for i := range want.Comments {
		if got.Comments[i].ID == "" || got.Comments[i].Created.IsZero() {
			t.Errorf("comment %d: got id %q created %v, want both assigned", i, got.Comments[i].ID, got.Comments[i].Created)
		}
		want.Comments[i].ID, want.Comments[i].Created = got.Comments[i].ID, got.Comments[i].Created
	}
	if got.Comments[0].ID == got.Comments[1].ID {
		t.Errorf("comment ids: both %q, want distinct", got.Comments[0].ID)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Create:\n got %+v\nwant %+v", got, want)
	}
	stored, err := tr.Get(ctx, got.Key)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stored, got) {
		t.Errorf("Get:\n got %+v\nwant %+v", stored, got)
	}
}

func TestCreateDefaultsAndValidation(t *testing.T) {
	ctx := context.Background()
	tr := newTracker(t)
	tests := []struct {
		name               string
		in                 item.Item
		wantErr            bool
		wantStatus, wantPr string
	}{
		{"defaults: open, and no priority", item.Item{Title: "a"}, false, "open", ""},
		{"unknown status kept", item.Item{Title: "a", Status: "Triage", Priority: "P1"}, false, "Triage", "P1"},
		{"no title", item.Item{Description: "x"}, true, "", ""},
		{"blank title", item.Item{Title: "  \t"}, true, "", ""},
		{"empty comment", item.Item{Title: "a", Comments: []item.Comment{{Body: " "}}}, true, "", ""},
		{"empty custom name", item.Item{Title: "a", Custom: map[string]string{"": "x"}}, true, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := tr.Count(ctx)
			got, err := tr.Create(ctx, tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalid) || !isPermanent(err) {
					t.Fatalf("Create: got err %v, want a permanent ErrInvalid", err)
				}
				if after, _ := tr.Count(ctx); after != before {
					t.Errorf("Count after rejected create: got %d, want %d", after, before)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.wantStatus || got.Priority != tc.wantPr {
				t.Errorf("got status %q priority %q, want %q %q", got.Status, got.Priority, tc.wantStatus, tc.wantPr)
			}
		})
	}
	// Rejected creates must not burn item numbers.
	if it := mustCreate(t, tr, "next"); it.Key != "TDM-3" {
		t.Errorf("key after rejected creates: got %s, want TDM-3", it.Key)
	}
}

func TestUpdateReplacesFieldsKeepsComments(t *testing.T) {
	ctx := context.Background()
	tr := newTracker(t)
	orig, err := tr.Create(ctx, fullItem())
	if err != nil {
		t.Fatal(err)
	}
	upd := item.Item{
		Key:         orig.Key,
		Title:       "Printer fixed",
		Description: "Replaced the fuser.",
		Status:      "resolved",
		Priority:    "low",
		Labels:      []string{"hardware"},
		Assignee:    item.User{ID: "cy"},
		Reporter:    item.User{ID: "bo", Name: "Bo Berg", Email: "bo@example.com"},
		Custom:      map[string]string{"site": "Porto", "cost": "40"},
		Comments:    []item.Comment{{Body: "ignored by Update"}},
	}
	got, err := tr.Update(ctx, upd)
	if err != nil {
		t.Fatal(err)
	}
	want := upd
	want.Comments = orig.Comments
	want.Created, want.Updated = orig.Created, got.Updated
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Update:\n got %+v\nwant %+v", got, want)
	}
	if got.Updated.Before(orig.Updated) {
		t.Errorf("Updated: got %v, want not before %v", got.Updated, orig.Updated)
	}
	stored, err := tr.Get(ctx, orig.Key)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stored, got) {
		t.Errorf("Get after Update:\n got %+v\nwant %+v", stored, got)
	}

	for _, bad := range []item.Item{{Title: "no key"}, {Key: "TDM-9", Title: "x"}, {Key: orig.Key, Title: ""}} {
		if _, err := tr.Update(ctx, bad); !isPermanent(err) {
			t.Errorf("Update(%q, title %q): got err %v, want a permanent error", bad.Key, bad.Title, err)
		}
	}
}

func TestAddComment(t *testing.T) {
	ctx := context.Background()
	tr := newTracker(t)
	a := mustCreate(t, tr, "a")
	b := mustCreate(t, tr, "b")
	author := item.User{ID: "partner:zoe", Name: "Zoe (via BLUE)"}
	c1, err := tr.AddComment(ctx, a.Key, item.Comment{ID: "ignored", Author: author, Body: "first", Internal: true})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := tr.AddComment(ctx, b.Key, item.Comment{Body: "second"})
	if err != nil {
		t.Fatal(err)
	}
	if c1.ID == "" || c1.ID == "ignored" || c1.ID == c2.ID || c1.Created.IsZero() {
		t.Errorf("ids: got %q and %q created %v, want distinct tracker ids and a time", c1.ID, c2.ID, c1.Created)
	}
	if c1.Author != author || c1.Body != "first" || !c1.Internal {
		t.Errorf("comment: got %+v, want author %+v body first internal", c1, author)
	}
	got, err := tr.Get(ctx, a.Key)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Comments) != 1 || !reflect.DeepEqual(got.Comments[0], c1) {
		t.Errorf("stored comments: got %+v, want [%+v]", got.Comments, c1)
	}
	if got.Title != "a" {
		t.Errorf("title after comment: got %q, want a", got.Title)
	}
	if _, err := tr.AddComment(ctx, "TDM-77", item.Comment{Body: "x"}); !errors.Is(err, ErrNotFound) || !isPermanent(err) {
		t.Errorf("AddComment to unknown item: got %v, want permanent ErrNotFound", err)
	}
	if _, err := tr.AddComment(ctx, a.Key, item.Comment{Body: ""}); !errors.Is(err, ErrInvalid) {
		t.Errorf("AddComment empty body: got %v, want ErrInvalid", err)
	}
}

func TestGetNotFound(t *testing.T) {
	tr := newTracker(t)
	mustCreate(t, tr, "a")
	for _, key := range []string{"TDM-2", "TDM-0", "TDM-01", "TDM-", "tdm-1", "BLUE-1", "1", "", "TDM-1x"} {
		_, err := tr.Get(context.Background(), key)
		if !errors.Is(err, ErrNotFound) || !isPermanent(err) {
			t.Errorf("Get(%q): got %v, want permanent ErrNotFound", key, err)
			continue
		}
		if key != "" && !strings.Contains(err.Error(), key) {
			t.Errorf("Get(%q): error %q does not name the key", key, err)
		}
	}
}

func TestChangesOrderDedupAndCursor(t *testing.T) {
	ctx := context.Background()
	tr := newTracker(t)
	a := mustCreate(t, tr, "a")
	b := mustCreate(t, tr, "b")
	c := mustCreate(t, tr, "c")
	a.Title = "a2"
	if _, err := tr.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.AddComment(ctx, b.Key, item.Comment{Body: "hi"}); err != nil {
		t.Fatal(err)
	}

	all, cur, err := tr.Changes(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(all), []string{c.Key, a.Key, b.Key}; !reflect.DeepEqual(got, want) {
		t.Errorf("Changes(\"\"): got %v, want %v", got, want)
	}
	if all[1].Title != "a2" || len(all[2].Comments) != 1 {
		t.Errorf("Changes items are not current: %+v", all)
	}

	// Paging with a limit gives the same sequence, then an empty page that keeps the cursor.
	var paged []string
	cursor := ""
	for range 10 {
		page, next, err := tr.Changes(ctx, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("Changes(%q, 2): got %d items", cursor, len(page))
		}
		if len(page) == 0 {
			if next != cursor {
				t.Errorf("empty page: got next cursor %q, want %q unchanged", next, cursor)
			}
			break
		}
		paged = append(paged, keys(page)...)
		cursor = next
	}
	if want := []string{c.Key, a.Key, b.Key}; !reflect.DeepEqual(paged, want) {
		t.Errorf("paged Changes: got %v, want %v", paged, want)
	}
	if cursor != cur {
		t.Errorf("cursor after paging: got %q, want %q", cursor, cur)
	}

	// Changes after the cursor: only what changed since, each item once.
	if _, err := tr.AddComment(ctx, c.Key, item.Comment{Body: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.AddComment(ctx, a.Key, item.Comment{Body: "y"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.AddComment(ctx, c.Key, item.Comment{Body: "z"}); err != nil {
		t.Fatal(err)
	}
	since, _, err := tr.Changes(ctx, cur, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(since), []string{a.Key, c.Key}; !reflect.DeepEqual(got, want) {
		t.Errorf("Changes(%q): got %v, want %v", cur, got, want)
	}
}

// feedSize counts the entries of the change feed and of its per-item index.
func feedSize(t *testing.T, st *store.Store) (feed, latest int) {
	t.Helper()
	err := st.DB().View(func(tx *bolt.Tx) error {
		b, err := bucketsOf(tx)
		if err != nil {
			return err
		}
		feed, latest = b.feed.Stats().KeyN, b.latest.Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return feed, latest
}

func TestFeedStaysBounded(t *testing.T) {
	ctx := context.Background()
	tr, st := open(t, t.TempDir(), Options{})
	a := mustCreate(t, tr, "a")
	mustCreate(t, tr, "b")
	for i := range 300 {
		a.Title = fmt.Sprintf("a%d", i)
		if _, err := tr.Update(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	writes := make([]engine.Write, 200)
	for i := range writes {
		writes[i] = engine.Write{Key: a.Key, NewComments: []item.Comment{{Body: strconv.Itoa(i)}}}
	}
	if _, err := tr.Apply(ctx, writes); err != nil {
		t.Fatal(err)
	}
	feed, latest := feedSize(t, st)
	if feed != 2 || latest != 2 {
		t.Errorf("after 502 changes of 2 items: got %d feed entries and %d index entries, want 2 and 2", feed, latest)
	}
	items, _, err := tr.Changes(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(items), []string{"TDM-2", "TDM-1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Changes: got %v, want %v", got, want)
	}
}

func TestBadCursor(t *testing.T) {
	ctx := context.Background()
	tr := newTracker(t)
	mustCreate(t, tr, "a")
	for _, cur := range []string{"abc", "-1", "1.5", " 1", "2", "99999"} {
		_, next, err := tr.Changes(ctx, cur, 10)
		if err == nil || !isPermanent(err) || !strings.Contains(err.Error(), "cursor") {
			t.Errorf("Changes(%q): got err %v, want a permanent error about the cursor", cur, err)
		}
		if next != cur {
			t.Errorf("Changes(%q): got next %q, want the cursor back unchanged", cur, next)
		}
	}
	if _, _, err := tr.Changes(ctx, "1", 10); err != nil {
		t.Errorf("Changes(\"1\") at the head: %v", err)
	}
}

func signalled(tr *Tracker) bool {
	select {
	case <-tr.Changed():
		return true
	default:
		return false
	}
}

func TestChangedSignals(t *testing.T) {
	ctx := context.Background()
	tr := newTracker(t)
	if cap(tr.Changed()) != 1 {
		t.Fatalf("Changed capacity: got %d, want 1", cap(tr.Changed()))
	}
	if signalled(tr) {
		t.Fatal("signalled before any change")
	}
	// OnCommit runs before Update returns, so the signal is there when the write returns.
	a := mustCreate(t, tr, "a")
	mustCreate(t, tr, "b") // a second signal must not block the writer
	if !signalled(tr) {
		t.Fatal("no signal after Create")
	}
	if signalled(tr) {
		t.Fatal("two signals buffered, want the channel to coalesce them")
	}
	steps := []struct {
		name string
		do   func() error
		want bool
	}{
		{"update", func() error { a.Title = "a2"; _, err := tr.Update(ctx, a); return err }, true},
		{"comment", func() error { _, err := tr.AddComment(ctx, a.Key, item.Comment{Body: "x"}); return err }, true},
		{"same values", func() error { _, err := tr.Update(ctx, a); return err }, false},
		{"rejected write", func() error {
			res, err := tr.Apply(ctx, []engine.Write{{Key: "TDM-9", Fields: []string{"title"}, Item: item.Item{Title: "x"}}})
			if err == nil && res[0].Err == nil {
				return errors.New("unknown key accepted")
			}
			return err
		}, false},
		{"apply", func() error {
			_, err := tr.Apply(ctx, []engine.Write{{Item: item.Item{Title: "c"}}})
			return err
		}, true},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := signalled(tr); got != s.want {
			t.Errorf("%s: got signal %v, want %v", s.name, got, s.want)
		}
	}
}

func TestApplyBatch(t *testing.T) {
	ctx := context.Background()
	tr := newTracker(t)
	base, err := tr.Create(ctx, item.Item{
		Title: "base", Description: "keep me", Status: "open", Priority: "low",
		Custom: map[string]string{"keep": "1", "drop": "2", "change": "3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	zoe := item.User{ID: "zoe", Name: "Zoe"}
	writes := []engine.Write{
		{Item: item.Item{Title: "new one", Status: "Needs triage", Labels: []string{"x"}, Reporter: zoe},
			NewComments: []item.Comment{{Author: zoe, Body: "from partner"}}},
		{Key: base.Key, Fields: []string{"status", "assignee", "custom.change", "custom.drop", "custom.add"},
			Item: item.Item{Title: "NOT WRITTEN", Status: "resolved", Assignee: zoe,
				Custom: map[string]string{"change": "33", "add": "4", "keep": "NOT WRITTEN"}}},
		{Key: "TDM-404", Fields: []string{"title"}, Item: item.Item{Title: "lost"}},
		{Key: base.Key, Fields: []string{"description", "colour"}, Item: item.Item{Description: "NOT WRITTEN"}},
		{Key: base.Key, Fields: []string{"title"}, Item: item.Item{Title: ""}},
		{Item: item.Item{Title: ""}},
		{Key: base.Key, NewComments: []item.Comment{{Author: zoe, Body: "c1"}, {Body: "c2"}}},
		{Key: base.Key, NewComments: []item.Comment{{Body: "ok"}, {Body: ""}}},
	}
	res, err := tr.Apply(ctx, writes)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(writes) {
		t.Fatalf("results: got %d, want %d", len(res), len(writes))
	}
	wantErr := []error{nil, nil, ErrNotFound, ErrInvalid, ErrInvalid, ErrInvalid, nil, ErrInvalid}
	for i, r := range res {
		switch {
		case wantErr[i] == nil && r.Err != nil:
			t.Errorf("write %d: got err %v, want success", i, r.Err)
		case wantErr[i] != nil && (!errors.Is(r.Err, wantErr[i]) || !isPermanent(r.Err)):
			t.Errorf("write %d: got err %v, want permanent %v", i, r.Err, wantErr[i])
		}
	}
	if res[0].Key != "TDM-2" || len(res[0].CommentIDs) != 1 {
		t.Errorf("create result: got %+v, want key TDM-2 and one comment id", res[0])
	}
	if res[2].Key != "TDM-404" {
		t.Errorf("failed update result: got key %q, want TDM-404", res[2].Key)
	}

	created, err := tr.Get(ctx, "TDM-2")
	if err != nil {
		t.Fatal(err)
	}
	if created.Title != "new one" || created.Status != "Needs triage" || created.Priority != "" ||
		created.Reporter != zoe || !reflect.DeepEqual(created.Labels, []string{"x"}) {
		t.Errorf("created: got %+v", created)
	}
	if len(created.Comments) != 1 || created.Comments[0].Author != zoe || created.Comments[0].ID != res[0].CommentIDs[0] {
		t.Errorf("created comments: got %+v, want one by %v with id %v", created.Comments, zoe, res[0].CommentIDs)
	}

	got, err := tr.Get(ctx, base.Key)
	if err != nil {
		t.Fatal(err)
	}
	want := base
	want.Status, want.Assignee = "resolved", zoe
	want.Custom = map[string]string{"keep": "1", "change": "33", "add": "4"}
	want.Updated = got.Updated
	if len(got.Comments) != 2 {
		t.Fatalf("base comments: got %+v, want c1 and c2 only (the batch with an empty comment is rejected whole)", got.Comments)
	}
	want.Comments = got.Comments
	if !reflect.DeepEqual(got, want) {
		t.Errorf("updated:\n got %+v\nwant %+v", got, want)
	}
	if got.Comments[0].Body != "c1" || got.Comments[0].Author != zoe || got.Comments[1].Body != "c2" {
		t.Errorf("base comments: got %+v", got.Comments)
	}
	if ids := []string{got.Comments[0].ID, got.Comments[1].ID}; !reflect.DeepEqual(ids, res[6].CommentIDs) {
		t.Errorf("comment ids: stored %v, result %v", ids, res[6].CommentIDs)
	}
	if n, _ := tr.Count(ctx); n != 2 {
		t.Errorf("Count: got %d, want 2", n)
	}
}

func TestApplyCancelledWritesNothing(t *testing.T) {
	tr := newTracker(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Apply(ctx, []engine.Write{{Item: item.Item{Title: "a"}}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply: got %v, want context.Canceled", err)
	}
	if n, _ := tr.Count(context.Background()); n != 0 {
		t.Errorf("Count: got %d, want 0", n)
	}
}

func TestReopenKeepsItemsAndKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Open(st, Options{Prefix: "BLUE"})
	if err != nil {
		t.Fatal(err)
	}
	a := mustCreate(t, tr, "a")
	b := mustCreate(t, tr, "b")
	c1, err := tr.AddComment(ctx, a.Key, item.Comment{Body: "x"})
	if err != nil {
		t.Fatal(err)
	}
	_, cursor, err := tr.Changes(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	tr2, st2 := open(t, dir, Options{}) // empty prefix: the stored one is kept
	if tr2.Prefix() != "BLUE" {
		t.Errorf("Prefix after reopen: got %q, want BLUE", tr2.Prefix())
	}
	for _, want := range []item.Item{a, b} {
		got, err := tr2.Get(ctx, want.Key)
		if err != nil {
			t.Fatal(err)
		}
		if got.Title != want.Title {
			t.Errorf("Get(%s) after reopen: got title %q, want %q", want.Key, got.Title, want.Title)
		}
	}
	c := mustCreate(t, tr2, "c")
	if c.Key != "BLUE-3" {
		t.Errorf("key after reopen: got %s, want BLUE-3", c.Key)
	}
	c2, err := tr2.AddComment(ctx, c.Key, item.Comment{Body: "y"})
	if err != nil {
		t.Fatal(err)
	}
	if n1, _ := strconv.Atoi(c1.ID); mustAtoi(t, c2.ID) <= n1 {
		t.Errorf("comment id after reopen: got %s, want above %s", c2.ID, c1.ID)
	}
	since, _, err := tr2.Changes(ctx, cursor, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(since); !reflect.DeepEqual(got, []string{"BLUE-3"}) {
		t.Errorf("Changes(%q) after reopen: got %v, want [BLUE-3]", cursor, got)
	}
	if err := st2.Close(); err != nil {
		t.Fatal(err)
	}

	st3, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st3.Close()
	if _, err := Open(st3, Options{Prefix: "RED"}); err == nil || !strings.Contains(err.Error(), "BLUE") {
		t.Errorf("Open with another prefix: got %v, want an error naming BLUE", err)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("comment id %q is not a number: %v", s, err)
	}
	return n
}

func TestPrefixValidation(t *testing.T) {
	tests := []struct {
		prefix string
		ok     bool
	}{
		{"BLUE", true}, {"A", true}, {"OPS2", true}, {"ABCDEFGHIJ", true},
		{"blue", false}, {"2FA", false}, {"BL-UE", false}, {"ABCDEFGHIJK", false}, {"BL UE", false},
	}
	for _, tc := range tests {
		st, err := store.Open(t.TempDir(), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := Open(st, Options{Prefix: tc.prefix})
		if (err == nil) != tc.ok {
			t.Errorf("Open(prefix %q): got err %v, want ok=%v", tc.prefix, err, tc.ok)
		}
		if err == nil {
			if it := mustCreate(t, tr, "x"); it.Key != tc.prefix+"-1" {
				t.Errorf("prefix %q: got key %s", tc.prefix, it.Key)
			}
		}
		st.Close()
	}
}

func TestListAndCount(t *testing.T) {
	ctx := context.Background()
	tr := newTracker(t)
	for i := 1; i <= 5; i++ {
		mustCreate(t, tr, strconv.Itoa(i))
	}
	tests := []struct {
		offset, limit int
		want          []string
	}{
		{0, 0, []string{"TDM-5", "TDM-4", "TDM-3", "TDM-2", "TDM-1"}},
		{0, 2, []string{"TDM-5", "TDM-4"}},
		{2, 2, []string{"TDM-3", "TDM-2"}},
		{4, 10, []string{"TDM-1"}},
		{5, 10, nil},
	}
	for _, tc := range tests {
		got, err := tr.List(ctx, tc.offset, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(keys(got), tc.want) {
			t.Errorf("List(%d, %d): got %v, want %v", tc.offset, tc.limit, keys(got), tc.want)
		}
	}
	if _, err := tr.List(ctx, -1, 1); err == nil {
		t.Error("List(-1, 1): got no error")
	}
	if n, err := tr.Count(ctx); err != nil || n != 5 {
		t.Errorf("Count: got %d, %v, want 5", n, err)
	}
}

func TestVocabularies(t *testing.T) {
	tr := newTracker(t)
	if got, want := tr.Statuses(), []string{"open", "in progress", "waiting", "resolved", "closed"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Statuses: got %v, want %v", got, want)
	}
	if got, want := tr.Priorities(), []string{"lowest", "low", "medium", "high", "highest"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Priorities: got %v, want %v", got, want)
	}
	tr.Statuses()[0] = "mutated"
	if tr.Statuses()[0] != "open" {
		t.Error("Statuses returns the package's own slice")
	}
}

func TestConcurrentWritersAndReader(t *testing.T) {
	ctx := context.Background()
	tr := newTracker(t)
	const writers, each = 4, 25
	errs := make(chan error, writers+1)
	keysc := make(chan string, writers*each)
	for w := range writers {
		go func() {
			for i := range each {
				it, err := tr.Create(ctx, item.Item{Title: fmt.Sprintf("w%d-%d", w, i)})
				if err != nil {
					errs <- err
					return
				}
				keysc <- it.Key
			}
			errs <- nil
		}()
	}
	go func() {
		cursor := ""
		for range 50 {
			_, next, err := tr.Changes(ctx, cursor, 7)
			if err != nil {
				errs <- err
				return
			}
			cursor = next
		}
		errs <- nil
	}()
	for range writers + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(keysc)
	seen := map[string]bool{}
	for k := range keysc {
		if seen[k] {
			t.Errorf("key %s assigned twice", k)
		}
		seen[k] = true
	}
	if n, _ := tr.Count(ctx); n != writers*each || len(seen) != writers*each {
		t.Errorf("got Count %d and %d distinct keys, want %d", n, len(seen), writers*each)
	}
	all, _, err := tr.Changes(ctx, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != writers*each {
		t.Errorf("Changes: got %d items, want %d", len(all), writers*each)
	}
}

func TestEditAndDeleteComments(t *testing.T) {
	tr := newTracker(t)
	ctx := context.Background()
	it := mustCreate(t, tr, "comments")
	a, err := tr.AddComment(ctx, it.Key, item.Comment{Author: item.User{Name: "Ann"}, Body: "first"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tr.AddComment(ctx, it.Key, item.Comment{Author: item.User{Name: "Bob"}, Body: "second"})
	_, cursor, _ := tr.Changes(ctx, "", 100)

	got, err := tr.EditComment(ctx, it.Key, a.ID, "first, corrected")
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := got.Comment(a.ID); c.Body != "first, corrected" || c.Author.Name != "Ann" || !c.Created.Equal(a.Created) {
		t.Errorf("edited comment %+v: want the new body, the same author and time", c)
	}
	if items, _, _ := tr.Changes(ctx, cursor, 100); len(items) != 1 {
		t.Errorf("an edit is a change: %d items in the feed, want 1", len(items))
	}
	got, err = tr.DeleteComment(ctx, it.Key, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Comments) != 1 || got.Comments[0].ID != a.ID {
		t.Errorf("after deleting %s: comments %+v", b.ID, got.Comments)
	}
	// Deleting again, or editing a comment that is gone, changes nothing and is no error.
	if _, err := tr.DeleteComment(ctx, it.Key, b.ID); err != nil {
		t.Errorf("deleting a deleted comment: %v", err)
	}
	res, err := tr.Apply(ctx, []engine.Write{{Key: it.Key, EditComments: []item.Comment{{ID: b.ID, Body: "x"}}}})
	if err != nil || res[0].Err != nil {
		t.Errorf("editing a deleted comment: %v %v", err, res)
	}
	if _, err := tr.EditComment(ctx, it.Key, "nope", "x"); !isPermanent(err) {
		t.Errorf("editing a comment the item never had: %v, want a permanent error", err)
	}
	res, _ = tr.Apply(ctx, []engine.Write{{Key: it.Key, EditComments: []item.Comment{{ID: a.ID, Body: "  "}}}})
	if res[0].Err == nil || !isPermanent(res[0].Err) {
		t.Errorf("an edit to an empty body: %v, want refused", res[0].Err)
	}
}

// A new prefix numbers new items on from the last number; items made before keep their keys
// and still resolve (partners' twins refer to them), across a reopen; a key that mixes the new
// prefix with an old item's number is not that item.
func TestSetPrefix(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tr, st := open(t, dir, Options{FirstPrefix: PrefixFor("Acme Support")})
	if tr.Prefix() != "ACME" {
		t.Fatalf("first prefix from the name: %q, want ACME", tr.Prefix())
	}
	a := mustCreate(t, tr, "a")
	if err := tr.SetPrefix("lower"); err == nil {
		t.Error("SetPrefix(lower) succeeded; want the rule for prefixes")
	}
	if err := tr.SetPrefix("OPS"); err != nil {
		t.Fatal(err)
	}
	b := mustCreate(t, tr, "b")
	if a.Key != "ACME-1" || b.Key != "OPS-2" {
		t.Fatalf("keys %s, %s; want ACME-1 then OPS-2", a.Key, b.Key)
	}
	if _, err := tr.Get(ctx, "OPS-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(OPS-1): %v; want not found (item 1 is ACME-1)", err)
	}
	if _, err := tr.Update(ctx, item.Item{Key: "OPS-1", Title: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update(OPS-1): %v; want not found", err)
	}
	if _, err := tr.AddComment(ctx, a.Key, item.Comment{Body: "still reachable"}); err != nil {
		t.Errorf("comment on %s after the prefix changed: %v", a.Key, err)
	}
	st.Close()
	tr2, st2 := open(t, dir, Options{})
	defer st2.Close()
	if tr2.Prefix() != "OPS" {
		t.Errorf("prefix after reopen: %q, want OPS", tr2.Prefix())
	}
	for _, k := range []string{"ACME-1", "OPS-2"} {
		if _, err := tr2.Get(ctx, k); err != nil {
			t.Errorf("Get(%s) after reopen: %v", k, err)
		}
	}
	if err := tr2.SetPrefix("ACME"); err != nil { // back to an earlier one
		t.Fatal(err)
	}
	if c := mustCreate(t, tr2, "c"); c.Key != "ACME-3" {
		t.Errorf("key after going back to ACME: %s, want ACME-3", c.Key)
	}
	if _, err := tr2.Get(ctx, "OPS-2"); err != nil {
		t.Errorf("Get(OPS-2) after going back: %v", err)
	}
}

func TestPrefixFor(t *testing.T) {
	for name, want := range map[string]string{
		"Blue": "BLUE", "Acme Support": "ACME", "acme-support": "ACME", "Globex Corporation": "GLOBEX",
		"tandem": "TANDEM", "A Team": "TEAM", "R2D2": "R2D2", "": DefaultPrefix, "!!": DefaultPrefix, "Ünïcode": "CODE", "x": DefaultPrefix,
	} {
		got := PrefixFor(name)
		if got != want {
			t.Errorf("PrefixFor(%q) = %q, want %q", name, got, want)
		}
		if CheckPrefix(got) != nil {
			t.Errorf("PrefixFor(%q) = %q, which is no valid prefix", name, got)
		}
	}
}

// "No priority" is a value: a new item keeps it, and an update can go back to it.
func TestNoPriority(t *testing.T) {
	ctx := context.Background()
	tr := newTracker(t)
	it, err := tr.Create(ctx, item.Item{Title: "a"})
	if err != nil || it.Priority != "" {
		t.Fatalf("created %+v, %v; want no priority", it, err)
	}
	it.Priority = "high"
	if it, err = tr.Update(ctx, it); err != nil || it.Priority != "high" {
		t.Fatalf("update to high: %+v, %v", it, err)
	}
	it.Priority = ""
	if it, err = tr.Update(ctx, it); err != nil {
		t.Fatal(err)
	}
	if got, _ := tr.Get(ctx, it.Key); got.Priority != "" {
		t.Errorf("priority after clearing: %q, want none", got.Priority)
	}
}

// Page reads one page of summaries and the count at 10,000 items: newest first, by seek, with
// the total from the items' counter, and the last page short.
func TestPageAtScale(t *testing.T) {
	ctx := context.Background()
	tr := newTracker(t)
	fill(t, tr, 10000, func(i int) engine.Write {
		return engine.Write{Item: item.Item{Title: fmt.Sprintf("item %d", i+1), Status: "open", Description: "long enough to matter"},
			NewComments: []item.Comment{{Body: "a comment the page does not decode"}}}
	})
	if _, err := tr.Update(ctx, item.Item{Key: "TDM-9950", Title: "changed", Status: "closed"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		offset, limit, n int
		first, last      string
	}{
		{0, 100, 100, "TDM-10000", "TDM-9901"},
		{100, 100, 100, "TDM-9900", "TDM-9801"},
		{9950, 100, 50, "TDM-50", "TDM-1"},
		{9999, 0, 1, "TDM-1", "TDM-1"},
		{10000, 100, 0, "", ""},
		{20000, 100, 0, "", ""},
	}
	for _, tc := range tests {
		page, total, err := tr.Page(ctx, tc.offset, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if total != 10000 || len(page) != tc.n {
			t.Errorf("Page(%d, %d): %d items of %d, want %d of 10000", tc.offset, tc.limit, len(page), total, tc.n)
			continue
		}
		if tc.n > 0 && (page[0].Key != tc.first || page[len(page)-1].Key != tc.last) {
			t.Errorf("Page(%d, %d): %s..%s, want %s..%s", tc.offset, tc.limit, page[0].Key, page[len(page)-1].Key, tc.first, tc.last)
		}
		for i := 1; i < len(page); i++ {
			a, b := page[i-1].Key, page[i].Key
			if na, nb := strings.TrimPrefix(a, "TDM-"), strings.TrimPrefix(b, "TDM-"); strconv.Itoa(mustAtoi(t, na)-1) != nb {
				t.Errorf("Page(%d, %d): %s before %s, want newest first", tc.offset, tc.limit, a, b)
			}
		}
	}
	page, _, err := tr.Page(ctx, 50, 1)
	if err != nil || len(page) != 1 {
		t.Fatalf("Page(50, 1): %v, %v", page, err)
	}
	if s := page[0]; s.Key != "TDM-9950" || s.Title != "changed" || s.Status != "closed" || s.Updated.IsZero() {
		t.Errorf("summary of TDM-9950 = %+v, want its new title and status and when it changed", s)
	}
	if _, _, err := tr.Page(ctx, -1, 10); err == nil {
		t.Error("Page(-1, 10): no error")
	}
	// List seeks the same way.
	got, err := tr.List(ctx, 9998, 5)
	if err != nil || !reflect.DeepEqual(keys(got), []string{"TDM-2", "TDM-1"}) || len(got[0].Comments) != 1 {
		t.Errorf("List(9998, 5) = %v (%v), want TDM-2 and TDM-1 in full", keys(got), err)
	}
}

// BenchmarkPage is one page of 100 summaries beside the read the Tracker screen did before:
// the first 10,000 items in full.
func BenchmarkPage(b *testing.B) {
	ctx := context.Background()
	tr := newTracker(b)
	fill(b, tr, 10000, func(int) engine.Write { return engine.Write{Item: fullItem(), NewComments: fullItem().Comments} })
	b.Run("page-100-at-5000", func(b *testing.B) {
		for range b.N {
			if p, n, err := tr.Page(ctx, 5000, 100); err != nil || len(p) != 100 || n != 10000 {
				b.Fatal(len(p), n, err)
			}
		}
	})
	b.Run("baseline-list-10000", func(b *testing.B) {
		for range b.N {
			if l, err := tr.List(ctx, 0, 10000); err != nil || len(l) != 10000 {
				b.Fatal(len(l), err)
			}
		}
	})
}

// fill creates n items, the i-th (from 0) as write(i) says, a thousand to a transaction.
func fill(t testing.TB, tr *Tracker, n int, write func(i int) engine.Write) {
	t.Helper()
	for start := 0; start < n; start += 1000 {
		var writes []engine.Write
		for i := start; i < min(start+1000, n); i++ {
			writes = append(writes, write(i))
		}
		if _, err := tr.Apply(context.Background(), writes); err != nil {
			t.Fatal(err)
		}
	}
}

// Items an earlier version stored as JSON still read, list and page after an upgrade, and an
// item changed since is stored in the binary form.
func TestItemsStoredAsJSONStillRead(t *testing.T) {
	ctx := context.Background()
	tr, st := open(t, t.TempDir(), Options{})
	old := mustCreate(t, tr, "stored by an earlier version")
	if _, err := tr.AddComment(ctx, old.Key, item.Comment{Body: "and its comment"}); err != nil {
		t.Fatal(err)
	}
	kept := mustCreate(t, tr, "stored now")
	old, err := tr.Get(ctx, old.Key)
	if err != nil {
		t.Fatal(err)
	}
	stored := func() []byte {
		var v []byte
		st.DB().View(func(tx *bolt.Tx) error {
			b, err := bucketsOf(tx)
			if err == nil {
				v = bytes.Clone(b.items.Get(store.U64(uint64(mustAtoi(t, strings.TrimPrefix(old.Key, tr.Prefix()+"-"))))))
			}
			return err
		})
		return v
	}
	if v := stored(); len(v) == 0 || v[0] != store.ItemV2 {
		t.Fatalf("a new item is stored as %q, not in the binary form", v)
	}
	js, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	err = st.DB().Update(func(tx *bolt.Tx) error {
		b, err := bucketsOf(tx)
		if err != nil {
			return err
		}
		return b.items.Put(store.U64(uint64(mustAtoi(t, strings.TrimPrefix(old.Key, tr.Prefix()+"-")))), js)
	})
	if err != nil {
		t.Fatal(err)
	}

	got, err := tr.Get(ctx, old.Key)
	if err != nil || !reflect.DeepEqual(got, old) {
		t.Fatalf("Get of the JSON item = %+v, %v; want %+v", got, err, old)
	}
	list, err := tr.List(ctx, 0, 0)
	if err != nil || !reflect.DeepEqual(keys(list), []string{kept.Key, old.Key}) {
		t.Fatalf("List = %v, %v", keys(list), err)
	}
	page, total, err := tr.Page(ctx, 0, 10)
	if err != nil || total != 2 || page[1] != old.Summary() {
		t.Fatalf("Page = %+v, %d, %v", page, total, err)
	}
	old.Status = "closed"
	if _, err := tr.Update(ctx, old); err != nil {
		t.Fatal(err)
	}
	if v := stored(); len(v) == 0 || v[0] != store.ItemV2 {
		t.Fatalf("the item changed after the upgrade is stored as %q", v)
	}
}

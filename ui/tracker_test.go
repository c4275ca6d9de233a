package ui

import (
	"context"
	"fmt"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/item"
)

// fill gives f n items, T-1 oldest, each with a comment, in one go (add one by one costs n²).
func (f *fakeAgent) fill(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items = make([]item.Item, n)
	for i := range n {
		created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i+1) * time.Second)
		f.items[n-1-i] = item.Item{Key: fmt.Sprintf("T-%d", i+1), Title: fmt.Sprintf("Printer %d jams", i+1), Status: "open",
			Description: "Third floor.", Created: created, Updated: created,
			Comments: []item.Comment{{ID: "c1", Body: fmt.Sprintf("comment on %d", i+1), Author: item.User{Name: "Ann"}}}}
	}
	f.next = n
}

// reads returns what the Tracker read since the last call: page calls, item calls, the keys of
// each sync call, and how many items all calls returned.
func (f *fakeAgent) reads() (pages []pageCall, items []string, syncKeys []int, returned int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.syncCalls {
		syncKeys = append(syncKeys, len(k))
	}
	pages, items, returned = f.pageCalls, f.itemCalls, f.returned
	f.pageCalls, f.itemCalls, f.syncCalls, f.returned = nil, nil, nil, 0
	return pages, items, syncKeys, returned
}

// With 10,000 items the Tracker reads one page of 100 summaries and their sync states, says
// where the page is, pages on, opens one item in full, and an edit re-reads only the page and
// that item.
func TestTrackerReadsOnePageOf10000(t *testing.T) {
	f := newFakeAgent()
	f.fill(10000)
	f.itemSync = map[string][]agent.ItemSync{"T-9900": {{Connection: "c1", Partner: "Red", Remote: "RED-4", State: agent.ItemSynced}}}
	u, w := newTestUI(t, f)
	test.Tap(u.nav[screenTracker])
	u.refresh(context.Background())
	u.pending.Wait()
	s := &u.tracker

	pages, items, syncKeys, returned := f.reads()
	if len(pages) != 1 || pages[0] != (pageCall{0, trackerPageSize, 100}) || len(items) != 0 || fmt.Sprint(syncKeys) != "[100]" || returned != 100 {
		t.Fatalf("the first read: pages %v, items %v, sync keys %v, %d items returned; want one page of 100 and its 100 sync states", pages, items, syncKeys, returned)
	}
	if s.list.Length() != 100 || s.page[0].Key != "T-10000" || s.page[99].Key != "T-9901" {
		t.Fatalf("the list shows %d rows from %s, want T-10000..T-9901", s.list.Length(), s.page[0].Key)
	}
	wantShown(t, w, "1–100 of 10,000", "T-10000", "Printer 10000 jams")
	if !s.prev.Disabled() || s.next.Disabled() {
		t.Errorf("on the first page: Previous disabled %v, Next disabled %v; want only Previous disabled", s.prev.Disabled(), s.next.Disabled())
	}

	test.Tap(s.next)
	u.pending.Wait()
	pages, _, syncKeys, returned = f.reads()
	if len(pages) != 1 || pages[0].offset != 100 || fmt.Sprint(syncKeys) != "[100]" || returned != 100 {
		t.Fatalf("Next read pages %v, sync keys %v, %d items; want the page at 100", pages, syncKeys, returned)
	}
	if s.page[0].Key != "T-9900" || s.list.Length() != 100 || s.prev.Disabled() {
		t.Errorf("after Next the list starts at %s with %d rows, Previous disabled %v; want T-9900, 100, enabled", s.page[0].Key, s.list.Length(), s.prev.Disabled())
	}
	wantShown(t, w, "101–200 of 10,000", "synced ⇄ RED-4 at Red")

	// Selecting a row reads that one item in full, comments included.
	s.list.Select(0)
	u.pending.Wait()
	_, items, _, returned = f.reads()
	if fmt.Sprint(items) != "[T-9900]" || returned != 1 {
		t.Fatalf("selecting T-9900 read items %v (%d returned), want T-9900 alone", items, returned)
	}
	if s.selected != "T-9900" || s.title.Text != "Printer 9900 jams" || s.description.Text != "Third floor." || len(s.base.Comments) != 1 {
		t.Fatalf("the form shows %q titled %q with %d comments, want T-9900 in full", s.selected, s.title.Text, len(s.base.Comments))
	}
	wantShown(t, w, "comment on 9900", "RED-4 at Red")

	// An edit: the round after it reads the page shown and the open item, nothing more.
	s.title.SetText("Printer 9900 fixed")
	test.Tap(s.save)
	u.pending.Wait()
	u.refresh(context.Background()) // the round the agent's change notice starts
	u.pending.Wait()
	pages, items, syncKeys, returned = f.reads()
	if len(pages) != 1 || pages[0].offset != 100 || fmt.Sprint(items) != "[T-9900]" || fmt.Sprint(syncKeys) != "[100]" || returned != 101 {
		t.Errorf("the refresh after an edit read pages %v, items %v, sync keys %v, %d items; want the page at 100 and T-9900", pages, items, syncKeys, returned)
	}
	if s.page[0].Title != "Printer 9900 fixed" || s.selected != "T-9900" || s.list.Length() != 100 {
		t.Errorf("after the edit the first row is %+v (%d rows), form on %q", s.page[0], s.list.Length(), s.selected)
	}
	wantShown(t, w, "Saved T-9900.", "101–200 of 10,000")

	// Previous goes back; the open item stays open.
	test.Tap(s.prev)
	u.pending.Wait()
	if s.page[0].Key != "T-10000" || s.selected != "T-9900" || s.title.Text != "Printer 9900 fixed" {
		t.Errorf("after Previous the list starts at %s and the form shows %q %q", s.page[0].Key, s.selected, s.title.Text)
	}

	// The last page is short, and Next stops there.
	s.goTo(9900)
	u.pending.Wait()
	if s.list.Length() != 100 || s.page[99].Key != "T-1" || !s.next.Disabled() {
		t.Errorf("the last page: %d rows ending %s, Next disabled %v", s.list.Length(), s.page[len(s.page)-1].Key, s.next.Disabled())
	}
	wantShown(t, w, "9,901–10,000 of 10,000")

	// A new item shows on the first page and counts.
	test.Tap(s.prev)
	u.pending.Wait()
	s.goTo(0)
	u.pending.Wait()
	test.Tap(s.newButton)
	s.title.SetText("Brand new")
	test.Tap(s.save)
	u.pending.Wait()
	if s.page[0].Key != "T-10001" || s.list.Length() != 100 || s.total != 10001 {
		t.Errorf("after create the list starts at %s with %d rows of %d", s.page[0].Key, s.list.Length(), s.total)
	}
	wantShown(t, w, "1–100 of 10,001")
	f.reads()

	// Going to a key opens it wherever it is, with one read.
	s.findKey("42")
	u.pending.Wait()
	if s.selected != "T-42" || s.title.Text != "Printer 42 jams" {
		t.Errorf("go to 42 opened %q titled %q, want T-42", s.selected, s.title.Text)
	}
	if _, items, _, returned := f.reads(); fmt.Sprint(items) != "[T-42]" || returned != 1 {
		t.Errorf("go to 42 read %v (%d items), want T-42 alone", items, returned)
	}
	s.findKey("T-99999")
	u.pending.Wait()
	if s.selected != "T-42" {
		t.Errorf("an unknown key moved the form to %q", s.selected)
	}
	wantShown(t, w, "item T-99999 not found")
}

package agent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/item"
)

// The Tracker screen's reads on a real agent: a page of summaries newest first with the count,
// the short last page, one item in full, and the page's sync states with the twins' keys.
func TestItemPageAndItem(t *testing.T) {
	keys := testKeys(t)
	ctx := context.Background()
	blue := start(t, Options{Dir: t.TempDir(), Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys})
	red := start(t, Options{Dir: t.TempDir(), Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Keys: keys})
	pair(t, blue, red)
	const n = 150
	for i := range n {
		if _, err := blue.CreateItem(ctx, item.Item{Title: fmt.Sprintf("Printer %d jams", i+1), Description: "Third floor."}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := blue.AddComment(ctx, "BLUE-120", item.Comment{Body: "Tray 2 again."}); err != nil {
		t.Fatal(err)
	}

	page, err := blue.ItemPage(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != n || len(page.Items) != 100 || page.Items[0].Key != "BLUE-150" || page.Items[99].Key != "BLUE-51" {
		t.Fatalf("first page: %d items of %d, want BLUE-150..BLUE-51 of %d: %+v", len(page.Items), page.Total, n, page.Items[:1])
	}
	if s := page.Items[0]; s.Title != "Printer 150 jams" || s.Status != "open" || s.Updated.IsZero() {
		t.Errorf("summary %+v, want the title, the default status and when it changed", s)
	}
	last, err := blue.ItemPage(ctx, 100, 100)
	if err != nil || last.Total != n || len(last.Items) != 50 || last.Items[49].Key != "BLUE-1" {
		t.Fatalf("last page: %d items of %d ending %v (%v), want 50 ending BLUE-1", len(last.Items), last.Total, last.Items, err)
	}
	if _, err := blue.ItemPage(ctx, -1, 100); err == nil {
		t.Error("ItemPage(-1): no error")
	}

	it, err := blue.Item(ctx, "BLUE-120")
	if err != nil || it.Description != "Third floor." || len(it.Comments) != 1 || it.Comments[0].Body != "Tray 2 again." {
		t.Fatalf("Item(BLUE-120) = %+v, %v; want it in full with its comment", it, err)
	}
	if _, err := blue.Item(ctx, "BLUE-999"); err == nil {
		t.Error("Item(BLUE-999): no error for an unknown key")
	}

	// The page's sync states: every item linked to its twin at Red, read for the page's keys.
	pageKeys := make([]string, len(last.Items))
	for i, s := range last.Items {
		pageKeys[i] = s.Key
	}
	eventually(t, 60*time.Second, "the last page's items linked at Red", func() (bool, string) {
		states, err := blue.ItemSync(ctx, pageKeys)
		if err != nil {
			return false, err.Error()
		}
		for _, k := range pageKeys {
			st := states[k]
			if len(st) != 1 || st[0].State != ItemSynced || st[0].Remote == "" || st[0].Partner != "Red" {
				return false, fmt.Sprintf("%s: %+v", k, st)
			}
		}
		return len(states) == len(pageKeys), fmt.Sprintf("%d states", len(states))
	})
}

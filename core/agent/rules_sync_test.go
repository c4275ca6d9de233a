package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/history"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules/model"
)

func deployScript(t *testing.T, a *running, conn, dir, src string) int {
	t.Helper()
	v, err := a.SaveRule(context.Background(), conn, dir, RuleDraft{Mode: RuleScript, Source: src})
	if err != nil || v.CompileError != "" {
		t.Fatalf("save %s rule: %v %s", dir, err, v.CompileError)
	}
	if err := a.DeployRule(context.Background(), conn, dir, v.Number); err != nil {
		t.Fatal(err)
	}
	return v.Number
}

func deployModel(t *testing.T, a *running, conn string, m *model.Rule) int {
	t.Helper()
	v, err := a.SaveRule(context.Background(), conn, string(m.Direction), RuleDraft{Mode: RuleVisual, Model: m})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.DeployRule(context.Background(), conn, string(m.Direction), v.Number); err != nil {
		t.Fatal(err)
	}
	return v.Number
}

func itemTitled(ctx context.Context, a *running, title string) (item.Item, bool) {
	items, _ := a.Items(ctx)
	for _, it := range items {
		if it.Title == title {
			return it, true
		}
	}
	return item.Item{}, false
}

// TestRuleErrorFailsOnlyThatItem: a real yaegi rule that panics on one item fails that item
// only, with the rule's line, its version and its log lines in the queue and the history;
// other items keep flowing.
func TestRuleErrorFailsOnlyThatItem(t *testing.T) {
	blue, red, conn := bluePairedWithRed(t, t.TempDir(), t.TempDir())
	ctx := context.Background()
	v := deployScript(t, blue, conn, RuleOutgoing, `package rule

import (
	"strings"

	"tandem"
)

func Outgoing(item tandem.Item, replica *tandem.Replica, ctx *tandem.Context) error {
	ctx.Log("building", "key", item.Key)
	replica.Title = item.Title
	if strings.Contains(item.Title, "boom") {
		var m map[string]string
		m["x"] = "crash"
	}
	return nil
}
`)
	if _, err := blue.CreateItem(ctx, item.Item{Title: "boom: this one breaks the rule"}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := blue.CreateItem(ctx, item.Item{Title: fmt.Sprintf("fine %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, "the fine items at red", func() (bool, string) {
		n := 0
		for i := range 3 {
			if _, ok := itemTitled(ctx, red, fmt.Sprintf("fine %d", i)); ok {
				n++
			}
		}
		return n == 3, fmt.Sprint(n)
	})
	var failed QueueEntry
	eventually(t, 10*time.Second, "the failed event in blue's outbox", func() (bool, string) {
		entries, err := blue.Queue(ctx, conn, "out")
		for _, e := range entries {
			if e.State == QueueFailed {
				failed = e
				return true, ""
			}
		}
		return false, fmt.Sprint(entries, err)
	})
	want := fmt.Sprintf("outgoing v%d", v)
	if !strings.Contains(failed.LastError, "outgoing.go:14") || failed.Rule != want || !slices.Equal(failed.RuleLogs, []string{"building key=" + failed.Local}) {
		t.Errorf("failed event: error %q, rule %q, logs %q; want the panic at outgoing.go:14, %s and the log line", failed.LastError, failed.Rule, failed.RuleLogs, want)
	}
	if _, ok := itemTitled(ctx, red, "boom: this one breaks the rule"); ok {
		t.Error("the item whose rule failed reached red")
	}
	// The history shows the sent items with the rule version and the log line.
	eventually(t, 10*time.Second, "the history of a sent item", func() (bool, string) {
		page, err := blue.History(ctx, HistoryQuery{Outcomes: []history.Outcome{history.Sent}, Limit: 10})
		recs := page.Records
		for _, r := range recs {
			if r.RuleVersion == want && len(r.RuleLogs) == 1 && strings.HasPrefix(r.RuleLogs[0], "building key=") {
				return true, ""
			}
		}
		return false, fmt.Sprint(recs, err)
	})
}

// TestItemLeavingTheTriggerStopsSyncing: an outgoing trigger decides what leaves; an item
// that leaves it is no longer sent, and its copy at the partner is not deleted; back in the
// trigger, it syncs again.
func TestItemLeavingTheTriggerStopsSyncing(t *testing.T) {
	blue, red, conn := bluePairedWithRed(t, t.TempDir(), t.TempDir())
	ctx := context.Background()
	m := model.Starter("embedded", model.Outgoing)
	m.Trigger.Conditions = []model.Condition{{Field: "labels", Op: model.OpContains, Value: "partner"}}
	deployModel(t, blue, conn, m)

	it, err := blue.CreateItem(ctx, item.Item{Title: "shared", Labels: []string{"partner"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blue.CreateItem(ctx, item.Item{Title: "internal only"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the shared item at red", func() (bool, string) { _, ok := itemTitled(ctx, red, "shared"); return ok, "" })

	it, _ = blue.Local().Get(ctx, it.Key)
	it.Labels, it.Title = nil, "shared, then taken back"
	if _, err := blue.UpdateItem(ctx, it); err != nil {
		t.Fatal(err)
	}
	// A later item in the trigger shows the change was processed past the first one.
	if _, err := blue.CreateItem(ctx, item.Item{Title: "marker", Labels: []string{"partner"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the marker at red", func() (bool, string) { _, ok := itemTitled(ctx, red, "marker"); return ok, "" })
	if _, ok := itemTitled(ctx, red, "shared"); !ok {
		t.Error("the item that left the trigger was deleted or changed at red")
	}
	if _, ok := itemTitled(ctx, red, "internal only"); ok {
		t.Error("an item outside the trigger reached red")
	}
	if n, _ := red.Local().Count(ctx); n != 2 {
		t.Errorf("red holds %d items, want 2 (shared, marker)", n)
	}

	it, _ = blue.Local().Get(ctx, it.Key)
	it.Labels, it.Title = []string{"partner"}, "shared again"
	blue.UpdateItem(ctx, it)
	eventually(t, 20*time.Second, "the item back in the trigger at red", func() (bool, string) {
		_, ok := itemTitled(ctx, red, "shared again")
		n, _ := red.Local().Count(ctx)
		return ok && n == 2, fmt.Sprint(n)
	})
}

// TestFirstSyncOnlyMapping: a mapping marked first sync only sets the field when the item is
// created, and never again: a local change of it stays.
func TestFirstSyncOnlyMapping(t *testing.T) {
	blue, red, conn := bluePairedWithRed(t, t.TempDir(), t.TempDir())
	ctx := context.Background()
	in := model.Starter("embedded", model.Incoming)
	in.Mappings = append(in.Mappings, model.Mapping{Target: "custom.Queue", Transform: model.Transform{Kind: model.Fixed, Value: "Support"}, FirstSyncOnly: true})
	deployModel(t, red, conn, in)

	it, err := blue.CreateItem(ctx, item.Item{Title: "printer"})
	if err != nil {
		t.Fatal(err)
	}
	var redIt item.Item
	eventually(t, 20*time.Second, "the item at red with its queue", func() (bool, string) {
		var ok bool
		redIt, ok = itemTitled(ctx, red, "printer")
		return ok && redIt.Custom["Queue"] == "Support", fmt.Sprint(redIt.Custom)
	})
	redIt.Custom["Queue"] = "Hardware"
	if _, err := red.UpdateItem(ctx, redIt); err != nil {
		t.Fatal(err)
	}
	it, _ = blue.Local().Get(ctx, it.Key)
	it.Title = "printer, still broken"
	blue.UpdateItem(ctx, it)
	eventually(t, 20*time.Second, "blue's change at red", func() (bool, string) {
		got, ok := itemTitled(ctx, red, "printer, still broken")
		return ok && got.Custom["Queue"] == "Hardware", fmt.Sprint(got.Custom)
	})
}

package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules"
	"github.com/tandemsync/tandem/core/rules/model"
	"github.com/tandemsync/tandem/core/rules/versions"
	"github.com/tandemsync/tandem/core/store"
)

// bluePairedWithRed starts Blue and Red on the given data directories and pairs them.
func bluePairedWithRed(t *testing.T, blueDir, redDir string) (blue, red *running, conn string) {
	t.Helper()
	keys := testKeys(t)
	blue = start(t, Options{Dir: blueDir, Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys})
	red = start(t, Options{Dir: redDir, Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Keys: keys})
	return blue, red, pair(t, blue, red)
}

// blueRule is Blue's outgoing rule as an operator would build it visually: title,
// description, status and priority copied, public comments.
func blueRule() *model.Rule {
	r := model.New(model.Outgoing)
	r.Mappings = []model.Mapping{
		{Source: "title", Target: "title", Transform: model.Transform{Kind: model.Copy}},
		{Source: "description", Target: "description", Transform: model.Transform{Kind: model.Copy}},
		{Source: "status", Target: "status", Transform: model.Transform{Kind: model.Copy}},
		{Source: "priority", Target: "priority", Transform: model.Transform{Kind: model.Copy}},
	}
	return r
}

// TestOperatorChangesRuleEndToEnd: Blue's operator changes the outgoing rule (stops sending
// priority, maps statuses), deploys it, and Red sees the effect on the next change; a rollback
// restores the old behaviour; the version history names both.
func TestOperatorChangesRuleEndToEnd(t *testing.T) {
	blue, red, conn := bluePairedWithRed(t, t.TempDir(), t.TempDir())
	ctx := context.Background()
	redItem := func(title string) func() (bool, string) {
		return func() (bool, string) {
			items, _ := red.Items(ctx)
			for _, it := range items {
				if it.Title == title {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d items", len(items))
		}
	}
	redHas := func(title string, check func(item.Item) bool) func() (bool, string) {
		return func() (bool, string) {
			items, _ := red.Items(ctx)
			for _, it := range items {
				if it.Title == title {
					return check(it), fmt.Sprintf("%+v", it)
				}
			}
			return false, "not there"
		}
	}

	// A new connection starts on the defaults, as version 1 of each direction, deployed.
	vs, total, err := blue.RuleVersions(ctx, conn, RuleOutgoing, 0, 10)
	if err != nil || total != 1 || !vs[0].Live || vs[0].Defaults != TrackerEmbedded || vs[0].Source != rules.DefaultOutgoing {
		t.Fatalf("new connection's outgoing versions: %+v (total %d), %v; want v1, live, the embedded default", vs, total, err)
	}

	// v2: the visual rule, deployed. Items flow with it.
	v2, err := blue.SaveRule(ctx, conn, RuleOutgoing, RuleDraft{Mode: RuleVisual, Model: blueRule(), Note: "visual copy of the defaults"})
	if err != nil || v2.Number != 2 || v2.Live || v2.CompileError != "" {
		t.Fatalf("SaveRule v2 = %+v, %v; want version 2, saved but not live", v2, err)
	}
	if err := blue.DeployRule(ctx, conn, RuleOutgoing, 2); err != nil {
		t.Fatal(err)
	}
	first, err := blue.CreateItem(ctx, item.Item{Title: "Printer jams", Status: "open", Priority: "high"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "first item at red", redHas("Printer jams", func(it item.Item) bool { return it.Priority == "high" && it.Status == "open" }))

	// v3: stop sending priority, map statuses. The next change shows it.
	m := blueRule()
	m.Mappings[2].Transform = model.Transform{Kind: model.Map, Values: []model.Pair{{From: "open", To: "in progress"}}, KeepUnmapped: true}
	m.Mappings[3] = model.Mapping{Target: "priority", Transform: model.Transform{Kind: model.Drop}}
	v3, err := blue.SaveRule(ctx, conn, RuleOutgoing, RuleDraft{Mode: RuleVisual, Model: m, Note: "priority stays here; open means in progress there"})
	if err != nil {
		t.Fatal(err)
	}
	if err := blue.DeployRule(ctx, conn, RuleOutgoing, v3.Number); err != nil {
		t.Fatal(err)
	}
	if _, err := blue.CreateItem(ctx, item.Item{Title: "VPN drops", Status: "open", Priority: "low"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "second item at red, mapped", redHas("VPN drops", func(it item.Item) bool {
		return it.Status == "in progress" && it.Priority != "low"
	}))
	cmp, err := blue.CompareRules(ctx, conn, RuleOutgoing, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	wantSum := []string{
		`changed status: copied → mapped: "open" → "in progress"; anything else is kept as it is`,
		`changed priority: priority → priority: copied → priority: not sent`,
	}
	if !slices.Equal(cmp.Summary, wantSum) {
		t.Errorf("compare v2 v3 summary:\n got %q\nwant %q", cmp.Summary, wantSum)
	}
	if r, a := diffCount(cmp); r == 0 || a == 0 {
		t.Errorf("compare v2 v3: %d lines removed, %d added; want both", r, a)
	}

	// Rollback: v2 again; the next change carries priority and the plain status.
	back, err := blue.RollbackRule(ctx, conn, RuleOutgoing)
	if err != nil || back.Number != 2 || !back.Live {
		t.Fatalf("RollbackRule = %+v, %v; want version 2 live", back, err)
	}
	if _, err := blue.CreateItem(ctx, item.Item{Title: "Mail bounces", Status: "open", Priority: "low"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "third item at red, as before", redHas("Mail bounces", func(it item.Item) bool {
		return it.Status == "open" && it.Priority == "low"
	}))
	eventually(t, 5*time.Second, "first item still there", redItem(first.Title))

	// The history names both versions and who deployed and rolled back.
	ds, err := blue.RuleDeployments(ctx, conn, RuleOutgoing, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, fmt.Sprintf("%s %d from %d", d.Action, d.Version, d.From))
		if d.Author == "" {
			t.Errorf("deployment %+v names no author", d)
		}
	}
	want := []string{"rollback 2 from 3", "deploy 3 from 2", "deploy 2 from 1", "deploy 1 from 0"}
	if !slices.Equal(got, want) {
		t.Errorf("deployments %q, want %q", got, want)
	}
	vs, _, _ = blue.RuleVersions(ctx, conn, RuleOutgoing, 0, 10)
	if len(vs) != 3 || vs[0].Note != "priority stays here; open means in progress there" || vs[0].Author != blue.author() || vs[0].Live || !vs[1].Live {
		t.Errorf("versions after rollback: %+v", vs)
	}
}

func diffCount(c RuleComparison) (removed, added int) {
	for _, l := range c.Diff {
		switch l.Kind {
		case '-':
			removed++
		case '+':
			added++
		}
	}
	return removed, added
}

func TestRuleBadInput(t *testing.T) {
	blue, _, conn := bluePairedWithRed(t, t.TempDir(), t.TempDir())
	ctx := context.Background()
	count := func() int {
		_, n, err := blue.RuleVersions(ctx, conn, RuleOutgoing, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// An invalid model: a clear error naming the mapping, nothing saved.
	bad := blueRule()
	bad.Mappings = append(bad.Mappings, model.Mapping{Source: "title", Target: "custom.x", Transform: model.Transform{Kind: model.Regex, Pattern: "(oops"}})
	if _, err := blue.SaveRule(ctx, conn, RuleOutgoing, RuleDraft{Mode: RuleVisual, Model: bad}); err == nil || !strings.Contains(err.Error(), "mapping 5 (title → custom.x)") {
		t.Errorf("SaveRule with an invalid regex: %v, want the mapping named", err)
	}
	if _, err := blue.SaveRule(ctx, conn, RuleIncoming, RuleDraft{Mode: RuleVisual, Model: blueRule()}); err == nil {
		t.Error("SaveRule of an outgoing model as the incoming rule: nil error")
	}
	if n := count(); n != 1 {
		t.Errorf("after refused saves: %d versions, want 1", n)
	}

	// A script that does not compile: kept as a draft that says why, never deployed.
	broken := strings.Replace(rules.DefaultOutgoing, "replica.Title = item.Title", "replica.Title = item.Titel", 1)
	v, err := blue.SaveRule(ctx, conn, RuleOutgoing, RuleDraft{Mode: RuleScript, Source: broken, Note: "typo"})
	if err != nil || v.CompileError == "" {
		t.Fatalf("SaveRule of a broken script = %+v, %v; want it saved with its compile error", v, err)
	}
	err = blue.DeployRule(ctx, conn, RuleOutgoing, v.Number)
	var re *RuleError
	if !errors.As(err, &re) || re.Line != 7 || !strings.Contains(err.Error(), "does not compile") {
		t.Errorf("DeployRule of the broken draft: %v, want refused with line 7", err)
	}
	if live, _ := blue.RuleVersion(ctx, conn, RuleOutgoing, 0); live.Number != 1 {
		t.Errorf("live version after the refused deploy: %d, want 1", live.Number)
	}
	if err := blue.CheckRule(ctx, RuleOutgoing, broken); !errors.As(err, &re) || re.Line != 7 || !strings.Contains(re.Message, "Titel") {
		t.Errorf("CheckRule(broken) = %v; want line 7 naming Titel", err)
	}
	if err := blue.CheckRule(ctx, RuleOutgoing, rules.DefaultIncoming); err == nil || !strings.Contains(err.Error(), "no Outgoing") {
		t.Errorf("CheckRule(incoming source as outgoing) = %v", err)
	}

	// Rolling back to a version whose source no longer compiles is refused with the reason.
	// Such a version can only come from an older Tandem; write one straight into the store.
	old, err := blue.versions.Save(conn, RuleOutgoing, versions.Version{Mode: versions.Script, Source: broken, Author: "older Tandem"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blue.versions.SetLive(conn, RuleOutgoing, old.Number, "older Tandem", versions.ActionDeploy); err != nil {
		t.Fatal(err)
	}
	if err := blue.DeployRule(ctx, conn, RuleOutgoing, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := blue.RollbackRule(ctx, conn, RuleOutgoing); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("cannot roll back to outgoing rule version %d: it does not compile", old.Number)) {
		t.Errorf("RollbackRule to a version that no longer compiles: %v", err)
	}
	if live, _ := blue.RuleVersion(ctx, conn, RuleOutgoing, 0); live.Number != 1 {
		t.Errorf("live version after the refused rollback: %d, want 1", live.Number)
	}
}

// TestRuleTestRun: a test run shows the replica, what differs from the last one sent, skips
// with their reason and the log lines, and writes nothing (not even a token).
func TestRuleTestRun(t *testing.T) {
	blue, red, conn := bluePairedWithRed(t, t.TempDir(), t.TempDir())
	ctx := context.Background()
	it, err := blue.CreateItem(ctx, item.Item{Title: "Printer jams", Status: "open", Priority: "high", Custom: map[string]string{"customer": "ACME-42"}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "item at red", func() (bool, string) {
		n, _ := red.Local().Count(ctx)
		return n == 1, fmt.Sprint(n)
	})
	eventually(t, 20*time.Second, "twin linked", func() (bool, string) {
		r, _ := blue.Twin(conn, it.Key)
		return r != "", r
	})

	m := blueRule()
	m.Mappings[2].Transform = model.Transform{Kind: model.Map, Values: []model.Pair{{From: "open", To: "todo"}}, KeepUnmapped: true}
	m.Mappings = append(m.Mappings, model.Mapping{Source: "custom.customer", Target: "custom.customer", Transform: model.Transform{Kind: model.Tokenize}})
	src, _ := model.Generate(m)
	src = strings.Replace(src, "\treturn nil\n}", "\tctx.Log(\"built\", \"key\", item.Key)\n\treturn nil\n}", 1)
	res, err := blue.TestRule(ctx, conn, RuleOutgoing, RuleDraft{Mode: RuleScript, Source: src}, RuleTestInput{ItemKey: it.Key})
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, c := range res.Changes {
		changes = append(changes, c.Field+": "+c.Old+" → "+c.New)
	}
	tok := res.Replica.Custom["customer"]
	wantChanges := []string{"status: open → todo", "custom.customer:  → " + tok}
	if res.Skipped || res.Error != "" || res.FirstSync || !res.Linked || !strings.HasPrefix(tok, "tok_") || !slices.Equal(changes, wantChanges) ||
		!slices.Equal(res.Logs, []string{"built key=" + it.Key}) {
		t.Errorf("outgoing test run: %+v\nchanges %q, want %q", res, changes, wantChanges)
	}
	if n, _ := blue.VaultTokens(ctx, conn); n != 0 {
		t.Errorf("the test run kept %d tokens in the vault; it must write nothing", n)
	}

	// The live rule on the same item: nothing differs from what was sent.
	res, err = blue.TestRule(ctx, conn, RuleOutgoing, RuleDraft{}, RuleTestInput{ItemKey: it.Key})
	if err != nil || !res.Unchanged || len(res.Changes) != 0 {
		t.Errorf("live rule test run: %+v, %v; want unchanged", res, err)
	}

	// A trigger that leaves the item out: skipped, with the reason.
	m.Trigger.Conditions = []model.Condition{{Field: "labels", Op: model.OpContains, Value: "partner"}}
	res, err = blue.TestRule(ctx, conn, RuleOutgoing, RuleDraft{Mode: RuleVisual, Model: m}, RuleTestInput{ItemKey: it.Key})
	if err != nil || !res.Skipped || res.SkipReason != `outside the trigger: labels contains "partner"` {
		t.Errorf("trigger test run: %+v, %v", res, err)
	}

	// A rule that fails at run time: the error with its line, not a failed call.
	failing := strings.Replace(rules.DefaultOutgoing, "\treturn nil\n}", "\tvar m map[string]string\n\tm[\"x\"] = \"boom\"\n\treturn nil\n}", 1)
	res, err = blue.TestRule(ctx, conn, RuleOutgoing, RuleDraft{Mode: RuleScript, Source: failing}, RuleTestInput{ItemKey: it.Key})
	if err != nil || !strings.Contains(res.Error, "outgoing.go:14") {
		t.Errorf("failing rule test run: error %q, %v; want the panic at line 14", res.Error, err)
	}

	// Incoming: a sample applied to the item shows the changes, old to new.
	in := model.New(model.Incoming)
	in.Mappings = []model.Mapping{
		{Source: "status", Target: "status", Transform: model.Transform{Kind: model.Map, Values: []model.Pair{{From: "done", To: "closed"}}, Default: "open"}, Conflict: model.ConflictLocal},
		{Source: "title", Target: "title", Transform: model.Transform{Kind: model.Copy}},
	}
	sample := item.Replica{Title: "Printer fixed", Status: "done", Comments: []item.Comment{{ID: "p9", Body: "done!"}}}
	res, err = blue.TestRule(ctx, conn, RuleIncoming, RuleDraft{Mode: RuleVisual, Model: in}, RuleTestInput{ItemKey: it.Key, Replica: &sample})
	if err != nil {
		t.Fatal(err)
	}
	changes = nil
	for _, c := range res.Changes {
		changes = append(changes, c.Field+": "+c.Old+" → "+c.New)
	}
	if want := []string{"title: Printer jams → Printer fixed", "status: open → closed"}; !slices.Equal(changes, want) ||
		len(res.NewComments) != 1 || res.Conflicts["status"] != "local" || res.FirstSync {
		t.Errorf("incoming test run: changes %q (want %q), %+v", changes, want, res)
	}
	if got, _ := blue.Local().Get(ctx, it.Key); got.Title != "Printer jams" || len(got.Comments) != 0 {
		t.Errorf("the incoming test run changed the item: %+v", got)
	}
	if _, err := blue.TestRule(ctx, conn, RuleIncoming, RuleDraft{}, RuleTestInput{ItemKey: it.Key}); err == nil {
		t.Error("incoming test run without a sample, on an item nothing was received for: nil error")
	}
	// Red received the item: without a sample, its test run applies the replica last received.
	redItems, _ := red.Items(ctx)
	res, err = red.TestRule(ctx, conn, RuleIncoming, RuleDraft{}, RuleTestInput{ItemKey: redItems[0].Key})
	if err != nil || !res.FromReceived || res.Replica.Title != "Printer jams" || len(res.Changes) != 0 {
		t.Errorf("red's incoming test run on the last replica received: %+v, %v; want that replica, and no change (it is applied)", res, err)
	}
}

// TestTokenVaultRoundTrip: a value tokenized at Blue reaches Red as a token; when Red sends
// it back, Blue's incoming rule resolves it; neither Red nor Blue's own records (outside
// Blue's tracker, which holds Blue's item) keep the value in clear. Purging the vault makes
// the token unresolvable.
func TestTokenVaultRoundTrip(t *testing.T) {
	blueDir, redDir := t.TempDir(), t.TempDir()
	blue, red, conn := bluePairedWithRed(t, blueDir, redDir)
	ctx := context.Background()
	const secret = "cust-7731-ACME"

	copyAll := func(d model.Direction, custom model.Transform) *model.Rule {
		r := model.New(d)
		r.Mappings = []model.Mapping{
			{Source: "title", Target: "title", Transform: model.Transform{Kind: model.Copy}},
			{Source: "status", Target: "status", Transform: model.Transform{Kind: model.Copy}},
			{Source: "custom.customer", Target: "custom.customer", Transform: custom},
		}
		return r
	}
	deploy := func(a *running, dir string, r *model.Rule) {
		t.Helper()
		v, err := a.SaveRule(ctx, conn, dir, RuleDraft{Mode: RuleVisual, Model: r})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.DeployRule(ctx, conn, dir, v.Number); err != nil {
			t.Fatal(err)
		}
	}
	deploy(blue, RuleOutgoing, copyAll(model.Outgoing, model.Transform{Kind: model.Tokenize}))
	deploy(blue, RuleIncoming, copyAll(model.Incoming, model.Transform{Kind: model.Detokenize}))
	deploy(red, RuleOutgoing, copyAll(model.Outgoing, model.Transform{Kind: model.Copy}))
	deploy(red, RuleIncoming, copyAll(model.Incoming, model.Transform{Kind: model.Copy}))

	it, err := blue.CreateItem(ctx, item.Item{Title: "Invoice wrong", Status: "open", Custom: map[string]string{"customer": secret}})
	if err != nil {
		t.Fatal(err)
	}
	var redKey, token string
	eventually(t, 20*time.Second, "token at red", func() (bool, string) {
		items, _ := red.Items(ctx)
		if len(items) != 1 {
			return false, fmt.Sprint(len(items), " items")
		}
		redKey, token = items[0].Key, items[0].Custom["customer"]
		return strings.HasPrefix(token, "tok_"), token
	})
	// Red changes the item; its replica carries the token back; Blue sees the value.
	redIt, _ := red.Local().Get(ctx, redKey)
	redIt.Status = "in progress"
	if _, err := red.UpdateItem(ctx, redIt); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "red's change at blue", func() (bool, string) {
		got, _ := blue.Local().Get(ctx, it.Key)
		return got.Status == "in progress", got.Status
	})
	if got, _ := blue.Local().Get(ctx, it.Key); got.Custom["customer"] != secret {
		t.Errorf("blue's item after the round trip: customer %q, want %q", got.Custom["customer"], secret)
	}
	if n, _ := blue.VaultTokens(ctx, conn); n != 1 {
		t.Errorf("blue's vault holds %d tokens, want 1", n)
	}

	// Red never held the value; Blue holds it only in its own tracker's item.
	red.stop()
	raw, err := os.ReadFile(filepath.Join(redDir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Error("red's database holds the value in clear")
	}
	blue.stop()
	st, err := store.Open(blueDir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.DB().View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if string(name) == "tracker.local" {
				return nil // Blue's own item, where the value belongs
			}
			return walk(b, string(name), func(path string, k, v []byte) {
				if bytes.Contains(k, []byte(secret)) || bytes.Contains(v, []byte(secret)) {
					t.Errorf("blue's %s holds the value in clear", path)
				}
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func walk(b *bolt.Bucket, path string, visit func(path string, k, v []byte)) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			return walk(b.Bucket(k), path+"/"+string(k), visit)
		}
		visit(path+"/"+string(k), k, v)
		return nil
	})
}

func TestPurgeVault(t *testing.T) {
	blue, _, conn := bluePairedWithRed(t, t.TempDir(), t.TempDir())
	ctx := context.Background()
	tokens := blue.vault.For(conn)
	tok, err := tokens.Token("secret value")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := blue.PurgeVault(ctx, conn); n != 1 || err != nil {
		t.Fatalf("PurgeVault = %d, %v; want 1", n, err)
	}
	if got, _ := tokens.Detokenize(tok); got != tok {
		t.Errorf("after purge the token resolves to %q", got)
	}
	if _, err := blue.PurgeVault(ctx, "no-such-connection"); err == nil {
		t.Error("PurgeVault of an unknown connection: nil error")
	}
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/control"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules/model"
	"github.com/tandemsync/tandem/core/secrets"
)

// pairedDirs makes two paired agents' data directories, with one item at Blue, and stops
// them; the keys stay in the OS keychain under the service the command uses.
func pairedDirs(t *testing.T) (blueDir, itemKey string) {
	t.Helper()
	kc := secrets.NewKeychain("tandem")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kc.Probe(ctx); err != nil {
		if os.Getenv("TANDEM_REQUIRE_KEYCHAIN") == "1" {
			t.Fatalf("keychain required: %v", err)
		}
		t.Skipf("no OS keychain: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(dir, name string) *agent.Agent {
		a, err := agent.Open(context.Background(), agent.Options{Dir: dir, Name: name, Listen: "127.0.0.1:0", Prefix: strings.ToUpper(name), Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.RemoveKey(context.Background()) })
		return a
	}
	blueDir = filepath.Join(t.TempDir(), "blue")
	blue, red := open(blueDir, "Blue"), open(filepath.Join(t.TempDir(), "red"), "Red")
	stopBlue, stopRed := serveInBackground(blue), serveInBackground(red)
	inv, err := blue.Invite(ctx, agent.InviteRequest{})
	if err != nil {
		t.Fatal(err)
	}
	code := inv.Code
	if _, err := red.Accept(ctx, code); err != nil {
		t.Fatal(err)
	}
	it, err := blue.CreateItem(ctx, item.Item{Title: "Printer jams", Status: "open", Priority: "high"})
	if err != nil {
		t.Fatal(err)
	}
	stopBlue()
	stopRed()
	blue.Close()
	red.Close()
	return blueDir, it.Key
}

func runRulesCmd(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := execute(context.Background(), rootCommand(), append(append([]string{"rules"}, args...), "--data-dir", dir), strings.NewReader(""), &out, &errOut)
	if code != exitOK {
		return out.String(), fmt.Errorf("exit %d: %s", code, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

func mustRules(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := runRulesCmd(t, dir, args...)
	if err != nil {
		t.Fatalf("tandem rules %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestRulesCommand(t *testing.T) {
	dir, key := pairedDirs(t)
	tmp := t.TempDir()

	out := mustRules(t, dir, "show")
	if !strings.Contains(out, "with Red (active)") || !strings.Contains(out, "outgoing: version 1 of 1, the default script for embedded") {
		t.Errorf("show:\n%s", out)
	}

	// Import a visual rule that maps statuses and drops priority, deploy it.
	m := model.New(model.Outgoing)
	m.Mappings = []model.Mapping{
		{Source: "title", Target: "title", Transform: model.Transform{Kind: model.Copy}},
		{Source: "status", Target: "status", Transform: model.Transform{Kind: model.Map, Values: []model.Pair{{From: "open", To: "todo"}}, KeepUnmapped: true}},
		{Target: "priority", Transform: model.Transform{Kind: model.Drop}},
	}
	data, _ := m.Marshal()
	modelFile := filepath.Join(tmp, "out.json")
	os.WriteFile(modelFile, data, 0o644)
	out = mustRules(t, dir, "import", "Red", "out", modelFile, "--note", "map statuses", "--deploy")
	if !strings.Contains(out, "Saved outgoing rule version 2 of Red (") || !strings.Contains(out, "Deployed version 2") {
		t.Errorf("import:\n%s", out)
	}
	out = mustRules(t, dir, "versions", "Red", "outgoing")
	if !strings.Contains(out, "live") || !strings.Contains(out, "map statuses") || !strings.Contains(out, "deploy   version 2 (was 1)") {
		t.Errorf("versions:\n%s", out)
	}

	// Export gives back the same model, and the generated script.
	exported := filepath.Join(tmp, "exported.json")
	mustRules(t, dir, "export", "Red", "out", "-o", exported)
	if got, _ := os.ReadFile(exported); string(got) != string(data) {
		t.Errorf("exported model differs from the imported one:\n%s\n%s", got, data)
	}
	if out = mustRules(t, dir, "export", "Red", "out", "--format", "script"); !strings.HasPrefix(out, model.GeneratedHeader) {
		t.Errorf("export --format script:\n%s", out)
	}

	// A test run on the item: the mapped status, and nothing sent.
	out = mustRules(t, dir, "test", "Red", "out", key)
	if !strings.Contains(out, `"status": "todo"`) || strings.Contains(out, `"priority"`) || !strings.Contains(out, "nothing was sent or written") {
		t.Errorf("test:\n%s", out)
	}
	out = mustRules(t, dir, "compare", "Red", "out", "1", "2")
	if !strings.Contains(out, "a script became a visual rule") || !strings.Contains(out, "+++ outgoing v2") {
		t.Errorf("compare:\n%s", out)
	}
	if out = mustRules(t, dir, "rollback", "Red", "out"); !strings.Contains(out, "Rolled the outgoing rule of Red back to version 1") {
		t.Errorf("rollback:\n%s", out)
	}

	// Bad input: a clear error naming the mapping, nothing saved.
	bad := strings.Replace(string(data), `"target": "title"`, `"target": "headline"`, 1)
	badFile := filepath.Join(tmp, "bad.json")
	os.WriteFile(badFile, []byte(bad), 0o644)
	if _, err := runRulesCmd(t, dir, "import", "Red", "out", badFile); err == nil || !strings.Contains(err.Error(), `mapping 1 (title → headline): target: unknown field "headline"`) {
		t.Errorf("import of a bad model: %v", err)
	}
	brokenFile := filepath.Join(tmp, "broken.go")
	os.WriteFile(brokenFile, []byte("package rule\n\nimport \"tandem\"\n\nfunc Outgoing(item tandem.Item, replica *tandem.Replica, ctx *tandem.Context) error {\n\treplica.Title = item.Nope\n\treturn nil\n}\n"), 0o644)
	if _, err := runRulesCmd(t, dir, "import", "Red", "out", brokenFile, "--deploy"); err == nil || !strings.Contains(err.Error(), "outgoing.go:6") || !strings.Contains(err.Error(), "cannot be deployed") {
		t.Errorf("import of a broken script: %v", err)
	}
	if out = mustRules(t, dir, "show", "Red"); !strings.Contains(out, "outgoing: version 1 of 3") {
		t.Errorf("after the refused imports:\n%s", out)
	}
	if _, err := runRulesCmd(t, dir, "deploy", "Red", "sideways", "1"); err == nil || !strings.Contains(err.Error(), "want outgoing (out) or incoming (in)") {
		t.Errorf("deploy sideways: %v", err)
	}
	if out = mustRules(t, dir, "vault", "Red"); !strings.Contains(out, "0 tokens") {
		t.Errorf("vault:\n%s", out)
	}

	// While the agent runs, the command drives it through its control socket: a rollback
	// takes effect in the running agent and is in the audit log.
	a, err := agent.Open(context.Background(), agent.Options{Dir: dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	stop := serveInBackground(a)
	defer stop()
	waitSocket(t, dir)
	mustRules(t, dir, "deploy", "Red", "out", "2")
	if out = mustRules(t, dir, "rollback", "Red", "out"); !strings.Contains(out, "Rolled the outgoing rule of Red back to version 1") {
		t.Errorf("rollback through the running agent:\n%s", out)
	}
	conns, _ := a.Connections(context.Background())
	if live, _ := a.RuleVersion(context.Background(), conns[0].ID, agent.RuleOutgoing, 0); live.Number != 1 {
		t.Errorf("the running agent's live outgoing rule: version %d, want 1", live.Number)
	}
	entries, err := a.AuditTail(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range entries {
		kinds = append(kinds, e.Kind+": "+e.What)
	}
	joined := strings.Join(kinds, "\n")
	if !strings.Contains(joined, "rule-deploy: connection") || !strings.Contains(joined, "rule-rollback: connection") || !strings.Contains(joined, "outgoing rule rolled back to version 1") {
		t.Errorf("audit log tail:\n%s", joined)
	}
}

// waitSocket waits for a serving agent's control socket.
func waitSocket(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, control.SocketName)); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent's control socket did not appear")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestShellWord(t *testing.T) {
	for in, want := range map[string]string{
		"Red":                              "Red",
		"9239b9a38e931b0e64529d3c29ceaeaf": "9239b9a38e931b0e64529d3c29ceaeaf",
		"Red Support":                      "'Red Support'",
		"O'Brien & Co":                     `'O'\''Brien & Co'`,
		"":                                 "''",
	} {
		if got := shellWord(in); got != want {
			t.Errorf("shellWord(%q) = %s, want %s", in, got, want)
		}
	}
}

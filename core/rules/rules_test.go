package rules

import (
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/item"
)

// waitLimit bounds how long a test waits for something that must happen; it is generous on
// purpose and is not a timing assertion.
const waitLimit = 20 * time.Second

func sampleItem() item.Item {
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	return item.Item{
		Key:         "HD-7",
		Title:       "Printer on fire",
		Description: "Call jane.doe@acme.com about it",
		Status:      "open",
		Priority:    "high",
		Labels:      []string{"hardware", "urgent"},
		Assignee:    item.User{ID: "u1", Name: "Ann"},
		Comments: []item.Comment{
			{ID: "c1", Author: item.User{Name: "Jane"}, Body: "It smokes", Created: t0},
			{ID: "c2", Author: item.User{Name: "Ann"}, Body: "note to self", Created: t0.Add(time.Hour), Internal: true},
		},
		Custom:  map[string]string{"customer": "ACME-42"},
		Created: t0,
		Updated: t0.Add(2 * time.Hour),
	}
}

func mustCompile(t testing.TB, name, src string) *Program {
	t.Helper()
	p, err := Compile(name, src)
	if err != nil {
		t.Fatalf("Compile(%s): %v", name, err)
	}
	return p
}

// rule wraps a body into an Outgoing rule with the given extra imports.
func outRule(imports, body string) string {
	return "package rule\n\nimport (\n\t\"tandem\"\n" + imports + ")\n\nfunc Outgoing(item tandem.Item, replica *tandem.Replica, ctx *tandem.Context) error {\n" + body + "\n\treturn nil\n}\n"
}

func TestDefaultsRoundTrip(t *testing.T) {
	out := mustCompile(t, "outgoing.go", DefaultOutgoing)
	in := mustCompile(t, "incoming.go", DefaultIncoming)
	if !out.HasOutgoing() || out.HasIncoming() || in.HasOutgoing() || !in.HasIncoming() {
		t.Fatalf("entry points: out has %v/%v, in has %v/%v; want true/false, false/true",
			out.HasOutgoing(), out.HasIncoming(), in.HasOutgoing(), in.HasIncoming())
	}
	src := sampleItem()
	ctx := context.Background()
	r, o, err := out.Outgoing(ctx, src, Env{})
	if err != nil || o.Skip {
		t.Fatalf("Outgoing: skip %v, err %v", o.Skip, err)
	}
	public := src.Comments[:1] // the internal note stays home
	want := item.Replica{Title: src.Title, Description: src.Description, Status: src.Status,
		Priority: src.Priority, Labels: src.Labels, Comments: public}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("Outgoing:\n got %+v\nwant %+v", r, want)
	}
	r.Labels[0] = "changed"
	if src.Labels[0] != "hardware" {
		t.Errorf("changing the replica changed the source item: labels %q", src.Labels)
	}
	r.Labels[0] = "hardware"

	// The engine passes the local item with its comments emptied.
	local := item.Item{Key: "L-1", Title: "old", Status: "new", Assignee: item.User{ID: "me"}}
	got, o, err := in.Incoming(ctx, r, local, Env{})
	if err != nil || o.Skip {
		t.Fatalf("Incoming: skip %v, err %v", o.Skip, err)
	}
	wantItem := item.Item{Key: "L-1", Title: src.Title, Description: src.Description, Status: src.Status,
		Priority: src.Priority, Labels: src.Labels, Comments: public, Assignee: item.User{ID: "me"}}
	if !reflect.DeepEqual(got, wantItem) {
		t.Errorf("Incoming:\n got %+v\nwant %+v", got, wantItem)
	}
	if local.Title != "old" {
		t.Errorf("Incoming changed the caller's item: title %q", local.Title)
	}
}

func TestDefaultIncomingKeepsFieldsNotSent(t *testing.T) {
	in := mustCompile(t, "incoming.go", DefaultIncoming)
	local := sampleItem()
	local.Comments = nil
	got, _, err := in.Incoming(context.Background(), item.Replica{Status: "closed"}, local, Env{})
	if err != nil {
		t.Fatal(err)
	}
	want := local.Clone()
	want.Status = "closed"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Incoming(status only):\n got %+v\nwant %+v", got, want)
	}
}

func TestImportsRefused(t *testing.T) {
	for _, pkg := range []string{"os", "net", "io/fs", "unsafe", "syscall", "reflect", "os/exec", "net/http", "io", "runtime", "sync", "github.com/evil/pkg", "slices", "maps"} {
		src := outRule("\t\""+pkg+"\"\n", "")
		_, err := Compile("outgoing.go", src)
		if err == nil {
			t.Errorf("Compile(import %q) = nil error, want refusal", pkg)
			continue
		}
		want := fmt.Sprintf("outgoing.go:5:2: import %q is not", pkg)
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Compile(import %q) error:\n got %v\nwant prefix %s", pkg, err, want)
		}
	}
}

func TestAllowedImportsCompile(t *testing.T) {
	uses := map[string]string{
		"bytes":        "_ = bytes.ToUpper([]byte(item.Title))",
		"errors":       "_ = errors.New(item.Title)",
		"fmt":          `fmt.Println("discarded"); replica.Title = fmt.Sprintf("%s/%d", item.Title, len(item.Labels))`,
		"math":         "_ = math.Abs(-1)",
		"regexp":       `_ = regexp.MustCompile("a+").MatchString(item.Title)`,
		"sort":         "sort.Strings(item.Labels)",
		"strconv":      "_ = strconv.Itoa(len(item.Title))",
		"strings":      "_ = strings.ToUpper(item.Title)",
		"time":         "_ = time.Since(item.Created)",
		"unicode":      "_ = unicode.IsUpper('A')",
		"unicode/utf8": "_ = utf8.RuneCountInString(item.Title)",
	}
	if got := len(Allowed()) - 1; got != len(uses) { // minus the rule API itself
		t.Errorf("Allowed() = %q: %d standard packages, the test covers %d", Allowed(), got, len(uses))
	}
	for pkg, use := range uses {
		p, err := Compile("outgoing.go", outRule("\t\""+pkg+"\"\n", "\t"+use))
		if err != nil {
			t.Errorf("Compile(import %q): %v", pkg, err)
			continue
		}
		if _, _, err := p.Outgoing(context.Background(), sampleItem(), Env{}); err != nil {
			t.Errorf("Outgoing using %q: %v", pkg, err)
		}
	}
}

func TestSandboxSyntaxRefused(t *testing.T) {
	tests := []struct{ body, want string }{
		{"\tgo func() {}()", "outgoing.go:10:2: go statements are not allowed"},
		{"\tc := make(chan int, 1)\n\t_ = c", "outgoing.go:10:12: channels are not allowed"},
		{"\ttime.Sleep(time.Second)", "outgoing.go:10:2: package time \"time\" has no symbol Sleep"},
		{"\t__tandemGuard.Leave()", "outgoing.go:10:2: names starting with __tandem are not allowed"},
		{"\t_ = time.AfterFunc", "outgoing.go:10:6: package time \"time\" has no symbol AfterFunc"},
	}
	for _, tc := range tests {
		_, err := Compile("outgoing.go", outRule("\t\"time\"\n", "\t_ = time.Now\n"+tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%q) error:\n got %v\nwant %s", tc.body, err, tc.want)
		}
	}
}

func TestCompileErrorsNameTheLine(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"syntax", "package rule\n\nimport \"tandem\"\n\nfunc Outgoing(item tandem.Item, replica *tandem.Replica, ctx *tandem.Context) error {\n\treplica.Title = item.Title +\n}\n", "outgoing.go:7:1: expected operand"},
		{"undefined", outRule("", "\tfoo()"), "outgoing.go:8:2: undefined: foo"},
		{"type", outRule("", "\treplica.Title = len(item.Title)"), "outgoing.go:8:"},
		{"signature", "package rule\n\nimport \"tandem\"\n\nfunc Outgoing(item tandem.Item, replica tandem.Replica, ctx *tandem.Context) error {\n\treturn nil\n}\n", "outgoing.go:5:6: Outgoing has type"},
		{"interpreter crash", outRule("", "\treturn nil\n}\n\nfunc pick() string {\n\treturn nil"), "outgoing.go: the interpreter could not compile this rule: outgoing.go:12:2: "},
		{"one-liner column", outRule("", "\treturn nil\n}\n\nfunc pick() int { x := 1; return x + foo }\n\nfunc unused() error {"), "outgoing.go:11:38: undefined: foo"},
		{"neither", "package rule\n\nfunc helper() {}\n", "outgoing.go: rule defines neither Outgoing nor Incoming"},
	}
	for _, tc := range tests {
		_, err := Compile("outgoing.go", tc.src)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: Compile error:\n got %v\nwant prefix %s", tc.name, err, tc.want)
		}
	}
}

func TestPanicRecovered(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"index", "\tx := 1\n\treplica.Title = item.Labels[5+x]", "rule outgoing.go: Outgoing: panic at outgoing.go:9: "},
		{"explicit", "\tif item.Title != \"\" {\n\t\tpanic(\"boom: \" + item.Title)\n\t}", "panic at outgoing.go:9: boom: Printer on fire"},
		{"nil map", "\tx := 1\n\tvar m map[string]int\n\tm[\"k\"] = x", "panic at outgoing.go:10: assignment to entry in nil map"},
		{"divide", "\tx := 0\n\treplica.Title = string(rune(5 / x))", "panic at outgoing.go:9: runtime error: integer divide by zero"},
		{"helper", "\treplica.Title = pick(item.Labels)\n\treturn nil\n}\n\nfunc pick(l []string) string {\n\ts := \"\"\n\ts = l[9]\n\treturn s\n}\n\nfunc unused() error {", "panic at outgoing.go:14: "},
	}
	for _, tc := range tests {
		p := mustCompile(t, "outgoing.go", outRule("", tc.body))
		_, _, err := p.Outgoing(context.Background(), sampleItem(), Env{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Outgoing error:\n got %v\nwant it to contain %s", tc.name, err, tc.want)
		}
		if p.Retired() != nil {
			t.Errorf("%s: a panic retired the program: %v", tc.name, p.Retired())
		}
		// Still usable: an item that does not trigger the panic goes through.
		if tc.name == "explicit" {
			if _, _, err := p.Outgoing(context.Background(), item.Item{}, Env{}); err != nil {
				t.Errorf("%s: call after a panic: %v", tc.name, err)
			}
		}
	}
}

func TestRuleErrorWrapped(t *testing.T) {
	sentinel := "customer id missing"
	p := mustCompile(t, "outgoing.go", outRule("\t\"errors\"\n", "\treturn errors.New(\""+sentinel+"\")"))
	_, _, err := p.Outgoing(context.Background(), sampleItem(), Env{})
	if err == nil || err.Error() != "rule outgoing.go: Outgoing: "+sentinel {
		t.Errorf("Outgoing error = %v, want rule outgoing.go: Outgoing: %s", err, sentinel)
	}
}

// runBounded calls f in a goroutine and fails the test if it does not return in waitLimit.
func runBounded(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(waitLimit):
		t.Fatalf("call did not return within %v", waitLimit)
		return nil
	}
}

func TestEndlessLoopHitsDeadline(t *testing.T) {
	p := mustCompile(t, "outgoing.go", outRule("", "\tn := 0\n\tfor {\n\t\tn++\n\t}"))
	err := runBounded(t, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, _, err := p.Outgoing(ctx, sampleItem(), Env{})
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not finish in time") {
		t.Fatalf("Outgoing(endless loop) error = %v, want a deadline error", err)
	}
	if !errors.Is(p.Retired(), ErrRetired) {
		t.Errorf("Retired() = %v, want ErrRetired", p.Retired())
	}
	_, _, err = p.Outgoing(context.Background(), sampleItem(), Env{})
	if !errors.Is(err, ErrRetired) || !strings.Contains(err.Error(), "recompile") {
		t.Errorf("call after the deadline: error = %v, want ErrRetired saying to recompile", err)
	}
	// The runaway goroutine must end: it holds p.sem until it does.
	select {
	case p.sem <- struct{}{}:
	case <-time.After(waitLimit):
		t.Errorf("the rule's goroutine was still running %v after the deadline", waitLimit)
	}
}

func TestEndlessRecursionStopped(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"function", "package rule\n\nimport \"tandem\"\n\nfunc f(n int) int { return f(n+1) + 1 }\n\nfunc Outgoing(item tandem.Item, replica *tandem.Replica, ctx *tandem.Context) error {\n\tf(0)\n\treturn nil\n}\n", "panic at outgoing.go:5:"},
		{"closure", outRule("", "\tvar g func(int) int\n\tg = func(n int) int { return g(n+1) }\n\tg(0)"), "panic at outgoing.go:9:"},
		// Outgoing is guarded only because the rule names it: a rule that never calls it gets
		// no guard there (see callable).
		{"entry point", outRule("", "\treturn Outgoing(item, replica, ctx)"), "panic at outgoing.go:8:"},
		{"mutual", "package rule\n\nimport \"tandem\"\n\nfunc a(n int) int { return b(n) }\n\nfunc b(n int) int { return a(n+1) }\n\nfunc Outgoing(item tandem.Item, replica *tandem.Replica, ctx *tandem.Context) error {\n\ta(0)\n\treturn nil\n}\n", "panic at outgoing.go:"},
	}
	for _, tc := range tests {
		p := mustCompile(t, "outgoing.go", tc.src)
		err := runBounded(t, func() error {
			// The depth guard, not the deadline, must stop it; unwinding 1000 levels takes
			// yaegi a while under -race on a busy machine.
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit-2*time.Second)
			defer cancel()
			_, _, err := p.Outgoing(ctx, sampleItem(), Env{})
			return err
		})
		if !errors.Is(err, ErrTooDeep) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Outgoing error = %v, want ErrTooDeep %s", tc.name, err, tc.want)
		}
	}
	const bounded = "package rule\n\nimport \"tandem\"\n\nfunc f(n int) int {\n\tif n == 0 {\n\t\treturn 0\n\t}\n\treturn f(n-1) + 1\n}\n\nfunc Outgoing(item tandem.Item, replica *tandem.Replica, ctx *tandem.Context) error {\n\tif f(900) != 900 {\n\t\tpanic(\"wrong\")\n\t}\n\treturn nil\n}\n"
	// Recursion within the limit works, on every call: the depth count starts afresh.
	p := mustCompile(t, "outgoing.go", bounded)
	for i := range 3 {
		if _, _, err := p.Outgoing(context.Background(), sampleItem(), Env{}); err != nil {
			t.Errorf("call %d with recursion depth 900: %v", i, err)
		}
	}
}

func TestExpiredContextDoesNotRetire(t *testing.T) {
	p := mustCompile(t, "outgoing.go", DefaultOutgoing)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 20 {
		if _, _, err := p.Outgoing(ctx, sampleItem(), Env{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Outgoing(cancelled ctx) error = %v, want context.Canceled", err)
		}
	}
	if err := p.Retired(); err != nil {
		t.Errorf("Retired() after calls with a cancelled ctx = %v, want nil", err)
	}
}

func TestDefaultDeadline(t *testing.T) {
	p := mustCompile(t, "outgoing.go", outRule("", "\tfor {\n\t}"))
	err := runBounded(t, func() error {
		_, _, err := p.Outgoing(context.Background(), sampleItem(), Env{})
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Outgoing(endless loop, no ctx deadline) error = %v, want deadline exceeded", err)
	}
}

func TestSkip(t *testing.T) {
	const src = `package rule

import "tandem"

func Outgoing(item tandem.Item, replica *tandem.Replica, ctx *tandem.Context) error {
	replica.Title = item.Title
	if ctx.HasLabel(item.Labels, "Confidential") {
		ctx.Skip("confidential item")
		return nil
	}
	return nil
}

func Incoming(replica tandem.Replica, item *tandem.Item, ctx *tandem.Context) error {
	item.Title = replica.Title
	if replica.Status == "spam" {
		ctx.Skip("partner marked it spam")
	}
	return nil
}
`
	p := mustCompile(t, "both.go", src)
	it := sampleItem()
	it.Labels = append(it.Labels, "confidential")
	r, o, err := p.Outgoing(context.Background(), it, Env{})
	if err != nil || !o.Skip || o.SkipReason != "confidential item" || !reflect.DeepEqual(r, item.Replica{}) {
		t.Errorf("Outgoing(confidential) = %+v, %+v, %v; want empty replica, skip \"confidential item\"", r, o, err)
	}
	r, o, err = p.Outgoing(context.Background(), sampleItem(), Env{})
	if err != nil || o.Skip || r.Title != it.Title {
		t.Errorf("Outgoing(plain) = %+v, %+v, %v; want title %q, no skip", r, o, err, it.Title)
	}
	cur := sampleItem()
	got, o, err := p.Incoming(context.Background(), item.Replica{Title: "BUY NOW", Status: "spam"}, cur, Env{})
	if err != nil || !o.Skip || o.SkipReason != "partner marked it spam" || !reflect.DeepEqual(got, cur) {
		t.Errorf("Incoming(spam) = %+v, %+v, %v; want current unchanged, skip", got, o, err)
	}
}

func TestMaskTokenMapValueInRule(t *testing.T) {
	const src = `package rule

import "tandem"

func Outgoing(item tandem.Item, replica *tandem.Replica, ctx *tandem.Context) error {
	replica.Title = item.Title
	replica.Description = ctx.MaskEmails(item.Description)
	replica.Status = ctx.MapValue(item.Status, map[string]string{"Open": "todo", "closed": "done"}, "unknown")
	replica.Custom = map[string]string{
		"customer": ctx.Token(item.Custom["customer"]),
		"card":     ctx.Mask("4111111111111111", 4),
	}
	replica.Comments = ctx.PublicComments(item.Comments)
	ctx.Log("mapped", "key", item.Key, "conn", ctx.Connection())
	return nil
}
`
	p := mustCompile(t, "outgoing.go", src)
	vault := newTestVault()
	env := Env{Connection: "acme", Vault: vault}
	it := sampleItem()
	r, o, err := p.Outgoing(context.Background(), it, env)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := vault.Token("ACME-42")
	checks := []struct{ what, got, want string }{
		{"description", r.Description, "Call j***@acme.com about it"},
		{"status", r.Status, "todo"},
		{"card", r.Custom["card"], "************1111"},
		{"customer", r.Custom["customer"], tok},
		{"comments", fmt.Sprintf("%d %s", len(r.Comments), r.Comments[0].ID), "1 c1"},
		{"logs", strings.Join(o.Logs, "|"), "mapped key=HD-7 conn=acme"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if strings.Contains(r.Custom["customer"], "ACME") || !strings.HasPrefix(tok, "tok_") {
		t.Errorf("token %q leaks the value or lacks the tok_ prefix", tok)
	}

	_, _, err = p.Outgoing(context.Background(), it, Env{})
	if !errors.Is(err, ErrNoVault) {
		t.Errorf("Outgoing with Token and no vault: error = %v, want ErrNoVault", err)
	}
}

func TestHelpers(t *testing.T) {
	c := newContext(Env{})
	m := map[string]string{"Open": "todo", "In Progress": "doing", "dropped": ""}
	mapTests := []struct{ in, want string }{
		{"Open", "todo"}, {"open", "todo"}, {" in progress ", "doing"}, {"weird", "?"}, {"dropped", ""},
	}
	for _, tc := range mapTests {
		if got := c.MapValue(tc.in, m, "?"); got != tc.want {
			t.Errorf("MapValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	maskTests := []struct {
		in   string
		keep int
		want string
	}{
		{"4111111111111111", 4, "************1111"}, {"abc", 3, "***"}, {"abc", 5, "***"},
		{"secret", 0, "******"}, {"sécrét", 2, "****ét"}, {"", 4, ""}, {"abcd", -1, "****"},
	}
	for _, tc := range maskTests {
		if got := c.Mask(tc.in, tc.keep); got != tc.want {
			t.Errorf("Mask(%q, %d) = %q, want %q", tc.in, tc.keep, got, tc.want)
		}
	}
	emailTests := []struct{ in, want string }{
		{"mail a.b+c@x.example.org now", "mail a***@x.example.org now"},
		{"no address here", "no address here"},
		{"two: x@a.io, yy@b.io", "two: x***@a.io, y***@b.io"},
	}
	for _, tc := range emailTests {
		if got := c.MaskEmails(tc.in); got != tc.want {
			t.Errorf("MaskEmails(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := c.MapLabels([]string{"Bug", "ui", "bug", "x"}, map[string]string{"bug": "defect", "x": ""}, true); !reflect.DeepEqual(got, []string{"defect", "ui"}) {
		t.Errorf("MapLabels(keep unknown) = %q, want [defect ui]", got)
	}
	if got := c.MapLabels([]string{"Bug", "ui"}, map[string]string{"bug": "defect"}, false); !reflect.DeepEqual(got, []string{"defect"}) {
		t.Errorf("MapLabels(drop unknown) = %q, want [defect]", got)
	}
	if got := c.Truncate("héllo world", 5); got != "héll…" {
		t.Errorf("Truncate = %q, want %q", got, "héll…")
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cs := []item.Comment{{ID: "a", Created: t0}, {ID: "b", Created: t0.Add(time.Hour), Internal: true}}
	if got := c.CommentsAfter(cs, t0); len(got) != 1 || got[0].ID != "b" {
		t.Errorf("CommentsAfter = %+v, want only b", got)
	}
}

func TestRuleChangingSomeFields(t *testing.T) {
	const src = `package rule

import (
	"strings"
	"tandem"
)

func Incoming(replica tandem.Replica, item *tandem.Item, ctx *tandem.Context) error {
	item.Status = ctx.MapValue(replica.Status, map[string]string{"todo": "Open", "done": "Resolved"}, item.Status)
	item.Labels = append(item.Labels, "from-"+strings.ToLower(ctx.Connection()))
	return nil
}
`
	p := mustCompile(t, "incoming.go", src)
	cur := sampleItem()
	got, _, err := p.Incoming(context.Background(), item.Replica{Title: "ignored", Status: "done", Description: "ignored"}, cur, Env{Connection: "ACME"})
	if err != nil {
		t.Fatal(err)
	}
	want := cur.Clone()
	want.Status = "Resolved"
	want.Labels = append(want.Labels, "from-acme")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Incoming:\n got %+v\nwant %+v", got, want)
	}
	if len(cur.Labels) != 2 {
		t.Errorf("Incoming changed the caller's labels: %q", cur.Labels)
	}
	if _, _, err := p.Outgoing(context.Background(), cur, Env{}); !errors.Is(err, ErrNoEntry) {
		t.Errorf("Outgoing on an incoming-only rule: error = %v, want ErrNoEntry", err)
	}
}

func TestNowFromEnv(t *testing.T) {
	p := mustCompile(t, "outgoing.go", outRule("", "\treplica.Title = ctx.Now().Format(\"2006-01-02\")"))
	fixed := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	r, _, err := p.Outgoing(context.Background(), item.Item{}, Env{Now: func() time.Time { return fixed }})
	if err != nil || r.Title != "2030-05-06" {
		t.Errorf("Outgoing = %q, %v; want 2030-05-06", r.Title, err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	out := mustCompile(t, "outgoing.go", DefaultOutgoing)
	in := mustCompile(t, "incoming.go", DefaultIncoming)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				it := sampleItem()
				it.Title = fmt.Sprintf("g%d-%d", g, i)
				r, _, err := out.Outgoing(context.Background(), it, Env{})
				if err == nil && r.Title != it.Title {
					err = fmt.Errorf("Outgoing title = %q, want %q", r.Title, it.Title)
				}
				if err == nil {
					var back item.Item
					back, _, err = in.Incoming(context.Background(), r, item.Item{}, Env{})
					if err == nil && back.Title != it.Title {
						err = fmt.Errorf("Incoming title = %q, want %q", back.Title, it.Title)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRTDefaultsMapStatusesBothWays(t *testing.T) {
	out, in := Defaults("rt")
	po, err := Compile("rt-out.go", out)
	if err != nil {
		t.Fatal(err)
	}
	pi, err := Compile("rt-in.go", in)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct{ rt, wire string }{{"new", "open"}, {"open", "in progress"}, {"stalled", "waiting"}, {"resolved", "resolved"}, {"rejected", "closed"}} {
		r, _, err := po.Outgoing(ctx, item.Item{Title: "t", Status: tc.rt}, Env{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != tc.wire {
			t.Errorf("outgoing status %q: got %q, want %q", tc.rt, r.Status, tc.wire)
		}
	}
	for _, tc := range []struct{ wire, rt string }{{"in progress", "open"}, {"waiting", "stalled"}, {"Done", "resolved"}, {"closed", "resolved"}, {"something odd", "open"}} {
		it, _, err := pi.Incoming(ctx, item.Replica{Title: "t", Status: tc.wire}, item.Item{}, Env{})
		if err != nil {
			t.Fatal(err)
		}
		if it.Status != tc.rt {
			t.Errorf("incoming status %q: got %q, want %q", tc.wire, it.Status, tc.rt)
		}
	}
	r, o, err := po.Outgoing(ctx, item.Item{Title: "t", Description: "mail alice@example.com", Comments: []item.Comment{{ID: "1", Body: "public"}, {ID: "2", Body: "secret", Internal: true}}}, Env{})
	if err != nil || o.Skip {
		t.Fatalf("outgoing: %v skip %v", err, o.Skip)
	}
	if len(r.Comments) != 1 || r.Comments[0].Body != "public" {
		t.Errorf("rt outgoing comments: got %+v, want only the public one", r.Comments)
	}
	if strings.Contains(r.Description, "alice@example.com") {
		t.Errorf("rt outgoing description leaks the address: %q", r.Description)
	}
	if _, o, _ := po.Outgoing(ctx, item.Item{Title: "t", Status: "deleted"}, Env{}); !o.Skip {
		t.Errorf("a deleted ticket was not skipped")
	}
}

func TestDefaultOutgoingKeepsInternalNotesHome(t *testing.T) {
	p, err := Compile("out.go", DefaultOutgoing)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := p.Outgoing(context.Background(), item.Item{Title: "t", Comments: []item.Comment{{ID: "1", Body: "hi"}, {ID: "2", Body: "note", Internal: true}}}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Comments) != 1 || r.Comments[0].ID != "1" {
		t.Errorf("default outgoing comments: got %+v, want only the public one", r.Comments)
	}
}

// A rule can set a custom field straight away, on a new item (no custom fields yet) and on a
// replica, e.g. to route tickets to an RT queue by label.
func TestRuleSetsCustomFieldsOnEmptyItems(t *testing.T) {
	const src = `package rule

import "tandem"

func Outgoing(item tandem.Item, replica *tandem.Replica, ctx *tandem.Context) error {
	replica.Title = item.Title
	replica.Custom["team"] = "platform"
	return nil
}

func Incoming(replica tandem.Replica, item *tandem.Item, ctx *tandem.Context) error {
	item.Title = replica.Title
	if ctx.HasLabel(replica.Labels, "billing") {
		item.Custom["Queue"] = "Billing"
	}
	return nil
}
`
	p := mustCompile(t, "routing.go", src)
	got, _, err := p.Incoming(context.Background(), item.Replica{Title: "Invoice wrong", Labels: []string{"billing"}}, item.Item{}, Env{})
	if err != nil {
		t.Fatalf("incoming on a new item: %v", err)
	}
	if got.Custom["Queue"] != "Billing" {
		t.Errorf("incoming custom fields: got %v, want Queue Billing", got.Custom)
	}
	if got, _, _ = p.Incoming(context.Background(), item.Replica{Title: "Printer"}, item.Item{}, Env{}); got.Custom != nil {
		t.Errorf("a rule that sets no custom field leaves %v, want none", got.Custom)
	}
	r, _, err := p.Outgoing(context.Background(), item.Item{Title: "x"}, Env{})
	if err != nil || r.Custom["team"] != "platform" {
		t.Errorf("outgoing custom fields: got %v, %v", r.Custom, err)
	}
}

func TestRunsShareOneLongLivedWorker(t *testing.T) {
	// A loop makes the rule one that could run long: it runs on the worker.
	p, err := Compile("rule.go", "package rule\n\nimport \"tandem\"\n\nfunc Outgoing(it tandem.Item, r *tandem.Replica, ctx *tandem.Context) error {\n\tfor _, l := range it.Labels {\n\t\tr.Labels = append(r.Labels, l)\n\t}\n\tr.Title = it.Title\n\treturn nil\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	if _, _, err := p.Outgoing(ctx, item.Item{Title: "warm"}, Env{}); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	for i := range 200 {
		r, _, err := p.Outgoing(ctx, item.Item{Title: fmt.Sprint(i)}, Env{})
		if err != nil || r.Title != fmt.Sprint(i) {
			t.Fatalf("run %d: %+v, %v", i, r, err)
		}
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("goroutines: %d before 200 runs, %d after; want the same worker to serve them all", before, after)
	}
	p.mu.Lock()
	working := p.working
	p.mu.Unlock()
	if !working {
		t.Errorf("no worker after the runs")
	}
	p.Close()
	if _, _, err := p.Outgoing(ctx, item.Item{}, Env{}); !errors.Is(err, ErrClosed) {
		t.Errorf("run after Close: err = %v, want ErrClosed", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		working = p.working
		p.mu.Unlock()
		if !working {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker did not end after Close")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A rule that always ends soon runs on the caller's goroutine: no worker starts, and what it
// does and reports is the same.
func TestABoundedRuleRunsWithoutAWorker(t *testing.T) {
	skipping := outRule("", "\tif item.Status == \"deleted\" {\n\t\tctx.Skip(\"deleted\")\n\t\treturn nil\n\t}\n\treplica.Title = item.Title\n\treplica.Comments = ctx.PublicComments(item.Comments)")
	for _, src := range []string{DefaultOutgoing, skipping} {
		p := mustCompile(t, "outgoing.go", src)
		if !p.inline {
			t.Fatalf("the rule is not run inline:\n%s", src)
		}
		it := sampleItem()
		it.Comments = []item.Comment{{ID: "1", Body: "public"}, {ID: "2", Body: "note", Internal: true}}
		r, _, err := p.Outgoing(context.Background(), it, Env{})
		if err != nil || r.Title != it.Title || len(r.Comments) != 1 {
			t.Fatalf("Outgoing = %+v, %v", r, err)
		}
		p.mu.Lock()
		working := p.working
		p.mu.Unlock()
		if working {
			t.Error("a worker started for a rule that always ends soon")
		}
		it.Status = "deleted"
		if _, o, err := p.Outgoing(context.Background(), it, Env{}); src == skipping && (err != nil || !o.Skip) {
			t.Errorf("a deleted item: %+v, %v; want a skip", o, err)
		}
		p.Close()
		if _, _, err := p.Outgoing(context.Background(), it, Env{}); !errors.Is(err, ErrClosed) {
			t.Errorf("run after Close: err = %v, want ErrClosed", err)
		}
	}
	if in := mustCompile(t, "incoming.go", DefaultIncoming); !in.inline {
		t.Error("the default incoming rule is not run inline")
	}
	p := mustCompile(t, "outgoing.go", outRule("", "\tpanic(\"boom\")"))
	if _, _, err := p.Outgoing(context.Background(), sampleItem(), Env{}); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("a panic in an inline run: err = %v", err)
	}
}

// Only a rule with no loop, goto or function of its own is taken to end soon.
func TestBoundedRun(t *testing.T) {
	for body, want := range map[string]bool{
		"\treplica.Title = item.Title": true,
		"\tif item.Title != \"\" {\n\t\treplica.Title = ctx.MapValue(item.Status, nil, \"x\")\n\t}": true,
		"\tfor {\n\t}": false,
		"\tfor _, l := range item.Labels {\n\t\t_ = l\n\t}": false,
		"\tf := func() {}\n\tf()":                           false,
		"again:\n\tgoto again":                              false,
	} {
		src := outRule("", body)
		f, err := parser.ParseFile(token.NewFileSet(), "r.go", src, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := boundedRun(f); got != want {
			t.Errorf("boundedRun(%q) = %v, want %v", body, got, want)
		}
	}
	helper := "package rule\n\nimport \"tandem\"\n\nfunc again(r *tandem.Replica) { again(r) }\n\nfunc Outgoing(item tandem.Item, replica *tandem.Replica, ctx *tandem.Context) error {\n\tagain(replica)\n\treturn nil\n}\n"
	f, err := parser.ParseFile(token.NewFileSet(), "r.go", helper, 0)
	if err != nil {
		t.Fatal(err)
	}
	if boundedRun(f) {
		t.Error("a rule with a function of its own (which may recurse) was taken to end soon")
	}
}

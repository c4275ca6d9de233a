package rules

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/tandemsync/tandem/core/item"
)

// testVault is an in-memory TokenVault for unit tests; core/vault is the real one.
type testVault struct{ values map[string]string }

func newTestVault() *testVault { return &testVault{values: map[string]string{}} }

func (v *testVault) Token(value string) (string, error) {
	for tok, val := range v.values {
		if val == value {
			return tok, nil
		}
	}
	tok := fmt.Sprintf("tok_%026d", len(v.values)+1)
	v.values[tok] = value
	return tok, nil
}

var testTokenRE = regexp.MustCompile(`tok_[0-9]{26}`)

func (v *testVault) Detokenize(s string) (string, error) {
	return testTokenRE.ReplaceAllStringFunc(s, func(tok string) string {
		if val, ok := v.values[tok]; ok {
			return val
		}
		return tok
	}), nil
}

func TestMatchingHelpers(t *testing.T) {
	c := newContext(Env{})
	bools := []struct {
		what string
		got  bool
		want bool
	}{
		{"Is case and space", c.Is(" Open ", "open"), true},
		{"Is different", c.Is("open", "opened"), false},
		{"OneOf hit", c.OneOf("Done", "open", "done"), true},
		{"OneOf none", c.OneOf("x"), false},
		{"Contains case", c.Contains("Printer on FIRE", "fire"), true},
		{"Contains miss", c.Contains("Printer", "fax"), false},
		{"HasAnyLabel", c.HasAnyLabel([]string{"UI", "bug"}, "x", "ui"), true},
		{"HasAnyLabel none", c.HasAnyLabel([]string{"UI"}, "x"), false},
		{"IsUser by email", c.IsUser(item.User{ID: "a1", Name: "Ann", Email: "ann@x.io"}, "ANN@x.io"), true},
		{"IsUser by name", c.IsUser(item.User{Name: "Ann"}, "ann"), true},
		{"IsUser nobody", c.IsUser(item.User{}, ""), false},
	}
	for _, b := range bools {
		if b.got != b.want {
			t.Errorf("%s = %v, want %v", b.what, b.got, b.want)
		}
	}
	users := map[string]item.User{"ann@red.io": {ID: "ann", Name: "Ann Local"}, "Bob": {ID: "bob"}}
	def := item.User{ID: "ops", Name: "Ops"}
	userTests := []struct {
		in, want item.User
	}{
		{item.User{Name: "Ann R", Email: "Ann@Red.io"}, item.User{ID: "ann", Name: "Ann Local"}},
		{item.User{Name: "bob"}, item.User{ID: "bob"}},
		{item.User{Name: "Carl"}, def},
		{item.User{}, item.User{}},
	}
	for _, tc := range userTests {
		if got := c.MapUser(tc.in, users, def); got != tc.want {
			t.Errorf("MapUser(%+v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	maskTests := []struct {
		in   string
		keep int
		with string
		want string
	}{
		{"4111 1111 1111 1111", 4, "#", "#### #### #### 1111"},
		{"secret", 2, "", "****et"},
		{"abc", 1, "xyz", "xxc"},
	}
	for _, tc := range maskTests {
		if got := c.MaskWith(tc.in, tc.keep, tc.with); got != tc.want {
			t.Errorf("MaskWith(%q, %d, %q) = %q, want %q", tc.in, tc.keep, tc.with, got, tc.want)
		}
	}
}

// TestRuleAPIInSandbox runs the additions through the interpreter, as rules use them.
func TestRuleAPIInSandbox(t *testing.T) {
	const src = `package rule

import "tandem"

var people = map[string]tandem.User{
	"ann@red.io": {ID: "ann", Name: "Ann Local"},
}

func Incoming(replica tandem.Replica, item *tandem.Item, ctx *tandem.Context) error {
	if !ctx.OneOf(replica.Status, "open", "waiting") {
		ctx.Skip("not open")
		return nil
	}
	item.Title = replica.Title
	item.Custom["customer"] = ctx.Detokenize(replica.Custom["customer"])
	item.Assignee = ctx.MapUser(replica.Assignee, people, tandem.User{ID: "ops"})
	if ctx.FirstSync() {
		item.Custom["Queue"] = "Support"
	}
	ctx.Conflict("title", "local")
	ctx.FollowCommentDeletions(false)
	ctx.Log("applied", "first", ctx.FirstSync())
	return nil
}
`
	p := mustCompile(t, "incoming.go", src)
	vault := newTestVault()
	tok, _ := vault.Token("ACME-42")
	r := item.Replica{Title: "Hello", Status: "Open", Assignee: item.User{Email: "ann@red.io"},
		Custom: map[string]string{"customer": "ref " + tok}}
	ctx := context.Background()

	it, o, err := p.Incoming(ctx, r, item.Item{}, Env{Vault: vault, FirstSync: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"customer": "ref ACME-42", "Queue": "Support"}
	if !reflect.DeepEqual(it.Custom, want) || it.Assignee.ID != "ann" || it.Title != "Hello" {
		t.Errorf("first sync: item %+v, want custom %v, assignee ann", it, want)
	}
	if !reflect.DeepEqual(o.Conflicts, map[string]string{"title": ConflictLocal}) || o.IgnoreCommentEdits || !o.IgnoreCommentDeletions {
		t.Errorf("outcome %+v: want title local, edits followed, deletions ignored", o)
	}
	if strings.Join(o.Logs, "|") != "applied first=true" {
		t.Errorf("logs %q", o.Logs)
	}

	it, _, err = p.Incoming(ctx, r, item.Item{Key: "L-1"}, Env{Vault: vault})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := it.Custom["Queue"]; ok {
		t.Errorf("update set the first-sync-only Queue: %v", it.Custom)
	}

	r.Status = "closed"
	_, o, err = p.Incoming(ctx, r, item.Item{}, Env{Vault: vault})
	if err != nil || !o.Skip || o.SkipReason != "not open" {
		t.Errorf("closed replica: skip %v (%q), err %v; want skipped as not open", o.Skip, o.SkipReason, err)
	}

	r.Status = "open"
	if _, _, err := p.Incoming(ctx, r, item.Item{}, Env{}); !errors.Is(err, ErrNoVault) {
		t.Errorf("Detokenize without a vault: err %v, want ErrNoVault", err)
	}
}

func TestConflictPolicyChecked(t *testing.T) {
	p := mustCompile(t, "incoming.go", `package rule

import "tandem"

func Incoming(replica tandem.Replica, item *tandem.Item, ctx *tandem.Context) error {
	ctx.Conflict("status", "mine")
	return nil
}
`)
	_, _, err := p.Incoming(context.Background(), item.Replica{}, item.Item{}, Env{})
	if err == nil || !strings.Contains(err.Error(), `unknown policy`) {
		t.Errorf("Conflict with policy mine: err %v, want unknown policy", err)
	}
}

// Package rulestest is an in-memory stand-in for the agent's rule API, for tests of the
// screens. It keeps versions, deployments and rollbacks like the agent, checks scripts with
// go/parser (syntax errors at their line), and answers test runs from the items it was given
// without running rules: the UI never runs yaegi.
package rulestest

import (
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/scanner"
	"go/token"
	"strings"
	"sync"
	"time"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules/model"
	"github.com/tandemsync/tandem/core/rules/srcdiff"
)

// Fake implements the Rules screen's Agent interface.
type Fake struct {
	mu       sync.Mutex
	versions map[string][]agent.RuleVersion // by connection/direction; version n at n-1
	live     map[string]int
	deploys  map[string][]deploy
	fail     map[string]error
	items    []item.Item
	now      time.Time

	pageReads int // items ItemPage returned

	// Tests are the test runs asked for, in order.
	Tests []TestCall
	// Author names the operator in saved versions.
	Author string
}

type deploy struct {
	version, from int
	rollback      bool
}

// TestCall is one TestRule call as the fake received it.
type TestCall struct {
	Conn, Dir string
	Draft     agent.RuleDraft
	Input     agent.RuleTestInput
}

// New returns an empty fake.
func New() *Fake {
	return &Fake{versions: map[string][]agent.RuleVersion{}, live: map[string]int{}, deploys: map[string][]deploy{},
		fail: map[string]error{}, Author: "Bea Blue (bea)", now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
}

// Failing makes the named method fail with err (nil: stop failing).
func (f *Fake) Failing(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.fail, method)
		return
	}
	f.fail[method] = err
}

// SetItems sets the items (newest first) that ItemPage and Item return and test runs read.
func (f *Fake) SetItems(items []item.Item) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items = items
}

// DefaultOutgoing and DefaultIncoming are the scripts a connection starts with here, as the
// agent's embedded defaults.
const (
	DefaultOutgoing = "package rule\n\nimport \"tandem\"\n\nfunc Outgoing(item tandem.Item, replica *tandem.Replica, ctx *tandem.Context) error {\n\treplica.Title = item.Title\n\treturn nil\n}\n"
	DefaultIncoming = "package rule\n\nimport \"tandem\"\n\nfunc Incoming(replica tandem.Replica, item *tandem.Item, ctx *tandem.Context) error {\n\titem.Title = replica.Title\n\treturn nil\n}\n"
)

// seed gives a connection and direction without versions its deployed version 1, the default
// script, as the agent does on first use; the caller holds f.mu.
func (f *Fake) seed(k string) {
	if len(f.versions[k]) > 0 {
		return
	}
	conn, dir, _ := strings.Cut(k, "/")
	source := DefaultOutgoing
	if dir == agent.RuleIncoming {
		source = DefaultIncoming
	}
	f.versions[k] = []agent.RuleVersion{{Connection: conn, Direction: dir, Number: 1, Created: f.now, Author: "Tandem",
		Note: "the default " + dir + " rule for embedded", Mode: agent.RuleScript, Source: source, Defaults: agent.TrackerEmbedded}}
	f.live[k] = 1
	f.deploys[k] = []deploy{{version: 1}}
}

func (f *Fake) failure(method string) error { return f.fail[method] }

func (f *Fake) version(k string, n int) (agent.RuleVersion, error) {
	f.seed(k)
	vs := f.versions[k]
	if n <= 0 || n > len(vs) {
		return agent.RuleVersion{}, fmt.Errorf("no rule version %d", n)
	}
	v := vs[n-1]
	v.Live = f.live[k] == n
	return v, nil
}

func (f *Fake) RuleVersion(ctx context.Context, connID, dir string, n int) (agent.RuleVersion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failure("RuleVersion"); err != nil {
		return agent.RuleVersion{}, err
	}
	k := connID + "/" + dir
	f.seed(k)
	if n == 0 {
		n = f.live[k]
	}
	return f.version(k, n)
}

func (f *Fake) RuleVersions(ctx context.Context, connID, dir string, offset, limit int) ([]agent.RuleVersion, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failure("RuleVersions"); err != nil {
		return nil, 0, err
	}
	k := connID + "/" + dir
	f.seed(k)
	vs := f.versions[k]
	var out []agent.RuleVersion
	for n := len(vs) - offset; n >= 1 && len(out) < limit; n-- {
		v, _ := f.version(k, n)
		out = append(out, v)
	}
	return out, len(vs), nil
}

func (f *Fake) SaveRule(ctx context.Context, connID, dir string, d agent.RuleDraft) (agent.RuleVersion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failure("SaveRule"); err != nil {
		return agent.RuleVersion{}, err
	}
	v := agent.RuleVersion{Connection: connID, Direction: dir, Mode: d.Mode, Note: d.Note, Author: f.Author}
	switch d.Mode {
	case agent.RuleVisual:
		src, err := model.Generate(d.Model)
		if err != nil {
			return agent.RuleVersion{}, err
		}
		v.Model, v.Source = d.Model.Clone(), src
	case agent.RuleScript:
		v.Source = d.Source
		if err := check(dir, d.Source); err != nil {
			v.CompileError = err.Error()
		}
	default:
		return agent.RuleVersion{}, fmt.Errorf("rule mode %q", d.Mode)
	}
	k := connID + "/" + dir
	f.seed(k)
	f.now = f.now.Add(time.Minute)
	v.Created = f.now
	v.Number = len(f.versions[k]) + 1
	f.versions[k] = append(f.versions[k], v)
	return v, nil
}

func (f *Fake) DeployRule(ctx context.Context, connID, dir string, n int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failure("DeployRule"); err != nil {
		return err
	}
	return f.setLive(connID+"/"+dir, n, false)
}

func (f *Fake) setLive(k string, n int, rollback bool) error {
	v, err := f.version(k, n)
	if err != nil {
		return err
	}
	if v.CompileError != "" {
		return fmt.Errorf("cannot deploy version %d: it does not compile: %s", n, v.CompileError)
	}
	f.deploys[k] = append(f.deploys[k], deploy{version: n, from: f.live[k], rollback: rollback})
	f.live[k] = n
	return nil
}

func (f *Fake) RollbackRule(ctx context.Context, connID, dir string) (agent.RuleVersion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failure("RollbackRule"); err != nil {
		return agent.RuleVersion{}, err
	}
	k := connID + "/" + dir
	rolled := map[int]bool{}
	ds := f.deploys[k]
	for i := len(ds) - 1; i >= 0; i-- {
		if ds[i].rollback {
			rolled[ds[i].from] = true
		}
		if ds[i].version != f.live[k] && !rolled[ds[i].version] {
			n := ds[i].version
			if err := f.setLive(k, n, true); err != nil {
				return agent.RuleVersion{}, err
			}
			return f.version(k, n)
		}
	}
	return agent.RuleVersion{}, errors.New("no earlier deployed version to roll back to")
}

// Live returns the live version's number.
func (f *Fake) Live(connID, dir string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.live[connID+"/"+dir]
}

// check reports a script's syntax errors with their line, as the agent reports compile errors.
func check(dir, src string) error {
	_, err := parser.ParseFile(token.NewFileSet(), dir+".go", src, parser.SkipObjectResolution)
	if err == nil {
		if !strings.Contains(src, "func Outgoing(") && !strings.Contains(src, "func Incoming(") {
			return &agent.RuleError{Message: "the rule defines no entry point", Err: errors.New("the rule defines no entry point")}
		}
		return nil
	}
	var list scanner.ErrorList
	if errors.As(err, &list) && len(list) > 0 {
		e := list[0]
		return &agent.RuleError{Line: e.Pos.Line, Column: e.Pos.Column, Message: e.Msg, Err: fmt.Errorf("%s rule: %s", dir, e)}
	}
	return err
}

func (f *Fake) CheckRule(ctx context.Context, dir, src string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failure("CheckRule"); err != nil {
		return err
	}
	return check(dir, src)
}

func (f *Fake) CompareRules(ctx context.Context, connID, dir string, from, to int) (agent.RuleComparison, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := connID + "/" + dir
	a, err := f.version(k, from)
	if err != nil {
		return agent.RuleComparison{}, err
	}
	b, err := f.version(k, to)
	if err != nil {
		return agent.RuleComparison{}, err
	}
	return agent.RuleComparison{From: a, To: b, Diff: srcdiff.Lines(a.Source, b.Source), Summary: model.Summary(a.Model, b.Model)}, nil
}

// TestRule answers from the item: outgoing, a replica of its title and status; incoming, the
// sample's title and status as changes. It records the call.
func (f *Fake) TestRule(ctx context.Context, connID, dir string, d agent.RuleDraft, in agent.RuleTestInput) (agent.RuleTestResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Tests = append(f.Tests, TestCall{Conn: connID, Dir: dir, Draft: d, Input: in})
	if err := f.failure("TestRule"); err != nil {
		return agent.RuleTestResult{}, err
	}
	var it item.Item
	for _, x := range f.items {
		if x.Key == in.ItemKey {
			it = x
		}
	}
	if in.ItemKey != "" && it.Key == "" {
		return agent.RuleTestResult{}, fmt.Errorf("read item %s: no such item", in.ItemKey)
	}
	res := agent.RuleTestResult{Direction: dir, ItemKey: in.ItemKey, Logs: []string{"fake run on " + in.ItemKey}}
	if dir == agent.RuleOutgoing {
		res.Replica = item.Replica{Title: it.Title, Status: it.Status}
		res.Changes = []agent.FieldChange{{Field: "status", Old: "", New: it.Status}}
		return res, nil
	}
	if in.Replica == nil {
		return agent.RuleTestResult{}, errors.New("give a sample")
	}
	res.Replica = *in.Replica
	if in.Replica.Title != it.Title {
		res.Changes = append(res.Changes, agent.FieldChange{Field: "title", Old: it.Title, New: in.Replica.Title})
	}
	if in.Replica.Status != it.Status {
		res.Changes = append(res.Changes, agent.FieldChange{Field: "status", Old: it.Status, New: in.Replica.Status})
	}
	return res, nil
}

func (f *Fake) ItemPage(ctx context.Context, offset, limit int) (agent.ItemPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failure("ItemPage"); err != nil {
		return agent.ItemPage{}, err
	}
	if limit <= 0 {
		limit = 100
	}
	page := agent.ItemPage{Total: len(f.items)}
	for _, it := range f.items[min(offset, len(f.items)):min(offset+limit, len(f.items))] {
		page.Items = append(page.Items, it.Summary())
	}
	f.pageReads += len(page.Items)
	return page, nil
}

func (f *Fake) Item(ctx context.Context, key string) (item.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failure("Item"); err != nil {
		return item.Item{}, err
	}
	for _, it := range f.items {
		if it.Key == key {
			return it.Clone(), nil
		}
	}
	return item.Item{}, fmt.Errorf("no item %s", key)
}

// PageItems is how many items the fake's ItemPage has returned in all.
func (f *Fake) PageItems() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pageReads
}

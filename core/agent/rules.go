package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/audit"
	"github.com/tandemsync/tandem/core/rules"
	"github.com/tandemsync/tandem/core/rules/model"
	"github.com/tandemsync/tandem/core/rules/srcdiff"
	"github.com/tandemsync/tandem/core/rules/versions"
)

// Rule directions, as the Rules screen and `tandem rules` name them.
const (
	RuleOutgoing = string(model.Outgoing)
	RuleIncoming = string(model.Incoming)
)

// Rule modes.
const (
	RuleVisual = versions.Visual
	RuleScript = versions.Script
)

// RuleSources are a connection's live outgoing and incoming rules, as Go source.
type RuleSources struct {
	Outgoing string    `json:"outgoing"`
	Incoming string    `json:"incoming"`
	Kind     string    `json:"kind"` // the tracker kind whose defaults both are, "" once either is the operator's
	Updated  time.Time `json:"updated"`
	// OutgoingVersion and IncomingVersion are the deployed versions' numbers.
	OutgoingVersion int `json:"outgoingVersion,omitempty"`
	IncomingVersion int `json:"incomingVersion,omitempty"`
}

// rulesBucket held each connection's RuleSources before rules had versions; it is read once to
// make a connection's first versions.
var rulesBucket = []byte("rules")

func defaultRules(kind string) RuleSources {
	if kind == "" {
		kind = TrackerEmbedded
	}
	out, in := rules.Defaults(kind)
	if c, ok := lookup(kind); ok && c.DefaultRules != nil {
		out, in = c.DefaultRules()
	}
	return RuleSources{Outgoing: out, Incoming: in, Kind: kind, Updated: time.Now().UTC()}
}

// kindName names a tracker kind in notes: its registry label.
func kindName(kind string) string {
	if c, ok := lookup(kind); ok && c.Label != "" {
		return c.Label
	}
	return kind
}

// author is who the version history names for the operator's actions: the operator of this
// agent (by default the signed-in OS user).
func (a *Agent) author() string {
	u := a.opt.Operator
	switch {
	case u.Name != "" && u.ID != "" && u.Name != u.ID:
		return u.Name + " (" + u.ID + ")"
	case u.Name != "":
		return u.Name
	case u.ID != "":
		return u.ID
	}
	return "unknown user"
}

// loadRules returns a connection's live rules. A connection without versions yet gets them:
// from the rules it had before versions were kept, or the defaults for kind.
func (a *Agent) loadRules(connID, kind string) (RuleSources, error) {
	legacy, found := RuleSources{}, false
	err := a.st.DB().View(func(tx *bolt.Tx) error {
		v := tx.Bucket(rulesBucket).Get([]byte(connID))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &legacy)
	})
	if err != nil {
		return RuleSources{}, fmt.Errorf("read rules of %s: %w", connID, err)
	}
	if !found {
		legacy = defaultRules(kind)
	}
	for _, dir := range []string{RuleOutgoing, RuleIncoming} {
		live, err := a.versions.Live(connID, dir)
		if err != nil {
			return RuleSources{}, err
		}
		if live != 0 {
			continue
		}
		v := versions.Version{Mode: RuleScript, Source: legacy.Outgoing, Author: "Tandem", Defaults: legacy.Kind}
		if dir == RuleIncoming {
			v.Source = legacy.Incoming
		}
		switch {
		case legacy.Kind != "":
			v.Note = "the default " + dir + " rule for " + kindName(legacy.Kind)
		default:
			v.Note = "the rule in use before versions were kept"
		}
		if err := a.saveAndDeploy(connID, dir, v, versions.ActionDeploy); err != nil {
			return RuleSources{}, err
		}
	}
	return a.liveSources(connID)
}

// saveAndDeploy saves v as a new version and makes it live in the store (not in a running
// engine: the caller swaps the program).
func (a *Agent) saveAndDeploy(connID, dir string, v versions.Version, action string) error {
	saved, err := a.versions.Save(connID, dir, v)
	if err != nil {
		return err
	}
	_, err = a.versions.SetLive(connID, dir, saved.Number, v.Author, action)
	return err
}

// liveSources reads the deployed versions of a connection.
func (a *Agent) liveSources(connID string) (RuleSources, error) {
	var rs RuleSources
	kinds := map[string]bool{}
	for _, dir := range []string{RuleOutgoing, RuleIncoming} {
		n, err := a.versions.Live(connID, dir)
		if err != nil {
			return rs, err
		}
		v, err := a.versions.Get(connID, dir, n)
		if err != nil {
			return rs, err
		}
		kinds[v.Defaults] = true
		if v.Created.After(rs.Updated) {
			rs.Updated = v.Created
		}
		if dir == RuleOutgoing {
			rs.Outgoing, rs.OutgoingVersion = v.Source, n
		} else {
			rs.Incoming, rs.IncomingVersion = v.Source, n
		}
	}
	if len(kinds) == 1 {
		for k := range kinds {
			rs.Kind = k
		}
	}
	return rs, nil
}

// followDefaults moves a connection's rules that are still a tracker's defaults to the
// defaults of kind, as new versions; the operator's own rules stay.
func (a *Agent) followDefaults(c *conn, kind string) error {
	def := defaultRules(kind)
	for _, dir := range []string{RuleOutgoing, RuleIncoming} {
		n, err := a.versions.Live(c.ID(), dir)
		if err != nil {
			return err
		}
		live, err := a.versions.Get(c.ID(), dir, n)
		if err != nil {
			return err
		}
		if live.Defaults == "" || live.Defaults == def.Kind {
			continue
		}
		src := def.Outgoing
		if dir == RuleIncoming {
			src = def.Incoming
		}
		v := versions.Version{Mode: RuleScript, Source: src, Author: "Tandem", Defaults: def.Kind,
			Note: "the default " + dir + " rule for " + kindName(def.Kind) + ", which this agent now syncs"}
		if err := a.saveAndDeploy(c.ID(), dir, v, versions.ActionDeploy); err != nil {
			return err
		}
	}
	rs, err := a.liveSources(c.ID())
	if err != nil {
		return err
	}
	c.rules.replace(newRuleSource(rs))
	return nil
}

// Rules returns a connection's live rules.
func (a *Agent) Rules(connID string) (RuleSources, error) {
	c, err := a.conn(connID)
	if err != nil {
		return RuleSources{}, err
	}
	return c.rules.sources(), nil
}

// SetRules makes both sources the connection's live rules after checking that they compile:
// each one that differs from the live rule is saved as a script version and deployed. The
// running engine uses them from its next change on.
func (a *Agent) SetRules(connID string, rs RuleSources) error {
	c, err := a.conn(connID)
	if err != nil {
		return err
	}
	if _, err := compileDirection(RuleOutgoing, rs.Outgoing); err != nil {
		return err
	}
	if _, err := compileDirection(RuleIncoming, rs.Incoming); err != nil {
		return err
	}
	live := c.rules.sources()
	for _, dir := range []string{RuleOutgoing, RuleIncoming} {
		src, cur := rs.Outgoing, live.Outgoing
		if dir == RuleIncoming {
			src, cur = rs.Incoming, live.Incoming
		}
		if src == cur {
			continue
		}
		v, err := a.SaveRule(context.Background(), connID, dir, RuleDraft{Mode: RuleScript, Source: src, Note: "set through the agent's API"})
		if err != nil {
			return err
		}
		if err := a.DeployRule(context.Background(), connID, dir, v.Number); err != nil {
			return err
		}
	}
	return nil
}

// RuleVersion is one saved version of a connection's rule.
type RuleVersion struct {
	Connection string
	Direction  string // RuleOutgoing or RuleIncoming
	Number     int
	Created    time.Time
	Author     string
	Note       string
	Mode       string      // RuleVisual or RuleScript
	Model      *model.Rule // the visual rule; nil for a script
	Source     string
	// CompileError is why the source does not compile; such a draft cannot be deployed.
	CompileError string
	Defaults     string // the tracker kind whose default rule this is, "" for the operator's own
	Live         bool   // this version is deployed
}

// RuleDraft is what the Rules screen or `tandem rules import` saves.
type RuleDraft struct {
	Mode   string      // RuleVisual or RuleScript
	Model  *model.Rule // for RuleVisual; its source is generated
	Source string      // for RuleScript
	Note   string      // the operator's note for the version history
}

// RuleError is a rule that does not compile, with the position of the problem.
type RuleError struct {
	Line, Column int    // 0 when the error has no position
	Message      string // without the position
	Err          error  // the whole error
}

func (e *RuleError) Error() string { return e.Err.Error() }
func (e *RuleError) Unwrap() error { return e.Err }

var positionRE = regexp.MustCompile(`^(?:[^\s:]+\.go):(\d+):(\d+):\s*(.*)$`)

// ruleError gives a compile error its line, when it names one.
func ruleError(err error) *RuleError {
	re := &RuleError{Message: err.Error(), Err: err}
	msg := err.Error()
	for _, prefix := range []string{RuleOutgoing + " rule: ", RuleIncoming + " rule: "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	if m := positionRE.FindStringSubmatch(msg); m != nil {
		re.Line, _ = strconv.Atoi(m[1])
		re.Column, _ = strconv.Atoi(m[2])
		re.Message = m[3]
	}
	return re
}

func checkDir(dir string) error {
	if dir != RuleOutgoing && dir != RuleIncoming {
		return fmt.Errorf("rule direction %q: want %s or %s", dir, RuleOutgoing, RuleIncoming)
	}
	return nil
}

// compileDirection compiles a rule for one direction, requiring its entry point.
func compileDirection(dir, src string) (*rules.Program, error) {
	p, err := rules.Compile(dir+".go", src)
	if err != nil {
		return nil, ruleError(fmt.Errorf("%s rule: %w", dir, err))
	}
	if dir == RuleOutgoing && !p.HasOutgoing() {
		return nil, &RuleError{Message: "the outgoing rule defines no Outgoing function", Err: errors.New("the outgoing rule defines no Outgoing function; it needs func Outgoing(item tandem.Item, replica *tandem.Replica, ctx *tandem.Context) error")}
	}
	if dir == RuleIncoming && !p.HasIncoming() {
		return nil, &RuleError{Message: "the incoming rule defines no Incoming function", Err: errors.New("the incoming rule defines no Incoming function; it needs func Incoming(replica tandem.Replica, item *tandem.Item, ctx *tandem.Context) error")}
	}
	return p, nil
}

// CheckRule compiles a rule source without saving it, for the script editor: nil, or a
// *RuleError with the line.
func (a *Agent) CheckRule(ctx context.Context, dir, src string) error {
	if err := checkDir(dir); err != nil {
		return err
	}
	_, err := compileDirection(dir, src)
	return err
}

// GenerateRule returns the Go source of a visual rule.
func (a *Agent) GenerateRule(ctx context.Context, m *model.Rule) (string, error) {
	return model.Generate(m)
}

// draftSource returns the source a draft stands for: generated for a visual rule.
func draftSource(dir string, d RuleDraft) (string, error) {
	switch d.Mode {
	case RuleVisual:
		if d.Model == nil {
			return "", errors.New("a visual rule needs its model")
		}
		if string(d.Model.Direction) != dir {
			return "", fmt.Errorf("the model is an %s rule, not an %s one", d.Model.Direction, dir)
		}
		return model.Generate(d.Model)
	case RuleScript:
		if strings.TrimSpace(d.Source) == "" {
			return "", errors.New("the script is empty")
		}
		return d.Source, nil
	}
	return "", fmt.Errorf("rule mode %q: want %s or %s", d.Mode, RuleVisual, RuleScript)
}

// SaveRule saves a draft as a new version without deploying it. A visual rule must be valid
// (nothing is saved otherwise); a script that does not compile is saved as a draft that says
// why, so no work is lost, and cannot be deployed until fixed.
func (a *Agent) SaveRule(ctx context.Context, connID, dir string, d RuleDraft) (RuleVersion, error) {
	if _, err := a.conn(connID); err != nil {
		return RuleVersion{}, err
	}
	if err := checkDir(dir); err != nil {
		return RuleVersion{}, err
	}
	src, err := draftSource(dir, d)
	if err != nil {
		return RuleVersion{}, err
	}
	v := versions.Version{Mode: d.Mode, Source: src, Note: strings.TrimSpace(d.Note), Author: a.author()}
	if d.Mode == RuleVisual {
		v.Model = d.Model.Clone()
	}
	if _, err := compileDirection(dir, src); err != nil {
		v.CompileError = err.Error()
	}
	saved, err := a.versions.Save(connID, dir, v)
	if err != nil {
		return RuleVersion{}, err
	}
	a.log.Info("rule version saved", "connection", connID, "direction", dir, "version", saved.Number, "mode", saved.Mode, "author", saved.Author)
	return a.ruleVersion(connID, dir, saved)
}

func (a *Agent) ruleVersion(connID, dir string, v versions.Version) (RuleVersion, error) {
	live, err := a.versions.Live(connID, dir)
	if err != nil {
		return RuleVersion{}, err
	}
	return RuleVersion{Connection: connID, Direction: dir, Number: v.Number, Created: v.Created, Author: v.Author, Note: v.Note,
		Mode: v.Mode, Model: v.Model, Source: v.Source, CompileError: v.CompileError, Defaults: v.Defaults, Live: v.Number == live}, nil
}

// RuleVersions lists a connection's versions for one direction, newest first: limit of them
// after skipping offset, and how many there are.
func (a *Agent) RuleVersions(ctx context.Context, connID, dir string, offset, limit int) ([]RuleVersion, int, error) {
	if _, err := a.conn(connID); err != nil {
		return nil, 0, err
	}
	if err := checkDir(dir); err != nil {
		return nil, 0, err
	}
	vs, total, err := a.versions.List(connID, dir, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	live, err := a.versions.Live(connID, dir)
	if err != nil {
		return nil, 0, err
	}
	out := make([]RuleVersion, len(vs))
	for i, v := range vs {
		out[i] = RuleVersion{Connection: connID, Direction: dir, Number: v.Number, Created: v.Created, Author: v.Author, Note: v.Note,
			Mode: v.Mode, Model: v.Model, Source: v.Source, CompileError: v.CompileError, Defaults: v.Defaults, Live: v.Number == live}
	}
	return out, total, nil
}

// RuleVersion returns version n of a connection's rule; 0 means the live one.
func (a *Agent) RuleVersion(ctx context.Context, connID, dir string, n int) (RuleVersion, error) {
	if _, err := a.conn(connID); err != nil {
		return RuleVersion{}, err
	}
	if err := checkDir(dir); err != nil {
		return RuleVersion{}, err
	}
	if n == 0 {
		var err error
		if n, err = a.versions.Live(connID, dir); err != nil {
			return RuleVersion{}, err
		}
	}
	v, err := a.versions.Get(connID, dir, n)
	if err != nil {
		return RuleVersion{}, err
	}
	return a.ruleVersion(connID, dir, v)
}

// DeployRule makes version n the live rule: the running engine uses it from its next change.
// A version that does not compile is refused with the reason, and the live rule stays.
func (a *Agent) DeployRule(ctx context.Context, connID, dir string, n int) error {
	return a.deploy(ctx, connID, dir, n, versions.ActionDeploy)
}

// RollbackRule deploys the version that was live before the current one and returns it.
func (a *Agent) RollbackRule(ctx context.Context, connID, dir string) (RuleVersion, error) {
	if _, err := a.conn(connID); err != nil {
		return RuleVersion{}, err
	}
	if err := checkDir(dir); err != nil {
		return RuleVersion{}, err
	}
	prev, err := a.versions.Previous(connID, dir)
	if err != nil {
		return RuleVersion{}, err
	}
	if prev == 0 {
		return RuleVersion{}, fmt.Errorf("the %s rule of %s has no earlier deployed version to roll back to", dir, connID)
	}
	if err := a.deploy(ctx, connID, dir, prev, versions.ActionRollback); err != nil {
		return RuleVersion{}, err
	}
	return a.RuleVersion(ctx, connID, dir, prev)
}

func (a *Agent) deploy(ctx context.Context, connID, dir string, n int, action string) error {
	c, err := a.conn(connID)
	if err != nil {
		return err
	}
	if err := checkDir(dir); err != nil {
		return err
	}
	v, err := a.versions.Get(connID, dir, n)
	if err != nil {
		return err
	}
	verb := "deploy"
	if action == versions.ActionRollback {
		verb = "roll back to"
	}
	p, err := compileDirection(dir, v.Source)
	if err != nil {
		return fmt.Errorf("cannot %s %s rule version %d: it does not compile: %w", verb, dir, n, err)
	}
	d, err := a.versions.SetLive(connID, dir, n, a.author(), action)
	if err != nil {
		return err
	}
	c.rules.set(dir, v.Source, n, v.Defaults, p)
	a.log.Info("rule "+action, "connection", connID, "direction", dir, "version", n, "from", d.From, "author", d.Author)
	kind, did := audit.KindRuleDeploy, "deployed"
	if action == versions.ActionRollback {
		kind, did = audit.KindRuleRollback, "rolled back to"
	}
	rec := c.recSnapshot()
	a.record(ctx, kind, fmt.Sprintf("connection %s with %s: %s rule %s version %d (%s, saved %s by %s%s); version %d was live",
		rec.ID, rec.PartnerName, dir, did, n, v.Mode, v.Created.Format(time.RFC3339), v.Author, noteWords(v.Note), d.From))
	return nil
}

func noteWords(note string) string {
	if note == "" {
		return ""
	}
	return ": " + strconv.Quote(note)
}

// RuleDeployment is one deploy or rollback in a rule's history.
type RuleDeployment struct {
	Version int
	From    int // the version live before; 0 if none
	At      time.Time
	Author  string
	Action  string // "deploy" or "rollback"
}

// RuleDeployments lists a rule's deployments, newest first.
func (a *Agent) RuleDeployments(ctx context.Context, connID, dir string, offset, limit int) ([]RuleDeployment, error) {
	if _, err := a.conn(connID); err != nil {
		return nil, err
	}
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	ds, err := a.versions.Deployments(connID, dir, offset, limit)
	if err != nil {
		return nil, err
	}
	out := make([]RuleDeployment, len(ds))
	for i, d := range ds {
		out[i] = RuleDeployment{Version: d.Version, From: d.From, At: d.At, Author: d.Author, Action: d.Action}
	}
	return out, nil
}

// RuleComparison compares two versions of a rule.
type RuleComparison struct {
	From, To RuleVersion
	Diff     []srcdiff.Line // the source, line by line
	Summary  []string       // what changed in the mappings, in plain words
}

// CompareRules compares versions from and to of a rule.
func (a *Agent) CompareRules(ctx context.Context, connID, dir string, from, to int) (RuleComparison, error) {
	va, err := a.RuleVersion(ctx, connID, dir, from)
	if err != nil {
		return RuleComparison{}, err
	}
	vb, err := a.RuleVersion(ctx, connID, dir, to)
	if err != nil {
		return RuleComparison{}, err
	}
	sum := model.Summary(va.Model, vb.Model)
	if va.Model == nil && vb.Model == nil {
		r, ad := srcdiff.Count(srcdiff.Lines(va.Source, vb.Source))
		sum = []string{fmt.Sprintf("both are scripts: %d lines removed, %d added", r, ad)}
		if r == 0 && ad == 0 {
			sum = []string{"no change"}
		}
	}
	return RuleComparison{From: va, To: vb, Diff: srcdiff.Lines(va.Source, vb.Source), Summary: sum}, nil
}

package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/audit"
	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules"
	"github.com/tandemsync/tandem/core/secrets"
	"github.com/tandemsync/tandem/core/trackers/connector"
	"github.com/tandemsync/tandem/core/trackers/rt"
)

// TrackerSettings say which tracker the agent syncs and how to reach it: the registry's
// kind and the values of its settings fields. Secrets are not here: they live in the OS
// keychain.
type TrackerSettings struct {
	Kind              string            `json:"kind"`             // a registry kind, e.g. "embedded", "rt", "github"
	Values            map[string]string `json:"values,omitempty"` // by field key; lists comma-separated
	Poll              time.Duration     `json:"poll,omitempty"`   // how often to ask a remote tracker for changes; default 10s
	RequestsPerMinute int               `json:"rpm,omitempty"`    // request budget; 0 is unlimited
	Timeout           time.Duration     `json:"timeout,omitempty"`
}

// UnmarshalJSON also reads the settings of data directories from before the registry, when
// only RT had settings (url, queues, user at the top level).
func (s *TrackerSettings) UnmarshalJSON(b []byte) error {
	type plain TrackerSettings
	var v struct {
		plain
		URL    string   `json:"url"`
		Queues []string `json:"queues"`
		User   string   `json:"user"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = TrackerSettings(v.plain)
	if v.URL != "" || len(v.Queues) > 0 || v.User != "" {
		if s.Values == nil {
			s.Values = map[string]string{}
		}
		s.Values["url"], s.Values["queues"] = v.URL, strings.Join(v.Queues, ", ")
		s.Values["auth"] = rt.AuthToken
		if v.User != "" {
			s.Values["auth"], s.Values["user"] = rt.AuthPassword, v.User
		}
	}
	return nil
}

// Describe names the tracker for people, e.g. "Request Tracker at https://rt.example.com (General)".
func (s TrackerSettings) Describe() string {
	c, ok := lookup(s.Kind)
	if !ok {
		return fmt.Sprintf("unknown tracker %q", s.Kind)
	}
	if c.Describe == nil {
		return c.Label
	}
	return c.Describe(s.Values)
}

// summary is the settings in one line for the audit log: kind, values, poll and budget (no
// secret is ever among the values).
func (s TrackerSettings) summary() string {
	keys := make([]string, 0, len(s.Values))
	for k := range s.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := []string{s.Kind}
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, s.Values[k]))
	}
	if s.Poll > 0 {
		parts = append(parts, "poll="+s.Poll.String())
	}
	if s.RequestsPerMinute > 0 {
		parts = append(parts, fmt.Sprintf("rpm=%d", s.RequestsPerMinute))
	}
	if s.Timeout > 0 {
		parts = append(parts, "timeout="+s.Timeout.String())
	}
	return strings.Join(parts, " ")
}

// TrackerCheck is the outcome of testing tracker settings, for the Settings screen.
type TrackerCheck struct {
	OK            bool
	Summary       string // one line for the operator: what works, or exactly what is wrong
	Reachable     bool
	AuthOK        bool
	User, Version string
	Scope         string   // what Found and Missing list: "queues", "repositories", "projects"
	Found         []string // configured containers the account can see
	Missing       []string // configured containers missing or hidden from the account
}

var trackerKey = []byte("tracker")

var secretsNotFound = secrets.ErrNotFound

// secretAccount is the keychain entry of a connector's secret field for this data directory.
// RT's credential keeps the name it had before the registry.
func (a *Agent) secretAccount(kind, field string) string {
	if kind == TrackerRT && field == "credential" {
		return "tracker-credential:" + a.opt.Dir
	}
	return "tracker-" + kind + "-" + field + ":" + a.opt.Dir
}

func (a *Agent) loadTrackerSettings() (TrackerSettings, error) {
	s := TrackerSettings{Kind: TrackerEmbedded}
	err := a.st.DB().View(func(tx *bolt.Tx) error {
		v := tx.Bucket(agentBucket).Get(trackerKey)
		if v == nil {
			return nil
		}
		return json.Unmarshal(v, &s)
	})
	if err != nil {
		return s, fmt.Errorf("read tracker settings: %w", err)
	}
	return s, nil
}

// buildTracker makes the tracker the settings describe. A secret missing from typed (or
// empty) is read from the keychain.
func (a *Agent) buildTracker(ctx context.Context, s TrackerSettings, typed map[string]string) (engine.Tracker, error) {
	c, ok := lookup(s.Kind)
	if !ok {
		return nil, fmt.Errorf("unknown tracker kind %q: choose one of %s", s.Kind, strings.Join(kinds(), ", "))
	}
	if c.Build == nil {
		return a.local, nil
	}
	values := connector.Values(s.Values)
	secrets := connector.Values{}
	for _, f := range c.Fields {
		if !f.IsSecret() || !f.Applies(values) {
			continue
		}
		if v := strings.TrimSpace(typed[f.Key]); v != "" {
			secrets[f.Key] = typed[f.Key]
			continue
		}
		v, err := a.opt.Keys.Get(ctx, a.secretAccount(c.Kind, f.Key))
		switch {
		case errors.Is(err, secretsNotFound):
			if f.Required {
				return nil, fmt.Errorf("no %s %s in the keychain: enter it in Settings", c.Label, strings.ToLower(f.Label))
			}
		case err != nil:
			return nil, fmt.Errorf("read the %s %s from the keychain: %w", c.Label, strings.ToLower(f.Label), err)
		default:
			secrets[f.Key] = v
		}
	}
	if err := c.Validate(values, secrets, func(string) bool { return false }); err != nil {
		return nil, err
	}
	return c.Build(connector.Env{Values: values, Secrets: secrets, RequestsPerMinute: s.RequestsPerMinute, Timeout: s.Timeout,
		Transport: a.opt.TrackerTransport, Logger: a.log, Memory: a.connectorMemory(c.Kind, values)})
}

// connectorMemory is a connector's durable notebook (connector.Memory) in the agent's bbolt
// file, one bucket per tracker kind and address: connectors/<kind url>: key -> value.
func (a *Agent) connectorMemory(kind string, values connector.Values) connector.Memory {
	return a.st.Notebook("connectors", kind+" "+values["url"])
}

// TrackerSettings returns the current tracker settings.
func (a *Agent) TrackerSettings(ctx context.Context) (TrackerSettings, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.settings, nil
}

// TestTracker checks settings without saving them: reachable, credential accepted, the
// configured queues, repositories or projects found. A secret left empty is the one in the
// keychain.
func (a *Agent) TestTracker(ctx context.Context, s TrackerSettings, secrets map[string]string) TrackerCheck {
	tr, err := a.buildTracker(ctx, s, secrets)
	if err != nil {
		return TrackerCheck{Summary: err.Error()}
	}
	tester, ok := tr.(connector.Tester)
	if !ok {
		return TrackerCheck{OK: true, Reachable: true, AuthOK: true, Summary: "The embedded tracker is always ready."}
	}
	c := tester.TestConnection(ctx)
	return TrackerCheck{OK: c.OK(), Summary: c.String(), Reachable: c.Reachable, AuthOK: c.AuthOK, User: c.User, Version: c.Version,
		Scope: c.Scope, Found: c.Found, Missing: c.Missing}
}

// SaveTrackerSettings stores the settings (and the secrets typed, in the keychain) and
// switches every connection to the tracker they describe. Changing the tracker restarts
// change detection from the beginning of the new tracker, so its existing items are offered
// to the partners.
func (a *Agent) SaveTrackerSettings(ctx context.Context, s TrackerSettings, secrets map[string]string) error {
	if s.Kind == "" {
		s.Kind = TrackerEmbedded
	}
	c, ok := lookup(s.Kind)
	if !ok {
		return fmt.Errorf("unknown tracker kind %q: choose one of %s", s.Kind, strings.Join(kinds(), ", "))
	}
	tr, err := a.buildTracker(ctx, s, secrets)
	if err != nil {
		return err
	}
	// Only the connector's own settings are kept: a value typed for another kind is not.
	kept := map[string]string{}
	for _, f := range c.Fields {
		if v := strings.TrimSpace(s.Values[f.Key]); v != "" && !f.IsSecret() {
			kept[f.Key] = v
		}
	}
	s.Values = kept
	if len(kept) == 0 {
		s.Values = nil
	}
	for _, f := range c.Fields {
		if v := strings.TrimSpace(secrets[f.Key]); v != "" && f.IsSecret() {
			if err := a.opt.Keys.Set(ctx, a.secretAccount(c.Kind, f.Key), secrets[f.Key]); err != nil {
				return fmt.Errorf("keep the %s %s in the keychain: %w", c.Label, strings.ToLower(f.Label), err)
			}
			a.record(ctx, audit.KindSecret, fmt.Sprintf("%s %s stored in %s", c.Label, strings.ToLower(f.Label), a.Secrets())) // never the value
		}
	}
	v, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := a.st.DB().Update(func(tx *bolt.Tx) error { return tx.Bucket(agentBucket).Put(trackerKey, v) }); err != nil {
		return fmt.Errorf("save tracker settings: %w", err)
	}
	a.mu.Lock()
	old := a.settings
	a.mu.Unlock()
	a.record(ctx, audit.KindSettings, "tracker set: "+s.summary()+" (was "+old.summary()+")")
	moved := old.Kind != s.Kind || !sameValues(old.Values, s.Values, "url", "queues", "repositories", "projects")
	return a.useTracker(tr, s, moved)
}

// sameValues reports whether a and b agree on keys.
func sameValues(a, b map[string]string, keys ...string) bool {
	for _, k := range keys {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

// useTracker points every connection at tr, restarting the running engines; reset clears
// their change cursors.
func (a *Agent) useTracker(tr engine.Tracker, s TrackerSettings, reset bool) error {
	a.mu.Lock()
	a.sync, a.settings = tr, s
	select {
	case a.trackerChanged <- struct{}{}:
	default: // already told
	}
	conns := make([]*conn, 0, len(a.conns))
	for _, c := range a.conns {
		conns = append(conns, c)
	}
	a.mu.Unlock()
	for _, c := range conns {
		running := a.stopConn(c)
		if reset {
			if err := engine.ResetCursor(a.st, c.rec.ID); err != nil {
				return err
			}
		}
		// Rules still on the old tracker's defaults follow the tracker; edited rules stay.
		if err := a.followDefaults(c, s.Kind); err != nil {
			return err
		}
		eng, err := a.newEngine(c)
		if err != nil {
			return err
		}
		a.mu.Lock()
		c.eng = eng
		a.mu.Unlock()
		if running {
			a.newConns <- c
		}
	}
	return nil
}

// unavailableTracker stands in for a tracker the agent cannot build (no credential, bad
// settings): every call fails with the reason, so events wait and the app shows why.
type unavailableTracker struct{ err error }

func (u unavailableTracker) Changes(context.Context, string, int) ([]item.Item, string, error) {
	return nil, "", u.err
}
func (u unavailableTracker) Get(context.Context, string) (item.Item, error) {
	return item.Item{}, u.err
}
func (u unavailableTracker) Apply(context.Context, []engine.Write) ([]engine.WriteResult, error) {
	return nil, u.err
}

// ruleSource holds a connection's live rule programs, compiling them again if a run that
// overran its deadline retired them.
type ruleSource struct {
	mu            sync.Mutex
	kind          string // the tracker kind whose defaults these are, "" once either is the operator's
	outSrc, inSrc string
	outVer, inVer int // the deployed versions
	outDef, inDef string
	out, in       *rules.Program
}

func newRuleSource(rs RuleSources) *ruleSource {
	r := &ruleSource{kind: rs.Kind, outSrc: rs.Outgoing, inSrc: rs.Incoming, outVer: rs.OutgoingVersion, inVer: rs.IncomingVersion}
	if rs.Kind != "" {
		r.outDef, r.inDef = rs.Kind, rs.Kind
	}
	return r
}

func (r *ruleSource) sources() RuleSources {
	r.mu.Lock()
	defer r.mu.Unlock()
	return RuleSources{Outgoing: r.outSrc, Incoming: r.inSrc, Kind: r.kind, OutgoingVersion: r.outVer, IncomingVersion: r.inVer}
}

// replace swaps in other's sources and programs, so engines holding r see them at once.
func (r *ruleSource) replace(other *ruleSource) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kind, r.outSrc, r.inSrc, r.out, r.in = other.kind, other.outSrc, other.inSrc, other.out, other.in
	r.outVer, r.inVer, r.outDef, r.inDef = other.outVer, other.inVer, other.outDef, other.inDef
}

// set swaps in one direction's deployed version, already compiled.
func (r *ruleSource) set(dir, src string, version int, defaults string, p *rules.Program) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if dir == RuleOutgoing {
		r.outSrc, r.outVer, r.outDef, r.out = src, version, defaults, p
	} else {
		r.inSrc, r.inVer, r.inDef, r.in = src, version, defaults, p
	}
	r.kind = ""
	if r.outDef != "" && r.outDef == r.inDef {
		r.kind = r.outDef
	}
}

func (r *ruleSource) programs() (out, in *rules.Program, err error) {
	out, in, _, _, err = r.live()
	return out, in, err
}

// live returns the programs with the numbers of the versions they were compiled from.
func (r *ruleSource) live() (out, in *rules.Program, outVer, inVer int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.out == nil || r.out.Retired() != nil {
		if r.out, err = rules.Compile("outgoing.go", r.outSrc); err != nil {
			return nil, nil, 0, 0, fmt.Errorf("outgoing rule: %w", err)
		}
	}
	if r.in == nil || r.in.Retired() != nil {
		if r.in, err = rules.Compile("incoming.go", r.inSrc); err != nil {
			return nil, nil, 0, 0, fmt.Errorf("incoming rule: %w", err)
		}
	}
	return r.out, r.in, r.outVer, r.inVer, nil
}

// ruleSet adapts the rule programs to what the engine needs, counting runs.
type ruleSet struct {
	src  *ruleSource
	env  rules.Env
	runs *atomic.Int64
}

func (r ruleSet) Outgoing(ctx context.Context, it item.Item, first bool) (item.Replica, engine.RuleResult, error) {
	r.runs.Add(1)
	out, _, ver, _, err := r.src.live()
	if err != nil {
		return item.Replica{}, engine.RuleResult{}, err
	}
	env := r.env
	env.FirstSync = first
	rep, o, err := out.Outgoing(ctx, it, env)
	return rep, ruleResult(o, ver), err
}

func (r ruleSet) Incoming(ctx context.Context, rep item.Replica, cur item.Item, first bool) (item.Item, engine.RuleResult, error) {
	r.runs.Add(1)
	_, in, _, ver, err := r.src.live()
	if err != nil {
		return item.Item{}, engine.RuleResult{}, err
	}
	env := r.env
	env.FirstSync = first
	it, o, err := in.Incoming(ctx, rep, cur, env)
	return it, ruleResult(o, ver), err
}

func ruleResult(o rules.Outcome, version int) engine.RuleResult {
	return engine.RuleResult{Skip: o.Skip, Reason: o.SkipReason, Logs: o.Logs, Version: version, Conflicts: o.Conflicts,
		IgnoreCommentEdits: o.IgnoreCommentEdits, IgnoreCommentDeletions: o.IgnoreCommentDeletions}
}

// HasTrackerSecret reports whether the keychain holds the secret field key of tracker kind.
func (a *Agent) HasTrackerSecret(ctx context.Context, kind, key string) bool {
	_, err := a.opt.Keys.Get(ctx, a.secretAccount(kind, key))
	return err == nil
}

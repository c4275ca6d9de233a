package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules"
	"github.com/tandemsync/tandem/core/secrets"
	"github.com/tandemsync/tandem/core/trackers/rt"
)

// Tracker kinds.
const (
	TrackerEmbedded = "embedded"
	TrackerRT       = "rt"
)

// TrackerSettings say which tracker the agent syncs and how to reach it. The credential is
// not here: it lives in the OS keychain.
type TrackerSettings struct {
	Kind              string        `json:"kind"`              // TrackerEmbedded or TrackerRT
	URL               string        `json:"url,omitempty"`     // RT's web address
	Queues            []string      `json:"queues,omitempty"`  // RT queues to sync
	User              string        `json:"user,omitempty"`    // basic-auth user; empty: the credential is a token
	Poll              time.Duration `json:"poll,omitempty"`    // how often to ask RT for changes; default 10s
	RequestsPerMinute int           `json:"rpm,omitempty"`     // request budget; 0 is unlimited
	Timeout           time.Duration `json:"timeout,omitempty"` // bound on one request; default 30s
}

// Describe names the tracker for people, e.g. "Request Tracker at https://rt.example.com (General)".
func (s TrackerSettings) Describe() string {
	if s.Kind == TrackerRT {
		return fmt.Sprintf("Request Tracker at %s (%s)", s.URL, strings.Join(s.Queues, ", "))
	}
	return "embedded"
}

// TrackerCheck is the outcome of testing tracker settings, for the Settings screen.
type TrackerCheck struct {
	OK            bool
	Summary       string // one line for the operator: what works, or exactly what is wrong
	Reachable     bool
	AuthOK        bool
	User, Version string
	QueuesFound   []string
	QueuesMissing []string
}

var trackerKey = []byte("tracker")

func (a *Agent) credentialAccount() string { return "tracker-credential:" + a.opt.Dir }

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

// buildTracker makes the tracker the settings describe; credential "" means the one in the
// keychain.
func (a *Agent) buildTracker(ctx context.Context, s TrackerSettings, credential string) (engine.Tracker, error) {
	switch s.Kind {
	case TrackerEmbedded, "":
		return a.local, nil
	case TrackerRT:
	default:
		return nil, fmt.Errorf("unknown tracker kind %q: choose embedded or rt", s.Kind)
	}
	if credential == "" {
		c, err := a.opt.Keys.Get(ctx, a.credentialAccount())
		if errors.Is(err, secrets.ErrNotFound) {
			return nil, errors.New("no RT credential in the keychain: enter the token or password in Settings")
		}
		if err != nil {
			return nil, fmt.Errorf("read the RT credential from the keychain: %w", err)
		}
		credential = c
	}
	cfg := rt.Config{URL: s.URL, Queues: s.Queues, RequestsPerMinute: s.RequestsPerMinute, Timeout: s.Timeout, Logger: a.log}
	if s.User != "" {
		cfg.User, cfg.Password = s.User, credential
	} else {
		cfg.Token = credential
	}
	return rt.New(cfg)
}

// TrackerSettings returns the current tracker settings.
func (a *Agent) TrackerSettings(ctx context.Context) (TrackerSettings, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.settings, nil
}

// TestTracker checks settings without saving them: reachable, credential accepted, queues
// found. An empty credential tests the one in the keychain.
func (a *Agent) TestTracker(ctx context.Context, s TrackerSettings, credential string) TrackerCheck {
	tr, err := a.buildTracker(ctx, s, credential)
	if err != nil {
		return TrackerCheck{Summary: err.Error()}
	}
	r, ok := tr.(*rt.Tracker)
	if !ok {
		return TrackerCheck{OK: true, Reachable: true, AuthOK: true, Summary: "The embedded tracker is always ready."}
	}
	c := r.TestConnection(ctx)
	return TrackerCheck{OK: c.OK(), Summary: c.String(), Reachable: c.Reachable, AuthOK: c.AuthOK, User: c.User, Version: c.Version,
		QueuesFound: c.QueuesFound, QueuesMissing: c.QueuesMissing}
}

// SaveTrackerSettings stores the settings (and a non-empty credential, in the keychain) and
// switches every connection to the tracker they describe. Changing the tracker restarts
// change detection from the beginning of the new tracker, so its existing items are offered
// to the partners.
func (a *Agent) SaveTrackerSettings(ctx context.Context, s TrackerSettings, credential string) error {
	if s.Kind == "" {
		s.Kind = TrackerEmbedded
	}
	tr, err := a.buildTracker(ctx, s, credential)
	if err != nil {
		return err
	}
	if credential != "" {
		if err := a.opt.Keys.Set(ctx, a.credentialAccount(), credential); err != nil {
			return fmt.Errorf("keep the RT credential in the keychain: %w", err)
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
	moved := old.Kind != s.Kind || old.URL != s.URL || strings.Join(old.Queues, "\n") != strings.Join(s.Queues, "\n")
	return a.useTracker(tr, s, moved)
}

// useTracker points every connection at tr, restarting the running engines; reset clears
// their change cursors.
func (a *Agent) useTracker(tr engine.Tracker, s TrackerSettings, reset bool) error {
	a.mu.Lock()
	a.sync, a.settings = tr, s
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
		if cur := c.rules.sources(); cur.Kind != "" && cur.Kind != s.Kind {
			rs := defaultRules(s.Kind)
			if err := a.saveRules(c.rec.ID, rs); err != nil {
				return err
			}
			c.rules.replace(newRuleSource(rs))
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

// ruleSource holds a connection's rule programs, compiling them again if a run that overran
// its deadline retired them.
type ruleSource struct {
	kind          string // the tracker kind whose defaults these are, "" once edited
	outSrc, inSrc string
	mu            sync.Mutex
	out, in       *rules.Program
}

func newRuleSource(rs RuleSources) *ruleSource {
	return &ruleSource{kind: rs.Kind, outSrc: rs.Outgoing, inSrc: rs.Incoming}
}

func (r *ruleSource) sources() RuleSources {
	r.mu.Lock()
	defer r.mu.Unlock()
	return RuleSources{Outgoing: r.outSrc, Incoming: r.inSrc, Kind: r.kind}
}

// replace swaps in other's sources and programs, so engines holding r see them at once.
func (r *ruleSource) replace(other *ruleSource) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kind, r.outSrc, r.inSrc, r.out, r.in = other.kind, other.outSrc, other.inSrc, other.out, other.in
}

func (r *ruleSource) programs() (out, in *rules.Program, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.out == nil || r.out.Retired() != nil {
		if r.out, err = rules.Compile("outgoing.go", r.outSrc); err != nil {
			return nil, nil, fmt.Errorf("outgoing rule: %w", err)
		}
	}
	if r.in == nil || r.in.Retired() != nil {
		if r.in, err = rules.Compile("incoming.go", r.inSrc); err != nil {
			return nil, nil, fmt.Errorf("incoming rule: %w", err)
		}
	}
	return r.out, r.in, nil
}

// ruleSet adapts the rule programs to what the engine needs.
type ruleSet struct {
	src *ruleSource
	env rules.Env
}

func (r ruleSet) Outgoing(ctx context.Context, it item.Item) (item.Replica, bool, error) {
	out, _, err := r.src.programs()
	if err != nil {
		return item.Replica{}, false, err
	}
	rep, o, err := out.Outgoing(ctx, it, r.env)
	return rep, o.Skip, err
}

func (r ruleSet) Incoming(ctx context.Context, rep item.Replica, cur item.Item) (item.Item, bool, error) {
	_, in, err := r.src.programs()
	if err != nil {
		return item.Item{}, false, err
	}
	it, o, err := in.Incoming(ctx, rep, cur, r.env)
	return it, o.Skip, err
}

// Package agent is Tandem's composition root: it builds everything for one data directory,
// supervises the sync loops, and is the API the app and the command line call.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/audit"
	"github.com/tandemsync/tandem/core/control"
	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/history"
	"github.com/tandemsync/tandem/core/identity"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/pairing"
	"github.com/tandemsync/tandem/core/queue"
	"github.com/tandemsync/tandem/core/rules"
	"github.com/tandemsync/tandem/core/rules/versions"
	"github.com/tandemsync/tandem/core/secrets"
	"github.com/tandemsync/tandem/core/store"
	"github.com/tandemsync/tandem/core/trackers/local"
	"github.com/tandemsync/tandem/core/transport"
	"github.com/tandemsync/tandem/core/vault"
)

// Version is the app version reported to partners.
var Version = "0.1.0"

// ProtocolVersion is the wire protocol this build speaks.
const ProtocolVersion = 1

// Keys is where the agent keeps its private key: the OS keychain, or memory for throwaway
// demo agents.
type Keys interface {
	Get(ctx context.Context, account string) (string, error)
	Set(ctx context.Context, account, secret string) error
}

// Options configure an agent. Name, Listen and URL are kept in the data directory: given, they
// replace what is kept; empty, the kept values apply (see Address).
type Options struct {
	Dir    string // the data directory
	Name   string // the name partners see; default: the directory's base name
	Listen string // address to serve partners on, e.g. "127.0.0.1:7443"; NoListener for none
	URL    string // the URL partners use; default https://<listen address>
	// DefaultListen is the listen address on first use when Listen is empty; "" means none.
	DefaultListen string
	// Offline opens the data directory for one command while no agent runs on it: no listener
	// and no control socket; invitations still carry the address partners will dial.
	Offline bool
	Prefix  string // the embedded tracker's key prefix
	Keys    Keys   // default: KeysFunc's, else the OS keychain
	// KeysFunc opens the secrets store when Keys is nil, at Open: a command that reaches a
	// running agent over its control socket never needs the store (nor its passphrase).
	KeysFunc func() (Keys, error)
	NoSync   bool // skip fsync (benchmark baselines only)
	Logger   *slog.Logger
	Poll     time.Duration // how often engines look for changes without a notification
	// Operator is who edits the embedded tracker through this agent when the caller names
	// no one (the app's Tracker screen): the reporter of new items and the author of
	// comments. Default: the signed-in OS user.
	Operator item.User
	// HistoryClock is the sync history's clock; default time.Now (tests move it on to see the
	// retention and the capture's expiry work).
	HistoryClock func() time.Time
	// TrackerTransport carries the requests to a remote tracker (default: Go's, with the
	// system's certificate authorities), e.g. for a tracker behind a private CA, or a test's.
	TrackerTransport http.RoundTripper
	// OnApplied is called after each change applied from a partner (the headless demo prints
	// them; the benchmark times them).
	OnApplied func(connection string, applied engine.Applied)
}

// Agent is one Tandem agent on one data directory.
type Agent struct {
	opt      Options
	log      *slog.Logger
	st       *store.Store
	id       *identity.Identity
	local    *local.Tracker // the embedded tracker, always there: the Tracker screen and the demo's sandbox
	invites  *pairing.Store
	hist     *history.Store
	watch    watchers   // the app's subscriptions to changes
	errs     errorSince // per connection, since when it is in error (health)
	audit    *audit.Log
	versions *versions.Store // every saved rule of every connection
	vault    *vault.Vault    // the tokens rules send in place of values
	ln       net.Listener
	address  Address // as resolved at Open
	url      string  // where partners dial this agent: "" when it listens nowhere
	newConns chan *conn

	ruleRuns atomic.Int64 // rule runs since Open, for the benchmark

	// pairMu serializes the pairings that wait for a partner: accepting a code without a URL,
	// completing one with its reply, and cancelling one.
	pairMu sync.Mutex

	mu       sync.Mutex
	conns    map[string]*conn
	serving  bool
	sync     engine.Tracker  // the tracker the connections sync: the embedded one or e.g. RT
	settings TrackerSettings // what sync was built from
	// trackerChanged tells the webhook listener that the tracker or its settings changed.
	trackerChanged chan struct{}
}

// conn is one connection's runtime: its record, queues and engine.
type conn struct {
	id      string
	mu      *sync.Mutex // the agent's, which guards rec
	rec     connection
	out     *queue.Queue
	in      *queue.Queue
	eng     *engine.Engine
	rules   *ruleSource
	client  *transport.Client
	partner *partnerLink
	// partnerPulls: the partner has no listener, so it pulls this agent's events; pulls: this
	// agent has none, so it pulls the partner's. Fixed at pairing.
	partnerPulls, pulls bool
	cancel              context.CancelFunc
	done                chan struct{}
}

// connection is a connection's durable record.
type connection struct {
	ID          string          `json:"id"`
	Partner     identity.ID     `json:"partner"`
	PartnerName string          `json:"partnerName"`
	PartnerURL  string          `json:"partnerURL"` // "" when the partner has no listener and pulls
	State       ConnectionState `json:"state"`
	Created     time.Time       `json:"created"`
	// Pulls: this agent had no listener when it paired, so it pulls the partner's events.
	Pulls bool `json:"pulls,omitempty"`
	// Verified is when the operator confirmed that both sides show the same verification code.
	Verified time.Time `json:"verified,omitzero"`
	// Invitation is the invitation that made it: on the inviter's side; and on the side that
	// answered an invitation without a URL with a reply code.
	Invitation string    `json:"invitation,omitempty"`
	RevokedBy  string    `json:"revokedBy,omitempty"` // revokedByOperator or revokedByPartner
	Revoked    time.Time `json:"revoked,omitzero"`
	// Allow lists the address ranges (CIDR) the partner may call from; empty allows any.
	Allow []string `json:"allow,omitempty"`
}

// allowPrefixes parses Allow; entries were checked when they were set.
func (c connection) allowPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.Allow {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// ID is the connection's ID, which never changes.
func (c *conn) ID() string { return c.id }

// state is the connection's current state.
func (c *conn) state() ConnectionState {
	return c.recSnapshot().State
}

var (
	connBucket  = []byte("connections")
	agentBucket = []byte("agent")
	idKey       = []byte("identity")
)

// Open opens the agent of a data directory: its database, its key from the keychain (created
// on first use), its embedded tracker and its connections. Call Serve to run it and Close
// when done.
func Open(ctx context.Context, opt Options) (*Agent, error) {
	dir, err := filepath.Abs(opt.Dir)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	opt.Dir = dir
	if opt.Operator.IsZero() {
		opt.Operator = osUser()
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Keys == nil && opt.KeysFunc != nil {
		if opt.Keys, err = opt.KeysFunc(); err != nil {
			return nil, err
		}
	}
	if opt.Keys == nil {
		opt.Keys = secrets.NewKeychain("tandem")
	}
	a := &Agent{opt: opt, log: opt.Logger, conns: map[string]*conn{}, newConns: make(chan *conn, 16), trackerChanged: make(chan struct{}, 1)}
	if a.st, err = store.Open(dir, store.Options{NoSync: opt.NoSync}); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			a.close()
		}
	}()
	if err := a.st.EnsureBuckets(string(connBucket), string(agentBucket), string(rulesBucket)); err != nil {
		return nil, err
	}
	if a.audit, err = audit.Open(dir); err != nil {
		return nil, err
	}
	if a.address, err = a.resolveAddress(ctx, opt, filepath.Base(dir)); err != nil {
		return nil, err
	}
	a.opt.Name = a.address.Name
	if a.id, err = a.loadIdentity(ctx); err != nil {
		return nil, err
	}
	if a.local, err = local.Open(a.st, local.Options{Prefix: opt.Prefix, FirstPrefix: local.PrefixFor(a.address.Name)}); err != nil {
		return nil, fmt.Errorf("open embedded tracker: %w", err)
	}
	if a.settings, err = a.loadTrackerSettings(); err != nil {
		return nil, err
	}
	if a.sync, err = a.buildTracker(ctx, a.settings, nil); err != nil {
		a.log.Error("tracker unavailable; events wait until Settings are fixed", "tracker", a.settings.Describe(), "err", err)
		a.sync = unavailableTracker{fmt.Errorf("%s is unavailable: %w", a.settings.Describe(), err)}
	}
	if a.invites, err = pairing.OpenStore(a.st); err != nil {
		return nil, fmt.Errorf("open invitations: %w", err)
	}
	if a.hist, err = history.Open(a.st, history.Options{Logger: a.log, Now: opt.HistoryClock, OnChange: func() { a.changed(TopicHistory) }}); err != nil {
		return nil, err
	}
	if a.versions, err = versions.Open(a.st); err != nil {
		return nil, fmt.Errorf("open rule versions: %w", err)
	}
	if a.vault, err = a.openVault(ctx); err != nil {
		return nil, err
	}
	if ad := a.address; ad.Reachable() {
		a.url = ad.URL
		if !opt.Offline {
			if a.ln, err = net.Listen("tcp", ad.Listen); err != nil {
				return nil, fmt.Errorf("listen for partners on %s: %w", ad.Listen, err)
			}
			if a.url == "" {
				a.url = "https://" + a.ln.Addr().String()
			}
		} else if a.url == "" {
			a.url = "https://" + ad.Listen
		}
	}
	recs, err := a.loadConnections()
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		if _, err := a.addConn(rec); err != nil {
			return nil, err
		}
	}
	ok = true
	return a, nil
}

func (a *Agent) keyAccount() string { return "agent-key:" + a.opt.Dir }

// loadIdentity reads the agent's private key from the keychain, creating it on first use.
// A database that knows its identity but whose key is gone is an error, not a new identity:
// a new key would silently break every pairing.
func (a *Agent) loadIdentity(ctx context.Context) (*identity.Identity, error) {
	var known string
	a.st.DB().View(func(tx *bolt.Tx) error {
		known = string(tx.Bucket(agentBucket).Get(idKey))
		return nil
	})
	secret, err := a.opt.Keys.Get(ctx, a.keyAccount())
	switch {
	case err == nil:
		id, err := identity.ParsePrivate(secret)
		if err != nil {
			return nil, fmt.Errorf("the private key in the keychain for %s is damaged: %w", a.opt.Dir, err)
		}
		if known != "" && known != id.ID.String() {
			return nil, fmt.Errorf("the keychain holds the key of agent %s, but %s belongs to agent %s", id.ID.Short(), a.opt.Dir, known)
		}
		if known == "" {
			return id, a.recordIdentity(id)
		}
		return id, nil
	case errors.Is(err, secrets.ErrNotFound):
		if known != "" {
			return nil, fmt.Errorf("the private key of agent %s (data directory %s) is missing from the keychain; restore it or start with a new data directory", known, a.opt.Dir)
		}
		id, err := identity.Generate()
		if err != nil {
			return nil, fmt.Errorf("generate agent key: %w", err)
		}
		if err := a.opt.Keys.Set(ctx, a.keyAccount(), id.MarshalPrivate()); err != nil {
			return nil, fmt.Errorf("keep the agent key in the keychain: %w", err)
		}
		return id, a.recordIdentity(id)
	default:
		return nil, fmt.Errorf("read the agent key from the keychain: %w", err)
	}
}

func (a *Agent) recordIdentity(id *identity.Identity) error {
	return a.st.DB().Update(func(tx *bolt.Tx) error {
		return tx.Bucket(agentBucket).Put(idKey, []byte(id.ID.String()))
	})
}

func (a *Agent) loadConnections() ([]connection, error) {
	var recs []connection
	err := a.st.DB().View(func(tx *bolt.Tx) error {
		return tx.Bucket(connBucket).ForEach(func(k, v []byte) error {
			var c connection
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("decode connection %s: %w", k, err)
			}
			recs = append(recs, c)
			return nil
		})
	})
	return recs, err
}

func (a *Agent) saveConnection(c connection) error {
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	err = a.st.DB().Update(func(tx *bolt.Tx) error {
		return tx.Bucket(connBucket).Put([]byte(c.ID), v)
	})
	a.changed(TopicConnections)
	return err
}

// addConn builds a connection's runtime and, when the agent is serving, starts it.
func (a *Agent) addConn(rec connection) (*conn, error) {
	c := &conn{id: rec.ID, mu: &a.mu, rec: rec, partner: newPartnerLink(func() { a.changed(TopicConnections) }), partnerPulls: rec.PartnerURL == "", pulls: rec.Pulls && rec.PartnerURL != ""}
	var err error
	if c.out, err = queue.Open(a.st, "out/"+rec.ID); err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	if c.in, err = queue.Open(a.st, "in/"+rec.ID); err != nil {
		return nil, fmt.Errorf("open inbox: %w", err)
	}
	c.out.OnChange(func() { a.changed(TopicQueues) })
	c.in.OnChange(func() { a.changed(TopicQueues) })
	a.mu.Lock()
	kind := a.settings.Kind
	a.mu.Unlock()
	rs, err := a.loadRules(rec.ID, kind)
	if err != nil {
		return nil, err
	}
	c.rules = newRuleSource(rs)
	c.client = transport.NewClient(a.id, rec.Partner, rec.PartnerURL, rec.ID)
	if c.eng, err = a.newEngine(c); err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.conns[rec.ID] = c
	serving := a.serving
	a.mu.Unlock()
	if serving && rec.State == StateActive {
		a.newConns <- c
	}
	return c, nil
}

// newEngine builds a connection's engine on the current tracker and rules.
func (a *Agent) newEngine(c *conn) (*engine.Engine, error) {
	a.mu.Lock()
	tr, src, rec, settings := a.sync, c.rules, c.rec, a.settings
	a.mu.Unlock()
	poll := a.opt.Poll
	if settings.Kind != TrackerEmbedded && settings.Kind != "" {
		// A remote tracker is polled: every poll costs the tracker requests. One that also
		// says when something changed (GitHub's webhooks) is polled as reconciliation.
		poll = settings.Poll
		if poll <= 0 {
			poll = 10 * time.Second
		}
	}
	recorder := &historyRecorder{a: a, conn: rec.ID}
	eng, err := engine.New(engine.Options{
		Connection: rec.ID,
		Store:      a.st,
		Tracker:    tr,
		Rules:      ruleSet{src: src, env: rules.Env{Connection: rec.PartnerName, Vault: a.vault.For(rec.ID)}, runs: &a.ruleRuns},
		Outbox:     c.out,
		Inbox:      c.in,
		Sender:     sender{a: a, c: c},
		Logger:     a.log.With("partner", rec.PartnerName),
		Poll:       poll,
		Recorder:   recorder,
		OnApplied: func(ap engine.Applied) {
			a.changed(TopicItems)
			if a.opt.OnApplied != nil {
				a.opt.OnApplied(rec.ID, ap)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	recorder.eng.Store(eng)
	return eng, nil
}

// stopConn stops a connection's engine if it runs and reports whether it did.
func (a *Agent) stopConn(c *conn) bool {
	a.mu.Lock()
	cancel, done := c.cancel, c.done
	c.cancel = nil
	a.mu.Unlock()
	if cancel == nil {
		return false
	}
	cancel()
	<-done
	return true
}

// Serve runs the partner server, the control socket and every active connection until ctx
// ends.
func (a *Agent) Serve(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	if a.ln != nil {
		srv, err := transport.NewServer(a.id, wire{a}, wire{a}, transport.ServerOptions{Logger: a.log, Replay: replayStore{a.st}})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ctx, a.ln); err != nil && ctx.Err() == nil {
				a.log.Error("partner server stopped", "err", err)
			}
		}()
	}
	if !a.opt.Offline {
		if ln, err := control.Listen(a.opt.Dir); err != nil {
			a.log.Error("no control socket: tandem commands will not reach this agent while it runs", "err", err)
		} else {
			srv := control.NewServer(a.controlMux(), a.log)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := srv.Serve(ctx, ln); err != nil {
					a.log.Error("control socket stopped", "err", err)
				}
			}()
		}
	}
	// start runs a connection's engine, and its pull loop where this agent pulls; the caller
	// holds a.mu.
	start := func(c *conn) {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		c.cancel, c.done = cancel, done
		eng := c.eng
		var loops sync.WaitGroup
		loops.Add(1)
		go func() {
			defer loops.Done()
			eng.Serve(cctx)
		}()
		if c.pulls {
			loops.Add(1)
			go func() {
				defer loops.Done()
				a.pullLoop(cctx, c)
			}()
		} else if !c.partnerPulls && c.client != nil {
			loops.Add(1)
			go func() {
				defer loops.Done()
				a.announce(cctx, c)
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			loops.Wait()
		}()
	}
	for _, loop := range []func(context.Context){a.maintain, a.monitor, a.webhooks, func(ctx context.Context) { a.hist.Serve(ctx) }} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}
	a.mu.Lock()
	a.serving = true
	for _, c := range a.conns {
		if c.rec.State == StateActive {
			start(c)
		}
	}
	a.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			a.mu.Lock()
			a.serving = false
			a.mu.Unlock()
			return nil
		case c := <-a.newConns:
			a.mu.Lock()
			if c.cancel == nil {
				start(c)
			}
			a.mu.Unlock()
		}
	}
}

// announce tells the partner, once, that this agent serves (a status call): a partner whose
// deliveries wait for this agent sends them at once instead of at its next probe. A partner
// that does not answer is left to find this agent itself.
func (a *Agent) announce(ctx context.Context, c *conn) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.client.Status(ctx); err != nil && ctx.Err() == nil {
		a.log.Debug("partner not reached on start; it will be when it answers", "connection", c.rec.ID, "err", err)
	}
}

// maintain forgets, once an hour, what no longer needs keeping: inbox event ids past their
// deduplication window and invitations long expired or used.
func (a *Agent) maintain(ctx context.Context) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		now := time.Now()
		for _, c := range a.connList() {
			if _, err := c.in.PruneSeen(now.Add(-queue.DefaultSeenRetention)); err != nil {
				a.log.Warn("prune seen event ids", "connection", c.rec.ID, "err", err)
			}
		}
		if _, err := a.invites.Prune(now, 30*24*time.Hour); err != nil {
			a.log.Warn("prune invitations", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Close releases the database and network resources. Stop Serve first.
func (a *Agent) Close() error { return a.close() }

func (a *Agent) close() error {
	if a.ln != nil {
		a.ln.Close()
	}
	a.mu.Lock()
	for _, c := range a.conns {
		c.client.Close()
	}
	a.mu.Unlock()
	if a.hist != nil {
		a.hist.Flush() // what the operator did without a running agent (tandem queue retry)
	}
	if a.audit != nil {
		a.audit.Close()
	}
	if a.st != nil {
		return a.st.Close()
	}
	return nil
}

// Work counts what the agent did since it opened: rule runs, and write transactions committed
// to its database (each one fsyncs), for the benchmark.
func (a *Agent) Work() (ruleRuns, commits int64) {
	var txid int64
	a.st.DB().View(func(tx *bolt.Tx) error {
		txid = int64(tx.ID())
		return nil
	})
	return a.ruleRuns.Load(), txid
}

// ID is this agent's identity.
func (a *Agent) ID() identity.ID { return a.id.ID }

// URL is where partners reach this agent ("" when it serves nothing).
func (a *Agent) URL() string { return a.url }

// Name is the name partners see.
func (a *Agent) Name() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.opt.Name
}

// Secrets names where the agent keeps its private key and credentials, for the operator.
func (a *Agent) Secrets() string { return DescribeKeys(a.opt.Keys) }

// DescribeKeys names a secrets store for the operator.
func DescribeKeys(k Keys) string {
	if d, ok := k.(interface{ Describe() string }); ok {
		return d.Describe()
	}
	return "a secrets store of the caller's making"
}

// record writes a configuration change to the audit log. A failure to record is logged, not
// returned: the change itself happened.
func (a *Agent) record(ctx context.Context, kind, what string) {
	if err := a.audit.Record(ctx, kind, what); err != nil {
		a.log.Error("audit log", "kind", kind, "err", err)
	}
}

// Local is the embedded tracker.
func (a *Agent) Local() *local.Tracker { return a.local }

// recSnapshot is a copy of the connection's record; the caller must not hold the agent's lock.
func (c *conn) recSnapshot() connection {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rec
}

func (a *Agent) conn(id string) (*conn, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.conns[id]
	if !ok {
		return nil, fmt.Errorf("no connection %q", id)
	}
	return c, nil
}

// DataDir is the agent's data directory.
func (a *Agent) DataDir() string { return a.opt.Dir }

// RemoveKey deletes the agent's key and its token vault key from a keychain that supports it
// (throwaway demo agents).
func (a *Agent) RemoveKey(ctx context.Context) error {
	d, ok := a.opt.Keys.(interface {
		Delete(ctx context.Context, account string) error
	})
	if !ok {
		return nil
	}
	if err := d.Delete(ctx, a.vaultAccount()); err != nil && !errors.Is(err, secrets.ErrNotFound) {
		return err
	}
	return d.Delete(ctx, a.keyAccount())
}

// osUser is the signed-in OS user: the full name from the account's GECOS field where there
// is one, else the login name.
func osUser() item.User {
	u, err := user.Current()
	if err != nil {
		return item.User{}
	}
	name, _, _ := strings.Cut(u.Name, ",")
	if name = strings.TrimSpace(name); name == "" {
		name = u.Username
	}
	return item.User{ID: u.Username, Name: name}
}

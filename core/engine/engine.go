// Package engine runs one connection's sync loop: detect local changes, run the outgoing rule,
// diff against what was last sent, enqueue, deliver, and apply what the partner sent with a
// field-wise merge, twin links and receipts.
package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/queue"
	"github.com/tandemsync/tandem/core/store"
)

// Rules maps items to replicas and back; core/rules' compiled programs satisfy it through a
// small adapter in core/agent.
type Rules interface {
	// Outgoing builds the replica of a local item; a result with Skip means it is not sent.
	// first is set when the item has never been sent (ctx.FirstSync).
	Outgoing(ctx context.Context, it item.Item, first bool) (item.Replica, RuleResult, error)
	// Incoming maps a partner's replica onto a copy of the local item. The copy's Comments are
	// empty on entry; the rule puts there the replica comments it accepts. first is set when
	// the local item is about to be created.
	Incoming(ctx context.Context, r item.Replica, current item.Item, first bool) (item.Item, RuleResult, error)
}

// RuleResult is what a rule run reports besides the replica or item it built.
type RuleResult struct {
	Skip    bool     // the rule asked not to sync this item
	Reason  string   // why, in the rule's words
	Logs    []string // the rule's ctx.Log lines, in order
	Version int      // the version of the rule that ran; 0 when not known
	// Conflicts are an incoming rule's policies by field (ConflictLocal, ConflictOverwrite);
	// a field not named follows ConflictPartner.
	Conflicts map[string]string
	// IgnoreCommentEdits and IgnoreCommentDeletions: the incoming rule chose that edits or
	// deletions of synced comments do not follow.
	IgnoreCommentEdits, IgnoreCommentDeletions bool
}

// Conflict policies of an incoming rule, per field (see RuleResult.Conflicts).
const (
	// ConflictPartner writes a field the partner changed (the default).
	ConflictPartner = "partner"
	// ConflictLocal keeps a field changed here since the last sync.
	ConflictLocal = "local"
	// ConflictOverwrite writes the partner's value whenever it differs from the local one.
	ConflictOverwrite = "overwrite"
)

// ruleLabel names a rule version for events and the history: "outgoing v3".
func ruleLabel(dir string, version int) string {
	if version <= 0 {
		return ""
	}
	return fmt.Sprintf("%s v%d", dir, version)
}

// ruleFailure is a rule's run-time failure with the rule version that ran and its log lines,
// which the queue keeps with the failed event (see queue.Fail).
type ruleFailure struct {
	err  error
	rule string
	logs []string
}

func (f ruleFailure) Error() string                { return f.err.Error() }
func (f ruleFailure) Unwrap() error                { return f.err }
func (f ruleFailure) RuleNote() (string, []string) { return f.rule, f.logs }
func ruleFailed(err error, dir string, run RuleResult) error {
	return ruleFailure{err: err, rule: ruleLabel(dir, run.Version), logs: run.Logs}
}

// withRule gives an apply's failure the incoming rule's version and log lines, unless it
// carries a rule's already.
func withRule(err error, dir string, run RuleResult) error {
	var note interface{ RuleNote() (string, []string) }
	if run.Version == 0 && len(run.Logs) == 0 || errors.As(err, &note) {
		return err
	}
	return ruleFailure{err: err, rule: ruleLabel(dir, run.Version), logs: run.Logs}
}

// Sender delivers a batch of outbox events to the partner and answers the highest sequence
// the partner stored.
type Sender interface {
	Send(ctx context.Context, events []queue.Event) (highest uint64, err error)
}

// Prober is implemented by a Sender that can ask cheaply whether the partner answers. While
// deliveries wait for an unreachable partner the engine probes it every probeEvery, so they
// resume as soon as it is back rather than when a backoff runs out.
type Prober interface {
	Probe(ctx context.Context) error
}

// Event kinds.
const (
	KindCreate  = "create"
	KindUpdate  = "update"
	KindReceipt = "receipt"
	// KindResync asks the sender to build the item's replica again: it stands in the outbox
	// for an item whose outgoing rule failed, so the operator can fix the rule and retry.
	KindResync = "resync"
)

// Change is the payload of create and update events. An update names the replica fields the
// sender changed since what it last sent, with their previous values, so the receiver can tell
// the sender's edits from values that merely have not caught up with its own: a field changed
// only on the receiving side is never overwritten by a stale copy.
type Change struct {
	Source  string        `json:"source"`           // the sender's item key
	Target  string        `json:"target,omitempty"` // the receiver's item key, once the sender knows it
	Replica item.Replica  `json:"replica"`
	Changed []string      `json:"changed,omitempty"` // replica fields changed; empty on create: all
	Prev    *item.Replica `json:"prev,omitempty"`    // the previous values of the Changed fields
	// PrevHash is the hash of the whole replica the sender had recorded as the partner's
	// knowledge before this change. When it is the replica the receiver last applied, the
	// receiver already knows what its incoming rule made of it and need not run it again.
	PrevHash string `json:"prevHash,omitempty"`
	// DeletedComments are the sender's ids of comments it sent before and has deleted since.
	DeletedComments []string `json:"deletedComments,omitempty"`
}

// Receipt is the payload of a receipt: the partner applied Target as its item Source.
type Receipt struct {
	Source string `json:"source"` // the key at the side that applied
	Target string `json:"target"` // the key at the side that sent
}

// Options configure an Engine.
type Options struct {
	Connection string // the connection id
	Store      *store.Store
	Tracker    Tracker
	Rules      Rules
	Outbox     *queue.Queue
	Inbox      *queue.Queue
	Sender     Sender
	Logger     *slog.Logger
	// BatchSize is the most events one delivery, apply or detection step handles; default
	// DefaultBatchSize. A delivery carries fewer when they do not fit in one request, and the
	// queue hands out fewer when their payloads are big (queue.Ready).
	BatchSize int
	// DetectBatch is how many changed items one detection step reads and commits with its
	// cursor; default BatchSize for a tracker that notifies (the embedded one), else 16.
	DetectBatch int
	Poll        time.Duration // how often to look for changes without a notification; default 2s
	// OnApplied, if set, is called after each change applied from the partner.
	OnApplied func(Applied)
	// Recorder, if set, gets the outcome of every event: the sync history.
	Recorder Recorder
}

// Engine is one connection's sync loop. Serve runs it.
type Engine struct {
	opt Options
	log *slog.Logger
	mu  sync.Mutex // serializes detect and apply, so a change Tandem applied is never seen half-done
	// appliedSince holds the local keys applied since the detect loop began its current read
	// of the tracker (guarded by mu).
	appliedSince map[string]bool
	root         []byte // this connection's bucket name

	heard chan struct{} // PartnerSeen's signal to a delivery waiting for the partner
	// attempts mirrors attemptsBucket (guarded by mu); settled is signalled when one goes.
	attempts map[uint64]attempt
	settled  chan struct{}
	// forced holds the attempts count at which detection last asked for an inbox event's
	// retry at once (guarded by mu), so it asks once per attempt.
	forced      map[uint64]int
	detectBatch int

	// echoes holds, by local key, the ItemHash of twins committed lately (at most
	// maxEchoes): detection reading an item Tandem wrote itself knows it by that hash without
	// decoding the twin.
	echoMu sync.Mutex
	echoes map[string]string

	// cursor is the change cursor as detection last moved it, and deferred its write when
	// that rides with the agent's next commit (see deferCursor); owned by the detect loop.
	cursor       string
	cursorLoaded bool
	deferred     *deferredCursor

	detected, sent, applied atomic.Uint64
	errMu                   sync.Mutex
	lastErr                 string
	lastSync                time.Time
}

// Applied describes one change applied from the partner: keys and field names, never values.
type Applied struct {
	Source   string    // the partner's item key
	Local    string    // the local item key
	Created  bool      // the local item was created
	Fields   []string  // the fields written
	Comments int       // comments added
	Sent     time.Time // when the partner created the (first) event (for latency)
	Events   int       // the partner's events applied in this change (consecutive ones fold into one)
}

// Stats are counters for the app.
type Stats struct {
	Detected      uint64 // local items read as changed
	Sent, Applied uint64
	LastError     string
	LastSync      time.Time
}

const engineBucket = "engine"

var (
	twinsBucket  = []byte("twins")  // local key -> twin
	remoteBucket = []byte("remote") // partner key -> local key
	metaBucket   = []byte("meta")
	cursorKey    = []byte("cursor")
	twinCountKey = []byte("twins") // U64: how many twins, kept by putTwin
	// attemptsBucket holds the tracker writes whose outcome is not known yet: inbox seq -> attempt.
	attemptsBucket = []byte("attempts")
)

// twin is the link between a local item and the partner's, with what was last exchanged.
// Of the partner's data only comment ids and a hash are kept; Sent is this side's own
// replica, Base this side's own values.
type twin struct {
	Local    string            `json:"l"`
	Remote   string            `json:"r,omitempty"`
	SentHash string            `json:"s,omitempty"` // the replica last sent, or the one the last applied state would send
	Sent     *item.Replica     `json:"p,omitempty"` // that replica without its comments, to name changed fields
	Comments map[string]string `json:"c,omitempty"` // partner comment id -> local comment id
	// ItemHash is the syncHash of the local item SentHash was built from: detection that
	// finds the item so has nothing to send, which is how Tandem's own write is recognised
	// without running the outgoing rule again.
	ItemHash string `json:"h,omitempty"`
	// RecvHash is the hash of the partner's replica last applied, and Base what the incoming
	// rule made of it (the hashes of its fields): the "before" of the partner's next change.
	RecvHash string    `json:"rh,omitempty"`
	Base     fieldSums `json:"bs,omitempty"`
	// Synced hashes the local item's fields as they were after the partner's last change was
	// applied: a field that differs now was changed here since, which a ConflictLocal policy
	// keeps when the partner changes it too.
	Synced fieldSums `json:"y,omitempty"`
	// SentComments are the local ids of the comments in the replica last sent: one deleted
	// since is named to the partner (Change.DeletedComments).
	SentComments map[string]bool `json:"sc,omitempty"`
	// Received is the partner's replica last applied, without its comments: what a rule test
	// run applies when the operator gives no sample.
	Received *item.Replica `json:"rv,omitempty"`
	// CommentHashes hold, by the partner's comment id, the hash of the comment as last
	// applied here (deletedComment once deleted), so an edit is told from an old copy.
	CommentHashes map[string]string `json:"ch,omitempty"`
}

// deletedComment marks, in twin.CommentHashes, a partner comment deleted here.
const deletedComment = "-"

// DefaultBatchSize is 1,024 events: against 256, a backlog drained 1.6x as fast and bulk changes
// synced 1.15x as fast (tandem bench, alternated), since each batch costs a request, a commit
// on each side and their waits whatever its size; the first change after a partner's return is
// applied about 0.1 s later (a bigger first batch), well within a second.
const DefaultBatchSize = 1024

// New returns an engine for one connection, creating its buckets.
func New(opt Options) (*Engine, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = DefaultBatchSize
	}
	if opt.Poll <= 0 {
		opt.Poll = 2 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	e := &Engine{opt: opt, log: opt.Logger.With("connection", opt.Connection), root: []byte(opt.Connection), heard: make(chan struct{}, 1),
		attempts: map[uint64]attempt{}, settled: make(chan struct{}, 1), forced: map[uint64]int{}, detectBatch: opt.DetectBatch}
	if e.detectBatch <= 0 {
		e.detectBatch = opt.BatchSize
		if _, notifies := opt.Tracker.(ChangeNotifier); !notifies {
			// A remote tracker is read in small steps, each committed with its cursor, so a
			// slow tracker or a restart never throws much work away.
			e.detectBatch = min(opt.BatchSize, 16)
		}
	}
	err := opt.Store.DB().Update(func(tx *bolt.Tx) error {
		top, err := tx.CreateBucketIfNotExists([]byte(engineBucket))
		if err != nil {
			return err
		}
		b, err := top.CreateBucketIfNotExists(e.root)
		if err != nil {
			return err
		}
		for _, n := range [][]byte{twinsBucket, remoteBucket, metaBucket, attemptsBucket} {
			if _, err := b.CreateBucketIfNotExists(n); err != nil {
				return err
			}
		}
		if meta := b.Bucket(metaBucket); meta.Get(twinCountKey) == nil { // kept since this version
			if err := meta.Put(twinCountKey, store.U64(uint64(b.Bucket(twinsBucket).Stats().KeyN))); err != nil {
				return err
			}
		}
		return b.Bucket(attemptsBucket).ForEach(func(k, v []byte) error {
			var a attempt
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("decode write attempt %d: %w", store.U64From(k), err)
			}
			e.attempts[store.U64From(k)] = a
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("create engine buckets: %w", err)
	}
	return e, nil
}

// Drop removes a connection's engine state (twins, cursor).
func Drop(st *store.Store, connection string) error {
	return st.DB().Update(func(tx *bolt.Tx) error {
		top := tx.Bucket([]byte(engineBucket))
		if top == nil || top.Bucket([]byte(connection)) == nil {
			return nil
		}
		return top.DeleteBucket([]byte(connection))
	})
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	return Stats{Detected: e.detected.Load(), Sent: e.sent.Load(), Applied: e.applied.Load(), LastError: e.lastErr, LastSync: e.lastSync}
}

// Twins counts linked items, from a counter kept with the twins (the app asks often; walking
// the twins bucket touched every page of it).
func (e *Engine) Twins() (int, error) {
	n := 0
	err := e.opt.Store.DB().View(func(tx *bolt.Tx) error {
		n = int(store.U64From(e.bucket(tx).Bucket(metaBucket).Get(twinCountKey)))
		return nil
	})
	return n, err
}

// Twin returns the partner's key for a local item, "" when not (yet) linked.
func (e *Engine) Twin(local string) (string, error) {
	var remote string
	err := e.opt.Store.DB().View(func(tx *bolt.Tx) error {
		t, err := e.getTwin(tx, local)
		remote = t.Remote
		return err
	})
	return remote, err
}

func (e *Engine) setErr(err error) {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	if err == nil {
		e.lastErr = ""
		e.lastSync = time.Now()
		return
	}
	e.lastErr = e.opt.Store.Explain(err).Error()
}

// Serve runs detection, delivery and application until ctx ends.
func (e *Engine) Serve(ctx context.Context) error {
	var wg sync.WaitGroup
	loops := []func(context.Context){e.detectLoop, e.deliverLoop, e.applyLoop}
	for _, loop := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// PartnerSeen tells the engine that the partner was just heard from (any request from it):
// deliveries waiting for it go at once.
func (e *Engine) PartnerSeen() { signal(e.heard) }

// Receive stores a batch from the partner in the inbox in one transaction, skipping events it
// has seen, and answers the highest sender sequence in the batch.
func (e *Engine) Receive(ctx context.Context, events []queue.Event) (uint64, error) {
	var highest uint64
	for i, ev := range events {
		if ev.ID == "" || ev.Kind == "" {
			return 0, fmt.Errorf("event %d: %w", i, ErrMalformed)
		}
		switch ev.Kind {
		case KindCreate, KindUpdate, KindReceipt:
		default:
			return 0, fmt.Errorf("event %d: unknown kind %q: %w", i, ev.Kind, ErrMalformed)
		}
		highest = max(highest, ev.Seq)
	}
	in := make([]queue.Event, len(events))
	for i, ev := range events {
		in[i] = queue.Event{ID: ev.ID, ItemKey: ev.ItemKey, Kind: ev.Kind, Payload: ev.Payload, Created: ev.Created}
	}
	if done, err := e.receiveApplied(ctx, in); done {
		if err != nil {
			return 0, fmt.Errorf("store batch: %w", err)
		}
		return highest, nil
	}
	err := e.opt.Store.Update(func(tx *bolt.Tx) error {
		_, err := e.opt.Inbox.AppendUnique(tx, in)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store batch: %w", err)
	}
	return highest, nil
}

// inlineMax is the largest batch receiveApplied applies as it arrives: a bigger one means the
// partner is busy, and storing it first lets receiving the next batch overlap applying this one.
const inlineMax = 16

// errNotInline rolls back an apply in the receiving transaction that turns out not to fit.
var errNotInline = errors.New("not applied as received")

// receiveApplied applies a small batch from the partner in the very transaction that stores it
// in the inbox (and acks it there), when the tracker is the embedded one and nothing waits in
// the inbox: a change is applied one commit sooner, and costs one commit instead of two. It
// reports false, having changed nothing, when it cannot: another tracker, a batch too big or
// that does not fold in one pass, events waiting in the inbox (they go first), an apply or a
// detection step in progress (the receiving request does not wait for it), or events seen
// before; Receive then stores the batch for the apply loop.
func (e *Engine) receiveApplied(ctx context.Context, in []queue.Event) (bool, error) {
	txt, ok := e.opt.Tracker.(TxTracker)
	if !ok || len(in) > inlineMax {
		return false, nil
	}
	groups := groupByItem(in)
	n := 0
	for _, g := range groups {
		n += len(g)
	}
	if n != len(in) || !e.inboxEmpty() || !e.mu.TryLock() {
		return false, nil
	}
	defer e.mu.Unlock()
	b := e.planBatch(ctx, groups)
	err := e.applyTx(ctx, b, txt, func(tx *bolt.Tx) error {
		if empty, err := e.opt.Inbox.Empty(tx); err != nil || !empty {
			return cmp.Or(err, errNotInline)
		}
		stored, err := e.opt.Inbox.AppendUnique(tx, in)
		if err != nil {
			return err
		}
		if len(stored) != len(in) {
			return errNotInline
		}
		seqs := make(map[string]uint64, len(stored))
		for _, ev := range stored {
			seqs[ev.ID] = ev.Seq
		}
		for i := range b.plans {
			p := &b.plans[i]
			p.ev.Seq = seqs[p.ev.ID]
			for j := range p.folded {
				p.folded[j].Seq = seqs[p.folded[j].ID]
			}
		}
		return nil
	})
	if errors.Is(err, errNotInline) || errors.Is(err, errStale) {
		return false, nil
	}
	if err == nil {
		e.report(b)
	}
	return true, err
}

func (e *Engine) inboxEmpty() bool {
	empty := false
	e.opt.Store.DB().View(func(tx *bolt.Tx) error {
		empty, _ = e.opt.Inbox.Empty(tx)
		return nil
	})
	return empty
}

// ErrMalformed marks a batch the engine cannot accept.
var ErrMalformed = errors.New("malformed event")

func (e *Engine) bucket(tx *bolt.Tx) *bolt.Bucket {
	return tx.Bucket([]byte(engineBucket)).Bucket(e.root)
}

func (e *Engine) getTwin(tx *bolt.Tx, local string) (twin, error) {
	v := e.bucket(tx).Bucket(twinsBucket).Get([]byte(local))
	if v == nil {
		return twin{Local: local}, nil
	}
	t, err := decodeTwin(v)
	if err != nil {
		return twin{}, errTwin(local, err)
	}
	return t, nil
}

func (e *Engine) putTwin(tx *bolt.Tx, t twin) error {
	v := encodeTwin(t)
	b := e.bucket(tx)
	if b.Bucket(twinsBucket).Get([]byte(t.Local)) == nil { // a Get is cheap; a Put dirties a page
		meta := b.Bucket(metaBucket)
		if err := meta.Put(twinCountKey, store.U64(store.U64From(meta.Get(twinCountKey))+1)); err != nil {
			return err
		}
	}
	if err := b.Bucket(twinsBucket).Put([]byte(t.Local), v); err != nil {
		return err
	}
	local, hash := t.Local, t.ItemHash
	tx.OnCommit(func() { e.noteEcho(local, hash) })
	if rb := b.Bucket(remoteBucket); t.Remote != "" && string(rb.Get([]byte(t.Remote))) != t.Local {
		return rb.Put([]byte(t.Remote), []byte(t.Local))
	}
	return nil
}

// maxEchoes bounds Engine.echoes; when full it starts again empty.
const maxEchoes = 4096

func (e *Engine) noteEcho(local, hash string) {
	e.echoMu.Lock()
	defer e.echoMu.Unlock()
	if e.echoes == nil || len(e.echoes) >= maxEchoes {
		e.echoes = make(map[string]string)
	}
	e.echoes[local] = hash
}

// knownEcho reports whether it is, unchanged, the item a committed twin records (its
// ItemHash): Tandem's own write read back, or an item read twice; outgoing would send nothing.
func (e *Engine) knownEcho(it item.Item) bool {
	e.echoMu.Lock()
	h, ok := e.echoes[it.Key]
	e.echoMu.Unlock()
	return ok && h != "" && h == syncHash(it)
}

func (e *Engine) localFor(tx *bolt.Tx, remote string) string {
	return string(e.bucket(tx).Bucket(remoteBucket).Get([]byte(remote)))
}

// wait blocks until one of the channels fires, d passes, or ctx ends; it reports whether to go on.
func wait(ctx context.Context, d time.Duration, chans ...<-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	var c0, c1 <-chan struct{}
	if len(chans) > 0 {
		c0 = chans[0]
	}
	if len(chans) > 1 {
		c1 = chans[1]
	}
	select {
	case <-ctx.Done():
		return false
	case <-c0:
	case <-c1:
	case <-t.C:
	}
	return true
}

// signal wakes whoever waits on c (capacity 1) without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func isPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// ResetCursor makes a connection's engine read its tracker's changes from the beginning
// (after the tracker was switched); twins and queues are kept.
func ResetCursor(st *store.Store, connection string) error {
	return st.DB().Update(func(tx *bolt.Tx) error {
		top := tx.Bucket([]byte(engineBucket))
		if top == nil || top.Bucket([]byte(connection)) == nil {
			return nil
		}
		return top.Bucket([]byte(connection)).Bucket(metaBucket).Delete(cursorKey)
	})
}

// writeTimeout bounds a batch of tracker writes, which run to the end even while the engine
// stops.
const writeTimeout = 2 * time.Minute

// outgoingRule runs the outgoing rule. A rule run is bounded by the rule's own deadline, not
// cut short because the engine is stopping, so a stop never looks like a rule failure.
func (e *Engine) outgoingRule(ctx context.Context, it item.Item, first bool) (item.Replica, RuleResult, error) {
	return e.opt.Rules.Outgoing(context.WithoutCancel(ctx), it, first)
}

// incomingRule runs the incoming rule, like outgoingRule.
func (e *Engine) incomingRule(ctx context.Context, r item.Replica, cur item.Item, first bool) (item.Item, RuleResult, error) {
	return e.opt.Rules.Incoming(context.WithoutCancel(ctx), r, cur, first)
}

// unsent reports whether the item of twin t has never been sent: its outgoing rule run is its
// first sync.
func (t twin) unsent() bool { return t.Remote == "" && t.SentHash == "" && t.Sent == nil }

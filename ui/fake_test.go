package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/audit"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/ui/rules/rulestest"
)

// fakeAgent is an in-memory Agent. Its fail field makes a named method return an error. The
// rule API is rulestest's fake (its Items is shadowed by this one's).
type fakeAgent struct {
	*rulestest.Fake
	mu          sync.Mutex
	overview    agent.Overview
	connections []agent.ConnectionInfo
	items       []item.Item // newest first
	next        int
	fail        map[string]error
	prefix      string // the key prefix of new items; "" is "T"

	created  []item.Item
	updated  []item.Item
	comments map[string][]item.Comment
	accepted []string
	invites  int

	firewalled bool                   // this agent accepts no connections: its codes need a reply
	waiting    []agent.ConnectionInfo // pairings waiting for the partner (Accept of a code without a URL)
	cancelledW []string               // CancelPairing calls

	inviteReqs  []agent.InviteRequest
	invitations []agent.InvitationInfo // newest first
	cancelled   []string
	connCalls   []connectionCall

	info      agent.AgentInfo
	addresses []agent.Address // SetAddress calls
	audit     audit.Report    // what VerifyAudit answers

	itemsRead chan int // when not nil, gets how many items each Items or ItemPage call returned
	// What the Tracker read: every ItemPage call, every Item call's key, every ItemSync call's
	// keys, and the items all those calls returned.
	pageCalls []pageCall
	itemCalls []string
	syncCalls [][]string
	returned  int

	settings agent.TrackerSettings
	check    agent.TrackerCheck // what TestTracker answers
	gate     chan struct{}      // when not nil, TestTracker waits for it to close
	tested   []trackerCall
	saved    []trackerCall

	queues    map[string][]agent.QueueEntry // by "connID/direction"
	retried   []queueCall
	skipped   []queueCall
	pageReads []pageRead
	bulkGate  chan struct{} // when not nil, QueueBulk takes a token before each later chunk
	watchers  []chan agent.Topic
	itemSync  map[string][]agent.ItemSync

	history   []agent.HistoryRecord // oldest first
	captured  map[uint64]json.RawMessage
	searches  []agent.HistoryQuery
	retention int
}

func newFakeAgent() *fakeAgent {
	return &fakeAgent{Fake: rulestest.New(), audit: audit.Report{OK: true}, fail: map[string]error{}, comments: map[string][]item.Comment{}, queues: map[string][]agent.QueueEntry{},
		settings: agent.TrackerSettings{Kind: agent.TrackerEmbedded}}
}

var errAgentDown = errors.New("agent is not running")

func (f *fakeAgent) failing(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.fail, method)
		return
	}
	f.fail[method] = err
}

func (f *fakeAgent) Overview(ctx context.Context) (agent.Overview, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["Overview"]; err != nil {
		return agent.Overview{}, err
	}
	return f.overview, nil
}

func (f *fakeAgent) Connections(ctx context.Context) ([]agent.ConnectionInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["Connections"]; err != nil {
		return nil, err
	}
	return slices.Clone(f.connections), nil
}

func (f *fakeAgent) Items(ctx context.Context) ([]item.Item, error) {
	f.mu.Lock()
	err := f.fail["Items"]
	items := make([]item.Item, len(f.items))
	for i, it := range f.items {
		items[i] = it.Clone()
	}
	ch := f.itemsRead
	f.mu.Unlock()
	if ch != nil {
		select {
		case ch <- len(items):
		default:
		}
	}
	if err != nil {
		return nil, err
	}
	return items, nil
}

type pageCall struct{ offset, limit, got int }

func (f *fakeAgent) ItemPage(ctx context.Context, offset, limit int) (agent.ItemPage, error) {
	f.mu.Lock()
	err := f.fail["ItemPage"]
	if limit <= 0 {
		limit = 100
	}
	var page agent.ItemPage
	if err == nil {
		page.Total = len(f.items)
		for _, it := range f.items[min(offset, len(f.items)):min(offset+limit, len(f.items))] {
			page.Items = append(page.Items, it.Summary())
		}
		f.pageCalls = append(f.pageCalls, pageCall{offset, limit, len(page.Items)})
		f.returned += len(page.Items)
	}
	ch := f.itemsRead
	f.mu.Unlock()
	if ch != nil {
		select {
		case ch <- len(page.Items):
		default:
		}
	}
	return page, err
}

func (f *fakeAgent) Item(ctx context.Context, key string) (item.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["Item"]; err != nil {
		return item.Item{}, err
	}
	f.itemCalls = append(f.itemCalls, key)
	for _, it := range f.items {
		if it.Key == key {
			f.returned++
			return it.Clone(), nil
		}
	}
	return item.Item{}, fmt.Errorf("item %s not found", key)
}

// add stores it as the newest item, as another window or the partner would.
func (f *fakeAgent) add(it item.Item) item.Item {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addLocked(it)
}

func (f *fakeAgent) addLocked(it item.Item) item.Item {
	f.next++
	prefix := f.prefix
	if prefix == "" {
		prefix = "T"
	}
	it.Key = fmt.Sprintf("%s-%d", prefix, f.next)
	it.Created = time.Date(2026, 1, 1, 0, 0, f.next, 0, time.UTC)
	it.Updated = it.Created
	f.items = slices.Insert(f.items, 0, it.Clone())
	return it
}

func (f *fakeAgent) CreateItem(ctx context.Context, it item.Item) (item.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["CreateItem"]; err != nil {
		return item.Item{}, err
	}
	f.created = append(f.created, it.Clone())
	return f.addLocked(it), nil
}

func (f *fakeAgent) UpdateItem(ctx context.Context, it item.Item) (item.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["UpdateItem"]; err != nil {
		return item.Item{}, err
	}
	i := slices.IndexFunc(f.items, func(x item.Item) bool { return x.Key == it.Key })
	if i < 0 {
		return item.Item{}, fmt.Errorf("no item %q", it.Key)
	}
	f.updated = append(f.updated, it.Clone())
	it.Updated = f.items[i].Updated.Add(time.Second)
	f.items[i] = it.Clone()
	return it, nil
}

// edit changes a stored item in place, as the partner would.
func (f *fakeAgent) edit(key string, change func(*item.Item)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.items {
		if f.items[i].Key == key {
			change(&f.items[i])
			f.items[i].Updated = f.items[i].Updated.Add(time.Second)
		}
	}
}

func (f *fakeAgent) AddComment(ctx context.Context, key string, c item.Comment) (item.Comment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["AddComment"]; err != nil {
		return item.Comment{}, err
	}
	i := slices.IndexFunc(f.items, func(x item.Item) bool { return x.Key == key })
	if i < 0 {
		return item.Comment{}, fmt.Errorf("no item %q", key)
	}
	c.ID = fmt.Sprintf("c%d", len(f.items[i].Comments)+1)
	c.Author = item.User{ID: "op", Name: "Operator"}
	f.items[i].Comments = append(f.items[i].Comments, c)
	f.comments[key] = append(f.comments[key], c)
	return c, nil
}

func (f *fakeAgent) Statuses() []string   { return []string{"open", "in progress", "done"} }
func (f *fakeAgent) Priorities() []string { return []string{"low", "medium", "high"} }

func (f *fakeAgent) KeyPrefix() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.prefix == "" {
		return "T"
	}
	return f.prefix
}

func (f *fakeAgent) SetKeyPrefix(ctx context.Context, prefix string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["SetKeyPrefix"]; err != nil {
		return err
	}
	f.prefix = prefix
	return nil
}

func (f *fakeAgent) Invite(ctx context.Context, req agent.InviteRequest) (agent.Invitation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["Invite"]; err != nil {
		return agent.Invitation{}, err
	}
	f.invites++
	f.inviteReqs = append(f.inviteReqs, req)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	inv := agent.Invitation{Code: fmt.Sprintf("tandem1-invitation-%d", f.invites), ID: fmt.Sprintf("inv%d", f.invites), Expires: now.Add(req.Expires), Reply: f.firewalled}
	f.invitations = slices.Insert(f.invitations, 0, agent.InvitationInfo{ID: inv.ID, State: agent.InvitationPending, Created: now, Expires: inv.Expires, Reply: f.firewalled})
	return inv, nil
}

func (f *fakeAgent) Invitations(ctx context.Context) ([]agent.InvitationInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["Invitations"]; err != nil {
		return nil, err
	}
	return slices.Clone(f.invitations), nil
}

func (f *fakeAgent) CancelInvitation(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["CancelInvitation"]; err != nil {
		return err
	}
	f.cancelled = append(f.cancelled, id)
	for i := range f.invitations {
		if f.invitations[i].ID == id {
			f.invitations[i].State = agent.InvitationCancelled
		}
	}
	return nil
}

// connectionCall is one Verify, Pause, Resume or Revoke call as the fake received it.
type connectionCall struct {
	method, conn string
	deleteQueued bool
}

// change records a call and applies edit to the connection, as the agent would.
func (f *fakeAgent) change(method, id string, deleteQueued bool, edit func(*agent.ConnectionInfo)) (agent.ConnectionInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connCalls = append(f.connCalls, connectionCall{method, id, deleteQueued})
	if err := f.fail[method]; err != nil {
		return agent.ConnectionInfo{}, err
	}
	i := slices.IndexFunc(f.connections, func(c agent.ConnectionInfo) bool { return c.ID == id })
	if i < 0 {
		return agent.ConnectionInfo{}, fmt.Errorf("no connection %q", id)
	}
	edit(&f.connections[i])
	return f.connections[i], nil
}

func (f *fakeAgent) Verify(ctx context.Context, id, code string) (agent.ConnectionInfo, error) {
	return f.change("Verify", id, false, func(c *agent.ConnectionInfo) { c.Verified = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) })
}

func (f *fakeAgent) Pause(ctx context.Context, id string) (agent.ConnectionInfo, error) {
	return f.change("Pause", id, false, func(c *agent.ConnectionInfo) { c.State = agent.StatePaused })
}

func (f *fakeAgent) Resume(ctx context.Context, id string) (agent.ConnectionInfo, error) {
	return f.change("Resume", id, false, func(c *agent.ConnectionInfo) { c.State = agent.StateActive })
}

func (f *fakeAgent) SetAllowList(ctx context.Context, id string, allow []string) (agent.ConnectionInfo, error) {
	return f.change("SetAllowList", id, false, func(c *agent.ConnectionInfo) { c.Allow = strings.Join(allow, ", ") })
}

func (f *fakeAgent) Revoke(ctx context.Context, id string, deleteQueued bool) (agent.ConnectionInfo, error) {
	return f.change("Revoke", id, deleteQueued, func(c *agent.ConnectionInfo) {
		c.State, c.RevokedBy = agent.StateRevoked, "operator"
		if deleteQueued {
			c.Outbox, c.Inbox = 0, 0
		}
	})
}

func (f *fakeAgent) Accept(ctx context.Context, code string) (agent.ConnectionInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["Accept"]; err != nil {
		return agent.ConnectionInfo{}, err
	}
	f.accepted = append(f.accepted, code)
	switch {
	case strings.HasPrefix(code, "tandem1-nourl"): // from an agent that accepts no connections
		c := agent.ConnectionInfo{ID: "c-wait", PartnerName: "Kim", PartnerID: "KKKK-2222", VerificationCode: "555 123 987", State: agent.StatePending,
			ReplyCode: "tandemreply1-for-kim", Expires: time.Now().Add(time.Hour),
			Problem: "Waiting for Kim's operator to complete pairing."}
		f.waiting = append(f.waiting, c)
		return c, nil
	case strings.HasPrefix(code, "tandemreply1-"): // the reply to this agent's invitation
		c := agent.ConnectionInfo{ID: "c-reply", PartnerName: "Blue", VerificationCode: "777 000 111", State: agent.StateActive, Pulls: true}
		f.connections = append(f.connections, c)
		return c, nil
	}
	c := agent.ConnectionInfo{ID: "c-new", PartnerName: "Red", VerificationCode: "4821-7730", State: agent.StateActive}
	f.connections = append(f.connections, c)
	return c, nil
}

func (f *fakeAgent) PendingPairings(ctx context.Context) ([]agent.ConnectionInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["PendingPairings"]; err != nil {
		return nil, err
	}
	return slices.Clone(f.waiting), nil
}

func (f *fakeAgent) CancelPairing(ctx context.Context, id string) (agent.ConnectionInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["CancelPairing"]; err != nil {
		return agent.ConnectionInfo{}, err
	}
	f.cancelledW = append(f.cancelledW, id)
	i := slices.IndexFunc(f.waiting, func(c agent.ConnectionInfo) bool { return c.ID == id })
	if i < 0 {
		return agent.ConnectionInfo{}, fmt.Errorf("no pairing %q waits", id)
	}
	c := f.waiting[i]
	f.waiting = slices.Delete(f.waiting, i, i+1)
	return c, nil
}

func (f *fakeAgent) TrackerSettings(ctx context.Context) (agent.TrackerSettings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["TrackerSettings"]; err != nil {
		return agent.TrackerSettings{}, err
	}
	s := f.settings
	s.Values = maps.Clone(s.Values)
	return s, nil
}

// trackerCall is one TestTracker or SaveTrackerSettings call as the fake received it.
type trackerCall struct {
	settings agent.TrackerSettings
	secrets  map[string]string
}

// Connectors is the real registry: the forms under test are the ones operators get.
func (f *fakeAgent) Connectors() []agent.ConnectorInfo { return agent.Registry() }

func (f *fakeAgent) TestTracker(ctx context.Context, s agent.TrackerSettings, credential map[string]string) agent.TrackerCheck {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tested = append(f.tested, trackerCall{s, credential})
	return f.check
}

func (f *fakeAgent) SaveTrackerSettings(ctx context.Context, s agent.TrackerSettings, credential map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.saved = append(f.saved, trackerCall{s, credential})
	if err := f.fail["SaveTrackerSettings"]; err != nil {
		return err
	}
	f.settings = s
	return nil
}

func (f *fakeAgent) Changes(ctx context.Context) <-chan agent.Topic {
	ch := make(chan agent.Topic, 1)
	ch <- agent.TopicAll
	f.mu.Lock()
	f.watchers = append(f.watchers, ch)
	f.mu.Unlock()
	return ch
}

// tell sends t to every Changes subscriber, as the agent does after a change.
func (f *fakeAgent) tell(t agent.Topic) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.watchers {
		select {
		case ch <- t:
		default:
		}
	}
}

// queueEntries is every queued entry the query matches, in its order.
func (f *fakeAgent) queueEntries(q agent.QueueQuery) []agent.QueueEntry {
	var out []agent.QueueEntry
	for _, c := range f.connections {
		if q.Connection != "" && c.ID != q.Connection {
			continue
		}
		for _, dir := range []string{"out", "in"} {
			if q.Direction != "" && dir != q.Direction {
				continue
			}
			for _, e := range f.queues[c.ID+"/"+dir] {
				if len(q.States) > 0 && !slices.Contains(q.States, e.State) {
					continue
				}
				if q.Item != "" && !strings.HasPrefix(e.ItemKey, q.Item) {
					continue
				}
				out = append(out, e)
			}
		}
	}
	switch q.Order {
	case agent.QueueNewest:
		slices.Reverse(out)
	case agent.QueueByItem:
		slices.SortStableFunc(out, func(a, b agent.QueueEntry) int { return strings.Compare(a.ItemKey, b.ItemKey) })
	case agent.QueueByItemDesc:
		slices.SortStableFunc(out, func(a, b agent.QueueEntry) int { return strings.Compare(b.ItemKey, a.ItemKey) })
	}
	return out
}

func (f *fakeAgent) QueuePage(ctx context.Context, q agent.QueueQuery, offset, limit int) (agent.QueuePage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pageReads = append(f.pageReads, pageRead{q, offset})
	if err := f.fail["QueuePage"]; err != nil {
		return agent.QueuePage{}, err
	}
	all := f.queueEntries(q)
	p := agent.QueuePage{Total: len(all)}
	if offset < len(all) {
		p.Entries = slices.Clone(all[offset:min(offset+limit, len(all))])
	}
	return p, nil
}

// pageRead is one QueuePage call as the fake received it.
type pageRead struct {
	q      agent.QueueQuery
	offset int
}

// QueueBulk works in chunks of 500 like the agent; with bulkGate set, it waits for a token
// before each chunk after the first, so a test can cancel it midway.
func (f *fakeAgent) QueueBulk(ctx context.Context, q agent.QueueQuery, action string, progress func(done, total int)) (int, error) {
	f.mu.Lock()
	if action == agent.BulkRetry && len(q.States) == 0 {
		q.States = []string{agent.QueueFailed, agent.QueueRetrying}
	}
	todo := f.queueEntries(q)
	gate := f.bulkGate
	f.mu.Unlock()
	progress(0, len(todo))
	done := 0
	for chunk := range slices.Chunk(todo, 500) {
		if done > 0 && gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
			}
		}
		if err := ctx.Err(); err != nil {
			return done, err
		}
		for _, e := range chunk {
			if action == agent.BulkRetry {
				f.Retry(ctx, e.Connection, e.Direction, e.Seq)
			} else {
				f.Skip(ctx, e.Connection, e.Direction, e.Seq)
			}
		}
		done += len(chunk)
		progress(done, len(todo))
	}
	return done, nil
}

// queueCall is one Retry or Skip call as the fake received it.
type queueCall struct {
	conn, direction string
	seq             uint64
}

func (f *fakeAgent) Retry(ctx context.Context, connID, direction string, seq uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retried = append(f.retried, queueCall{connID, direction, seq})
	if err := f.fail["Retry"]; err != nil {
		return err
	}
	q := f.queues[connID+"/"+direction]
	i := slices.IndexFunc(q, func(e agent.QueueEntry) bool { return e.Seq == seq })
	if i < 0 {
		return fmt.Errorf("no event %d", seq)
	}
	q[i].State, q[i].NextRetry = agent.QueueRetrying, time.Time{}
	return nil
}

func (f *fakeAgent) Skip(ctx context.Context, connID, direction string, seq uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.skipped = append(f.skipped, queueCall{connID, direction, seq})
	if err := f.fail["Skip"]; err != nil {
		return err
	}
	key := connID + "/" + direction
	i := slices.IndexFunc(f.queues[key], func(e agent.QueueEntry) bool { return e.Seq == seq })
	if i < 0 {
		return fmt.Errorf("no event %d", seq)
	}
	f.queues[key] = slices.Delete(f.queues[key], i, i+1)
	return nil
}

func (f *fakeAgent) ItemSync(ctx context.Context, keys []string) (map[string][]agent.ItemSync, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncCalls = append(f.syncCalls, slices.Clone(keys))
	out := map[string][]agent.ItemSync{}
	for _, k := range keys {
		if s, ok := f.itemSync[k]; ok {
			out[k] = s
		}
	}
	return out, nil
}

func (f *fakeAgent) History(ctx context.Context, q agent.HistoryQuery) (agent.HistoryPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.searches = append(f.searches, q)
	if err := f.fail["History"]; err != nil {
		return agent.HistoryPage{}, err
	}
	var p agent.HistoryPage
	for i := len(f.history) - 1; i >= 0; i-- {
		r := f.history[i]
		if q.Text != "" && !strings.Contains(strings.ToLower(r.Local+" "+r.Remote+" "+r.Error), strings.ToLower(q.Text)) {
			continue
		}
		if len(q.Outcomes) > 0 && !slices.Contains(q.Outcomes, r.Outcome) {
			continue
		}
		if q.Connection != "" && r.Connection != q.Connection {
			continue
		}
		p.Records = append(p.Records, r)
	}
	return p, nil
}

func (f *fakeAgent) Timeline(ctx context.Context, key string) ([]agent.HistoryRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Like the agent: the records of the key and of every key linked with it in them.
	keys := map[string]bool{strings.ToLower(key): true}
	for grew := true; grew; {
		grew = false
		for _, r := range f.history {
			l, rm := strings.ToLower(r.Local), strings.ToLower(r.Remote)
			if (keys[l] || keys[rm]) && (l != "" && !keys[l] || rm != "" && !keys[rm]) {
				keys[l], keys[rm], grew = l != "" || keys[l], rm != "" || keys[rm], true
			}
		}
	}
	var out []agent.HistoryRecord
	for _, r := range f.history {
		if keys[strings.ToLower(r.Local)] && r.Local != "" || keys[strings.ToLower(r.Remote)] && r.Remote != "" {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeAgent) Captured(ctx context.Context, r agent.HistoryRecord) (json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.captured[r.ID], nil
}

func (f *fakeAgent) SetCapture(ctx context.Context, connID string, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.connections {
		if f.connections[i].ID == connID {
			f.connections[i].CaptureUntil = time.Time{}
			if on {
				f.connections[i].CaptureUntil = time.Now().Add(24 * time.Hour)
			}
		}
	}
	return nil
}

func (f *fakeAgent) HistoryRetention(ctx context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.retention == 0 {
		return 30, nil
	}
	return f.retention, nil
}

func (f *fakeAgent) SetHistoryRetention(ctx context.Context, days int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if days < 1 || days > 365 {
		return fmt.Errorf("history retention must be a whole number of days from 1 to 365 (got %d)", days)
	}
	f.retention = days
	return nil
}

func (f *fakeAgent) DeleteHistory(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.history = nil
	return nil
}

func (f *fakeAgent) Throughput(ctx context.Context, connID string, span, step time.Duration) ([]agent.HistoryTally, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]agent.HistoryTally, int(span/step))
	for i := range out {
		out[i] = agent.HistoryTally{Applied: i % 7, Sent: i % 5, Failed: i % 11 / 10}
	}
	return out, nil
}

func (f *fakeAgent) Info(ctx context.Context) (agent.AgentInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["Info"]; err != nil {
		return agent.AgentInfo{}, err
	}
	info := f.info
	if info.Secrets == "" {
		info.Secrets = "the OS keychain (Secret Service over D-Bus)"
	}
	return info, nil
}

func (f *fakeAgent) SetAddress(ctx context.Context, ad agent.Address) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addresses = append(f.addresses, ad)
	if err := f.fail["SetAddress"]; err != nil {
		return err
	}
	f.info.Address = ad
	return nil
}

func (f *fakeAgent) VerifyAudit(ctx context.Context) (audit.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["VerifyAudit"]; err != nil {
		return audit.Report{}, err
	}
	return f.audit, nil
}

package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/item"
)

// fakeAgent is an in-memory Agent. Its fail field makes a named method return an error.
type fakeAgent struct {
	mu          sync.Mutex
	overview    agent.Overview
	connections []agent.ConnectionInfo
	items       []item.Item // newest first
	next        int
	fail        map[string]error

	created  []item.Item
	updated  []item.Item
	comments map[string][]item.Comment
	accepted []string
	invites  int

	itemsRead chan int // when not nil, gets how many items each Items call returned

	settings agent.TrackerSettings
	check    agent.TrackerCheck // what TestTracker answers
	gate     chan struct{}      // when not nil, TestTracker waits for it to close
	tested   []trackerCall
	saved    []trackerCall

	queues  map[string][]agent.QueueEntry // by "connID/direction"
	retried []queueCall
	skipped []queueCall
}

func newFakeAgent() *fakeAgent {
	return &fakeAgent{fail: map[string]error{}, comments: map[string][]item.Comment{}, queues: map[string][]agent.QueueEntry{},
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

// add stores it as the newest item, as another window or the partner would.
func (f *fakeAgent) add(it item.Item) item.Item {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addLocked(it)
}

func (f *fakeAgent) addLocked(it item.Item) item.Item {
	f.next++
	it.Key = fmt.Sprintf("T-%d", f.next)
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

func (f *fakeAgent) Invite(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["Invite"]; err != nil {
		return "", err
	}
	f.invites++
	return fmt.Sprintf("tandem1-invitation-%d", f.invites), nil
}

func (f *fakeAgent) Accept(ctx context.Context, code string) (agent.ConnectionInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["Accept"]; err != nil {
		return agent.ConnectionInfo{}, err
	}
	f.accepted = append(f.accepted, code)
	c := agent.ConnectionInfo{ID: "c-new", PartnerName: "Red", VerificationCode: "4821-7730", State: agent.StateActive}
	f.connections = append(f.connections, c)
	return c, nil
}

func (f *fakeAgent) TrackerSettings(ctx context.Context) (agent.TrackerSettings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["TrackerSettings"]; err != nil {
		return agent.TrackerSettings{}, err
	}
	s := f.settings
	s.Queues = slices.Clone(s.Queues)
	return s, nil
}

// trackerCall is one TestTracker or SaveTrackerSettings call as the fake received it.
type trackerCall struct {
	settings   agent.TrackerSettings
	credential string
}

func (f *fakeAgent) TestTracker(ctx context.Context, s agent.TrackerSettings, credential string) agent.TrackerCheck {
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

func (f *fakeAgent) SaveTrackerSettings(ctx context.Context, s agent.TrackerSettings, credential string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.saved = append(f.saved, trackerCall{s, credential})
	if err := f.fail["SaveTrackerSettings"]; err != nil {
		return err
	}
	f.settings = s
	return nil
}

func (f *fakeAgent) Queue(ctx context.Context, connID, direction string) ([]agent.QueueEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["Queue"]; err != nil {
		return nil, err
	}
	if direction != "out" && direction != "in" {
		return nil, fmt.Errorf("queue direction %q: want out or in", direction)
	}
	return slices.Clone(f.queues[connID+"/"+direction]), nil
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
	q[i].State, q[i].NextRetry = "pending", time.Time{}
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
	f.queues[key] = slices.DeleteFunc(f.queues[key], func(e agent.QueueEntry) bool { return e.Seq == seq })
	return nil
}

package agent

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tandemsync/tandem/core/audit"
	"github.com/tandemsync/tandem/core/control"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/pairing"
	"github.com/tandemsync/tandem/core/queue"
)

// Overview returns the counts for the app's Overview screen.
func (a *Agent) Overview(ctx context.Context) (Overview, error) {
	a.mu.Lock()
	tracker := a.settings.Describe()
	a.mu.Unlock()
	o := Overview{AgentID: a.id.ID.String(), Name: a.Name(), Tracker: tracker}
	n, err := a.local.Count(ctx)
	if err != nil {
		return o, err
	}
	o.Items = n
	if gaps, err := a.hist.Incomplete(); err == nil && len(gaps) > 0 {
		g := gaps[len(gaps)-1]
		o.HistoryIncomplete = fmt.Sprintf("The history is incomplete: %s between %s and %s could not be written (%s). Syncing went on.",
			plural(g.Lost, "outcome", "outcomes"), g.From.Local().Format("2006-01-02 15:04"), g.To.Local().Format("15:04"), g.Reason)
	}
	for _, c := range a.connList() {
		info := a.info(c)
		o.Connections++
		o.Twins += info.Twins
		o.Queued += info.Outbox + info.Inbox
		o.Failed += info.Failed + info.Retrying
		st := c.eng.Stats()
		o.Sent += st.Sent
		o.Applied += st.Applied
	}
	return o, nil
}

func (a *Agent) connList() []*conn {
	a.mu.Lock()
	defer a.mu.Unlock()
	list := make([]*conn, 0, len(a.conns))
	for _, c := range a.conns {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].rec.Created.Before(list[j].rec.Created) })
	return list
}

// info describes one connection; counting errors show as the connection's last error.
func (a *Agent) info(c *conn) ConnectionInfo {
	rec := c.recSnapshot()
	info := ConnectionInfo{
		ID:               rec.ID,
		PartnerName:      rec.PartnerName,
		PartnerID:        rec.Partner.String(),
		PartnerURL:       rec.PartnerURL,
		VerificationCode: pairing.VerificationCode(a.id.ID, rec.Partner),
		Verified:         rec.Verified,
		State:            rec.State,
		RevokedBy:        rec.RevokedBy,
		Pulls:            c.pulls,
		Allow:            strings.Join(rec.Allow, ", "),
		Created:          rec.Created,
	}
	if rec.State != StateRevoked {
		info.PartnerState, info.Problem = c.partner.snapshot()
	}
	switch {
	case rec.State == StateRevoked && rec.RevokedBy == revokedByPartner:
		info.Problem = "The partner revoked this connection: it no longer accepts this agent's events or sends its own. Pair again to sync with them."
	case rec.State == StatePaused:
		info.Problem = "Paused here: nothing is sent or applied, and the partner holds its events, until you resume."
	}
	st := c.eng.Stats()
	info.LastError, info.LastSync = st.LastError, st.LastSync
	if n, err := c.eng.Twins(); err == nil {
		info.Twins = n
	}
	for _, q := range []*queue.Queue{c.out, c.in} {
		n, err := q.Counts()
		if err != nil {
			continue
		}
		waiting := n.Total()
		if q == c.out {
			info.Outbox = waiting
		} else {
			info.Inbox = waiting
		}
		info.Failed += n.Failed
		info.Retrying += n.Retrying
		info.Blocked += n.Blocked
		if !n.Oldest.IsZero() && (info.Oldest.IsZero() || n.Oldest.Before(info.Oldest)) {
			info.Oldest = n.Oldest
		}
	}
	info.CaptureUntil = a.hist.CaptureUntil(rec.ID)
	a.health(&info, time.Now())
	return info
}

// Connections lists every connection, oldest first.
func (a *Agent) Connections(ctx context.Context) ([]ConnectionInfo, error) {
	var out []ConnectionInfo
	for _, c := range a.connList() {
		out = append(out, a.info(c))
	}
	return out, nil
}

// Items lists the embedded tracker's items, newest first, at most 10,000 of them, in full.
// It is for the rule tester's item list and the command line; a screen reads ItemPage.
func (a *Agent) Items(ctx context.Context) ([]item.Item, error) {
	return a.local.List(ctx, 0, 10000)
}

// ItemPage is one page of the embedded tracker's items as the Tracker screen lists them.
type ItemPage struct {
	Items []item.Summary // newest first
	Total int            // how many items there are, from the tracker's counter
}

// ItemPage returns the embedded tracker's items from the offset-th newest on, at most limit
// of them (limit <= 0 means 100), as summaries, with the number of items. It costs one page
// whatever the number of items.
func (a *Agent) ItemPage(ctx context.Context, offset, limit int) (ItemPage, error) {
	items, total, err := a.local.Page(ctx, offset, limit)
	return ItemPage{Items: items, Total: total}, err
}

// Item returns one item of the embedded tracker in full, comments included. An unknown key
// gives an error that says so.
func (a *Agent) Item(ctx context.Context, key string) (item.Item, error) {
	return a.local.Get(ctx, key)
}

// CreateItem creates an item in the embedded tracker; with no reporter named, the operator
// is the reporter.
func (a *Agent) CreateItem(ctx context.Context, it item.Item) (item.Item, error) {
	if it.Reporter.IsZero() {
		it.Reporter = a.opt.Operator
	}
	defer a.changed(TopicItems)
	return a.local.Create(ctx, it)
}

// UpdateItem changes an item in the embedded tracker.
func (a *Agent) UpdateItem(ctx context.Context, it item.Item) (item.Item, error) {
	defer a.changed(TopicItems)
	return a.local.Update(ctx, it)
}

// AddComment adds a comment to an item in the embedded tracker; with no author named, the
// operator is the author.
func (a *Agent) AddComment(ctx context.Context, key string, c item.Comment) (item.Comment, error) {
	if c.Author.IsZero() {
		c.Author = a.opt.Operator
	}
	defer a.changed(TopicItems)
	return a.local.AddComment(ctx, key, c)
}

// Statuses is the embedded tracker's status vocabulary.
func (a *Agent) Statuses() []string { return a.local.Statuses() }

// Priorities is the embedded tracker's priority vocabulary.
func (a *Agent) Priorities() []string { return a.local.Priorities() }

// KeyPrefix is the prefix of the embedded tracker's new item keys, e.g. ACME for ACME-12.
func (a *Agent) KeyPrefix() string { return a.local.Prefix() }

// SetKeyPrefix makes p the prefix of the embedded tracker's new item keys; items made before
// keep theirs, because partners' twins refer to them. The change is audited.
func (a *Agent) SetKeyPrefix(ctx context.Context, p string) error {
	was := a.local.Prefix()
	if p == was {
		return nil
	}
	if err := a.local.SetPrefix(p); err != nil {
		return control.WithCode(err, control.CodeInvalid)
	}
	a.record(ctx, audit.KindSettings, fmt.Sprintf("embedded tracker: new items' keys start with %s (was %s)", p, was))
	a.changed(TopicItems)
	return nil
}

func (a *Agent) queueOf(connID, direction string) (*conn, *queue.Queue, error) {
	c, err := a.conn(connID)
	if err != nil {
		return nil, nil, err
	}
	switch direction {
	case "out":
		return c, c.out, nil
	case "in":
		return c, c.in, nil
	}
	return nil, nil, fmt.Errorf("queue direction %q: want out or in", direction)
}

// Twin returns the partner's key for a local item on a connection, "" if not linked yet.
func (a *Agent) Twin(connID, local string) (string, error) {
	c, err := a.conn(connID)
	if err != nil {
		return "", err
	}
	return c.eng.Twin(local)
}

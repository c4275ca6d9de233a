package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules"
)

// RuleTestInput is what a test run works on.
type RuleTestInput struct {
	// ItemKey is a local item: outgoing, the item whose replica is built; incoming, the item
	// the replica is applied to ("" to see what a new item would be).
	ItemKey string
	// Replica is, for incoming, the replica to apply: an edited sample. Nil means the last one
	// received for the item's twin.
	Replica *item.Replica
}

// FieldChange is one field a test run would change: outgoing, against what was last sent;
// incoming, on the local item.
type FieldChange struct {
	Field    string
	Old, New string
}

// RuleTestResult is what a rule would do, with nothing sent or written.
type RuleTestResult struct {
	Direction string
	ItemKey   string
	FirstSync bool // the run was the item's first sync (ctx.FirstSync)
	Linked    bool // the item has a twin at the partner
	Skipped   bool
	// SkipReason says why the item would not sync, in the rule's words.
	SkipReason string
	// Error is the rule's run-time failure (with its line); the item would fail with it.
	Error string
	Logs  []string // the rule's ctx.Log lines
	// Replica is, outgoing, what would be sent; incoming, the replica the rule was given.
	Replica item.Replica
	// FromReceived is set when, incoming, that replica is the one last received for the item.
	FromReceived bool
	// Unchanged is, outgoing, that the replica equals what was last sent: nothing would go.
	Unchanged bool
	Changes   []FieldChange
	// NewComments are, outgoing, the comments in the replica; incoming, the ones that would
	// be added.
	NewComments []item.Comment
	// Conflicts are the incoming rule's conflict policies by field.
	Conflicts map[string]string
	// IgnoreCommentEdits and IgnoreCommentDeletions are the incoming rule's comment choices.
	IgnoreCommentEdits, IgnoreCommentDeletions bool
}

// TestRule runs a draft (or, with a zero draft, the live rule) on a real item, the way the
// engine would, and reports the result. Nothing is sent, written or kept: not even a token.
func (a *Agent) TestRule(ctx context.Context, connID, dir string, d RuleDraft, in RuleTestInput) (RuleTestResult, error) {
	c, err := a.conn(connID)
	if err != nil {
		return RuleTestResult{}, err
	}
	if err := checkDir(dir); err != nil {
		return RuleTestResult{}, err
	}
	src := ""
	if d.Mode == "" {
		live := c.rules.sources()
		src = live.Outgoing
		if dir == RuleIncoming {
			src = live.Incoming
		}
	} else if src, err = draftSource(dir, d); err != nil {
		return RuleTestResult{}, err
	}
	p, err := compileDirection(dir, src)
	if err != nil {
		return RuleTestResult{}, err
	}
	a.mu.Lock()
	tr, eng, partner := a.sync, c.eng, c.rec.PartnerName
	a.mu.Unlock()
	env := rules.Env{Connection: partner, Vault: a.vault.For(connID).DryRun()}
	res := RuleTestResult{Direction: dir, ItemKey: in.ItemKey}
	var cur item.Item
	var ts engine.TwinState
	if in.ItemKey != "" {
		if cur, err = tr.Get(ctx, in.ItemKey); err != nil {
			return RuleTestResult{}, fmt.Errorf("read item %s: %w", in.ItemKey, err)
		}
		if ts, err = eng.TwinState(in.ItemKey); err != nil {
			return RuleTestResult{}, err
		}
	}
	res.Linked = ts.Remote != ""
	rctx, cancel := context.WithTimeout(ctx, rules.DefaultTimeout)
	defer cancel()

	if dir == RuleOutgoing {
		if in.ItemKey == "" {
			return RuleTestResult{}, errors.New("choose the local item to build the replica of")
		}
		env.FirstSync = ts.Sent == nil && ts.Remote == ""
		res.FirstSync = env.FirstSync
		r, o, err := p.Outgoing(rctx, engine.OutgoingInput(cur, ts), env)
		res.Logs, res.Skipped, res.SkipReason = o.Logs, o.Skip, o.SkipReason
		if err != nil {
			res.Error = err.Error()
			return res, nil
		}
		res.Replica = r
		res.NewComments = r.Comments
		if ts.Sent != nil {
			withoutComments := r
			withoutComments.Comments = nil
			res.Unchanged = withoutComments.Hash() == ts.Sent.Hash()
		}
		if !o.Skip {
			res.Changes = replicaChanges(ts.Sent, r)
		}
		return res, nil
	}

	if in.Replica == nil {
		if ts.Received == nil {
			return RuleTestResult{}, errors.New("nothing has been received for this item yet: give a sample of what the partner would send")
		}
		in.Replica = ts.Received
		res.FromReceived = true
	}
	env.FirstSync = cur.Key == ""
	res.FirstSync = env.FirstSync
	base := cur.Clone()
	base.Comments = nil // as the engine runs it: the rule puts there the comments it accepts
	res.Replica = *in.Replica
	got, o, err := p.Incoming(rctx, *in.Replica, base, env)
	res.Logs, res.Skipped, res.SkipReason = o.Logs, o.Skip, o.SkipReason
	res.Conflicts, res.IgnoreCommentEdits, res.IgnoreCommentDeletions = o.Conflicts, o.IgnoreCommentEdits, o.IgnoreCommentDeletions
	if err != nil {
		res.Error = err.Error()
		return res, nil
	}
	if o.Skip {
		return res, nil
	}
	for _, f := range item.ChangedFields(base, got) {
		res.Changes = append(res.Changes, FieldChange{Field: f, Old: fieldText(base, f), New: fieldText(got, f)})
	}
	for _, cm := range got.Comments {
		if _, known := ts.CommentLinks[cm.ID]; !known {
			res.NewComments = append(res.NewComments, cm)
		}
	}
	return res, nil
}

// replicaChanges lists the replica's fields that differ from what was last sent (all of its
// fields before the first send).
func replicaChanges(sent *item.Replica, r item.Replica) []FieldChange {
	var prev item.Item
	if sent != nil {
		prev = sent.AsItem()
	}
	next := r.AsItem()
	var out []FieldChange
	for _, f := range item.ChangedFields(prev, next) {
		out = append(out, FieldChange{Field: f, Old: fieldText(prev, f), New: fieldText(next, f)})
	}
	return out
}

// fieldText shows one field's value for people.
func fieldText(it item.Item, f string) string {
	switch v := it.Get(f).(type) {
	case []string:
		return strings.Join(v, ", ")
	case item.User:
		return userText(v)
	case string:
		return v
	}
	return ""
}

func userText(u item.User) string {
	switch {
	case u.IsZero():
		return ""
	case u.Name != "" && u.Email != "":
		return u.Name + " <" + u.Email + ">"
	case u.Name != "":
		return u.Name
	case u.Email != "":
		return u.Email
	}
	return u.ID
}

package local

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
)

// allFields is what an operator's Update replaces (custom fields are replaced as a whole).
var allFields = item.CoreFields()

// op is one write; replaceCustom makes the item's custom fields exactly op.Item.Custom.
type op struct {
	engine.Write
	replaceCustom bool
}

// Apply performs writes in order in one bbolt transaction. A write with invalid input (an
// unknown key or field, a missing title, an empty comment) gets its own Err, whose
// Permanent() is true, and changes nothing; the other writes still happen. Apply itself
// fails, writing nothing, only when the storage fails or ctx ends.
func (t *Tracker) Apply(ctx context.Context, writes []engine.Write) ([]engine.WriteResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(writes) == 0 {
		return nil, nil
	}
	var results []engine.WriteResult
	err := t.update(func(b *txn, now time.Time) error {
		var err error
		results, err = t.applyIn(ctx, b, writes, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("apply %d writes: %w", len(writes), err)
	}
	return results, nil
}

// ApplyTx is Apply inside the caller's transaction on the same bbolt file (the agent's): the
// engine records twins and acks in it too. Changed is signalled once tx commits.
func (t *Tracker) ApplyTx(tx *bolt.Tx, writes []engine.Write) ([]engine.WriteResult, error) {
	if tx.DB() != t.db {
		return nil, errors.New("apply in a transaction of another database than the embedded tracker's")
	}
	b, err := bucketsOf(tx)
	if err != nil {
		return nil, err
	}
	results, err := t.applyIn(context.Background(), b, writes, t.now())
	if err != nil {
		return nil, fmt.Errorf("apply %d writes: %w", len(writes), err)
	}
	if b.changed {
		tx.OnCommit(t.signal)
	}
	return results, nil
}

// ItemTx is Get inside the caller's transaction on the agent's bbolt file.
func (t *Tracker) ItemTx(tx *bolt.Tx, key string) (item.Item, bool, error) {
	n, ok := t.number(key)
	if !ok {
		return item.Item{}, false, nil
	}
	b, err := bucketsOf(tx)
	if err != nil {
		return item.Item{}, false, err
	}
	it, ok, err := t.load(b, n)
	return it, ok && it.Key == key, err
}

// applyIn performs writes in b; each result carries the item as written.
func (t *Tracker) applyIn(ctx context.Context, b *txn, writes []engine.Write, now time.Time) ([]engine.WriteResult, error) {
	results := make([]engine.WriteResult, len(writes))
	for i, w := range writes {
		if i%64 == 63 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		res, it, err := t.write(b, op{Write: w}, now)
		if err != nil && !isInput(err) {
			return nil, fmt.Errorf("write %d of %d: %w", i+1, len(writes), err)
		}
		res.Err = err
		if err == nil {
			res.Item = &it
		}
		results[i] = res
	}
	return results, nil
}

// Create adds an item: it assigns Key, Created and Updated; Title is required; an empty
// status or priority becomes the default. Comments in it are added as new comments.
func (t *Tracker) Create(ctx context.Context, it item.Item) (item.Item, error) {
	w := engine.Write{Item: it, NewComments: it.Comments}
	return t.one(ctx, op{Write: w})
}

// Update replaces the title, description, status, priority, labels, assignee, reporter and
// custom fields of the item with it.Key; comments and attachments stay as they are.
func (t *Tracker) Update(ctx context.Context, it item.Item) (item.Item, error) {
	if it.Key == "" {
		return item.Item{}, invalid("update: the item's key is required")
	}
	w := engine.Write{Key: it.Key, Item: it, Fields: allFields}
	return t.one(ctx, op{Write: w, replaceCustom: true})
}

// AddComment adds c to the item with key, keeping its Author and Body as given; it assigns
// the comment's ID and Created.
func (t *Tracker) AddComment(ctx context.Context, key string, c item.Comment) (item.Comment, error) {
	if key == "" {
		return item.Comment{}, invalid("add comment: the item's key is required")
	}
	it, err := t.one(ctx, op{Write: engine.Write{Key: key, NewComments: []item.Comment{c}}})
	if err != nil {
		return item.Comment{}, err
	}
	return it.Comments[len(it.Comments)-1], nil
}

// EditComment replaces the body of comment id on the item with key, in place: its ID, author
// and time stay.
func (t *Tracker) EditComment(ctx context.Context, key, id, body string) (item.Item, error) {
	if key == "" || id == "" {
		return item.Item{}, invalid("edit comment: the item's key and the comment's id are required")
	}
	it, err := t.Get(ctx, key)
	if err != nil {
		return item.Item{}, err
	}
	c, ok := it.Comment(id)
	if !ok {
		return item.Item{}, invalid("edit comment: %s has no comment %s", key, id)
	}
	c.Body = body
	return t.one(ctx, op{Write: engine.Write{Key: key, EditComments: []item.Comment{c}}})
}

// DeleteComment removes comment id from the item with key.
func (t *Tracker) DeleteComment(ctx context.Context, key, id string) (item.Item, error) {
	if key == "" || id == "" {
		return item.Item{}, invalid("delete comment: the item's key and the comment's id are required")
	}
	return t.one(ctx, op{Write: engine.Write{Key: key, DeleteComments: []string{id}}})
}

func (t *Tracker) one(ctx context.Context, o op) (item.Item, error) {
	if err := ctx.Err(); err != nil {
		return item.Item{}, err
	}
	var out item.Item
	err := t.update(func(b *txn, now time.Time) error {
		var err error
		_, out, err = t.write(b, o, now)
		return err
	})
	if err != nil {
		return item.Item{}, err
	}
	return out, nil
}

// write performs one write inside b. It validates everything before it changes anything, so
// a write that fails with an input error leaves no trace.
func (t *Tracker) write(b *txn, o op, now time.Time) (engine.WriteResult, item.Item, error) {
	if o.Key == "" {
		return t.create(b, o, now)
	}
	res := engine.WriteResult{Key: o.Key}
	what := "update " + o.Key
	n, ok := t.number(o.Key)
	if !ok {
		return res, item.Item{}, t.notFound(o.Key)
	}
	it, ok, err := t.load(b, n)
	if err != nil {
		return res, item.Item{}, err
	}
	if !ok || it.Key != o.Key {
		return res, item.Item{}, t.notFound(o.Key)
	}
	changed, err := setFields(&it, o, what)
	if err != nil {
		return res, item.Item{}, err
	}
	if err := checkComments(o.NewComments, what); err != nil {
		return res, item.Item{}, err
	}
	if err := checkComments(o.EditComments, what); err != nil {
		return res, item.Item{}, err
	}
	if editComments(&it, o.EditComments) {
		changed = true
	}
	if deleteComments(&it, o.DeleteComments) {
		changed = true
	}
	if !changed && len(o.NewComments) == 0 {
		return res, it, nil // nothing to record: no feed entry, no echo
	}
	if res.CommentIDs, err = addComments(b, &it, o.NewComments, now); err != nil {
		return res, item.Item{}, err
	}
	it.Updated = now
	if err := t.save(b, n, it); err != nil {
		return res, item.Item{}, err
	}
	return res, it, nil
}

func (t *Tracker) create(b *txn, o op, now time.Time) (engine.WriteResult, item.Item, error) {
	src := o.Item
	if strings.TrimSpace(src.Title) == "" {
		return engine.WriteResult{}, item.Item{}, invalid("create: the title is required")
	}
	for name := range src.Custom {
		if name == "" {
			return engine.WriteResult{}, item.Item{}, invalid("create: a custom field has an empty name")
		}
	}
	if err := checkComments(o.NewComments, "create"); err != nil {
		return engine.WriteResult{}, item.Item{}, err
	}
	n, err := b.items.NextSequence()
	if err != nil {
		return engine.WriteResult{}, item.Item{}, fmt.Errorf("next item number: %w", err)
	}
	it := item.Item{
		Key:         t.key(n),
		Title:       src.Title,
		Description: src.Description,
		Status:      src.Status,
		Priority:    src.Priority,
		Labels:      cloneLabels(src.Labels),
		Assignee:    src.Assignee,
		Reporter:    src.Reporter,
		Custom:      cloneCustom(src.Custom),
		Created:     now,
		Updated:     now,
	}
	if it.Status == "" {
		it.Status = DefaultStatus
	}
	res := engine.WriteResult{Key: it.Key}
	if res.CommentIDs, err = addComments(b, &it, o.NewComments, now); err != nil {
		return engine.WriteResult{}, item.Item{}, err
	}
	if err := t.save(b, n, it); err != nil {
		return engine.WriteResult{}, item.Item{}, err
	}
	return res, it, nil
}

// setFields copies the named fields from o.Item into it and reports whether any value changed.
func setFields(it *item.Item, o op, what string) (bool, error) {
	src := o.Item
	changed := false
	for _, f := range o.Fields {
		if name, ok := item.CustomName(f); ok {
			// An empty value written is kept as written, unlike item.SetField's merge.
			v, has := src.Custom[name]
			old, had := it.Custom[name]
			switch {
			case has && (!had || old != v):
				if it.Custom == nil {
					it.Custom = map[string]string{}
				}
				it.Custom[name] = v
				changed = true
			case !has && had:
				delete(it.Custom, name)
				changed = true
			}
			continue
		}
		if !item.IsCore(f) {
			return false, invalid("%s: unknown field %q (want %s or custom.NAME)", what, f, strings.Join(item.CoreFields(), ", "))
		}
		if f == item.FieldTitle && strings.TrimSpace(src.Title) == "" {
			return false, invalid("%s: the title cannot be empty", what)
		}
		if !item.FieldEqual(*it, src, f) {
			item.SetField(it, src, f)
			changed = true
		}
	}
	if o.replaceCustom {
		for name := range src.Custom {
			if name == "" {
				return false, invalid("%s: a custom field has an empty name", what)
			}
		}
		if !maps.Equal(it.Custom, src.Custom) {
			it.Custom = cloneCustom(src.Custom)
			changed = true
		}
	}
	if len(it.Custom) == 0 {
		it.Custom = nil
	}
	return changed, nil
}

func checkComments(cs []item.Comment, what string) error {
	for i, c := range cs {
		if strings.TrimSpace(c.Body) == "" {
			return invalid("%s: comment %d of %d has an empty body", what, i+1, len(cs))
		}
	}
	return nil
}

// editComments changes, in place, the bodies (and, when given, the authors) of the item's
// comments with the ids of edits; ids the item does not have are ignored (the comment was
// deleted meanwhile). It reports whether anything changed.
func editComments(it *item.Item, edits []item.Comment) bool {
	changed := false
	for _, e := range edits {
		for i := range it.Comments {
			c := &it.Comments[i]
			if c.ID != e.ID {
				continue
			}
			if c.Body != e.Body {
				c.Body, changed = e.Body, true
			}
			if !e.Author.IsZero() && c.Author != e.Author {
				c.Author, changed = e.Author, true
			}
		}
	}
	return changed
}

// deleteComments removes the item's comments with the given ids; one already gone is not an
// error. It reports whether anything was removed.
func deleteComments(it *item.Item, ids []string) bool {
	if len(ids) == 0 {
		return false
	}
	n := len(it.Comments)
	it.Comments = slices.DeleteFunc(it.Comments, func(c item.Comment) bool { return slices.Contains(ids, c.ID) })
	return len(it.Comments) != n
}

// addComments appends cs to it with new tracker-wide ids and the tracker's own time.
func addComments(b *txn, it *item.Item, cs []item.Comment, now time.Time) ([]string, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		seq, err := b.meta.NextSequence()
		if err != nil {
			return nil, fmt.Errorf("next comment id: %w", err)
		}
		id := strconv.FormatUint(seq, 10)
		it.Comments = append(it.Comments, item.Comment{
			ID:       id,
			Author:   c.Author,
			Body:     c.Body,
			Created:  now,
			Internal: c.Internal,
		})
		ids = append(ids, id)
	}
	return ids, nil
}

func cloneLabels(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return slices.Clone(l)
}

func cloneCustom(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

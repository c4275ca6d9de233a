package engine

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tandemsync/tandem/core/item"
)

// itemFields names the mergeable fields of the given items: the core fields and every custom
// field any of them has, as "custom.NAME".
func itemFields(items ...item.Item) []string {
	f := []string{FieldTitle, FieldDescription, FieldStatus, FieldPriority, FieldLabels, FieldAssignee, FieldReporter}
	var custom []string
	for _, it := range items {
		for k := range it.Custom {
			custom = append(custom, CustomPrefix+k)
		}
	}
	slices.Sort(custom)
	return append(f, slices.Compact(custom)...)
}

// fieldEqual reports whether a and b hold the same value for field f.
func fieldEqual(a, b item.Item, f string) bool {
	switch f {
	case FieldTitle:
		return a.Title == b.Title
	case FieldDescription:
		return a.Description == b.Description
	case FieldStatus:
		return a.Status == b.Status
	case FieldPriority:
		return a.Priority == b.Priority
	case FieldLabels:
		return slices.Equal(a.Labels, b.Labels) // nil and empty are equal
	case FieldAssignee:
		return a.Assignee == b.Assignee
	case FieldReporter:
		return a.Reporter == b.Reporter
	}
	name, _ := strings.CutPrefix(f, CustomPrefix)
	return a.Custom[name] == b.Custom[name]
}

// setField copies field f from src into dst.
func setField(dst *item.Item, src item.Item, f string) {
	switch f {
	case FieldTitle:
		dst.Title = src.Title
	case FieldDescription:
		dst.Description = src.Description
	case FieldStatus:
		dst.Status = src.Status
	case FieldPriority:
		dst.Priority = src.Priority
	case FieldLabels:
		dst.Labels = slices.Clone(src.Labels)
	case FieldAssignee:
		dst.Assignee = src.Assignee
	case FieldReporter:
		dst.Reporter = src.Reporter
	default:
		name, _ := strings.CutPrefix(f, CustomPrefix)
		v, ok := src.Custom[name]
		if dst.Custom == nil {
			dst.Custom = map[string]string{}
		}
		if ok && v != "" {
			dst.Custom[name] = v
		} else {
			delete(dst.Custom, name)
		}
	}
}

// withoutComments returns it with the comments whose ids are in drop removed.
func withoutComments(it item.Item, drop map[string]bool) item.Item {
	if len(drop) == 0 {
		return it
	}
	kept := it.Comments[:0:0]
	for _, c := range it.Comments {
		if !drop[c.ID] {
			kept = append(kept, c)
		}
	}
	it.Comments = kept
	return it
}

// partnerComments is the set of local comment ids that came from the partner.
func (t twin) partnerComments() map[string]bool {
	if len(t.Comments) == 0 {
		return nil
	}
	s := make(map[string]bool, len(t.Comments))
	for _, local := range t.Comments {
		s[local] = true
	}
	return s
}

// replicaChanged names the replica fields that differ between prev and next (comments aside:
// they are matched by id).
func replicaChanged(prev, next item.Replica) []string {
	a, b := replicaAsItem(prev), replicaAsItem(next)
	var changed []string
	for _, f := range itemFields(a, b) {
		if !fieldEqual(a, b, f) {
			changed = append(changed, f)
		}
	}
	return changed
}

// copyReplicaFields copies the named fields from src into dst.
func copyReplicaFields(dst *item.Replica, src item.Replica, fields []string) {
	d, s := replicaAsItem(*dst), replicaAsItem(src)
	d.Custom = maps.Clone(d.Custom) // dst may share its map with another replica
	for _, f := range fields {
		setField(&d, s, f)
	}
	dst.Title, dst.Description, dst.Status, dst.Priority = d.Title, d.Description, d.Status, d.Priority
	dst.Labels, dst.Assignee, dst.Reporter, dst.Custom = d.Labels, d.Assignee, d.Reporter, d.Custom
}

func replicaAsItem(r item.Replica) item.Item {
	return item.Item{Title: r.Title, Description: r.Description, Status: r.Status, Priority: r.Priority,
		Labels: r.Labels, Assignee: r.Assignee, Reporter: r.Reporter, Custom: r.Custom}
}

// stripComments returns a copy of r without comments, for the twin's record of what was sent.
func stripComments(r item.Replica) *item.Replica {
	r.Comments = nil
	return &r
}

// syncHash is the hash of everything of a local item that a rule sees, but its Updated
// time, which Tandem's own write moves.
func syncHash(it item.Item) string {
	it.Updated = time.Time{}
	return item.HashValue(it)
}

// fieldSums are the hashes of an item's field values by field name: enough to tell whether a
// field still holds a value, without keeping the value (the twin never stores a detokenized
// secret or a requester's address).
type fieldSums map[string]string

// fieldSum hashes field f of it; nil and empty labels, and a missing and an empty custom
// field, hash alike, as fieldEqual treats them.
func fieldSum(it item.Item, f string) string {
	var v any
	switch f {
	case FieldTitle:
		v = it.Title
	case FieldDescription:
		v = it.Description
	case FieldStatus:
		v = it.Status
	case FieldPriority:
		v = it.Priority
	case FieldLabels:
		if len(it.Labels) > 0 {
			v = it.Labels
		} else {
			v = []string{}
		}
	case FieldAssignee:
		v = it.Assignee
	case FieldReporter:
		v = it.Reporter
	default:
		name, _ := strings.CutPrefix(f, CustomPrefix)
		v = it.Custom[name]
	}
	return item.HashValue(v)
}

// sumsOf hashes every field of it.
func sumsOf(it item.Item) fieldSums {
	s := fieldSums{}
	for _, f := range itemFields(it) {
		s[f] = fieldSum(it, f)
	}
	return s
}

// equal reports whether it holds, for field f, the value s was taken from.
func (s fieldSums) equal(it item.Item, f string) bool {
	want, ok := s[f]
	if !ok {
		want = fieldSum(item.Item{}, f) // a custom field the summed item did not have
	}
	return want == fieldSum(it, f)
}

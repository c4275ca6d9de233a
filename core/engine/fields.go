package engine

import (
	"time"

	"github.com/tandemsync/tandem/core/item"
)

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
// field, hash alike, as item.FieldEqual treats them.
func fieldSum(it item.Item, f string) string {
	v := it.Get(f)
	if l, ok := v.([]string); ok && len(l) == 0 {
		v = []string{}
	}
	return item.HashValue(v)
}

// sumsOf hashes every field of it.
func sumsOf(it item.Item) fieldSums {
	s := fieldSums{}
	for _, f := range item.Fields(it) {
		s[f] = fieldSum(it, f)
	}
	return s
}

// sumsLike is sumsOf(it), reusing the sums of like (sumsOf(like)) for the fields that hold
// the same value in both: applying a change hashes the item as written and the rule's item
// it was written from, which mostly agree.
func sumsLike(it, like item.Item, likeSums fieldSums) fieldSums {
	s := make(fieldSums, len(likeSums))
	for _, f := range item.Fields(it) {
		if sum, ok := likeSums[f]; ok && item.FieldEqual(it, like, f) {
			s[f] = sum
			continue
		}
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

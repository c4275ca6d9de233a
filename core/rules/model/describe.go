package model

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/tandemsync/tandem/core/item"
)

// Describe says in plain words what a mapping does, for the generated code's comments, the
// editor's table and version comparisons: `mapped: "new" → "open"; anything else becomes "open"`.
func Describe(m Mapping, d Direction) string {
	t := m.Transform
	k, _ := kindOf(m.Target)
	var s string
	switch t.Kind {
	case Copy:
		s = "copied"
	case Map:
		var pairs []string
		for i, p := range t.Values {
			if i == 4 {
				pairs = append(pairs, fmt.Sprintf("… (%d values)", len(t.Values)))
				break
			}
			pairs = append(pairs, strconv.Quote(p.From)+" → "+strconv.Quote(p.To))
		}
		s = "mapped: " + strings.Join(pairs, ", ")
		switch {
		case k == item.KindLabels && t.KeepUnmapped:
			s += "; other labels are kept"
		case k == item.KindLabels:
			s += "; other labels are dropped"
		case t.KeepUnmapped:
			s += "; anything else is kept as it is"
		default:
			s += "; anything else becomes " + strconv.Quote(t.Default)
		}
	case Mask:
		switch {
		case t.Emails:
			s = "e-mail addresses masked"
		case t.KeepLast > 0:
			s = fmt.Sprintf("masked but the last %d characters", t.KeepLast)
		default:
			s = "masked entirely"
		}
		if !t.Emails && t.MaskChar != "" && t.MaskChar != "*" {
			s += " with " + strconv.Quote(t.MaskChar)
		}
	case Regex:
		s = fmt.Sprintf("every match of %s replaced with %s", strconv.Quote(t.Pattern), strconv.Quote(t.Replace))
	case Fixed:
		switch {
		case k == item.KindUser && t.User != nil:
			s = "always " + userWords(*t.User)
		case k == item.KindLabels:
			s = "always the labels " + strconv.Quote(t.Value)
		default:
			s = "always " + strconv.Quote(t.Value)
		}
	case Affix:
		var parts []string
		if t.Prefix != "" {
			parts = append(parts, strconv.Quote(t.Prefix)+" before")
		}
		if t.Suffix != "" {
			parts = append(parts, strconv.Quote(t.Suffix)+" after")
		}
		s = "with " + strings.Join(parts, " and ")
	case Truncate:
		s = fmt.Sprintf("cut to %d characters", t.Max)
	case Tokenize:
		s = "replaced by a token; the value stays in this side's vault"
	case Detokenize:
		s = "tokens this side issued turn back into their values"
	case MapUsers:
		s = "people mapped through the user map"
	case Drop:
		if d == Incoming {
			return "ignored: the partner's value is not applied"
		}
		return "not sent"
	default:
		s = t.Kind
	}
	if m.FirstSyncOnly {
		s += ", on the first sync only"
	}
	switch m.Conflict {
	case ConflictLocal:
		s += "; a local change since the last sync wins"
	case ConflictOverwrite:
		s += "; the partner's value always wins"
	}
	return s
}

func userWords(u User) string {
	for _, v := range []string{u.Name, u.Email, u.ID} {
		if v != "" {
			return strconv.Quote(v)
		}
	}
	return "nobody"
}

// Summary lists, in plain words, how rule b differs from rule a: trigger, mappings (by target
// field), users and comments. Either may be nil (a script), which is said as such.
func Summary(a, b *Rule) []string {
	switch {
	case a == nil && b == nil:
		return []string{"both are scripts: compare the source"}
	case a == nil:
		return []string{"a script became a visual rule"}
	case b == nil:
		return []string{"a visual rule became a script"}
	}
	var out []string
	if !reflect.DeepEqual(a.Trigger, b.Trigger) {
		out = append(out, "trigger: "+triggerWords(a.Trigger)+" → "+triggerWords(b.Trigger))
	}
	for _, mb := range b.Mappings {
		ma, ok := a.Mapping(mb.Target)
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("added %s: %s", mb.Label(), Describe(mb, b.Direction)))
		case !reflect.DeepEqual(ma, mb):
			da, db := Describe(ma, a.Direction), Describe(mb, b.Direction)
			if ma.Source != mb.Source {
				da, db = ma.Label()+": "+da, mb.Label()+": "+db
			}
			if da == db {
				db += " (details changed)"
			}
			out = append(out, fmt.Sprintf("changed %s: %s → %s", mb.Target, da, db))
		}
	}
	for _, ma := range a.Mappings {
		if _, ok := b.Mapping(ma.Target); !ok {
			out = append(out, fmt.Sprintf("removed %s: %s", ma.Label(), Describe(ma, a.Direction)))
		}
	}
	if !reflect.DeepEqual(a.Users, b.Users) {
		out = append(out, fmt.Sprintf("user map: %d → %d people", len(a.Users.Entries), len(b.Users.Entries)))
	}
	if a.Comments != b.Comments {
		out = append(out, "comments: "+commentWords(a.Comments)+" → "+commentWords(b.Comments))
	}
	if len(out) == 0 {
		out = []string{"no change"}
	}
	return out
}

func triggerWords(t Trigger) string {
	if len(t.Conditions) == 0 {
		return "every item"
	}
	sep := " and "
	if t.Match == MatchAny {
		sep = " or "
	}
	var parts []string
	for _, c := range t.Conditions {
		parts = append(parts, c.Label())
	}
	return strings.Join(parts, sep)
}

func commentWords(c Comments) string {
	s := c.Include
	if c.MaskEmails {
		s += ", e-mails masked"
	}
	if c.Author == AuthorMapped {
		s += ", authors mapped"
	}
	if c.IgnoreEdits {
		s += ", edits ignored"
	}
	if c.IgnoreDeletions {
		s += ", deletions ignored"
	}
	return s
}

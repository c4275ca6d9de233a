package rules

import (
	"strings"

	"github.com/tandemsync/tandem/core/item"
)

// ValueMap maps one field's values, declared once at the rule's package level:
//
//	var statusValues = tandem.ValueMap{Values: map[string]string{"new": "open"}, KeepUnmapped: true}
//	...
//	replica.Status = statusValues.Map(item.Status)
//
// A value matches a key exactly or, failing that, ignoring case and surrounding space.
type ValueMap struct {
	Values map[string]string
	// Default is what a value the map does not know becomes, unless KeepUnmapped keeps it as
	// it is.
	Default      string
	KeepUnmapped bool
}

// lookup finds v in m: exactly, then ignoring case and surrounding space.
func lookup[V any](m map[string]V, v string) (V, bool) {
	if out, ok := m[v]; ok {
		return out, true
	}
	t := strings.TrimSpace(v)
	for k, out := range m {
		if strings.EqualFold(strings.TrimSpace(k), t) {
			return out, true
		}
	}
	var zero V
	return zero, false
}

// Map returns what v becomes.
func (m ValueMap) Map(v string) string {
	if out, ok := lookup(m.Values, v); ok {
		return out
	}
	if m.KeepUnmapped {
		return v
	}
	return m.Default
}

// Labels maps each label; a label the map does not know is kept when KeepUnmapped and dropped
// otherwise, one mapped to "" is dropped, and duplicates go (the first one stays).
func (m ValueMap) Labels(labels []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range labels {
		v, ok := lookup(m.Values, l)
		if !ok {
			if !m.KeepUnmapped {
				continue
			}
			v = l
		}
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	return out
}

// UserMap maps people from one side to the other, by e-mail, name or id (in that order,
// ignoring case):
//
//	var people = tandem.UserMap{People: map[string]tandem.User{"ann@red.example": {ID: "ann"}}, KeepUnknown: true}
//	...
//	item.Assignee = people.Map(replica.Assignee)
type UserMap struct {
	People map[string]item.User
	// Default is who a person the map does not know becomes, unless KeepUnknown keeps them
	// as they are. Nobody stays nobody.
	Default     item.User
	KeepUnknown bool
}

// Map returns who u becomes.
func (m UserMap) Map(u item.User) item.User {
	if u.IsZero() {
		return u
	}
	for _, key := range []string{u.Email, u.Name, u.ID} {
		if key == "" {
			continue
		}
		if out, ok := lookup(m.People, key); ok {
			return out
		}
	}
	if m.KeepUnknown {
		return u
	}
	return m.Default
}

package item

import (
	"maps"
	"slices"
	"strings"
)

// Field names, as writes (engine.Write.Fields), rules, conflict policies and changes name an
// item's mergeable fields. A custom field is CustomPrefix followed by its name.
const (
	FieldTitle       = "title"
	FieldDescription = "description"
	FieldStatus      = "status"
	FieldPriority    = "priority"
	FieldLabels      = "labels"
	FieldAssignee    = "assignee"
	FieldReporter    = "reporter"
	CustomPrefix     = "custom."
)

// Kind is what a field holds.
type Kind int

const (
	KindText   Kind = iota // a string: the title, description, status, priority and custom fields
	KindLabels             // a list of strings
	KindUser               // a User
)

// coreFields are the fields every item has, in the order editors offer them, with the Go
// name of the Item (and Replica) field that holds each.
var coreFields = []struct {
	name, goName string
	kind         Kind
}{
	{FieldTitle, "Title", KindText},
	{FieldDescription, "Description", KindText},
	{FieldStatus, "Status", KindText},
	{FieldPriority, "Priority", KindText},
	{FieldLabels, "Labels", KindLabels},
	{FieldAssignee, "Assignee", KindUser},
	{FieldReporter, "Reporter", KindUser},
}

// CoreFields returns the names of the fields every item has, in the order editors offer them.
func CoreFields() []string {
	out := make([]string, len(coreFields))
	for i, f := range coreFields {
		out[i] = f.name
	}
	return out
}

// IsCore reports whether f names one of the fields every item has.
func IsCore(f string) bool {
	_, ok := coreIndex(f)
	return ok
}

func coreIndex(f string) (int, bool) {
	for i, c := range coreFields {
		if c.name == f {
			return i, true
		}
	}
	return 0, false
}

// KindOf reports what field f holds; ok is false when f names no field (neither a core field
// nor custom.NAME with a name).
func KindOf(f string) (k Kind, ok bool) {
	if i, ok := coreIndex(f); ok {
		return coreFields[i].kind, true
	}
	_, ok = CustomName(f)
	return KindText, ok
}

// GoName is the name of the Item and Replica struct field that holds core field f ("Title" for
// "title"); ok is false for a custom field or an unknown name.
func GoName(f string) (name string, ok bool) {
	if i, ok := coreIndex(f); ok {
		return coreFields[i].goName, true
	}
	return "", false
}

// CustomField is the field name of the custom field called name: "custom.NAME".
func CustomField(name string) string { return CustomPrefix + name }

// CustomName is the name of custom field f ("Queue" for "custom.Queue"); ok is false when f
// is not CustomPrefix followed by a name. Without the prefix, name is f itself.
func CustomName(f string) (name string, ok bool) {
	name, ok = strings.CutPrefix(f, CustomPrefix)
	return name, ok && name != ""
}

// customKey is the key in Custom that field f reads and writes: f without CustomPrefix. Any
// name that is not a core field is taken as a custom field, as the merge always has.
func customKey(f string) string { return strings.TrimPrefix(f, CustomPrefix) }

// Fields names the mergeable fields of the given items: the core fields, then every custom
// field any of them has, as "custom.NAME", sorted and without repeats.
func Fields(items ...Item) []string {
	f := CoreFields()
	var custom []string
	for _, it := range items {
		for k := range it.Custom {
			custom = append(custom, CustomField(k))
		}
	}
	slices.Sort(custom)
	return append(f, slices.Compact(custom)...)
}

// slot points at core field f of it: a *string, *[]string or *User; nil when f is not a core
// field. It is the one place that maps field names to the struct.
func (it *Item) slot(f string) any {
	switch f {
	case FieldTitle:
		return &it.Title
	case FieldDescription:
		return &it.Description
	case FieldStatus:
		return &it.Status
	case FieldPriority:
		return &it.Priority
	case FieldLabels:
		return &it.Labels
	case FieldAssignee:
		return &it.Assignee
	case FieldReporter:
		return &it.Reporter
	}
	return nil
}

// Get returns the value of field f of it: a string for text and custom fields (empty when the
// item has no such custom field), []string for the labels, a User for a person. The labels
// slice is the item's own: copy it before changing it.
func (it Item) Get(f string) any {
	switch p := it.slot(f).(type) {
	case *string:
		return *p
	case *[]string:
		return *p
	case *User:
		return *p
	}
	return it.Custom[customKey(f)]
}

// FieldEqual reports whether a and b hold the same value for field f. Nil and empty labels
// are equal, and so are a missing and an empty custom field.
func FieldEqual(a, b Item, f string) bool {
	switch pa := a.slot(f).(type) {
	case *string:
		return *pa == *b.slot(f).(*string)
	case *[]string:
		return slices.Equal(*pa, *b.slot(f).(*[]string))
	case *User:
		return *pa == *b.slot(f).(*User)
	}
	name := customKey(f)
	return a.Custom[name] == b.Custom[name]
}

// SetField copies field f from src into dst. The labels are copied, not shared (empty labels
// become nil); an empty custom value removes the custom field from dst. dst's Custom map is written in place.
func SetField(dst *Item, src Item, f string) {
	switch pd := dst.slot(f).(type) {
	case *string:
		*pd = *src.slot(f).(*string)
		return
	case *[]string:
		*pd = nil // empty labels are none
		if len(src.Labels) > 0 {
			*pd = slices.Clone(src.Labels)
		}
		return
	case *User:
		*pd = *src.slot(f).(*User)
		return
	}
	name := customKey(f)
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

// ChangedFields names the fields (of Fields(a, b)) whose values differ between a and b.
func ChangedFields(a, b Item) []string {
	var changed []string
	for _, f := range Fields(a, b) {
		if !FieldEqual(a, b, f) {
			changed = append(changed, f)
		}
	}
	return changed
}

// AsItem is r's fields as an item (no key, comments, attachments or times), to compare and
// copy with the field functions.
func (r Replica) AsItem() Item {
	return Item{Title: r.Title, Description: r.Description, Status: r.Status, Priority: r.Priority,
		Labels: r.Labels, Assignee: r.Assignee, Reporter: r.Reporter, Custom: r.Custom}
}

// ReplicaChanged names the replica fields that differ between prev and next (comments aside:
// they are matched by id).
func ReplicaChanged(prev, next Replica) []string { return ChangedFields(prev.AsItem(), next.AsItem()) }

// CopyFields copies the named fields from src into r, as SetField does. r's Custom map is
// replaced, not written into, since replicas often share one.
func (r *Replica) CopyFields(src Replica, fields []string) {
	d, s := r.AsItem(), src.AsItem()
	d.Custom = maps.Clone(d.Custom)
	for _, f := range fields {
		SetField(&d, s, f)
	}
	r.Title, r.Description, r.Status, r.Priority = d.Title, d.Description, d.Status, d.Priority
	r.Labels, r.Assignee, r.Reporter, r.Custom = d.Labels, d.Assignee, d.Reporter, d.Custom
}

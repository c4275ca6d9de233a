package model

import "github.com/tandemsync/tandem/core/item"

// Starter returns a visual rule to begin from for a connection still on a tracker's default
// script: for the embedded tracker ("embedded" or ""), the same rule as the default script;
// for Request Tracker ("rt"), one close to it (the default script keeps an unknown partner
// status as the ticket's current one, which a value map cannot say, so the map's default is
// "open"). Other kinds start from a rule that copies the core fields.
func Starter(kind string, d Direction) *Rule {
	r := New(d)
	core := []string{item.FieldTitle, item.FieldDescription, item.FieldStatus, item.FieldPriority, item.FieldLabels}
	for _, f := range core {
		r.Mappings = append(r.Mappings, Mapping{Source: f, Target: f, Transform: Transform{Kind: Copy}})
	}
	if d == Incoming {
		r.Comments.Include = CommentsAll // the partner's outgoing rule chose what to send
	}
	if kind != "rt" {
		return r
	}
	if d == Outgoing {
		r.Trigger.Conditions = []Condition{{Field: item.FieldStatus, Op: OpIsNot, Value: "deleted"}}
		r.Mappings[1].Transform = Transform{Kind: Mask, Emails: true}
		r.Mappings[2].Transform = Transform{Kind: Map, KeepUnmapped: true, Values: []Pair{
			{"new", "open"}, {"open", "in progress"}, {"stalled", "waiting"}, {"resolved", "resolved"}, {"rejected", "closed"}, {"deleted", "closed"},
		}}
		r.Comments.MaskEmails = true
		return r
	}
	r.Mappings[2].Transform = Transform{Kind: Map, Default: "open", Values: []Pair{
		{"new", "new"}, {"to do", "new"}, {"open", "open"}, {"in progress", "open"}, {"reopened", "open"},
		{"waiting", "stalled"}, {"blocked", "stalled"}, {"stalled", "stalled"},
		{"resolved", "resolved"}, {"done", "resolved"}, {"closed", "resolved"}, {"rejected", "rejected"}, {"won't do", "rejected"},
	}}
	return r
}

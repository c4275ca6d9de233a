package rules

// DefaultOutgoing is the rule a new connection starts with: it sends title, description,
// status, priority, labels and the public comments. Internal notes stay home unless the
// operator changes the rule: what a partner sees is opt-in.
const DefaultOutgoing = `package rule

import "tandem"

// Outgoing builds what the partner receives from a local item.
func Outgoing(item tandem.Item, replica *tandem.Replica, ctx *tandem.Context) error {
	replica.Title = item.Title
	replica.Description = item.Description
	replica.Status = item.Status
	replica.Priority = item.Priority
	replica.Labels = item.Labels
	replica.Comments = ctx.PublicComments(item.Comments)
	return nil
}
`

// DefaultIncoming is the counterpart of DefaultOutgoing: it takes title, description, status,
// priority and labels from the partner's replica, and passes on the replica's comments (the
// engine decides which are new). A field the replica leaves empty was not sent, so the local
// value stays.
const DefaultIncoming = `package rule

import "tandem"

// Incoming applies what the partner sent to the local item.
func Incoming(replica tandem.Replica, item *tandem.Item, ctx *tandem.Context) error {
	if replica.Title != "" {
		item.Title = replica.Title
	}
	if replica.Description != "" {
		item.Description = replica.Description
	}
	if replica.Status != "" {
		item.Status = replica.Status
	}
	if replica.Priority != "" {
		item.Priority = replica.Priority
	}
	if replica.Labels != nil {
		item.Labels = replica.Labels
	}
	item.Comments = append(item.Comments, replica.Comments...)
	return nil
}
`

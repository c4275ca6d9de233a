package rules

// DefaultRTOutgoing is the outgoing rule for an agent on Request Tracker, written for a
// helpdesk whose partner runs a development tracker (Jira-style statuses): RT's lifecycle is
// mapped to open / in progress / waiting / resolved / closed, internal comments stay in RT,
// and requesters' e-mail addresses in the text are masked.
const DefaultRTOutgoing = `package rule

import "tandem"

var statusOut = map[string]string{
	"new":      "open",
	"open":     "in progress",
	"stalled":  "waiting",
	"resolved": "resolved",
	"rejected": "closed",
	"deleted":  "closed",
}

// Outgoing builds what the partner receives from an RT ticket.
func Outgoing(item tandem.Item, replica *tandem.Replica, ctx *tandem.Context) error {
	if item.Status == "deleted" {
		ctx.Skip("deleted tickets are not synced")
		return nil
	}
	replica.Title = item.Title
	replica.Description = ctx.MaskEmails(item.Description)
	replica.Status = ctx.MapValue(item.Status, statusOut, item.Status)
	replica.Priority = item.Priority
	replica.Labels = item.Labels
	for _, c := range ctx.PublicComments(item.Comments) {
		c.Body = ctx.MaskEmails(c.Body)
		replica.Comments = append(replica.Comments, c)
	}
	return nil
}
`

// DefaultRTIncoming maps a partner's replica onto an RT ticket: the partner's statuses
// (embedded, Jira-style or RT's own) become RT statuses, priorities pass through (the RT
// connector turns low/medium/high into RT's numbers), and comments arrive as correspondence
// with their authors named.
const DefaultRTIncoming = `package rule

import "tandem"

var statusIn = map[string]string{
	"new":         "new",
	"to do":       "new",
	"open":        "open",
	"in progress": "open",
	"reopened":    "open",
	"waiting":     "stalled",
	"blocked":     "stalled",
	"stalled":     "stalled",
	"resolved":    "resolved",
	"done":        "resolved",
	"closed":      "resolved",
	"rejected":    "rejected",
	"won't do":    "rejected",
}

// Incoming applies what the partner sent to the RT ticket.
func Incoming(replica tandem.Replica, item *tandem.Item, ctx *tandem.Context) error {
	if replica.Title != "" {
		item.Title = replica.Title
	}
	if replica.Description != "" {
		item.Description = replica.Description
	}
	if replica.Status != "" {
		fallback := item.Status
		if fallback == "" {
			fallback = "open"
		}
		item.Status = ctx.MapValue(replica.Status, statusIn, fallback)
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

// Defaults returns the default outgoing and incoming rules for a tracker kind ("embedded",
// "rt").
func Defaults(kind string) (outgoing, incoming string) {
	if kind == "rt" {
		return DefaultRTOutgoing, DefaultRTIncoming
	}
	return DefaultOutgoing, DefaultIncoming
}

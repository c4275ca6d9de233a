package jira

// DefaultOutgoing is the outgoing rule an agent on Jira starts with, written for a partner on
// GitHub, a service desk or another Jira: Jira's usual statuses become open / in progress /
// waiting / resolved / closed, priorities and labels travel, and so do assignee, reporter
// and public comments (their authors named).
const DefaultOutgoing = `package rule

import (
	"strings"

	"tandem"
)

var statusOut = map[string]string{
	"to do":       "open",
	"open":        "open",
	"backlog":     "open",
	"selected for development": "open",
	"in progress": "in progress",
	"in review":   "in progress",
	"waiting for customer": "waiting",
	"blocked":     "waiting",
	"done":        "resolved",
	"resolved":    "resolved",
	"closed":      "closed",
	"won't do":    "closed",
}

// Outgoing builds what the partner receives from a Jira issue.
func Outgoing(item tandem.Item, replica *tandem.Replica, ctx *tandem.Context) error {
	replica.Title = item.Title
	replica.Description = item.Description
	status := strings.ToLower(item.Status)
	replica.Status = ctx.MapValue(status, statusOut, status)
	replica.Priority = strings.ToLower(item.Priority)
	replica.Labels = item.Labels
	replica.Assignee = item.Assignee
	replica.Reporter = item.Reporter
	replica.Comments = ctx.PublicComments(item.Comments)
	return nil
}
`

// DefaultIncoming maps a partner's replica onto a Jira issue: statuses become To Do, In
// Progress or Done (the transition to them is found in the workflow), priorities Jira's
// Highest to Lowest, and people the Jira accounts the user map names (a person without an
// entry is not assigned). Comments arrive with their authors named.
const DefaultIncoming = `package rule

import "tandem"

var statusIn = map[string]string{
	"new":         "To Do",
	"to do":       "To Do",
	"open":        "To Do",
	"reopened":    "To Do",
	"in progress": "In Progress",
	"waiting":     "In Progress",
	"blocked":     "In Progress",
	"stalled":     "In Progress",
	"resolved":    "Done",
	"done":        "Done",
	"closed":      "Done",
	"not planned": "Done",
	"rejected":    "Done",
	"won't do":    "Done",
}

var priorityIn = map[string]string{
	"lowest":   "Lowest",
	"low":      "Low",
	"minor":    "Low",
	"medium":   "Medium",
	"normal":   "Medium",
	"high":     "High",
	"major":    "High",
	"highest":  "Highest",
	"urgent":   "Highest",
	"critical": "Highest",
}

// users maps the partner's people (their id, e-mail or name) to Jira account ids. Fill it in:
// an assignee without an entry is left as it is.
var users = map[string]string{
	// "alice-gh": "5b10a2844c20165700ede21g",
}

func mapUser(u tandem.User) (tandem.User, bool) {
	for _, k := range []string{u.ID, u.Email, u.Name} {
		if id, ok := users[k]; ok && k != "" {
			return tandem.User{ID: id, Name: u.Name}, true
		}
	}
	return tandem.User{}, false
}

// Incoming applies what the partner sent to the Jira issue.
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
			fallback = "To Do"
		}
		item.Status = ctx.MapValue(replica.Status, statusIn, fallback)
	}
	if replica.Priority != "" {
		item.Priority = ctx.MapValue(replica.Priority, priorityIn, item.Priority)
	}
	if replica.Labels != nil {
		item.Labels = replica.Labels
	}
	if u, ok := mapUser(replica.Assignee); ok {
		item.Assignee = u
	} else if replica.Assignee.ID == "" && replica.Assignee.Email == "" && replica.Assignee.Name == "" {
		item.Assignee = tandem.User{}
	}
	if u, ok := mapUser(replica.Reporter); ok {
		item.Reporter = u
	}
	item.Comments = append(item.Comments, ctx.PublicComments(replica.Comments)...)
	return nil
}
`

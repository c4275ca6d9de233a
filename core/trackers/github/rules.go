package github

// DefaultOutgoing is the outgoing rule an agent on GitHub starts with, written for a partner
// on a service desk or Jira: GitHub's states become open / resolved / closed, the labels,
// assignee and reporter (GitHub logins) travel, and so do the comments.
const DefaultOutgoing = `package rule

import "tandem"

var statusOut = map[string]string{
	"open":        "open",
	"closed":      "resolved",
	"not planned": "closed",
	"duplicate":   "closed",
}

// Outgoing builds what the partner receives from a GitHub issue.
func Outgoing(item tandem.Item, replica *tandem.Replica, ctx *tandem.Context) error {
	replica.Title = item.Title
	replica.Description = item.Description
	replica.Status = ctx.MapValue(item.Status, statusOut, item.Status)
	replica.Labels = item.Labels
	replica.Assignee = item.Assignee
	replica.Reporter = item.Reporter
	replica.Comments = ctx.PublicComments(item.Comments)
	return nil
}
`

// DefaultIncoming maps a partner's replica onto a GitHub issue: the partner's statuses
// (embedded, Jira-style or RT's) become open, closed or not planned; an assignee becomes the
// GitHub login the user map names (people without an entry are not assigned); comments
// arrive with their authors named. GitHub has no priority: it is not written.
const DefaultIncoming = `package rule

import "tandem"

var statusIn = map[string]string{
	"new":         "open",
	"to do":       "open",
	"open":        "open",
	"in progress": "open",
	"reopened":    "open",
	"waiting":     "open",
	"blocked":     "open",
	"stalled":     "open",
	"resolved":    "closed",
	"done":        "closed",
	"closed":      "closed",
	"rejected":    "not planned",
	"won't do":    "not planned",
	"not planned": "not planned",
}

// users maps the partner's people (their id, e-mail or name) to GitHub logins. Fill it in:
// an assignee without an entry is left as it is.
var users = map[string]string{
	// "alice@partner.example": "alice-gh",
}

func mapUser(u tandem.User) (tandem.User, bool) {
	for _, k := range []string{u.ID, u.Email, u.Name} {
		if login, ok := users[k]; ok && k != "" {
			return tandem.User{ID: login, Name: login}, true
		}
	}
	return tandem.User{}, false
}

// Incoming applies what the partner sent to the GitHub issue.
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
	if replica.Labels != nil {
		item.Labels = replica.Labels
	}
	if u, ok := mapUser(replica.Assignee); ok {
		item.Assignee = u
	} else if replica.Assignee.ID == "" && replica.Assignee.Email == "" && replica.Assignee.Name == "" {
		item.Assignee = tandem.User{}
	}
	item.Comments = append(item.Comments, replica.Comments...)
	return nil
}
`

package jira

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tandemsync/tandem/core/trackers/connector"
	"github.com/tandemsync/tandem/core/trackers/httpx"
)

// TestConnection checks, in order, that Jira answers at the address, that it accepts the
// credential, every project exists and the account can browse it, and every custom field
// named in Settings exists. It never returns an error: every failure is in Check.Problem.
func (t *Tracker) TestConnection(ctx context.Context) connector.Check {
	c := connector.Check{Scope: "projects"}
	var u jiraUser
	err := t.hc.GetJSON(ctx, t.endpoint("/myself", nil), &u)
	var he *httpx.Error
	switch {
	case err == nil:
	case errors.As(err, &he) && he.StatusCode == 0:
		c.Problem = fmt.Sprintf("%s is not reachable: check the address (%v)", t.name, he.Err)
		return c
	case errors.As(err, &he) && he.StatusCode == http.StatusUnauthorized:
		c.Reachable = true
		c.Problem = fmt.Sprintf("%s rejected the credential (401): %s", t.name, he.Hint)
		return c
	case errors.As(err, &he) && (he.StatusCode == http.StatusNotFound || he.Malformed):
		c.Reachable = true
		c.Problem = fmt.Sprintf("%s answered, but not as Jira Cloud's REST API does: check the address (e.g. https://example.atlassian.net)", t.name)
		return c
	default:
		c.Problem = err.Error()
		return c
	}
	c.Reachable, c.AuthOK, c.User = true, true, u.DisplayName
	if c.User == "" {
		c.User = u.AccountID
	}
	for _, p := range t.projects {
		var proj struct {
			Key string `json:"key"`
		}
		err := t.hc.GetJSON(ctx, t.endpoint("/project/"+url.PathEscape(p), nil), &proj)
		switch {
		case err == nil:
			c.Found = append(c.Found, p)
		case httpx.IsStatus(err, http.StatusNotFound) || httpx.IsStatus(err, http.StatusForbidden):
			c.Missing = append(c.Missing, p)
		default:
			c.Problem = fmt.Sprintf("checking project %s: %v", p, err)
			return c
		}
	}
	if len(c.Missing) > 0 {
		c.Problem = fmt.Sprintf("%s has no project %s that %s can browse: check the project keys in Settings and the account's permissions in Jira",
			t.name, strings.Join(c.Missing, ", "), c.User)
		return c
	}
	for _, name := range t.cfg.Fields {
		if _, err := t.field(ctx, name); err != nil {
			c.Problem = err.Error()
			return c
		}
	}
	c.Detail = fmt.Sprintf("%s reachable, signed in as %s, projects found: %s", t.name, c.User, strings.Join(c.Found, ", "))
	return c
}

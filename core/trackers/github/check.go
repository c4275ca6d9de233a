package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tandemsync/tandem/core/trackers/connector"
	"github.com/tandemsync/tandem/core/trackers/httpx"
)

// login is the login Tandem acts as, asked once: the token's user, or the app's bot; "" while
// GitHub cannot say.
func (t *Tracker) login(ctx context.Context) string {
	t.mu.Lock()
	me := t.me
	t.mu.Unlock()
	if me != "" || t.app != nil {
		return me // an installation has no /user; its bot is named by what it writes
	}
	var u ghUser
	if err := t.hc.GetJSON(ctx, t.endpoint("/user", nil), &u); err != nil {
		return ""
	}
	t.mu.Lock()
	t.me = u.Login
	t.mu.Unlock()
	return u.Login
}

// TestConnection checks, in order, that GitHub answers at the address, that it accepts the
// credential, and that every repository exists, is visible to the account and has issues
// turned on. It never returns an error: every failure is described in Check.Problem.
func (t *Tracker) TestConnection(ctx context.Context) connector.Check {
	c := connector.Check{Scope: "repositories"}
	var he *httpx.Error
	if t.app == nil {
		var u ghUser
		err := t.hc.GetJSON(ctx, t.endpoint("/user", nil), &u)
		switch {
		case err == nil:
			c.User = u.Login
			t.mu.Lock()
			t.me = u.Login
			t.mu.Unlock()
		case errors.As(err, &he) && he.StatusCode == 0:
			c.Problem = fmt.Sprintf("%s is not reachable at %s: check the address (%v)", t.name, t.base, he.Err)
			return c
		case errors.As(err, &he) && he.StatusCode == http.StatusUnauthorized:
			c.Reachable = true
			c.Problem = fmt.Sprintf("%s rejected the access token (401): it is wrong, revoked or expired; make a new one in GitHub and enter it in Settings", t.name)
			return c
		case errors.As(err, &he) && (he.StatusCode == http.StatusNotFound || he.Malformed):
			c.Reachable = true
			c.Problem = fmt.Sprintf("%s answered, but not as GitHub's API does at %s: check the address (for GitHub Enterprise Server, the server's address)", t.name, t.base)
			return c
		default:
			// A fine-grained token may not read /user; the repositories tell.
		}
	} else {
		if _, err := t.app.token(ctx); err != nil {
			if errors.As(err, &he) && he.StatusCode == 0 {
				c.Problem = fmt.Sprintf("%s is not reachable at %s: check the address (%v)", t.name, t.base, he.Err)
			} else {
				c.Reachable = errors.As(err, &he)
				c.Problem = err.Error()
			}
			return c
		}
		c.User = "the app installation " + t.cfg.InstallationID
	}
	c.Reachable, c.AuthOK = true, true
	var noIssues []string
	for _, r := range t.repos {
		var repo struct {
			FullName    string `json:"full_name"`
			HasIssues   bool   `json:"has_issues"`
			Permissions *struct {
				Push bool `json:"push"`
			} `json:"permissions"`
		}
		err := t.hc.GetJSON(ctx, t.endpoint(repoPath(r), nil), &repo)
		switch {
		case err == nil:
			c.Found = append(c.Found, r.String())
			if !repo.HasIssues {
				noIssues = append(noIssues, r.String())
			}
		case httpx.IsStatus(err, http.StatusNotFound) || httpx.IsStatus(err, http.StatusForbidden):
			c.Missing = append(c.Missing, r.String())
		case errors.As(err, &he) && he.StatusCode == http.StatusUnauthorized:
			c.AuthOK = false
			c.Problem = fmt.Sprintf("%s rejected the credential (401): %s", t.name, he.Hint)
			return c
		default:
			c.Problem = fmt.Sprintf("checking repository %s: %v", r, err)
			return c
		}
	}
	who := c.User
	if who == "" {
		who = "this token"
	}
	switch {
	case len(c.Missing) > 0:
		c.Problem = fmt.Sprintf("%s has no repository %s that %s can see: check the names (owner/name) and that the token or app has access to them",
			t.name, strings.Join(c.Missing, ", "), who)
	case len(noIssues) > 0:
		c.Problem = fmt.Sprintf("issues are turned off in %s: turn them on in the repository's settings", strings.Join(noIssues, ", "))
	default:
		c.Detail = fmt.Sprintf("%s reachable, signed in as %s, repositories found: %s", t.name, who, strings.Join(c.Found, ", "))
	}
	return c
}

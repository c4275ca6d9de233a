package rt

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

// TestConnection checks, in order, that RT answers, that it accepts the credential and that
// every configured queue exists and is visible to the account. It never returns an error:
// every failure is described in Check.Problem.
func (t *Tracker) TestConnection(ctx context.Context) connector.Check {
	c := connector.Check{Scope: "queues"}
	var about struct {
		Version string `json:"Version"`
	}
	err := t.hc.GetJSON(ctx, t.endpoint("/rt", nil), &about)
	var he *httpx.Error
	switch {
	case err == nil:
	case errors.As(err, &he) && he.StatusCode == 0:
		c.Problem = fmt.Sprintf("%s is not reachable: check the address and that RT is running (%v)", t.name, he.Err)
		return c
	case errors.As(err, &he) && he.StatusCode == http.StatusUnauthorized:
		c.Reachable = true
		c.Problem = he.Error()
		return c
	case errors.As(err, &he) && he.StatusCode == http.StatusNotFound:
		c.Reachable = true
		c.Problem = fmt.Sprintf("%s answered, but not with RT's REST 2 API at %s (404): check the address (include RT's path, e.g. /rt)", t.name, t.base)
		return c
	case errors.As(err, &he) && he.Malformed:
		c.Reachable = true
		c.Problem = fmt.Sprintf("%s answered, but not as RT's REST 2 API does: check the address", t.name)
		return c
	default:
		c.Problem = err.Error()
		return c
	}
	c.Reachable, c.AuthOK = true, true
	c.Version = about.Version
	c.User = t.account(ctx)
	for _, q := range t.cfg.Queues {
		var out struct {
			ID   any    `json:"id"`
			Name string `json:"Name"`
		}
		err := t.hc.GetJSON(ctx, t.endpoint("/queue/"+url.PathEscape(q), nil), &out)
		switch {
		case err == nil:
			c.Found = append(c.Found, q)
		case httpx.IsStatus(err, http.StatusNotFound) || httpx.IsStatus(err, http.StatusForbidden):
			c.Missing = append(c.Missing, q)
		default:
			c.Problem = fmt.Sprintf("checking queue %q: %v", q, err)
			return c
		}
	}
	if len(c.Missing) > 0 {
		c.Problem = fmt.Sprintf("%s has no queue %s that %s can see: check the queue names in Settings and the account's rights in RT",
			t.name, quoteList(c.Missing), c.User)
		return c
	}
	c.Detail = fmt.Sprintf("RT %s reachable, signed in as %s, queues found: %s", c.Version, c.User, strings.Join(c.Found, ", "))
	return c
}

func quoteList(qs []string) string {
	parts := make([]string, len(qs))
	for i, q := range qs {
		parts[i] = fmt.Sprintf("%q", q)
	}
	return strings.Join(parts, ", ")
}

// account returns the name of the account the credential signs in as: the basic-auth user,
// or the owner of the token (RT tokens read "1-<user id>-<secret>").
func (t *Tracker) account(ctx context.Context) string {
	if name, ok := t.knownAccount(ctx); ok {
		return name
	}
	if parts := strings.SplitN(t.cfg.Token, "-", 3); len(parts) == 3 {
		return "user #" + parts[1]
	}
	return "the token's owner"
}

// knownAccount is the name of the account Tandem signs in as, asking RT once for a token's
// owner; ok is false while RT cannot say.
func (t *Tracker) knownAccount(ctx context.Context) (string, bool) {
	if t.cfg.Token == "" {
		return t.cfg.User, true
	}
	t.mu.Lock()
	me := t.me
	t.mu.Unlock()
	if me != "" {
		return me, true
	}
	parts := strings.SplitN(t.cfg.Token, "-", 3)
	if len(parts) != 3 {
		return "", false
	}
	var u struct {
		Name string `json:"Name"`
	}
	if err := t.hc.GetJSON(ctx, t.endpoint("/user/"+url.PathEscape(parts[1]), nil), &u); err != nil || u.Name == "" {
		return "", false
	}
	t.mu.Lock()
	t.me = u.Name
	t.mu.Unlock()
	return u.Name, true
}

// Package jira connects Tandem to Jira Cloud through its REST API v3: issues of chosen
// projects found with /search/jql, descriptions and comments converted between Atlassian
// Document Format and the item's text, status moved through the workflow's transitions, and
// Tandem's own writes recognised on the next poll.
package jira

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // JQL dates are in the account's time zone, whatever the machine has

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/trackers/connector"
	"github.com/tandemsync/tandem/core/trackers/httpx"
)

// Config says how to reach one Jira Cloud site and what to sync. Credentials stay in memory:
// the agent loads them from the keychain.
type Config struct {
	// URL is the site, e.g. https://example.atlassian.net (or, with OAuth 2.0,
	// https://api.atlassian.com/ex/jira/CLOUD-ID).
	URL string
	// Projects are project keys; new issues go to the first unless the write names another
	// in the custom field "Project".
	Projects []string
	// IssueType is the type of new issues unless the write names one in "Issue type"
	// (default Task).
	IssueType string
	// Fields are custom fields, by name, read into Item.Custom under that name.
	Fields []string
	// Email and APIToken sign in with basic authentication; OAuthToken instead sends a
	// bearer token.
	Email, APIToken string
	OAuthToken      string
	// Overlap is how far before the cursor each search starts, since JQL compares times to
	// the minute (default 2 minutes).
	Overlap           time.Duration
	RequestsPerMinute int
	Timeout           time.Duration
	PageSize          int // issues per search page (default 50)
	Transport         http.RoundTripper
	Logger            *slog.Logger
	// Memory keeps the marks of Tandem's own writes across restarts (default: process memory
	// only, so after a restart the issues Tandem wrote lately are read back in full).
	Memory connector.Memory
}

// Tracker is the issues of some Jira Cloud projects, as the engine's Tracker.
type Tracker struct {
	cfg      Config
	base     string // site URL without a trailing slash
	name     string // "Jira at https://..."
	hc       *httpx.Client
	log      *slog.Logger
	projects []string

	// own marks an issue key with its updated time right after Tandem's write: while the
	// issue is not updated again, the change is Tandem's own echo.
	own *connector.Marks

	mu sync.Mutex
	// lossy maps an issue key to the ADF node types of its description that have no text
	// form, as last read: overwriting that description would destroy them.
	lossy  map[string][]string
	fields []jiraField // /field, once read
	me     *jiraUser
	zone   *time.Location // the account's time zone, in which JQL reads dates
}

var projectKeyRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,254}$`)

// New checks cfg and returns a tracker. It makes no request: see TestConnection.
func New(cfg Config) (*Tracker, error) {
	raw := strings.TrimSpace(cfg.URL)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("jira address %q is not a web address like https://example.atlassian.net", cfg.URL)
	}
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/rest/api/3")
	base := strings.TrimSuffix(u.String(), "/")
	t := &Tracker{cfg: cfg, base: base, name: "Jira at " + base, lossy: map[string][]string{}}
	seen := map[string]bool{}
	for _, p := range cfg.Projects {
		p = strings.ToUpper(strings.TrimSpace(p))
		if p == "" || seen[p] {
			continue
		}
		if !projectKeyRE.MatchString(p) {
			return nil, fmt.Errorf("jira project key %q is not a key like SUP (letters, digits, underscores)", p)
		}
		seen[p] = true
		t.projects = append(t.projects, p)
	}
	if len(t.projects) == 0 {
		return nil, errors.New("no jira project chosen: name at least one project key, e.g. SUP")
	}
	if strings.TrimSpace(t.cfg.IssueType) == "" {
		t.cfg.IssueType = "Task"
	}
	if t.cfg.Overlap <= 0 {
		t.cfg.Overlap = 2 * time.Minute
	}
	if t.cfg.PageSize <= 0 || t.cfg.PageSize > 100 {
		t.cfg.PageSize = 50
	}
	if t.cfg.Logger == nil {
		t.cfg.Logger = slog.Default()
	}
	t.log = t.cfg.Logger.With("tracker", t.name)
	if t.own, err = connector.NewMarks(cfg.Memory, t.log); err != nil {
		return nil, fmt.Errorf("jira: %w", err)
	}
	hcfg := httpx.Config{Tracker: t.name, Timeout: cfg.Timeout, RequestsPerMinute: cfg.RequestsPerMinute,
		Transport: cfg.Transport, Logger: t.cfg.Logger}
	switch {
	case strings.TrimSpace(cfg.OAuthToken) != "":
		hcfg.Auth = httpx.TokenAuth("Bearer", strings.TrimSpace(cfg.OAuthToken))
		hcfg.AuthHint = "the OAuth token is wrong or expired: sign in again and enter the new token in Settings"
	case strings.TrimSpace(cfg.Email) != "" && strings.TrimSpace(cfg.APIToken) != "":
		hcfg.Auth = httpx.BasicAuth(strings.TrimSpace(cfg.Email), strings.TrimSpace(cfg.APIToken))
		hcfg.AuthHint = "check the e-mail address and API token in Settings (tokens are made at id.atlassian.com and expire)"
	case strings.TrimSpace(cfg.APIToken) != "":
		return nil, errors.New("a jira api token needs the e-mail address of its account: enter it in Settings")
	default:
		return nil, errors.New("no jira credential: enter an e-mail address and API token, or an OAuth token, in Settings")
	}
	t.hc = httpx.New(hcfg)
	return t, nil
}

// Requests is how many HTTP requests the tracker has sent (for the API-economy figures).
func (t *Tracker) Requests() int64 { return t.hc.Requests() }

func (t *Tracker) endpoint(path string, q url.Values) string {
	s := t.base + "/rest/api/3" + path
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}

// Auth choices of the Jira settings.
const (
	AuthToken = "api token"
	AuthOAuth = "oauth"
)

// Connector is Jira Cloud's registry entry.
var Connector = connector.Connector{
	Kind:   "jira",
	Label:  "Jira Cloud",
	Remote: true,
	Fields: []connector.Field{
		{Key: "url", Label: "URL", Placeholder: "https://example.atlassian.net", Required: true},
		{Key: "projects", Label: "Projects", Kind: connector.List, Placeholder: "SUP, DEV", Required: true,
			Hint: "Project keys; new issues go to the first unless a rule names another."},
		{Key: "issue_type", Label: "New issue type", Placeholder: "Task", Default: "Task",
			Hint: "The type of issues Tandem creates, unless a rule sets the custom field \"Issue type\"."},
		{Key: "fields", Label: "Custom fields", Kind: connector.List, Placeholder: "Customer, Story Points",
			Hint: "Jira fields, by name, read into the item's custom fields."},
		{Key: "auth", Label: "Sign in with", Kind: connector.Choice, Choices: []string{AuthToken, AuthOAuth}, Default: AuthToken},
		{Key: "email", Label: "E-mail", Placeholder: "integration@example.com", Required: true,
			ShowWhen: &connector.Condition{Key: "auth", Values: []string{AuthToken}}},
		{Key: "token", Label: "API token", Kind: connector.Secret, Required: true, Placeholder: "from id.atlassian.com",
			ShowWhen: &connector.Condition{Key: "auth", Values: []string{AuthToken}}},
		{Key: "oauth_token", Label: "OAuth token", Kind: connector.Secret, Required: true,
			ShowWhen: &connector.Condition{Key: "auth", Values: []string{AuthOAuth}}},
	},
	Build: func(env connector.Env) (engine.Tracker, error) {
		cfg := Config{URL: env.Values["url"], Projects: env.Values.List("projects"), IssueType: env.Values["issue_type"],
			Fields: env.Values.List("fields"), RequestsPerMinute: env.RequestsPerMinute, Timeout: env.Timeout,
			Transport: env.Transport, Logger: env.Logger, Memory: env.Memory}
		if env.Values["auth"] == AuthOAuth {
			cfg.OAuthToken = env.Secrets["oauth_token"]
		} else {
			cfg.Email, cfg.APIToken = env.Values["email"], env.Secrets["token"]
		}
		return New(cfg)
	},
	Describe: func(v connector.Values) string {
		return fmt.Sprintf("Jira at %s (%s)", strings.TrimSuffix(v["url"], "/"), strings.Join(v.List("projects"), ", "))
	},
	DefaultRules: func() (string, string) { return DefaultOutgoing, DefaultIncoming },
}

var (
	_ engine.Tracker   = (*Tracker)(nil)
	_ connector.Tester = (*Tracker)(nil)
)

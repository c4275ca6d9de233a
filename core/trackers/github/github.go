// Package github connects Tandem to the issues of GitHub repositories (github.com or GitHub
// Enterprise Server) through the REST API: polling with conditional requests, so an idle
// poll costs no rate limit, webhooks as the fast path, and writes that Tandem recognises as
// its own on the next poll.
package github

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/trackers/connector"
	"github.com/tandemsync/tandem/core/trackers/httpx"
)

// DefaultURL is github.com's API.
const DefaultURL = "https://api.github.com"

// APIVersion is the REST API version Tandem is written against.
const APIVersion = "2022-11-28"

// Config says how to reach GitHub and which repositories to sync. Credentials stay in
// memory: the agent loads them from the keychain.
type Config struct {
	// URL is the API's address: empty for github.com, or a GitHub Enterprise Server's web
	// address (https://github.example.com, to which /api/v3 is added) or API address.
	URL string
	// Repositories are "owner/name"; new issues go to the first unless the write names
	// another in the custom field "Repository".
	Repositories []string
	// Token is a personal access token (classic or fine-grained), or an installation token.
	Token string
	// AppID, InstallationID and PrivateKey sign in as a GitHub App installation instead:
	// Tandem makes and renews the installation token itself.
	AppID, InstallationID string
	PrivateKey            string
	// WebhookSecret verifies X-Hub-Signature-256 on webhook deliveries (see WebhookHandler).
	WebhookSecret string
	// RequestsPerMinute is the operator's request budget; 0 is unlimited (GitHub's own limits
	// are honoured in any case).
	RequestsPerMinute int
	Timeout           time.Duration
	PageSize          int // issues per page (default 100, GitHub's largest)
	Transport         http.RoundTripper
	Logger            *slog.Logger
	// Memory keeps the marks of Tandem's own writes across restarts (default: process memory
	// only, so after a restart the issues Tandem wrote lately are read back in full).
	Memory connector.Memory
}

// Tracker is the issues of some GitHub repositories, as the engine's Tracker.
type Tracker struct {
	cfg   Config
	base  string // API root, without a trailing slash
	name  string // "GitHub" or "GitHub at https://..."
	hc    *httpx.Client
	log   *slog.Logger
	repos []repoName
	app   *appAuth // nil with a token

	changed chan struct{} // a webhook said something changed

	// own marks an issue (by key) and a comment (by commentMark) with its updated_at right
	// after Tandem's write: while it is not updated again, the change is Tandem's own echo.
	own *connector.Marks

	mu         sync.Mutex
	milestones map[string]map[string]int64 // repository -> title -> number
	me         string                      // the login Tandem signs in as, once known
}

type repoName struct{ owner, name string }

func (r repoName) String() string { return r.owner + "/" + r.name }

func parseRepo(s string) (repoName, error) {
	s = strings.Trim(strings.TrimSpace(s), "/")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://github.com/"), "github.com/")
	owner, name, ok := strings.Cut(s, "/")
	if !ok || owner == "" || name == "" || strings.ContainsAny(name, "/ #?") || strings.ContainsAny(owner, " #?") {
		return repoName{}, fmt.Errorf("repository %q is not owner/name, e.g. octo-org/octo-repo", s)
	}
	return repoName{owner, strings.TrimSuffix(name, ".git")}, nil
}

// New checks cfg and returns a tracker. It makes no request: see TestConnection.
func New(cfg Config) (*Tracker, error) {
	base, name, err := apiBase(cfg.URL)
	if err != nil {
		return nil, err
	}
	t := &Tracker{cfg: cfg, base: base, name: name, changed: make(chan struct{}, 1),
		milestones: map[string]map[string]int64{}}
	seen := map[string]bool{}
	for _, r := range cfg.Repositories {
		if strings.TrimSpace(r) == "" {
			continue
		}
		rn, err := parseRepo(r)
		if err != nil {
			return nil, err
		}
		if !seen[strings.ToLower(rn.String())] {
			seen[strings.ToLower(rn.String())] = true
			t.repos = append(t.repos, rn)
		}
	}
	if len(t.repos) == 0 {
		return nil, errors.New("no github repository chosen: name at least one, as owner/name")
	}
	if t.cfg.PageSize <= 0 || t.cfg.PageSize > 100 {
		t.cfg.PageSize = 100
	}
	if t.cfg.Logger == nil {
		t.cfg.Logger = slog.Default()
	}
	t.log = t.cfg.Logger.With("tracker", name)
	if t.own, err = connector.NewMarks(cfg.Memory, t.log); err != nil {
		return nil, fmt.Errorf("github: %w", err)
	}
	hcfg := httpx.Config{
		Tracker:           name,
		Timeout:           cfg.Timeout,
		RequestsPerMinute: cfg.RequestsPerMinute,
		WritesPerMinute:   80, // GitHub's secondary limit on content-creating requests
		Transport:         cfg.Transport,
		Logger:            t.cfg.Logger,
		Header:            http.Header{"Accept": {"application/vnd.github+json"}, "X-Github-Api-Version": {APIVersion}},
	}
	switch {
	case cfg.AppID != "" || cfg.InstallationID != "" || cfg.PrivateKey != "":
		if t.app, err = newAppAuth(t, cfg); err != nil {
			return nil, err
		}
		hcfg.Authorize = t.app.authorize
		hcfg.AuthHint = "check the app id, installation id and private key in Settings, and that the app is installed on the repositories"
	case strings.TrimSpace(cfg.Token) != "":
		hcfg.Auth = httpx.TokenAuth("Bearer", strings.TrimSpace(cfg.Token))
		hcfg.AuthHint = "the token is wrong, revoked or expired: make a new one in GitHub and enter it in Settings"
	default:
		return nil, errors.New("no github credential: enter a personal access token, or a GitHub App's id, installation id and private key, in Settings")
	}
	t.hc = httpx.New(hcfg)
	return t, nil
}

// apiBase turns the configured address into the API root and a name for messages.
func apiBase(raw string) (base, name string, err error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || raw == DefaultURL || raw == "https://github.com" {
		return DefaultURL, "GitHub", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", fmt.Errorf("github address %q is not a web address like https://github.example.com", raw)
	}
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(u.Path, "/api/v3") {
		u.Path += "/api/v3" // GitHub Enterprise Server serves its API under /api/v3
	}
	return u.String(), "GitHub at " + u.Scheme + "://" + u.Host, nil
}

// Requests is how many HTTP requests the tracker has sent (for the API-economy figures).
func (t *Tracker) Requests() int64 { return t.hc.Requests() }

// Changed is signalled when a webhook reports a change, so the engine polls at once.
func (t *Tracker) Changed() <-chan struct{} { return t.changed }

func (t *Tracker) nudge() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

func (t *Tracker) endpoint(path string, q url.Values) string {
	s := t.base + path
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}

func repoPath(r repoName) string {
	return "/repos/" + url.PathEscape(r.owner) + "/" + url.PathEscape(r.name)
}

// Key is "owner/name#number".
func itemKey(r repoName, number int64) string {
	return r.String() + "#" + strconv.FormatInt(number, 10)
}

func (t *Tracker) parseKey(key string) (repoName, int64, error) {
	repo, num, ok := strings.Cut(strings.TrimSpace(key), "#")
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || n <= 0 {
		return repoName{}, 0, connector.Permanentf("%q is not a github issue key like octo-org/octo-repo#12", key)
	}
	r, err := parseRepo(repo)
	if err != nil {
		return repoName{}, 0, connector.Permanent(err)
	}
	for _, c := range t.repos {
		if strings.EqualFold(c.String(), r.String()) {
			return c, n, nil
		}
	}
	return repoName{}, 0, connector.Permanentf("issue %s is in %s, which is not one of the synced repositories (%s)", key, r, t.repoList())
}

func (t *Tracker) repoList() string {
	names := make([]string, len(t.repos))
	for i, r := range t.repos {
		names[i] = r.String()
	}
	return strings.Join(names, ", ")
}

// Auth choices of the GitHub settings.
const (
	AuthToken = "token"
	AuthApp   = "app"
)

// Connector is GitHub's registry entry.
var Connector = connector.Connector{
	Kind:   "github",
	Label:  "GitHub",
	Remote: true,
	Fields: []connector.Field{
		{Key: "url", Label: "URL", Placeholder: "empty for github.com, or https://github.example.com",
			Hint: "GitHub Enterprise Server: the server's address."},
		{Key: "repositories", Label: "Repositories", Kind: connector.List, Placeholder: "octo-org/octo-repo, octo-org/docs", Required: true,
			Hint: "Issues of these repositories are synced (pull requests are not); new issues go to the first."},
		{Key: "auth", Label: "Sign in with", Kind: connector.Choice, Choices: []string{AuthToken, AuthApp}, Default: AuthToken},
		{Key: "token", Label: "Access token", Kind: connector.Secret, Required: true, Placeholder: "github_pat_… or ghp_…",
			Hint:     "A token with Issues read and write on the repositories.",
			ShowWhen: &connector.Condition{Key: "auth", Values: []string{AuthToken}}},
		{Key: "app_id", Label: "App ID", Placeholder: "123456", Required: true,
			ShowWhen: &connector.Condition{Key: "auth", Values: []string{AuthApp}}},
		{Key: "installation_id", Label: "Installation ID", Placeholder: "7890123", Required: true,
			ShowWhen: &connector.Condition{Key: "auth", Values: []string{AuthApp}}},
		{Key: "private_key", Label: "App private key", Kind: connector.SecretPEM, Required: true, Placeholder: "-----BEGIN RSA PRIVATE KEY-----…",
			ShowWhen: &connector.Condition{Key: "auth", Values: []string{AuthApp}}},
		{Key: "webhook_listen", Label: "Webhook address", Placeholder: "0.0.0.0:8090 (empty: polling only)",
			Hint: "Optional: where Tandem takes GitHub's deliveries, at /webhook (put TLS in front)."},
		{Key: "webhook_secret", Label: "Webhook secret", Kind: connector.Secret,
			Hint: "The webhook's secret (events: issues, issue_comment); deliveries only wake the poll."},
	},
	Build: func(env connector.Env) (engine.Tracker, error) {
		cfg := Config{URL: env.Values["url"], Repositories: env.Values.List("repositories"), WebhookSecret: env.Secrets["webhook_secret"],
			RequestsPerMinute: env.RequestsPerMinute, Timeout: env.Timeout, Transport: env.Transport, Logger: env.Logger,
			Memory: env.Memory}
		if env.Values["auth"] == AuthApp {
			cfg.AppID, cfg.InstallationID, cfg.PrivateKey = env.Values["app_id"], env.Values["installation_id"], env.Secrets["private_key"]
		} else {
			cfg.Token = env.Secrets["token"]
		}
		return New(cfg)
	},
	Describe: func(v connector.Values) string {
		_, name, err := apiBase(v["url"])
		if err != nil {
			name = "GitHub at " + v["url"]
		}
		return fmt.Sprintf("%s (%s)", name, strings.Join(v.List("repositories"), ", "))
	},
	DefaultRules: func() (string, string) { return DefaultOutgoing, DefaultIncoming },
}

var (
	_ engine.Tracker        = (*Tracker)(nil)
	_ engine.ChangeNotifier = (*Tracker)(nil)
	_ connector.Tester      = (*Tracker)(nil)
)

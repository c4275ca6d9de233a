// Package rt connects Tandem to Request Tracker 5 through its REST 2 API.
package rt

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

// Config says how to reach one RT and what to sync. The credential stays in memory: the
// agent loads it from the keychain and never stores it elsewhere.
type Config struct {
	// URL is RT's web address, e.g. https://rt.example.com or https://example.com/rt.
	URL string
	// Queues are the names of the queues whose tickets are synced; new tickets go to the
	// first unless the write names another in the custom field "Queue" (QueueField).
	Queues []string
	// Token is an RT authentication token (Settings > Auth Tokens in RT); preferred.
	Token string
	// User and Password are used for basic authentication when Token is empty.
	User, Password string
	// RequestsPerMinute is the request budget for this RT; 0 is unlimited.
	RequestsPerMinute int
	// Timeout bounds one request (default 30s).
	Timeout time.Duration
	// PageSize is how many records one request lists (default 100).
	PageSize int
	// Transport carries the requests (default http.DefaultTransport), e.g. for a private CA.
	Transport http.RoundTripper
	// Logger receives notices (default slog.Default()).
	Logger *slog.Logger
	// Memory keeps the tracker's marks of its own writes across restarts (default: process
	// memory only, so after a restart every ticket Tandem wrote lately is read again in full).
	Memory connector.Memory
	// ReadBudget bounds how long one Changes call reads tickets in full before it returns
	// what it has, with the cursor after it (default 5s): a backlog moves in small steps.
	ReadBudget time.Duration
}

// Tracker is one RT, as the engine's Tracker. It is safe for concurrent use.
type Tracker struct {
	cfg  Config
	base string // .../REST/2.0
	name string // "RT at https://..."
	hc   *httpx.Client
	log  *slog.Logger

	mu sync.Mutex
	// own marks a ticket (decimal id) with the newest transaction id (decimal) seen right
	// after Tandem wrote to it: while the ticket has no newer transaction, the change is
	// Tandem's own echo.
	own *connector.Marks
	// me is the name of the account Tandem signs in as, once known (see account).
	me string
}

// New checks cfg and returns a tracker for it. It makes no request: see TestConnection.
func New(cfg Config) (*Tracker, error) {
	raw := strings.TrimSpace(cfg.URL)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("rt address %q is not a web address like https://rt.example.com", cfg.URL)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/REST/2.0")
	u.RawQuery, u.Fragment = "", ""
	cfg.URL = strings.TrimSuffix(u.String(), "/")
	var queues []string
	for _, q := range cfg.Queues {
		if q = strings.TrimSpace(q); q != "" {
			queues = append(queues, q)
		}
	}
	if len(queues) == 0 {
		return nil, errors.New("no rt queue chosen: name at least one queue to sync")
	}
	cfg.Queues = queues
	if cfg.PageSize <= 0 {
		cfg.PageSize = 100
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ReadBudget <= 0 {
		cfg.ReadBudget = 5 * time.Second
	}
	own, err := connector.NewMarks(cfg.Memory, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("rt: %w", err)
	}
	name := "RT at " + cfg.URL
	hcfg := httpx.Config{
		Tracker:           name,
		Timeout:           cfg.Timeout,
		RequestsPerMinute: cfg.RequestsPerMinute,
		Transport:         cfg.Transport,
		Logger:            cfg.Logger,
	}
	switch {
	case cfg.Token != "":
		hcfg.Auth = httpx.TokenAuth("token", cfg.Token)
		hcfg.AuthHint = "check the token in Settings"
	case cfg.User != "":
		hcfg.Auth = httpx.BasicAuth(cfg.User, cfg.Password)
		hcfg.AuthHint = "check the user name and password in Settings"
	default:
		return nil, errors.New("no rt credential: enter a token, or a user name and password, in Settings")
	}
	return &Tracker{
		cfg:  cfg,
		base: cfg.URL + "/REST/2.0",
		name: name,
		hc:   httpx.New(hcfg),
		log:  cfg.Logger.With("tracker", name),
		own:  own,
	}, nil
}

// setMark remembers (txn > 0) or forgets (txn 0) the echo mark of ticket id.
func (t *Tracker) setMark(id, txn int64) {
	key := strconv.FormatInt(id, 10)
	if txn > 0 {
		t.own.Put(key, strconv.FormatInt(txn, 10))
	} else {
		t.own.Forget(key)
	}
}

// Requests returns how many HTTP requests the tracker has made (for the API-economy figures).
func (t *Tracker) Requests() int64 { return t.hc.Requests() }

// endpoint returns the REST 2 URL for path with the query q.
func (t *Tracker) endpoint(path string, q url.Values) string {
	s := t.base + path
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}

// quote makes s a TicketSQL string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// Auth choices of the RT settings.
const (
	AuthToken    = "token"
	AuthPassword = "password"
)

// Connector is RT's registry entry.
var Connector = connector.Connector{
	Kind:   "rt",
	Label:  "Request Tracker (RT)",
	Remote: true,
	Fields: []connector.Field{
		{Key: "url", Label: "URL", Placeholder: "https://rt.example.com", Required: true,
			Hint: "RT's web address, with its path if it has one (e.g. https://example.com/rt)."},
		{Key: "queues", Label: "Queues", Kind: connector.List, Placeholder: "General, Support", Required: true,
			Hint: "New tickets go to the first unless a rule names another."},
		{Key: "auth", Label: "Sign in with", Kind: connector.Choice, Choices: []string{AuthToken, AuthPassword}, Default: AuthToken},
		{Key: "user", Label: "User name", Placeholder: "RT user name", Required: true,
			ShowWhen: &connector.Condition{Key: "auth", Values: []string{AuthPassword}}},
		{Key: "credential", Label: "Token or password", Kind: connector.Secret, Required: true,
			Placeholder: "RT authentication token or password",
			Hint:        "An RT auth token (Settings > Auth Tokens in RT), or the user's password."},
	},
	Build: func(env connector.Env) (engine.Tracker, error) {
		cfg := Config{URL: env.Values["url"], Queues: env.Values.List("queues"), RequestsPerMinute: env.RequestsPerMinute,
			Timeout: env.Timeout, Transport: env.Transport, Logger: env.Logger, Memory: env.Memory}
		if env.Values["auth"] == AuthPassword {
			cfg.User, cfg.Password = env.Values["user"], env.Secrets["credential"]
		} else {
			cfg.Token = env.Secrets["credential"]
		}
		return New(cfg)
	},
	Describe: func(v connector.Values) string {
		return fmt.Sprintf("Request Tracker at %s (%s)", v["url"], strings.Join(v.List("queues"), ", "))
	},
}

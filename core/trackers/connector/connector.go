// Package connector is what every tracker connector shares: the entry it declares for the
// registry (kind, label, settings fields and which are secrets, how to build it, its default
// rules), the outcome of a connection test, the error contract the engine's queue reads, and
// the line that keeps a partner's author on a comment Tandem writes. The registry itself is
// the composition root's (core/agent); Settings and `tandem tracker` draw their forms from it.
package connector

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tandemsync/tandem/core/engine"
)

// FieldKind says how a settings field is entered.
type FieldKind int

const (
	Text      FieldKind = iota // one line
	List                       // several values, entered comma-separated
	Choice                     // one of Choices
	Secret                     // one line, kept in the OS keychain, never shown back
	SecretPEM                  // a PEM block (a private key), kept in the OS keychain
)

// Field is one setting of a connector.
type Field struct {
	Key         string // the name in TrackerSettings.Values (or of the keychain entry, for secrets)
	Label       string // what the operator reads, e.g. "Repositories"
	Kind        FieldKind
	Choices     []string // for Choice: the values, in order
	Placeholder string   // an example value
	Hint        string   // one line of help under the field
	Required    bool     // must not be empty (while shown); a secret may stay in the keychain
	Default     string   // the value of a new form
	// ShowWhen, if set, shows the field only while the field named Key has one of Values.
	ShowWhen *Condition
}

// Condition is a field's value that makes another field apply.
type Condition struct {
	Key    string
	Values []string
}

// IsSecret reports whether the field's value belongs in the keychain.
func (f Field) IsSecret() bool { return f.Kind == Secret || f.Kind == SecretPEM }

// Applies reports whether f applies given the other values (see ShowWhen).
func (f Field) Applies(v Values) bool {
	if f.ShowWhen == nil {
		return true
	}
	cur := v[f.ShowWhen.Key]
	return slices.Contains(f.ShowWhen.Values, cur)
}

// Values are settings by field key. Lists are comma-separated.
type Values map[string]string

// List splits a comma-separated value, dropping empty parts.
func (v Values) List(key string) []string {
	var out []string
	for _, s := range strings.Split(v[key], ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Env is what Build gets: the settings, the secrets read from the keychain (or typed for a
// test), and the agent's shared plumbing.
type Env struct {
	Values            Values
	Secrets           Values
	RequestsPerMinute int           // the operator's request budget; 0 is unlimited
	Timeout           time.Duration // bound on one request; 0 is the default
	Transport         http.RoundTripper
	Logger            *slog.Logger
	// Memory, when set, keeps what the connector must remember about its own writes across
	// restarts (e.g. RT's echo marks), in the agent's database.
	Memory Memory
}

// Memory is a small durable key-value store a connector may keep its own notes in.
type Memory interface {
	Load() (map[string]string, error)
	Put(key, value string) error
	Delete(keys ...string) error
}

// Connector is one registry entry.
type Connector struct {
	Kind  string // stored in the settings, e.g. "github"
	Label string // what Settings shows, e.g. "GitHub"
	// Remote trackers are polled over the network: Settings offers the poll interval and
	// request budget for them.
	Remote bool
	Fields []Field
	// Build checks the settings and returns the tracker; it makes no request.
	Build func(env Env) (engine.Tracker, error)
	// Describe names the configured tracker for people, e.g. "GitHub (acme/app)".
	Describe func(v Values) string
	// DefaultRules are the outgoing and incoming rules a connection starts with.
	DefaultRules func() (outgoing, incoming string)
}

// Validate checks values against the fields: required fields that apply must be set,
// choices must be one of theirs. secretsKept reports whether a secret is already in the
// keychain, so an empty secret field is not a missing one.
func (c Connector) Validate(v Values, secrets Values, secretKept func(key string) bool) error {
	for _, f := range c.Fields {
		if !f.Applies(v) {
			continue
		}
		val := strings.TrimSpace(v[f.Key])
		if f.IsSecret() {
			val = strings.TrimSpace(secrets[f.Key])
			if val == "" && f.Required && (secretKept == nil || !secretKept(f.Key)) {
				return fmt.Errorf("%s: enter the %s", c.Label, strings.ToLower(f.Label))
			}
			continue
		}
		if val == "" {
			if f.Required {
				return fmt.Errorf("%s: %s is required%s", c.Label, strings.ToLower(f.Label), example(f))
			}
			continue
		}
		if f.Kind == Choice && !slices.Contains(f.Choices, val) {
			return fmt.Errorf("%s: %s %q is not one of %s", c.Label, strings.ToLower(f.Label), val, strings.Join(f.Choices, ", "))
		}
	}
	return nil
}

func example(f Field) string {
	if f.Placeholder == "" {
		return ""
	}
	return ", e.g. " + f.Placeholder
}

// Field returns the field named key.
func (c Connector) Field(key string) (Field, bool) {
	for _, f := range c.Fields {
		if f.Key == key {
			return f, true
		}
	}
	return Field{}, false
}

// Tester is implemented by trackers that can check their settings against the tracker.
type Tester interface {
	TestConnection(ctx context.Context) Check
}

// Check is the outcome of a connection test.
type Check struct {
	Reachable bool     // the tracker answered at the address
	AuthOK    bool     // the credential was accepted
	User      string   // the account Tandem acts as
	Version   string   // the tracker's version, where it says
	Scope     string   // what Found and Missing list, e.g. "queues", "repositories", "projects"
	Found     []string // configured containers the account can see
	Missing   []string // configured containers that do not exist or are hidden from the account
	Problem   string   // what is wrong, in words for the operator; "" when all is well
	Detail    string   // what works, in one line, when all is well
}

// OK reports whether the tracker is ready to sync.
func (c Check) OK() bool { return c.Problem == "" }

// String says the outcome in one line.
func (c Check) String() string {
	if !c.OK() {
		return c.Problem
	}
	return c.Detail
}

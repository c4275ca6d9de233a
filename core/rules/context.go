package rules

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tandemsync/tandem/core/item"
)

// TokenVault turns a value into a stable opaque token, so a rule can send a reference to
// a secret (a customer id, an email) without the secret itself.
type TokenVault interface {
	Token(value string) (string, error)
}

// ErrNoVault is reported when a rule calls Token but the host gave it no vault.
var ErrNoVault = errors.New("no token vault is configured for this connection")

// maxLogs bounds what one run may log, so a chatty rule cannot grow memory without end.
const maxLogs = 100

// Context is the rule API's helper object, passed to every rule call as *tandem.Context.
// One Context serves one call; it is not shared.
type Context struct {
	conn   string
	now    func() time.Time
	vault  TokenVault
	skip   bool
	reason string
	logs   []string
	err    error // the first helper failure; the run fails with it
}

func newContext(env Env) *Context {
	now := env.Now
	if now == nil {
		now = time.Now
	}
	return &Context{conn: env.Connection, now: now, vault: env.Vault}
}

// Log records a message for the run's Outcome, with key/value pairs written key=value.
func (c *Context) Log(msg string, kv ...any) {
	if len(c.logs) >= maxLogs {
		return
	}
	var b strings.Builder
	b.WriteString(msg)
	for i := 0; i < len(kv); i += 2 {
		if i+1 < len(kv) {
			fmt.Fprintf(&b, " %v=%v", kv[i], kv[i+1])
		} else {
			fmt.Fprintf(&b, " %v", kv[i])
		}
	}
	c.logs = append(c.logs, b.String())
	if len(c.logs) == maxLogs {
		c.logs = append(c.logs, "(further log lines dropped)")
	}
}

// Skip marks the item as not to be synced; the rule should return right after.
func (c *Context) Skip(reason string) {
	c.skip, c.reason = true, reason
}

// Skipped reports whether Skip was called.
func (c *Context) Skipped() bool { return c.skip }

// Now returns the host's current time (fixed in dry runs and tests).
func (c *Context) Now() time.Time { return c.now() }

// Connection returns the name of the connection the rule runs for.
func (c *Context) Connection() string { return c.conn }

// MapValue returns m[v]; failing an exact match, the value of a key equal to v ignoring
// case and surrounding space; failing that, fallback.
func (c *Context) MapValue(v string, m map[string]string, fallback string) string {
	if out, ok := m[v]; ok {
		return out
	}
	t := strings.TrimSpace(v)
	for k, out := range m {
		if strings.EqualFold(strings.TrimSpace(k), t) {
			return out
		}
	}
	return fallback
}

// MapLabels maps each label through m (as MapValue does); labels not in m are kept when
// keepUnknown is true and dropped otherwise. Labels mapped to "" are dropped; duplicates
// are removed, first one wins.
func (c *Context) MapLabels(labels []string, m map[string]string, keepUnknown bool) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range labels {
		const missing = "\x00"
		v := c.MapValue(l, m, missing)
		if v == missing {
			if !keepUnknown {
				continue
			}
			v = l
		}
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	return out
}

// HasLabel reports whether labels holds name, ignoring case.
func (c *Context) HasLabel(labels []string, name string) bool {
	for _, l := range labels {
		if strings.EqualFold(l, name) {
			return true
		}
	}
	return false
}

// Mask replaces every character of s but the last keepLast with '*'. A value no longer
// than keepLast is masked entirely, so a short secret is never shown whole.
func (c *Context) Mask(s string, keepLast int) string {
	n := utf8.RuneCountInString(s)
	if keepLast < 0 || n <= keepLast {
		keepLast = 0
	}
	var b strings.Builder
	i := 0
	for _, r := range s {
		if i < n-keepLast {
			b.WriteByte('*')
		} else {
			b.WriteRune(r)
		}
		i++
	}
	return b.String()
}

var emailRE = regexp.MustCompile(`([A-Za-z0-9._%+\-]+)@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})`)

// MaskEmails hides the local part of every email address in s but its first character:
// "jane.doe@acme.com" becomes "j***@acme.com". The domain stays, as it tells which
// organisation wrote.
func (c *Context) MaskEmails(s string) string {
	return emailRE.ReplaceAllStringFunc(s, func(addr string) string {
		at := strings.LastIndexByte(addr, '@')
		r, _ := utf8.DecodeRuneInString(addr)
		return string(r) + "***" + addr[at:]
	})
}

// Token returns the vault's stable opaque token for s. Without a vault, or if the vault
// fails, it returns "" and the run fails with the reason once the rule returns.
func (c *Context) Token(s string) string {
	if c.vault == nil {
		c.fail(fmt.Errorf("Token: %w", ErrNoVault))
		return ""
	}
	t, err := c.vault.Token(s)
	if err != nil {
		c.fail(fmt.Errorf("Token: %w", err))
		return ""
	}
	return t
}

// PublicComments returns the comments that are not internal notes, in order.
func (c *Context) PublicComments(cs []item.Comment) []item.Comment {
	var out []item.Comment
	for _, cm := range cs {
		if !cm.Internal {
			out = append(out, cm)
		}
	}
	return out
}

// CommentsAfter returns the comments created strictly after t, in order.
func (c *Context) CommentsAfter(cs []item.Comment, t time.Time) []item.Comment {
	var out []item.Comment
	for _, cm := range cs {
		if cm.Created.After(t) {
			out = append(out, cm)
		}
	}
	return out
}

// Truncate shortens s to at most n characters, ending it with "…" when cut.
func (c *Context) Truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func (c *Context) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// HMACVault is a TokenVault that tokenizes with HMAC-SHA256 under a local key: the same
// value and key always give the same token, and the token does not reveal the value.
type HMACVault struct {
	key []byte
}

// NewHMACVault returns a vault keyed with key, which must be at least 16 bytes.
func NewHMACVault(key []byte) (*HMACVault, error) {
	if len(key) < 16 {
		return nil, fmt.Errorf("token vault key is %d bytes, want at least 16", len(key))
	}
	return &HMACVault{key: append([]byte(nil), key...)}, nil
}

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Token returns "tok_" and 26 base32 characters (128 bits of the HMAC).
func (v *HMACVault) Token(value string) (string, error) {
	m := hmac.New(sha256.New, v.key)
	m.Write([]byte(value))
	sum := m.Sum(nil)
	return "tok_" + strings.ToLower(tokenEncoding.EncodeToString(sum[:16])), nil
}

package rules

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tandemsync/tandem/core/item"
)

// TokenVault turns a value into a stable opaque token and back, so a rule can send a
// reference to a secret (a customer id, an e-mail) without the secret itself, and resolve the
// token when the partner sends it back. core/vault keeps the tokens of each connection.
type TokenVault interface {
	// Token returns the token for value, the same one every time for the same value.
	Token(value string) (string, error)
	// Detokenize replaces every token in s that the vault issued with its value; text that is
	// not a known token is left as it is.
	Detokenize(s string) (string, error)
}

// ErrNoVault is reported when a rule calls Token or Detokenize but the host gave it no vault.
var ErrNoVault = errors.New("no token vault is configured for this connection")

// Conflict policies an incoming rule may set per field with ctx.Conflict: what happens when
// the partner's change and a local change meet.
const (
	// ConflictPartner writes a field the partner changed, even over a local edit (the default).
	ConflictPartner = "partner"
	// ConflictLocal keeps a field changed here since the last sync; the partner's change to it
	// is not written.
	ConflictLocal = "local"
	// ConflictOverwrite writes the partner's value whenever it differs, even when the partner
	// did not change it: local edits of the field never last.
	ConflictOverwrite = "overwrite"
)

// maxLogs bounds what one run may log, so a chatty rule cannot grow memory without end.
const maxLogs = 100

// Context is the rule API's helper object, passed to every rule call as *tandem.Context.
// One Context serves one call; it is not shared.
type Context struct {
	conn      string
	now       func() time.Time
	vault     TokenVault
	firstSync bool
	skip      bool
	reason    string
	logs      []string
	conflicts map[string]string
	noEdits   bool  // comment edits are not to follow
	noDeletes bool  // comment deletions are not to follow
	err       error // the first helper failure; the run fails with it
}

func newContext(env Env) *Context {
	now := env.Now
	if now == nil {
		now = time.Now
	}
	return &Context{conn: env.Connection, now: now, vault: env.Vault, firstSync: env.FirstSync}
}

// outcome is what the run reports besides its result.
func (c *Context) outcome() Outcome {
	return Outcome{Skip: c.skip, SkipReason: c.reason, Logs: c.logs, Conflicts: c.conflicts,
		IgnoreCommentEdits: c.noEdits, IgnoreCommentDeletions: c.noDeletes}
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

// FirstSync reports whether this run is the item's first sync: in Outgoing, the item has not
// been sent to the partner yet; in Incoming, the local item is about to be created. Mappings
// meant to apply once (a queue, a default assignee) test it.
func (c *Context) FirstSync() bool { return c.firstSync }

// Conflict sets, for an incoming rule, what happens to a local field (as the engine names it:
// "status", "labels", "custom.Queue", ...) when the partner's change meets a local one:
// ConflictPartner (the default), ConflictLocal or ConflictOverwrite. An unknown policy fails
// the run.
func (c *Context) Conflict(field, policy string) {
	switch policy {
	case ConflictPartner, ConflictLocal, ConflictOverwrite:
	default:
		c.fail(fmt.Errorf("Conflict(%q, %q): unknown policy; want %q, %q or %q", field, policy, ConflictPartner, ConflictLocal, ConflictOverwrite))
		return
	}
	if c.conflicts == nil {
		c.conflicts = map[string]string{}
	}
	c.conflicts[field] = policy
}

// FollowCommentEdits says whether edits of comments already synced are carried to this side
// (the default) or ignored. Where the tracker cannot edit a comment in place (Request
// Tracker), an edit arrives as a follow-up comment that says what changed.
func (c *Context) FollowCommentEdits(on bool) { c.noEdits = !on }

// FollowCommentDeletions says whether deleting a synced comment at the partner deletes it here
// (the default) or is ignored. Where the tracker cannot delete a comment, a short note says it
// was deleted.
func (c *Context) FollowCommentDeletions(on bool) { c.noDeletes = !on }

// MapValue returns m[v]; failing an exact match, the value of a key equal to v ignoring
// case and surrounding space; failing that, fallback. (A ValueMap does the same as a value.)
func (c *Context) MapValue(v string, m map[string]string, fallback string) string {
	return ValueMap{Values: m, Default: fallback}.Map(v)
}

// MapLabels maps each label through m (as MapValue does); labels not in m are kept when
// keepUnknown is true and dropped otherwise. Labels mapped to "" are dropped; duplicates
// are removed, first one wins.
func (c *Context) MapLabels(labels []string, m map[string]string, keepUnknown bool) []string {
	return ValueMap{Values: m, KeepUnmapped: keepUnknown}.Labels(labels)
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

// HasAnyLabel reports whether labels holds any of names, ignoring case.
func (c *Context) HasAnyLabel(labels []string, names ...string) bool {
	for _, n := range names {
		if c.HasLabel(labels, n) {
			return true
		}
	}
	return false
}

// Is reports whether v equals want, ignoring case and surrounding space.
func (c *Context) Is(v, want string) bool {
	return strings.EqualFold(strings.TrimSpace(v), strings.TrimSpace(want))
}

// OneOf reports whether v equals any of values, as Is compares.
func (c *Context) OneOf(v string, values ...string) bool {
	for _, w := range values {
		if c.Is(v, w) {
			return true
		}
	}
	return false
}

// Contains reports whether v contains part, ignoring case.
func (c *Context) Contains(v, part string) bool {
	return strings.Contains(strings.ToLower(v), strings.ToLower(part))
}

// IsUser reports whether u is the person named by who: their id, name or e-mail, ignoring case.
func (c *Context) IsUser(u item.User, who string) bool {
	if u.IsZero() {
		return false
	}
	return c.Is(u.ID, who) || c.Is(u.Name, who) || c.Is(u.Email, who)
}

// MapUser maps a person through m, whose keys are e-mail addresses, names or ids (matched in
// that order, ignoring case); a person m does not know becomes fallback. Nobody stays nobody.
func (c *Context) MapUser(u item.User, m map[string]item.User, fallback item.User) item.User {
	return UserMap{People: m, Default: fallback}.Map(u)
}

// Mask replaces every character of s but the last keepLast with '*'. A value no longer
// than keepLast is masked entirely, so a short secret is never shown whole.
func (c *Context) Mask(s string, keepLast int) string { return c.MaskWith(s, keepLast, "*") }

// MaskWith is Mask with another mask character: the first character of with ("*" if empty).
// Spaces stay, so "4111 1111 1111 1111" keeps its shape: "#### #### #### 1111".
func (c *Context) MaskWith(s string, keepLast int, with string) string {
	mask, _ := utf8.DecodeRuneInString(with)
	if with == "" {
		mask = '*'
	}
	n := utf8.RuneCountInString(s)
	if keepLast < 0 || n <= keepLast {
		keepLast = 0
	}
	var b strings.Builder
	i := 0
	for _, r := range s {
		switch {
		case i >= n-keepLast:
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte(' ')
		default:
			b.WriteRune(mask)
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

// Token returns the vault's stable opaque token for s ("" stays ""). Without a vault, or if
// the vault fails, it returns "" and the run fails with the reason once the rule returns.
func (c *Context) Token(s string) string {
	if s == "" {
		return ""
	}
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

// Detokenize replaces every token in s that this side's vault issued with its original value,
// so a token the partner sends back reads as the value here. Other text, and tokens this side
// did not issue, stay as they are. Without a vault, or if the vault fails, it returns s and the
// run fails with the reason.
func (c *Context) Detokenize(s string) string {
	if s == "" {
		return ""
	}
	if c.vault == nil {
		c.fail(fmt.Errorf("Detokenize: %w", ErrNoVault))
		return s
	}
	v, err := c.vault.Detokenize(s)
	if err != nil {
		c.fail(fmt.Errorf("Detokenize: %w", err))
		return s
	}
	return v
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

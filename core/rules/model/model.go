// Package model is the visual rule model: a connection's outgoing or incoming rule as plain
// data (trigger, field mappings, users, comments, conflict policy), and the generator that
// turns it into readable Go source for core/rules. It is pure data: it does not run rules.
package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/tandemsync/tandem/core/item"
)

// Format is the version of the model's JSON layout this build writes.
const Format = 1

// Direction says which side of the connection a rule works on.
type Direction string

const (
	// Outgoing rules build the replica sent to the partner from a local item.
	Outgoing Direction = "outgoing"
	// Incoming rules apply the partner's replica to a local item.
	Incoming Direction = "incoming"
)

// Rule is one connection's rule for one direction.
type Rule struct {
	Format    int       `json:"format"`
	Direction Direction `json:"direction"`
	// Trigger decides which items the rule takes: outgoing, which local items are sent;
	// incoming, which of the partner's items are accepted. No conditions takes every item.
	Trigger  Trigger   `json:"trigger"`
	Mappings []Mapping `json:"mappings"`
	Users    Users     `json:"users"`
	Comments Comments  `json:"comments"`
}

// Trigger is a list of conditions combined with all (and) or any (or).
type Trigger struct {
	Match      string      `json:"match,omitempty"` // MatchAll (default) or MatchAny
	Conditions []Condition `json:"conditions,omitempty"`
}

// Trigger combinations.
const (
	MatchAll = "all"
	MatchAny = "any"
)

// Condition tests one field of the item.
type Condition struct {
	Field  string   `json:"field"` // title, description, status, priority, labels, assignee, reporter, custom.NAME
	Op     string   `json:"op"`
	Value  string   `json:"value,omitempty"`  // for is, is not, contains, does not contain, matches
	Values []string `json:"values,omitempty"` // for one of, not one of
}

// Condition operators. On labels, contains means "has the label" and one of "has any of
// them"; on people, is matches their id, name or e-mail.
const (
	OpIs          = "is"
	OpIsNot       = "is not"
	OpOneOf       = "one of"
	OpNotOneOf    = "not one of"
	OpContains    = "contains"
	OpNotContains = "does not contain"
	OpMatches     = "matches" // a regular expression
	OpEmpty       = "is empty"
	OpNotEmpty    = "is not empty"
)

// Mapping fills one target field from one source field through one transform.
type Mapping struct {
	Source    string    `json:"source,omitempty"` // empty for a fixed value
	Target    string    `json:"target"`
	Transform Transform `json:"transform"`
	// FirstSyncOnly applies the mapping when the item is first synced (created at the partner,
	// or here), never on later updates.
	FirstSyncOnly bool `json:"firstSyncOnly,omitempty"`
	// Conflict, on incoming rules: what happens when the partner's change to the target
	// meets a local change (ConflictPartner when empty).
	Conflict string `json:"conflict,omitempty"`
	Note     string `json:"note,omitempty"` // the operator's comment, written above the code
}

// Conflict policies (see core/rules: ConflictPartner, ...).
const (
	ConflictPartner   = "partner"
	ConflictLocal     = "local"
	ConflictOverwrite = "overwrite"
)

// Transform is what a mapping does to the value on its way.
type Transform struct {
	Kind string `json:"kind"`
	// Map: value pairs, in order (the first match wins), and what anything else becomes:
	// kept as it is (KeepUnmapped) or Default.
	Values       []Pair `json:"values,omitempty"`
	Default      string `json:"default,omitempty"`
	KeepUnmapped bool   `json:"keepUnmapped,omitempty"`
	// Mask: keep the last KeepLast characters and replace the others with MaskChar ("*" when
	// empty); or, with Emails, hide only e-mail addresses in the text.
	KeepLast int    `json:"keepLast,omitempty"`
	MaskChar string `json:"maskChar,omitempty"`
	Emails   bool   `json:"emails,omitempty"`
	// Regex: replace every match of Pattern with Replace ($1 names a group).
	Pattern string `json:"pattern,omitempty"`
	Replace string `json:"replace,omitempty"`
	// Fixed: the value (labels: comma-separated; people: User).
	Value string `json:"value,omitempty"`
	User  *User  `json:"user,omitempty"`
	// Affix: text put before and after the value.
	Prefix string `json:"prefix,omitempty"`
	Suffix string `json:"suffix,omitempty"`
	// Truncate: at most Max characters, ending with "…" when cut.
	Max int `json:"max,omitempty"`
}

// Transform kinds.
const (
	Copy       = "copy"
	Map        = "map"
	Mask       = "mask"
	Regex      = "regex"
	Fixed      = "fixed"
	Affix      = "affix"
	Truncate   = "truncate"
	Tokenize   = "tokenize"   // outgoing only
	Detokenize = "detokenize" // incoming only
	MapUsers   = "users"      // people through the rule's user map
	Drop       = "drop"
)

// Pair is one entry of a value map.
type Pair struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// User is a person as a rule names them.
type User struct {
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// IsZero reports whether u names nobody.
func (u User) IsZero() bool { return u == User{} }

// Users maps people from the other side (by e-mail, name or id) to people on this side; it
// serves assignee and reporter mappings of kind "users" and, when Comments.Author says so,
// comment authors.
type Users struct {
	Entries []UserEntry `json:"entries,omitempty"`
	// Default is who a person the map does not know becomes, unless KeepUnknown.
	Default     User `json:"default,omitzero"`
	KeepUnknown bool `json:"keepUnknown,omitempty"`
}

// UserEntry maps one person.
type UserEntry struct {
	Match string `json:"match"` // their e-mail, name or id
	User  User   `json:"user"`
}

// Comments says which comments travel and how.
type Comments struct {
	Include string `json:"include"` // CommentsNone, CommentsPublic or CommentsAll
	// MaskEmails hides e-mail addresses in the comments' text.
	MaskEmails bool `json:"maskEmails,omitempty"`
	// Author, on incoming rules: AuthorPartner keeps the author as the partner names them,
	// AuthorMapped maps them through Users.
	Author string `json:"author,omitempty"`
	// IgnoreEdits and IgnoreDeletions, on incoming rules: edits and deletions of comments
	// already synced do not follow (by default they do: in place where the tracker can, else
	// as a follow-up comment or a short note).
	IgnoreEdits     bool `json:"ignoreEdits,omitempty"`
	IgnoreDeletions bool `json:"ignoreDeletions,omitempty"`
}

// Comment choices.
const (
	CommentsNone   = "none"
	CommentsPublic = "public"
	CommentsAll    = "all"
	AuthorPartner  = "partner"
	AuthorMapped   = "mapped"
)

// FieldKey names the item's key, which rules may read as a source on outgoing rules only. The
// item's fields are named as in package item (item.FieldTitle, ..., item.CustomField(NAME)).
const FieldKey = "key"

// Kinds lists the transform kinds in the order editors offer them.
var Kinds = []string{Copy, Map, Mask, Regex, Fixed, Affix, Truncate, Tokenize, Detokenize, MapUsers, Drop}

// Ops lists the condition operators in the order editors offer them.
var Ops = []string{OpIs, OpIsNot, OpOneOf, OpNotOneOf, OpContains, OpNotContains, OpMatches, OpEmpty, OpNotEmpty}

// kindOf is what field f holds, which decides the transforms and operators it takes: the
// key is text; a custom field needs a name that is not blank.
func kindOf(field string) (item.Kind, bool) {
	if field == FieldKey {
		return item.KindText, true
	}
	if name, ok := item.CustomName(field); ok && strings.TrimSpace(name) == "" {
		return 0, false
	}
	return item.KindOf(field)
}

// KindsFor lists the transform kinds that fit a target field on a rule of direction d.
func KindsFor(d Direction, target string) []string {
	k, ok := kindOf(target)
	if !ok {
		return nil
	}
	var out []string
	for _, kind := range Kinds {
		if transformFits(d, k, kind) == nil {
			out = append(out, kind)
		}
	}
	return out
}

func transformFits(d Direction, k item.Kind, kind string) error {
	switch kind {
	case Copy, Fixed, Drop:
		return nil
	case Map:
		if k == item.KindUser {
			return errors.New("people are mapped with the user map (kind users), not a value map")
		}
		return nil
	case MapUsers:
		if k != item.KindUser {
			return errors.New("the user map applies to assignee and reporter only")
		}
		return nil
	case Mask, Regex, Affix, Truncate:
		if k != item.KindText {
			return fmt.Errorf("%s applies to text fields only", kind)
		}
		return nil
	case Tokenize, Detokenize:
		if k != item.KindText {
			return fmt.Errorf("%s applies to text fields only", kind)
		}
		if kind == Tokenize && d != Outgoing {
			return errors.New("tokenize is for outgoing rules; an incoming rule detokenizes what comes back")
		}
		if kind == Detokenize && d != Incoming {
			return errors.New("detokenize is for incoming rules; an outgoing rule tokenizes")
		}
		return nil
	case "":
		return fmt.Errorf("no transform kind; choose one of %s", strings.Join(Kinds, ", "))
	}
	return fmt.Errorf("unknown transform %q; choose one of %s", kind, strings.Join(Kinds, ", "))
}

// New returns an empty rule of direction d: no trigger, no mappings, public comments.
func New(d Direction) *Rule {
	return &Rule{Format: Format, Direction: d, Trigger: Trigger{Match: MatchAll}, Comments: Comments{Include: CommentsPublic}}
}

// Parse reads a rule from JSON, refusing unknown keys, and validates it.
func Parse(data []byte) (*Rule, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Rule
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("read rule model: %w", readable(err))
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		return nil, errors.New("read rule model: text after the rule's closing brace")
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

func readable(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("not valid JSON: it ends before the rule does")
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("not valid JSON at byte %d: %w", syn.Offset, err)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("%s should be %s, not a JSON %s", typ.Field, typ.Type, typ.Value)
	}
	return err
}

// Marshal writes r as indented JSON, the form rule files are exported in.
func (r *Rule) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Clone returns a deep copy of r, so an editor can change it freely.
func (r *Rule) Clone() *Rule {
	b, err := json.Marshal(r)
	if err != nil {
		panic("model: clone: " + err.Error()) // every field encodes
	}
	var c Rule
	if err := json.Unmarshal(b, &c); err != nil {
		panic("model: clone: " + err.Error())
	}
	return &c
}

// Validate checks the rule and says what is wrong in an operator's words, naming the mapping
// or condition at fault.
func (r *Rule) Validate() error {
	if r.Format != Format {
		return fmt.Errorf("rule model format %d: this Tandem reads format %d", r.Format, Format)
	}
	if r.Direction != Outgoing && r.Direction != Incoming {
		return fmt.Errorf("rule direction %q: want %q or %q", r.Direction, Outgoing, Incoming)
	}
	if err := r.Trigger.validate(r.Direction); err != nil {
		return err
	}
	targets := map[string]int{}
	for i, m := range r.Mappings {
		if err := m.validate(r.Direction); err != nil {
			return fmt.Errorf("mapping %d (%s): %w", i+1, m.Label(), err)
		}
		if j, dup := targets[m.Target]; dup {
			return fmt.Errorf("mapping %d (%s): %s is already filled by mapping %d", i+1, m.Label(), m.Target, j+1)
		}
		targets[m.Target] = i
	}
	for i, e := range r.Users.Entries {
		if strings.TrimSpace(e.Match) == "" {
			return fmt.Errorf("user map entry %d: say whose e-mail, name or id it matches", i+1)
		}
		if e.User.IsZero() {
			return fmt.Errorf("user map entry %d (%s): say which user they become", i+1, e.Match)
		}
	}
	switch r.Comments.Include {
	case CommentsNone, CommentsPublic, CommentsAll:
	default:
		return fmt.Errorf("comments: include %q; want %q, %q or %q", r.Comments.Include, CommentsNone, CommentsPublic, CommentsAll)
	}
	switch r.Comments.Author {
	case "", AuthorPartner:
	case AuthorMapped:
		if r.Direction != Incoming {
			return errors.New("comments: mapping authors through the user map is for incoming rules")
		}
	default:
		return fmt.Errorf("comments: author %q; want %q or %q", r.Comments.Author, AuthorPartner, AuthorMapped)
	}
	if r.Direction == Outgoing && (r.Comments.IgnoreEdits || r.Comments.IgnoreDeletions) {
		return errors.New("comments: whether edits and deletions follow is decided by the incoming rule")
	}
	return nil
}

func (t Trigger) validate(d Direction) error {
	switch t.Match {
	case "", MatchAll, MatchAny:
	default:
		return fmt.Errorf("trigger: match %q; want %q or %q", t.Match, MatchAll, MatchAny)
	}
	for i, c := range t.Conditions {
		if err := c.validate(d); err != nil {
			return fmt.Errorf("trigger condition %d (%s): %w", i+1, c.Label(), err)
		}
	}
	return nil
}

func (c Condition) validate(d Direction) error {
	k, ok := kindOf(c.Field)
	if !ok || (c.Field == FieldKey && d == Incoming) {
		return unknownField(c.Field)
	}
	switch c.Op {
	case OpIs, OpIsNot, OpContains, OpNotContains:
		if c.Value == "" && c.Op != OpIs && c.Op != OpIsNot {
			return fmt.Errorf("%q needs a value", c.Op)
		}
		if k == item.KindUser && (c.Op == OpContains || c.Op == OpNotContains) {
			return fmt.Errorf("people are compared with %q or %q", OpIs, OpIsNot)
		}
	case OpOneOf, OpNotOneOf:
		if len(c.Values) == 0 {
			return fmt.Errorf("%q needs at least one value", c.Op)
		}
		if k == item.KindUser {
			return fmt.Errorf("people are compared with %q or %q", OpIs, OpIsNot)
		}
	case OpMatches:
		if k != item.KindText {
			return errors.New("regular expressions match text fields only")
		}
		if _, err := regexp.Compile(c.Value); err != nil {
			return fmt.Errorf("the pattern %q is not a valid regular expression: %w", c.Value, err)
		}
	case OpEmpty, OpNotEmpty:
	case "":
		return fmt.Errorf("no operator; choose one of %s", strings.Join(Ops, ", "))
	default:
		return fmt.Errorf("unknown operator %q; choose one of %s", c.Op, strings.Join(Ops, ", "))
	}
	return nil
}

func unknownField(f string) error {
	if f == "" {
		return errors.New("no field named")
	}
	return fmt.Errorf("unknown field %q; fields are %s and custom.NAME", f, strings.Join(item.CoreFields(), ", "))
}

func (m Mapping) validate(d Direction) error {
	tk, ok := kindOf(m.Target)
	if !ok || m.Target == FieldKey {
		return fmt.Errorf("target: %w", unknownField(m.Target))
	}
	if err := transformFits(d, tk, m.Transform.Kind); err != nil {
		return err
	}
	t := m.Transform
	needsSource := t.Kind != Fixed && t.Kind != Drop
	if needsSource {
		sk, ok := kindOf(m.Source)
		if !ok || (m.Source == FieldKey && d == Incoming) {
			return fmt.Errorf("source: %w", unknownField(m.Source))
		}
		if sk != tk {
			return fmt.Errorf("%s holds %s and %s holds %s; map fields of the same kind", m.Source, kindName(sk), m.Target, kindName(tk))
		}
	} else if m.Source != "" {
		if _, ok := kindOf(m.Source); !ok {
			return fmt.Errorf("source: %w", unknownField(m.Source))
		}
	}
	switch t.Kind {
	case Map:
		if len(t.Values) == 0 {
			return errors.New("the value map is empty; add a value or use copy")
		}
		seen := map[string]bool{}
		for i, p := range t.Values {
			key := strings.ToLower(strings.TrimSpace(p.From))
			if key == "" && tk == item.KindLabels {
				return fmt.Errorf("value %d maps an empty label", i+1)
			}
			if seen[key] {
				return fmt.Errorf("value %q is mapped twice", p.From)
			}
			seen[key] = true
		}
		if tk == item.KindLabels && t.Default != "" {
			return errors.New("labels have no default: unknown labels are kept or dropped")
		}
	case Mask:
		if t.KeepLast < 0 {
			return fmt.Errorf("keep last %d characters: want 0 or more", t.KeepLast)
		}
		if t.Emails && (t.KeepLast != 0 || t.MaskChar != "") {
			return errors.New("masking e-mail addresses takes no length or mask character")
		}
	case Regex:
		if t.Pattern == "" {
			return errors.New("the regular expression is empty")
		}
		if _, err := regexp.Compile(t.Pattern); err != nil {
			return fmt.Errorf("the pattern %q is not a valid regular expression: %w", t.Pattern, err)
		}
	case Fixed:
		if tk == item.KindUser && t.User == nil {
			return errors.New("a fixed person needs a user (id, name or e-mail)")
		}
	case Affix:
		if t.Prefix == "" && t.Suffix == "" {
			return errors.New("neither prefix nor suffix is set")
		}
	case Truncate:
		if t.Max <= 0 {
			return fmt.Errorf("truncate to %d characters: want at least 1", t.Max)
		}
	}
	switch m.Conflict {
	case "", ConflictPartner:
	case ConflictLocal, ConflictOverwrite:
		if d != Incoming {
			return errors.New("conflict policies are for incoming rules")
		}
	default:
		return fmt.Errorf("conflict policy %q; want %q, %q or %q", m.Conflict, ConflictPartner, ConflictLocal, ConflictOverwrite)
	}
	if m.FirstSyncOnly && t.Kind == Drop {
		return errors.New("a dropped field does nothing, on the first sync or later")
	}
	return nil
}

func kindName(k item.Kind) string {
	switch k {
	case item.KindLabels:
		return "labels"
	case item.KindUser:
		return "a person"
	}
	return "text"
}

// Label names a mapping for messages and lists: "status → status", or only the target when
// nothing is read ("custom.Queue" for a fixed value).
func (m Mapping) Label() string {
	tgt := m.Target
	if tgt == "" {
		tgt = "(no target)"
	}
	if m.Source == "" {
		return tgt
	}
	return m.Source + " → " + tgt
}

// Label names a condition: "status one of open, waiting".
func (c Condition) Label() string {
	f := c.Field
	if f == "" {
		f = "(field)"
	}
	switch c.Op {
	case OpOneOf, OpNotOneOf:
		return fmt.Sprintf("%s %s %s", f, c.Op, strings.Join(c.Values, ", "))
	case OpEmpty, OpNotEmpty:
		return f + " " + c.Op
	}
	return fmt.Sprintf("%s %s %q", f, c.Op, c.Value)
}

// Targets lists the fields the rule fills, in mapping order.
func (r *Rule) Targets() []string {
	out := make([]string, 0, len(r.Mappings))
	for _, m := range r.Mappings {
		out = append(out, m.Target)
	}
	return out
}

// Mapping returns the mapping filling target.
func (r *Rule) Mapping(target string) (Mapping, bool) {
	i := slices.IndexFunc(r.Mappings, func(m Mapping) bool { return m.Target == target })
	if i < 0 {
		return Mapping{}, false
	}
	return r.Mappings[i], true
}

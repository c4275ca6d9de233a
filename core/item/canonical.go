package item

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// The canonical encoding that hashes are taken of is encoding/json's. Hashing an item or a
// field value runs on every change detected and applied, and json.Marshal's reflection was
// most of the cost, so the types hashed on that path are written here by hand, byte for byte
// as json.Marshal writes them (TestCanonicalMatchesJSON and FuzzCanonical hold the two
// together; a difference would change stored hashes). Anything else goes to json.Marshal.

// appendJSON appends v as json.Marshal encodes it; ok is false for a type it does not know,
// or a value json.Marshal would refuse (a time outside RFC 3339's range).
func appendJSON(b []byte, v any) (_ []byte, ok bool) {
	switch v := v.(type) {
	case string:
		return appendString(b, v), true
	case []string:
		return appendStrings(b, v), true
	case User:
		return appendUser(b, v), true
	case map[string]string:
		return appendMap(b, v), true
	case Item:
		return appendItem(b, v)
	case Replica:
		return appendReplica(b, v)
	}
	return b, false
}

// appendString writes s as a JSON string. Text with nothing to escape is copied; anything
// else (quotes, control characters, <, > and & which json escapes for HTML, non-ASCII with
// its U+2028, U+2029 and invalid-UTF-8 rules) is left to json.Marshal.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			m, _ := json.Marshal(s) // a string always encodes
			return append(b, m...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendStrings(b []byte, l []string) []byte {
	if l == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendMap writes m with its keys sorted, as json.Marshal does.
func appendMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendString(b, k), ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}

// object writes a JSON object's fields: field starts one with its name.
type object struct {
	b    []byte
	some bool
}

func (o *object) field(name string) {
	if o.some {
		o.b = append(o.b, ',')
	}
	o.some = true
	o.b = append(append(append(o.b, '"'), name...), '"', ':')
}

func (o *object) str(name, v string, omitEmpty bool) {
	if omitEmpty && v == "" {
		return
	}
	o.field(name)
	o.b = appendString(o.b, v)
}

func (o *object) user(name string, u User, omitZero bool) {
	if omitZero && u.IsZero() {
		return
	}
	o.field(name)
	o.b = appendUser(o.b, u)
}

func (o *object) time(name string, t time.Time) bool {
	o.field(name)
	var ok bool
	o.b, ok = appendTime(o.b, t)
	return ok
}

func appendUser(b []byte, u User) []byte {
	o := object{b: append(b, '{')}
	o.str("id", u.ID, true)
	o.str("name", u.Name, true)
	o.str("email", u.Email, true)
	return append(o.b, '}')
}

// appendTime writes t as Time.MarshalJSON does; ok is false where MarshalJSON fails.
func appendTime(b []byte, t time.Time) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	if _, off := t.Zone(); off <= -24*60*60 || off >= 24*60*60 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}

func appendComments(b []byte, cs []Comment) ([]byte, bool) {
	b = append(b, '[')
	for i, c := range cs {
		if i > 0 {
			b = append(b, ',')
		}
		o := object{b: append(b, '{')}
		o.str("id", c.ID, false)
		o.user("author", c.Author, false)
		o.str("body", c.Body, false)
		if !o.time("created", c.Created) {
			return b, false
		}
		if c.Internal {
			o.field("internal")
			o.b = append(o.b, "true"...)
		}
		b = append(o.b, '}')
	}
	return append(b, ']'), true
}

func appendAttachments(b []byte, as []Attachment) ([]byte, bool) {
	b = append(b, '[')
	for i, a := range as {
		if i > 0 {
			b = append(b, ',')
		}
		o := object{b: append(b, '{')}
		o.str("id", a.ID, false)
		o.str("name", a.Name, false)
		o.str("mediaType", a.MediaType, true)
		o.field("size")
		o.b = strconv.AppendInt(o.b, a.Size, 10)
		o.user("author", a.Author, false)
		if !o.time("created", a.Created) {
			return b, false
		}
		b = append(o.b, '}')
	}
	return append(b, ']'), true
}

// appendRest writes the fields Item and Replica share after their users: comments,
// attachments and custom fields, each left out when empty.
func (o *object) rest(cs []Comment, as []Attachment, custom map[string]string) bool {
	var ok bool
	if len(cs) > 0 {
		o.field("comments")
		if o.b, ok = appendComments(o.b, cs); !ok {
			return false
		}
	}
	if len(as) > 0 {
		o.field("attachments")
		if o.b, ok = appendAttachments(o.b, as); !ok {
			return false
		}
	}
	if len(custom) > 0 {
		o.field("custom")
		o.b = appendMap(o.b, custom)
	}
	return true
}

func appendItem(b []byte, it Item) ([]byte, bool) {
	o := object{b: append(b, '{')}
	o.str("key", it.Key, false)
	o.str("title", it.Title, false)
	o.str("description", it.Description, true)
	o.str("status", it.Status, true)
	o.str("priority", it.Priority, true)
	if len(it.Labels) > 0 {
		o.field("labels")
		o.b = appendStrings(o.b, it.Labels)
	}
	o.user("assignee", it.Assignee, false)
	o.user("reporter", it.Reporter, false)
	if !o.rest(it.Comments, it.Attachments, it.Custom) || !o.time("created", it.Created) || !o.time("updated", it.Updated) {
		return b, false
	}
	return append(o.b, '}'), true
}

func appendReplica(b []byte, r Replica) ([]byte, bool) {
	o := object{b: append(b, '{')}
	o.str("title", r.Title, true)
	o.str("description", r.Description, true)
	o.str("status", r.Status, true)
	o.str("priority", r.Priority, true)
	if len(r.Labels) > 0 {
		o.field("labels")
		o.b = appendStrings(o.b, r.Labels)
	}
	o.user("assignee", r.Assignee, true)
	o.user("reporter", r.Reporter, true)
	if !o.rest(r.Comments, r.Attachments, r.Custom) {
		return b, false
	}
	return append(o.b, '}'), true
}

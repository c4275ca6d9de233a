// Package item defines the work item model shared by every tracker, the replica that crosses
// to a partner, and their canonical hashing. It is a leaf: it imports nothing above it.
package item

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sync"
	"time"
)

// User is a person in a tracker. ID is the tracker's own identifier (login, account id);
// Name is what people read. An empty User means "nobody".
type User struct {
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// IsZero reports whether u names nobody.
func (u User) IsZero() bool { return u == User{} }

// Comment is one comment on an item. ID is unique within the item's tracker.
type Comment struct {
	ID       string    `json:"id"`
	Author   User      `json:"author"`
	Body     string    `json:"body"`
	Created  time.Time `json:"created"`
	Internal bool      `json:"internal,omitempty"` // a private note, not visible to customers
}

// Attachment is a reference to a file attached to an item; the bytes stay in the tracker.
type Attachment struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	MediaType string    `json:"mediaType,omitempty"`
	Size      int64     `json:"size"`
	Author    User      `json:"author"`
	Created   time.Time `json:"created"`
}

// Item is a work item in a tracker: issue, ticket, incident.
type Item struct {
	Key         string            `json:"key"`
	Title       string            `json:"title"`
	Description string            `json:"description,omitempty"`
	Status      string            `json:"status,omitempty"`
	Priority    string            `json:"priority,omitempty"`
	Labels      []string          `json:"labels,omitempty"`
	Assignee    User              `json:"assignee"`
	Reporter    User              `json:"reporter"`
	Comments    []Comment         `json:"comments,omitempty"`
	Attachments []Attachment      `json:"attachments,omitempty"`
	Custom      map[string]string `json:"custom,omitempty"`
	Created     time.Time         `json:"created"`
	Updated     time.Time         `json:"updated"`
}

// Summary is an item as a list of items shows it: its key, title, status and when it last
// changed, without the description, comments or other fields. Its JSON names are Item's, so
// a stored item decodes into it directly.
type Summary struct {
	Key     string    `json:"key"`
	Title   string    `json:"title"`
	Status  string    `json:"status,omitempty"`
	Updated time.Time `json:"updated"`
}

// Summary returns it as a list shows it.
func (it Item) Summary() Summary {
	return Summary{Key: it.Key, Title: it.Title, Status: it.Status, Updated: it.Updated}
}

// Clone returns a deep copy of it, so callers can change the copy freely.
func (it Item) Clone() Item {
	c := it
	c.Labels = slices.Clone(it.Labels)
	c.Comments = slices.Clone(it.Comments)
	c.Attachments = slices.Clone(it.Attachments)
	if it.Custom != nil {
		c.Custom = make(map[string]string, len(it.Custom))
		for k, v := range it.Custom {
			c.Custom[k] = v
		}
	}
	return c
}

// Comment returns the comment with the given id.
func (it Item) Comment(id string) (Comment, bool) {
	for _, c := range it.Comments {
		if c.ID == id {
			return c, true
		}
	}
	return Comment{}, false
}

// Replica is the document an outgoing rule builds from a local item: the only data that
// crosses to the partner. Fields the rule leaves empty are not sent. Comments carry the
// sender's comment ids, so the receiver can tell new comments from known ones.
type Replica struct {
	Title       string            `json:"title,omitempty"`
	Description string            `json:"description,omitempty"`
	Status      string            `json:"status,omitempty"`
	Priority    string            `json:"priority,omitempty"`
	Labels      []string          `json:"labels,omitempty"`
	Assignee    User              `json:"assignee,omitzero"`
	Reporter    User              `json:"reporter,omitzero"`
	Comments    []Comment         `json:"comments,omitempty"`
	Attachments []Attachment      `json:"attachments,omitempty"`
	Custom      map[string]string `json:"custom,omitempty"`
}

// Hash returns the canonical hash of r: equal replicas hash equal, whatever the map order.
func (r Replica) Hash() string { return hashJSON(r) }

// HashValue returns the canonical hash of any JSON-encodable value (encoding/json sorts map
// keys, so the encoding is canonical for the types in this package).
func HashValue(v any) string { return hashJSON(v) }

func hashJSON(v any) string {
	buf := hashBufs.Get().(*[]byte)
	defer func() {
		if cap(*buf) > 64<<10 { // a huge item's buffer is not kept
			*buf = make([]byte, 0, 512)
		}
		hashBufs.Put(buf)
	}()
	b, ok := appendJSON((*buf)[:0], v)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			// Every type here encodes; a failure is a programming error worth seeing.
			panic("item: hash: " + err.Error())
		}
	} else {
		*buf = b
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// hashBufs hold the encodings being hashed, so hashing allocates none in the usual case.
var hashBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

package engine

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/store"
)

// A twin is read and written on every change detected and applied, and encoding/json spent
// more time on it than on anything else the engine stores. It is stored as twinV2 and flat
// binary fields (store.AppendString and the like); a twin an earlier version wrote as JSON
// (its first byte is '{') is still read, and rewritten in the new form the next time it
// changes.
//
// Layout: twinV2, the strings Local, Remote, SentHash, ItemHash and RecvHash (Local and
// Remote first, which remoteFor reads alone), the replicas Sent and Received (a presence
// byte, then the replica), then the maps Comments, Base, Synced, SentComments and
// CommentHashes (a count, then each key and value). An empty map reads back as nil, as it
// does from JSON with omitempty.
const twinV2 = 2

func encodeTwin(t twin) []byte {
	v := make([]byte, 0, 256)
	v = append(v, twinV2)
	for _, s := range []string{t.Local, t.Remote, t.SentHash, t.ItemHash, t.RecvHash} {
		v = store.AppendString(v, s)
	}
	v = appendReplicaPtr(v, t.Sent)
	v = appendReplicaPtr(v, t.Received)
	v = appendMap(v, t.Comments)
	v = appendMap(v, t.Base)
	v = appendMap(v, t.Synced)
	v = binary.AppendUvarint(v, uint64(len(t.SentComments)))
	for k, on := range t.SentComments {
		v = append(store.AppendString(v, k), boolByte(on))
	}
	return appendMap(v, t.CommentHashes)
}

func decodeTwin(v []byte) (twin, error) {
	var t twin
	if len(v) == 0 || v[0] != twinV2 {
		err := json.Unmarshal(v, &t)
		return t, err
	}
	f := store.NewFields(v[1:])
	t.Local, t.Remote, t.SentHash, t.ItemHash, t.RecvHash = f.String(), f.String(), f.String(), f.String(), f.String()
	t.Sent = readReplicaPtr(f)
	t.Received = readReplicaPtr(f)
	t.Comments = readMap(f)
	t.Base = readMap(f)
	t.Synced = readMap(f)
	if n := readCount(f); n > 0 {
		t.SentComments = make(map[string]bool, n)
		for range n {
			k := f.String()
			t.SentComments[k] = f.Byte() != 0
		}
	}
	t.CommentHashes = readMap(f)
	if err := f.Err(); err != nil {
		return twin{}, err
	}
	return t, nil
}

// twinRemote reads only the partner's key of a stored twin; ok is false when it cannot.
func twinRemote(v []byte) (remote string, ok bool) {
	if len(v) == 0 || v[0] != twinV2 {
		return "", false
	}
	f := store.NewFields(v[1:])
	_ = f.String() // Local
	remote = f.String()
	return remote, f.Failed() == nil
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// readCount reads a count of entries, each at least two bytes long, refusing one the record
// cannot hold.
func readCount(f *store.Fields) int {
	n := f.Uvarint()
	if n > uint64(f.Len()) {
		f.Fail()
		return 0
	}
	return int(n)
}

func appendMap[M ~map[string]string](v []byte, m M) []byte {
	v = binary.AppendUvarint(v, uint64(len(m)))
	for k, s := range m {
		v = store.AppendString(store.AppendString(v, k), s)
	}
	return v
}

func readMap(f *store.Fields) map[string]string {
	n := readCount(f)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := f.String()
		m[k] = f.String()
	}
	return m
}

func appendUser(v []byte, u item.User) []byte {
	return store.AppendString(store.AppendString(store.AppendString(v, u.ID), u.Name), u.Email)
}

func readUser(f *store.Fields) item.User {
	return item.User{ID: f.String(), Name: f.String(), Email: f.String()}
}

// appendZonedTime keeps t's offset from UTC besides its instant: a replica's hash formats its
// times with their offsets, and a twin's replica must hash as it did when it was stored.
func appendZonedTime(v []byte, t time.Time) []byte {
	_, off := t.Zone()
	return binary.AppendVarint(store.AppendTime(v, t), int64(off))
}

func readZonedTime(f *store.Fields) time.Time {
	t, off := f.Time(), f.Varint()
	if off == 0 || f.Failed() != nil {
		return t
	}
	if off <= -24*60*60 || off >= 24*60*60 {
		f.Fail()
		return time.Time{}
	}
	return t.In(time.FixedZone("", int(off)))
}

func appendReplicaPtr(v []byte, r *item.Replica) []byte {
	if r == nil {
		return append(v, 0)
	}
	v = append(v, 1)
	for _, s := range []string{r.Title, r.Description, r.Status, r.Priority} {
		v = store.AppendString(v, s)
	}
	v = store.AppendStrings(v, r.Labels)
	v = appendUser(appendUser(v, r.Assignee), r.Reporter)
	v = binary.AppendUvarint(v, uint64(len(r.Comments)))
	for _, c := range r.Comments {
		v = appendUser(store.AppendString(v, c.ID), c.Author)
		v = appendZonedTime(store.AppendString(v, c.Body), c.Created)
		v = append(v, boolByte(c.Internal))
	}
	v = binary.AppendUvarint(v, uint64(len(r.Attachments)))
	for _, a := range r.Attachments {
		v = store.AppendString(store.AppendString(store.AppendString(v, a.ID), a.Name), a.MediaType)
		v = appendZonedTime(appendUser(binary.AppendVarint(v, a.Size), a.Author), a.Created)
	}
	return appendMap(v, r.Custom)
}

func readReplicaPtr(f *store.Fields) *item.Replica {
	if f.Byte() == 0 {
		return nil
	}
	r := &item.Replica{Title: f.String(), Description: f.String(), Status: f.String(), Priority: f.String(), Labels: f.Strings()}
	r.Assignee, r.Reporter = readUser(f), readUser(f)
	if n := readCount(f); n > 0 {
		r.Comments = make([]item.Comment, n)
		for i := range r.Comments {
			c := &r.Comments[i]
			c.ID, c.Author, c.Body = f.String(), readUser(f), f.String()
			c.Created, c.Internal = readZonedTime(f), f.Byte() != 0
		}
	}
	if n := readCount(f); n > 0 {
		r.Attachments = make([]item.Attachment, n)
		for i := range r.Attachments {
			a := &r.Attachments[i]
			a.ID, a.Name, a.MediaType = f.String(), f.String(), f.String()
			a.Size, a.Author, a.Created = f.Varint(), readUser(f), readZonedTime(f)
		}
	}
	r.Custom = readMap(f)
	return r
}

// errTwin names a twin that does not read back.
func errTwin(local string, err error) error { return fmt.Errorf("decode twin %s: %w", local, err) }

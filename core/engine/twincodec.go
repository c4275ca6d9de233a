package engine

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

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
	v = store.AppendMap(v, t.Comments)
	v = store.AppendMap(v, t.Base)
	v = store.AppendMap(v, t.Synced)
	v = binary.AppendUvarint(v, uint64(len(t.SentComments)))
	for k, on := range t.SentComments {
		v = store.AppendBool(store.AppendString(v, k), on)
	}
	return store.AppendMap(v, t.CommentHashes)
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
	t.Comments = store.ReadMap(f)
	t.Base = store.ReadMap(f)
	t.Synced = store.ReadMap(f)
	if n := store.ReadCount(f); n > 0 {
		t.SentComments = make(map[string]bool, n)
		for range n {
			k := f.String()
			t.SentComments[k] = f.Byte() != 0
		}
	}
	t.CommentHashes = store.ReadMap(f)
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

func appendReplicaPtr(v []byte, r *item.Replica) []byte {
	if r == nil {
		return append(v, 0)
	}
	v = append(v, 1)
	for _, s := range []string{r.Title, r.Description, r.Status, r.Priority} {
		v = store.AppendString(v, s)
	}
	v = store.AppendStrings(v, r.Labels)
	v = store.AppendUser(store.AppendUser(v, r.Assignee), r.Reporter)
	v = store.AppendComments(v, r.Comments)
	v = store.AppendAttachments(v, r.Attachments)
	return store.AppendMap(v, r.Custom)
}

func readReplicaPtr(f *store.Fields) *item.Replica {
	if f.Byte() == 0 {
		return nil
	}
	r := &item.Replica{Title: f.String(), Description: f.String(), Status: f.String(), Priority: f.String(), Labels: f.Strings()}
	r.Assignee, r.Reporter = store.ReadUser(f), store.ReadUser(f)
	r.Comments = store.ReadComments(f)
	r.Attachments = store.ReadAttachments(f)
	r.Custom = store.ReadMap(f)
	return r
}

// errTwin names a twin that does not read back.
func errTwin(local string, err error) error { return fmt.Errorf("decode twin %s: %w", local, err) }

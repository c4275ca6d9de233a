package engine

import (
	"bytes"
	"encoding/json"

	bolt "go.etcd.io/bbolt"
)

// Keys resolves item keys to their twins' keys in one read: for each local key the partner's
// key, and for each partner key the local key ("" where not linked yet). The Queue screen
// shows both keys of every event it lists.
func (e *Engine) Keys(locals, remotes []string) (remoteOf, localOf map[string]string, err error) {
	remoteOf, localOf = make(map[string]string, len(locals)), make(map[string]string, len(remotes))
	err = e.opt.Store.DB().View(func(tx *bolt.Tx) error {
		for _, l := range locals {
			r, err := e.remoteFor(tx, l)
			if err != nil {
				return err
			}
			remoteOf[l] = r
		}
		for _, r := range remotes {
			localOf[r] = e.localFor(tx, r)
		}
		return nil
	})
	return remoteOf, localOf, err
}

// remoteFor is the partner's key of local item local ("" while unknown). It decodes only that
// field of the twin: the history asks for it on every batch sent, and a whole twin (replicas,
// field sums, comment maps) costs several times more to decode.
func (e *Engine) remoteFor(tx *bolt.Tx, local string) (string, error) {
	v := e.bucket(tx).Bucket(twinsBucket).Get([]byte(local))
	if v == nil {
		return "", nil
	}
	if r, ok := twinRemote(v); ok {
		return r, nil
	}
	if r, ok := leadingRemote(v, local); ok { // a twin an earlier version wrote as JSON
		return r, nil
	}
	var t struct {
		Remote string `json:"r"`
	}
	if err := json.Unmarshal(v, &t); err != nil {
		return "", errTwin(local, err)
	}
	return t.Remote, nil
}

// leadingRemote reads the partner's key from the start of a twin's JSON as putTwin writes it,
// {"l":"<local>","r":"<remote>",..., without scanning the rest (a twin is hundreds of bytes to
// a few kilobytes). ok is false for anything else (a key that needs escaping, a twin not
// linked yet), which the caller decodes in full.
func leadingRemote(v []byte, local string) (remote string, ok bool) {
	rest, ok := bytes.CutPrefix(v, []byte(`{"l":"`))
	if !ok {
		return "", false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(local)); !ok {
		return "", false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`",`)); !ok {
		return "", bytes.Equal(rest, []byte(`"}`)) // a twin of the local key alone
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`"r":"`)); !ok {
		return "", false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return "", false
	}
	return string(rest[:end]), true
}

package engine

import (
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

// remoteFor is the partner's key of local item local ("" while unknown). It reads only that
// field of the twin: the history asks for it on every batch sent, and a whole twin (replicas,
// field sums, comment maps) costs several times more to decode. A twin an earlier version
// wrote as JSON is decoded, until its next change rewrites it.
func (e *Engine) remoteFor(tx *bolt.Tx, local string) (string, error) {
	v := e.bucket(tx).Bucket(twinsBucket).Get([]byte(local))
	if v == nil {
		return "", nil
	}
	if r, ok := twinRemote(v); ok {
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

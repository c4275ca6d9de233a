package engine

import bolt "go.etcd.io/bbolt"

// Keys resolves item keys to their twins' keys in one read: for each local key the partner's
// key, and for each partner key the local key ("" where not linked yet). The Queue screen
// shows both keys of every event it lists.
func (e *Engine) Keys(locals, remotes []string) (remoteOf, localOf map[string]string, err error) {
	remoteOf, localOf = make(map[string]string, len(locals)), make(map[string]string, len(remotes))
	err = e.opt.Store.DB().View(func(tx *bolt.Tx) error {
		for _, l := range locals {
			t, err := e.getTwin(tx, l)
			if err != nil {
				return err
			}
			remoteOf[l] = t.Remote
		}
		for _, r := range remotes {
			localOf[r] = e.localFor(tx, r)
		}
		return nil
	})
	return remoteOf, localOf, err
}

package agent

import (
	"bytes"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/store"
)

// replayBucket keeps the transport's replay cache across restarts:
//
//	replay   U64(forgetAt unix nanos) + peer/jti -> nil
//
// Keys sort by when they may be forgotten, so forgetting is a walk from the first key.
var replayBucket = []byte("replay")

// replayStore is the transport's durable replay cache in the agent's database.
type replayStore struct{ st *store.Store }

func (r replayStore) Remember(key string, forgetAt time.Time) error {
	// store.Update, not bbolt's Batch: Batch waits up to 10 ms to gather writes, which every
	// request would pay; store.Update commits at once when nothing else is being committed, and
	// shares the next commit with the agent's other writes when something is.
	return r.st.Update(r.put(key, forgetAt))
}

func (r replayStore) put(key string, forgetAt time.Time) func(*bolt.Tx) error {
	k := append(store.U64(uint64(forgetAt.UnixNano())), key...)
	return func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(replayBucket)
		if err != nil {
			return err
		}
		return b.Put(k, nil)
	}
}

// RememberLater implements transport.ReplayLater: the token id is committed with the
// request's own write (the batch it carried), or when wait is called.
func (r replayStore) RememberLater(key string, forgetAt time.Time) (wait func() error) {
	return r.st.UpdateLater(r.put(key, forgetAt))
}

func (r replayStore) Recall(now time.Time) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := r.st.DB().View(func(tx *bolt.Tx) error {
		b := tx.Bucket(replayBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			if len(k) <= 8 {
				return nil
			}
			t := time.Unix(0, int64(store.U64From(k[:8])))
			if t.After(now) {
				out[string(k[8:])] = t
			}
			return nil
		})
	})
	return out, err
}

func (r replayStore) Forget(before time.Time) error {
	limit := store.U64(uint64(before.UnixNano()))
	return r.st.DB().Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(replayBucket)
		if b == nil {
			return nil
		}
		var old [][]byte
		c := b.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:min(8, len(k))], limit) < 0; k, _ = c.Next() {
			old = append(old, bytes.Clone(k))
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

package store

import (
	bolt "go.etcd.io/bbolt"
)

// Notebook is a small durable key-value store in one nested bucket of the database,
// parent/name: key -> value, for what a package must remember about itself across restarts
// (a connector's marks of its own writes). Its buckets are made by its first write.
type Notebook struct {
	db           *bolt.DB
	parent, name []byte
}

// Notebook returns the notebook in bucket parent/name.
func (s *Store) Notebook(parent, name string) Notebook {
	return Notebook{db: s.db, parent: []byte(parent), name: []byte(name)}
}

// Load returns every entry.
func (n Notebook) Load() (map[string]string, error) {
	out := map[string]string{}
	err := n.db.View(func(tx *bolt.Tx) error {
		p := tx.Bucket(n.parent)
		if p == nil || p.Bucket(n.name) == nil {
			return nil
		}
		return p.Bucket(n.name).ForEach(func(k, v []byte) error {
			out[string(k)] = string(v) // string() copies out of the transaction
			return nil
		})
	})
	return out, err
}

func (n Notebook) update(fn func(b *bolt.Bucket) error) error {
	return n.db.Update(func(tx *bolt.Tx) error {
		p, err := tx.CreateBucketIfNotExists(n.parent)
		if err != nil {
			return err
		}
		b, err := p.CreateBucketIfNotExists(n.name)
		if err != nil {
			return err
		}
		return fn(b)
	})
}

// Put sets key to value, durably.
func (n Notebook) Put(key, value string) error {
	return n.update(func(b *bolt.Bucket) error { return b.Put([]byte(key), []byte(value)) })
}

// Delete removes keys in one transaction; a key that is not there is no error.
func (n Notebook) Delete(keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	return n.update(func(b *bolt.Bucket) error {
		for _, k := range keys {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
}

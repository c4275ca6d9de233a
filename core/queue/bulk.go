package queue

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/store"
)

// RetryMany makes the failed events among seqs ready now, in one transaction, and returns
// them. Seqs that are gone or did not fail are passed over.
func (q *Queue) RetryMany(seqs []uint64) ([]Event, error) {
	return q.many("retry", seqs, func(tx *bolt.Tx, b *bolt.Bucket, e Event) (bool, error) {
		if !e.Failed {
			return false, nil
		}
		retryNow(&e)
		return true, q.put(tx, e)
	})
}

// SkipMany removes the events among seqs that are still queued, in one transaction, and
// returns them (without payloads).
func (q *Queue) SkipMany(seqs []uint64) ([]Event, error) {
	return q.many("skip", seqs, func(tx *bolt.Tx, b *bolt.Bucket, e Event) (bool, error) {
		return true, q.remove(tx, b, e.Seq)
	})
}

func (q *Queue) many(op string, seqs []uint64, fn func(tx *bolt.Tx, b *bolt.Bucket, e Event) (bool, error)) ([]Event, error) {
	var done []Event
	err := q.st.DB().Update(func(tx *bolt.Tx) error {
		done = done[:0]
		b, err := q.events(tx)
		if err != nil {
			return err
		}
		for _, seq := range seqs {
			k := store.U64(seq)
			v := b.Get(k)
			if v == nil {
				continue
			}
			e, err := decode(k, v)
			if err != nil {
				return err
			}
			ok, err := fn(tx, b, e)
			if err != nil {
				return err
			}
			if ok {
				e.Payload = nil
				done = append(done, e)
			}
		}
		if len(done) > 0 {
			tx.OnCommit(q.signal)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s in queue %s: %w", op, q.name, err)
	}
	return done, nil
}

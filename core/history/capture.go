package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/store"
)

// Debug capture keeps the payloads of a connection's events for troubleshooting, when the
// operator turns it on. It is the one place field values are kept outside the queues, so it
// is opt-in, turns itself off after CaptureFor, and each payload is deleted CaptureFor after it
// was captured (or at once, on demand):
//
//	capture/on    connection              -> U64(unix nanos when capture turns itself off)
//	capture/data  U64(unix nanos)+U64(id) -> captured (JSON), the record's key
var (
	captureBucket = []byte("capture")
	captureOnKey  = []byte("on")
	captureData   = []byte("data")
)

// CaptureFor is how long a capture stays on, and how long each captured payload is kept.
const CaptureFor = 24 * time.Hour

type captured struct {
	Connection string          `json:"c"`
	Payload    json.RawMessage `json:"p"`
}

func captureBuckets(tx *bolt.Tx) (on, data *bolt.Bucket, err error) {
	root := tx.Bucket(captureBucket)
	if root == nil {
		return nil, nil, fmt.Errorf("capture bucket missing")
	}
	if tx.Writable() {
		if on, err = root.CreateBucketIfNotExists(captureOnKey); err != nil {
			return nil, nil, err
		}
		if data, err = root.CreateBucketIfNotExists(captureData); err != nil {
			return nil, nil, err
		}
		return on, data, nil
	}
	return root.Bucket(captureOnKey), root.Bucket(captureData), nil
}

func putCapture(tx *bolt.Tx, r *Record) error {
	_, data, err := captureBuckets(tx)
	if err != nil {
		return err
	}
	v, err := json.Marshal(captured{Connection: r.Connection, Payload: r.Payload})
	if err != nil {
		return err
	}
	return data.Put(recordKey(r.Time, r.ID), v)
}

// SetCapture turns a connection's capture on (until CaptureFor from now) or off. Turning it off
// deletes what it captured.
func (h *Store) SetCapture(conn string, on bool) error {
	until := h.now().Add(CaptureFor)
	err := h.st.DB().Update(func(tx *bolt.Tx) error {
		onB, data, err := captureBuckets(tx)
		if err != nil {
			return err
		}
		if on {
			return onB.Put([]byte(conn), store.U64(uint64(until.UnixNano())))
		}
		if err := onB.Delete([]byte(conn)); err != nil {
			return err
		}
		return deleteWhere(data, func(c captured) bool { return c.Connection == conn })
	})
	if err != nil {
		return fmt.Errorf("set debug capture of %s: %w", conn, err)
	}
	h.mu.Lock()
	if on {
		h.capture[conn] = until
	} else {
		delete(h.capture, conn)
		// What waits to be written was captured while capture was on: not any more.
		for i := range h.pending {
			if h.pending[i].Connection == conn {
				h.pending[i].Payload, h.pending[i].Captured = nil, false
			}
		}
	}
	h.mu.Unlock()
	if h.opt.OnChange != nil {
		h.opt.OnChange()
	}
	return nil
}

// CaptureUntil is when a connection's capture turns itself off; zero when it is off.
func (h *Store) CaptureUntil(conn string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if until := h.capture[conn]; until.After(h.now()) {
		return until
	}
	return time.Time{}
}

// Captured returns the payload captured with a record, nil when there is none (capture was
// off, or the payload expired or was deleted).
func (h *Store) Captured(r Record) (json.RawMessage, error) {
	var p json.RawMessage
	err := h.st.DB().View(func(tx *bolt.Tx) error {
		_, data, err := captureBuckets(tx)
		if err != nil || data == nil {
			return err
		}
		if v := data.Get(recordKey(r.Time, r.ID)); v != nil {
			var c captured
			if err := json.Unmarshal(v, &c); err != nil {
				return err
			}
			p = c.Payload
		}
		return nil
	})
	return p, err
}

// PruneCaptures deletes payloads captured more than CaptureFor ago and the switches that ran
// out, and returns how many payloads it deleted.
func (h *Store) PruneCaptures() (int, error) {
	now := h.now()
	n := 0
	err := h.st.DB().Update(func(tx *bolt.Tx) error {
		on, data, err := captureBuckets(tx)
		if err != nil {
			return err
		}
		end := store.U64(uint64(now.Add(-CaptureFor).UnixNano()))
		var dead [][]byte
		c := data.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], end) < 0; k, _ = c.Next() {
			dead = append(dead, bytes.Clone(k))
		}
		for _, k := range dead {
			if err := data.Delete(k); err != nil {
				return err
			}
		}
		n = len(dead)
		var off [][]byte
		on.ForEach(func(k, v []byte) error {
			if store.U64From(v) <= uint64(now.UnixNano()) {
				off = append(off, bytes.Clone(k))
			}
			return nil
		})
		for _, k := range off {
			if err := on.Delete(k); err != nil {
				return err
			}
		}
		h.mu.Lock()
		for _, k := range off {
			delete(h.capture, string(k))
		}
		h.mu.Unlock()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("expire payload captures: %w", err)
	}
	return n, nil
}

// DeleteCaptures deletes every captured payload now, leaving the switches as they are.
func (h *Store) DeleteCaptures() error {
	if err := h.st.DB().Update(clearCaptures); err != nil {
		return fmt.Errorf("delete payload captures: %w", err)
	}
	return nil
}

func clearCaptures(tx *bolt.Tx) error {
	_, data, err := captureBuckets(tx)
	if err != nil {
		return err
	}
	return deleteWhere(data, func(captured) bool { return true })
}

func deleteWhere(b *bolt.Bucket, pred func(captured) bool) error {
	var dead [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var c captured
		if json.Unmarshal(v, &c) != nil || pred(c) {
			dead = append(dead, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range dead {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

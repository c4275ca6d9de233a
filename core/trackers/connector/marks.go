package connector

import (
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// MaxMarks bounds the marks a connector keeps; past it they are all forgotten, which only
// costs a full read of the items written lately.
const MaxMarks = 10000

// Marks is what a connector remembers about its own writes: per key (a ticket, an issue, a
// comment), the mark the tracker showed right after Tandem wrote there (a transaction id, an
// updated time). While the tracker still shows that mark, what detection reads there is
// Tandem's own echo, skipped without reading the item in full or sending it to the partner.
// Kept in a Memory (the agent's bbolt file), the marks outlive a restart of the agent. Marks
// is safe for concurrent use.
type Marks struct {
	store Memory // nil: process memory only
	log   *slog.Logger

	mu sync.Mutex
	m  map[string]string
}

// NewMarks returns the marks kept in store (nil: none, and kept in memory only). log receives
// what cannot be stored (default slog.Default()).
func NewMarks(store Memory, log *slog.Logger) (*Marks, error) {
	if log == nil {
		log = slog.Default()
	}
	m := &Marks{store: store, log: log, m: map[string]string{}}
	if store != nil {
		loaded, err := store.Load()
		if err != nil {
			return nil, fmt.Errorf("read the marks of Tandem's own writes: %w", err)
		}
		m.m = loaded
	}
	return m, nil
}

// Get returns the mark of key.
func (m *Marks) Get(key string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[key]
	return v, ok
}

// Len is how many marks are kept.
func (m *Marks) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}

// Put remembers mark for key. A mark that cannot be stored is only logged: it costs one full
// read of the item after a restart.
func (m *Marks) Put(key, mark string) {
	m.mu.Lock()
	var dropped []string
	if _, ok := m.m[key]; !ok && len(m.m) >= MaxMarks {
		for k := range m.m {
			dropped = append(dropped, k)
		}
		clear(m.m)
	}
	m.m[key] = mark
	m.mu.Unlock()
	if m.store == nil {
		return
	}
	var err error
	if len(dropped) > 0 {
		err = m.store.Delete(dropped...)
	}
	if err == nil {
		err = m.store.Put(key, mark)
	}
	if err != nil {
		m.log.Warn("keep the mark of Tandem's own write", "key", key, "err", err)
	}
}

// Forget drops the mark of key, if any.
func (m *Marks) Forget(key string) {
	m.mu.Lock()
	_, had := m.m[key]
	delete(m.m, key)
	m.mu.Unlock()
	if !had || m.store == nil {
		return
	}
	if err := m.store.Delete(key); err != nil {
		m.log.Warn("forget the mark of Tandem's own write", "key", key, "err", err)
	}
}

// Echo reports whether key, now showing seen, still shows the mark of Tandem's last write
// there: then what was read is Tandem's own echo. When it shows something else, the item has
// moved on and the mark is forgotten.
func (m *Marks) Echo(key, seen string) bool {
	mark, ok := m.Get(key)
	if !ok {
		return false
	}
	if mark == seen {
		return true
	}
	m.Forget(key)
	return false
}

// TimeMark is the mark of an updated time: equal instants give equal marks, whatever their
// zone or monotonic reading.
func TimeMark(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Package store owns the agent's one bbolt file: opening it safely, the schema version and the
// key codecs every other package uses for its buckets.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the database file inside a data directory.
const FileName = "tandem.db"

// SchemaVersion is the layout this build writes. Older files are migrated on open.
const SchemaVersion = 1

// ErrLocked means another process holds the data directory's database.
var ErrLocked = errors.New("the data directory is in use by another Tandem agent (its database is locked); stop that agent or choose another directory")

var metaBucket = []byte("meta")

// Store is the open database of one data directory.
type Store struct {
	db    *bolt.DB
	path  string
	group grouper // Update's group commit
}

// Options tune Open; the zero value is right for production.
type Options struct {
	LockTimeout time.Duration // how long to wait for another process's lock; default 1s
	NoSync      bool          // skip fsync: only for benchmarks that measure it separately
}

// Open opens (creating if needed) the database in dir with mode 0600. A second agent on the
// same directory gets ErrLocked after the lock timeout instead of hanging.
func Open(dir string, opt Options) (*Store, error) {
	if opt.LockTimeout == 0 {
		opt.LockTimeout = time.Second
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	// NoFreelistSync: a commit does not write the free-page list, which grows with every
	// acknowledged event and was rewritten by each commit; opening rebuilds it by scanning the
	// file instead. Files written either way open either way.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opt.LockTimeout, NoSync: opt.NoSync, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return fmt.Errorf("create meta bucket: %w", err)
		}
		v := b.Get([]byte("schema"))
		if v != nil && U64From(v) > SchemaVersion {
			return fmt.Errorf("the database %s was written by a newer Tandem (schema %d; this build reads up to %d)", s.path, U64From(v), SchemaVersion)
		}
		return b.Put([]byte("schema"), U64(SchemaVersion))
	})
}

// DB is the underlying bbolt handle, for the packages that own buckets in it.
func (s *Store) DB() *bolt.DB { return s.db }

// Path is the database file's path.
func (s *Store) Path() string { return s.path }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// EnsureBuckets creates the named top-level buckets in one transaction.
func (s *Store) EnsureBuckets(names ...string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, n := range names {
			if _, err := tx.CreateBucketIfNotExists([]byte(n)); err != nil {
				return fmt.Errorf("create bucket %s: %w", n, err)
			}
		}
		return nil
	})
}

// U64 encodes n as 8 big-endian bytes, so byte order is numeric order.
func U64(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

// U64From decodes a key made by U64; a short slice decodes as 0.
func U64From(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Copy returns a copy of b; bbolt's slices are valid only inside their transaction.
func Copy(b []byte) []byte {
	if b == nil {
		return nil
	}
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

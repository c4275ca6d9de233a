// Package versions keeps every saved rule of every connection as a numbered version, which
// version is deployed, and the history of deployments and rollbacks.
package versions

// Layout inside the agent's bbolt file:
//
//	ruleversions/<connection>/<direction>/versions  U64(n)   -> Version (JSON)
//	ruleversions/<connection>/<direction>/deploys   U64(seq) -> Deployment (JSON)
//	ruleversions/<connection>/<direction>/live      -> U64(n), the deployed version
//
// Version numbers start at 1 and never repeat within a connection and direction. A version
// is never changed once saved; deploying one only moves the live pointer and appends a
// deployment record, so the history of what ran when is kept.

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/rules/model"
	"github.com/tandemsync/tandem/core/store"
)

// Modes of a version.
const (
	Visual = "visual" // made in the visual editor: Model holds the rule, Source is generated from it
	Script = "script" // Go source written or taken over by the operator
)

// Deployment actions.
const (
	ActionDeploy   = "deploy"
	ActionRollback = "rollback"
)

// Version is one saved rule.
type Version struct {
	Number  int         `json:"n"`
	Created time.Time   `json:"created"`
	Author  string      `json:"author"`
	Note    string      `json:"note,omitempty"`
	Mode    string      `json:"mode"`
	Model   *model.Rule `json:"model,omitempty"`
	Source  string      `json:"source"`
	// CompileError is why the source did not compile when saved: such a draft is kept, so no
	// work is lost, but cannot be deployed.
	CompileError string `json:"compileError,omitempty"`
	// Defaults names the tracker kind whose default rule this is, "" for the operator's own.
	Defaults string `json:"defaults,omitempty"`
}

// Deployment records one deploy or rollback.
type Deployment struct {
	Seq     uint64    `json:"seq"`
	Version int       `json:"version"`
	From    int       `json:"from,omitempty"` // the version live before, 0 if none
	At      time.Time `json:"at"`
	Author  string    `json:"author"`
	Action  string    `json:"action"`
}

var (
	rootBucket     = []byte("ruleversions")
	versionsBucket = []byte("versions")
	deploysBucket  = []byte("deploys")
	liveKey        = []byte("live")
)

// ErrNotFound is returned for a version that does not exist.
var ErrNotFound = errors.New("no such rule version")

// Store is the version history of an agent's rules.
type Store struct {
	st  *store.Store
	now func() time.Time
}

// Open returns the version store in st.
func Open(st *store.Store) (*Store, error) {
	if err := st.EnsureBuckets(string(rootBucket)); err != nil {
		return nil, err
	}
	return &Store{st: st, now: time.Now}, nil
}

func checkDirection(dir string) error {
	if dir != string(model.Outgoing) && dir != string(model.Incoming) {
		return fmt.Errorf("rule direction %q: want outgoing or incoming", dir)
	}
	return nil
}

// bucket returns the direction's bucket, creating it when create is set (in a write
// transaction); nil when it does not exist.
func bucket(tx *bolt.Tx, conn, dir string, create bool) (*bolt.Bucket, error) {
	root := tx.Bucket(rootBucket)
	if !create {
		c := root.Bucket([]byte(conn))
		if c == nil {
			return nil, nil
		}
		return c.Bucket([]byte(dir)), nil
	}
	c, err := root.CreateBucketIfNotExists([]byte(conn))
	if err != nil {
		return nil, err
	}
	d, err := c.CreateBucketIfNotExists([]byte(dir))
	if err != nil {
		return nil, err
	}
	for _, n := range [][]byte{versionsBucket, deploysBucket} {
		if _, err := d.CreateBucketIfNotExists(n); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Save stores v as the next version and returns it with its number and time.
func (s *Store) Save(conn, dir string, v Version) (Version, error) {
	if err := checkDirection(dir); err != nil {
		return Version{}, err
	}
	if v.Mode != Visual && v.Mode != Script {
		return Version{}, fmt.Errorf("rule mode %q: want visual or script", v.Mode)
	}
	if v.Mode == Visual && v.Model == nil {
		return Version{}, errors.New("a visual rule version needs its model")
	}
	v.Created = s.now().UTC()
	err := s.st.DB().Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, conn, dir, true)
		if err != nil {
			return err
		}
		vb := b.Bucket(versionsBucket)
		n, err := vb.NextSequence()
		if err != nil {
			return err
		}
		v.Number = int(n)
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return vb.Put(store.U64(n), data)
	})
	if err != nil {
		return Version{}, fmt.Errorf("save %s rule version: %w", dir, err)
	}
	return v, nil
}

// Get returns version n.
func (s *Store) Get(conn, dir string, n int) (Version, error) {
	var v Version
	err := s.st.DB().View(func(tx *bolt.Tx) error {
		b, _ := bucket(tx, conn, dir, false)
		if b == nil || n <= 0 {
			return ErrNotFound
		}
		data := b.Bucket(versionsBucket).Get(store.U64(uint64(n)))
		if data == nil {
			return ErrNotFound
		}
		return json.Unmarshal(data, &v)
	})
	if errors.Is(err, ErrNotFound) {
		return Version{}, fmt.Errorf("%s rule version %d of %s: %w", dir, n, conn, ErrNotFound)
	}
	return v, err
}

// List returns up to limit versions, newest first, skipping the offset newest, and the total.
func (s *Store) List(conn, dir string, offset, limit int) ([]Version, int, error) {
	var out []Version
	total := 0
	err := s.st.DB().View(func(tx *bolt.Tx) error {
		b, _ := bucket(tx, conn, dir, false)
		if b == nil {
			return nil
		}
		vb := b.Bucket(versionsBucket)
		total = vb.Stats().KeyN
		c := vb.Cursor()
		i := 0
		for k, data := c.Last(); k != nil && len(out) < limit; k, data = c.Prev() {
			if i++; i <= offset {
				continue
			}
			var v Version
			if err := json.Unmarshal(data, &v); err != nil {
				return fmt.Errorf("decode rule version %d: %w", store.U64From(k), err)
			}
			out = append(out, v)
		}
		return nil
	})
	return out, total, err
}

// Live returns the number of the deployed version, 0 when none is.
func (s *Store) Live(conn, dir string) (int, error) {
	n := 0
	err := s.st.DB().View(func(tx *bolt.Tx) error {
		if b, _ := bucket(tx, conn, dir, false); b != nil {
			n = int(store.U64From(b.Get(liveKey)))
		}
		return nil
	})
	return n, err
}

// SetLive makes version n the deployed one and records the deployment. It does not check that
// the version compiles: the caller does, since that needs the sandbox.
func (s *Store) SetLive(conn, dir string, n int, author, action string) (Deployment, error) {
	var d Deployment
	err := s.st.DB().Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, conn, dir, true)
		if err != nil {
			return err
		}
		if b.Bucket(versionsBucket).Get(store.U64(uint64(n))) == nil {
			return fmt.Errorf("%s rule version %d of %s: %w", dir, n, conn, ErrNotFound)
		}
		db := b.Bucket(deploysBucket)
		seq, err := db.NextSequence()
		if err != nil {
			return err
		}
		d = Deployment{Seq: seq, Version: n, From: int(store.U64From(b.Get(liveKey))), At: s.now().UTC(), Author: author, Action: action}
		data, err := json.Marshal(d)
		if err != nil {
			return err
		}
		if err := db.Put(store.U64(seq), data); err != nil {
			return err
		}
		return b.Put(liveKey, store.U64(uint64(n)))
	})
	return d, err
}

// Deployments returns up to limit deployment records, newest first, after skipping offset.
func (s *Store) Deployments(conn, dir string, offset, limit int) ([]Deployment, error) {
	var out []Deployment
	err := s.st.DB().View(func(tx *bolt.Tx) error {
		b, _ := bucket(tx, conn, dir, false)
		if b == nil {
			return nil
		}
		c := b.Bucket(deploysBucket).Cursor()
		i := 0
		for k, data := c.Last(); k != nil && len(out) < limit; k, data = c.Prev() {
			if i++; i <= offset {
				continue
			}
			var d Deployment
			if err := json.Unmarshal(data, &d); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// Previous returns what a rollback goes back to: the version deployed before the live one,
// passing over versions that were themselves rolled back, so rolling back twice steps back
// twice. 0 means there is nothing earlier.
func (s *Store) Previous(conn, dir string) (int, error) {
	prev := 0
	err := s.st.DB().View(func(tx *bolt.Tx) error {
		b, _ := bucket(tx, conn, dir, false)
		if b == nil {
			return nil
		}
		live := int(store.U64From(b.Get(liveKey)))
		rolledBack := map[int]bool{}
		c := b.Bucket(deploysBucket).Cursor()
		for k, data := c.Last(); k != nil; k, data = c.Prev() {
			var d Deployment
			if err := json.Unmarshal(data, &d); err != nil {
				return err
			}
			if d.Action == ActionRollback {
				rolledBack[d.From] = true
			}
			if d.Version != live && !rolledBack[d.Version] {
				prev = d.Version
				return nil
			}
		}
		return nil
	})
	return prev, err
}

// Drop forgets a connection's versions (when the connection is removed).
func (s *Store) Drop(conn string) error {
	return s.st.DB().Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(rootBucket)
		if root.Bucket([]byte(conn)) == nil {
			return nil
		}
		return root.DeleteBucket([]byte(conn))
	})
}

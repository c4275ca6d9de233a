// Package connectortest holds what the connectors' tests share: reading a tracker's changes
// until they settle, and a connector rebuilt on a reopened store, as the agent rebuilds it after
// a restart.
package connectortest

import (
	"context"
	"testing"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/store"
	"github.com/tandemsync/tandem/core/trackers/connector"
)

// Changes is one call of tr.Changes after cursor; an error fails the test.
func Changes(t testing.TB, tr engine.Tracker, cursor string, limit int) ([]item.Item, string) {
	t.Helper()
	items, next, err := tr.Changes(context.Background(), cursor, limit)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	return items, next
}

// Poll reads every change after cursor, limit at a time, until the cursor stops moving.
func Poll(t testing.TB, tr engine.Tracker, cursor string, limit int) ([]item.Item, string) {
	t.Helper()
	var all []item.Item
	for range 50 {
		items, next := Changes(t, tr, cursor, limit)
		all = append(all, items...)
		if next == cursor || len(items) == 0 {
			return all, next
		}
		cursor = next
	}
	t.Fatal("Changes never settles")
	return nil, ""
}

// Titles lists the items' titles, for messages.
func Titles(items []item.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Title)
	}
	return out
}

// Restartable builds a connector as the agent does, through its registry entry, with its memory
// in a store that survives a restart.
type Restartable struct {
	t    testing.TB
	dir  string
	c    connector.Connector
	env  connector.Env
	book string // the memory's name, as the agent names it: kind and URL
}

// NewRestartable keeps env for every build of c; the store lives in a directory of the test's.
func NewRestartable(t testing.TB, c connector.Connector, env connector.Env, book string) *Restartable {
	return &Restartable{t: t, dir: t.TempDir(), c: c, env: env, book: book}
}

// Open opens (or reopens) the store.
func (r *Restartable) Open() *store.Store {
	r.t.Helper()
	st, err := store.Open(r.dir, store.Options{})
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

// Build makes the tracker with its memory in st, or with none when st is nil: a connector that
// forgets its own writes, which a test uses to show it can tell the difference.
func (r *Restartable) Build(st *store.Store) engine.Tracker {
	r.t.Helper()
	env := r.env
	if st != nil {
		env.Memory = st.Notebook("connectors", r.book)
	}
	tr, err := r.c.Build(env)
	if err != nil {
		r.t.Fatal(err)
	}
	return tr
}

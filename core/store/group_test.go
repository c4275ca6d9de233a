package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestUpdateGroupsWritesThatQueueBehindACommit holds one commit open while others queue: they
// go together in the next transaction, each sees the ones before it, and all are durable.
func TestUpdateGroupsWritesThatQueueBehindACommit(t *testing.T) {
	s := openStore(t)
	txid := func() (id int) {
		s.DB().View(func(tx *bolt.Tx) error { id = int(tx.ID()); return nil })
		return id
	}
	before := txid()
	release := holdCommit(t, s)
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("g")).Put([]byte(fmt.Sprint("k", i)), []byte("v"))
			})
		}()
	}
	waitQueued(t, s, n)
	release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	// The held commit, then one for the 20 that queued behind it.
	if got := txid() - before; got != 2 {
		t.Errorf("%d commits for 1 held write and %d queued behind it, want 2", got, n)
	}
	s.DB().View(func(tx *bolt.Tx) error {
		if n := tx.Bucket([]byte("g")).Stats().KeyN; n != 20 {
			t.Errorf("%d keys stored, want 20", n)
		}
		return nil
	})
}

// TestUpdateGroupFailureFailsOnlyItsWrite: a write that fails in a group rolls the group back;
// the others are committed on their own, the failing one is not.
func TestUpdateGroupFailureFailsOnlyItsWrite(t *testing.T) {
	s := openStore(t)
	release := holdCommit(t, s)
	bad := errors.New("invalid input")
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	runs := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(func(tx *bolt.Tx) error {
				runs[i]++
				if err := tx.Bucket([]byte("g")).Put([]byte(fmt.Sprint("k", i)), []byte("v")); err != nil {
					return err
				}
				if i == 3 {
					return bad
				}
				return nil
			})
		}()
	}
	waitQueued(t, s, n)
	release()
	wg.Wait()
	for i, err := range errs {
		if i == 3 && !errors.Is(err, bad) || i != 3 && err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	s.DB().View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("g"))
		for i := range n {
			if got := b.Get([]byte(fmt.Sprint("k", i))) != nil; got != (i != 3) {
				t.Errorf("k%d stored: %v", i, got)
			}
		}
		return nil
	})
	if runs[3] != 2 {
		t.Errorf("the failing write ran %d times, want 2 (in the group, then alone)", runs[3])
	}
}

// TestUpdatePanicReachesItsCaller: a write that panics panics in its own caller; the others
// of its group are committed.
func TestUpdatePanicReachesItsCaller(t *testing.T) {
	s := openStore(t)
	release := holdCommit(t, s)
	var recovered any
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer func() { recovered = recover() }()
		s.Update(func(tx *bolt.Tx) error { panic("boom") })
	}()
	var okErr error
	go func() {
		defer wg.Done()
		okErr = s.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("g")).Put([]byte("ok"), []byte("1")) })
	}()
	waitQueued(t, s, 2)
	release()
	wg.Wait()
	if recovered != "boom" {
		t.Errorf("the panicking write's caller recovered %v, want boom", recovered)
	}
	if okErr != nil {
		t.Errorf("the other write: %v", okErr)
	}
}

// waitQueued waits until n calls wait behind the commit in flight.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for range 10000 {
		s.group.mu.Lock()
		q := len(s.group.queue)
		s.group.mu.Unlock()
		if q >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("fewer than %d writes queued", n)
}

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.EnsureBuckets("g"); err != nil {
		t.Fatal(err)
	}
	return s
}

// holdCommit starts an Update that stays inside its transaction until release is called;
// release returns once it committed.
func holdCommit(t *testing.T, s *Store) (release func()) {
	t.Helper()
	inside, hold, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- s.Update(func(tx *bolt.Tx) error { close(inside); <-hold; return nil })
	}()
	<-inside
	return func() {
		close(hold)
		if err := <-done; err != nil {
			t.Errorf("the held commit: %v", err)
		}
	}
}

// TestUpdateLaterRidesWithTheNextCommit: a write queued with UpdateLater commits in the same
// transaction as the next Update, and is committed by its own wait when nothing else comes,
// also when a commit was in flight as it was queued.
func TestUpdateLaterRidesWithTheNextCommit(t *testing.T) {
	s := openStore(t)
	txid := func() (id int) {
		s.DB().View(func(tx *bolt.Tx) error { id = int(tx.ID()); return nil })
		return id
	}
	put := func(k string) func(*bolt.Tx) error {
		return func(tx *bolt.Tx) error { return tx.Bucket([]byte("g")).Put([]byte(k), []byte("v")) }
	}
	stored := func(k string) (ok bool) {
		s.DB().View(func(tx *bolt.Tx) error { ok = tx.Bucket([]byte("g")).Get([]byte(k)) != nil; return nil })
		return ok
	}

	before := txid()
	wait := s.UpdateLater(put("token"))
	if stored("token") || txid() != before {
		t.Fatal("UpdateLater committed before anything asked for a commit")
	}
	if err := s.Update(put("write")); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if !stored("token") || !stored("write") || txid()-before != 1 {
		t.Errorf("token %v, write %v, in %d commits; want both in 1", stored("token"), stored("write"), txid()-before)
	}

	before = txid()
	if err := s.UpdateLater(put("alone"))(); err != nil {
		t.Fatal(err)
	}
	if !stored("alone") || txid()-before != 1 {
		t.Errorf("a lone UpdateLater's wait: stored %v in %d commits, want 1", stored("alone"), txid()-before)
	}

	release := holdCommit(t, s)
	wait = s.UpdateLater(put("behind"))
	waited := make(chan error)
	go func() { waited <- wait() }()
	for {
		s.group.mu.Lock()
		w := len(s.group.queue) == 1 && s.group.queue[0].waiting
		s.group.mu.Unlock()
		if w {
			break
		}
		time.Sleep(time.Millisecond)
	}
	release()
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if !stored("behind") {
		t.Error("a write queued behind a commit in flight was not committed when waited for")
	}
	if err := wait(); err != nil {
		t.Errorf("waiting twice: %v", err)
	}
}

// TestUpdateOnceRunsOnceAndLast: an UpdateOnce function runs after the rest of its group and
// never twice, whether another write of the group fails or it does; two of them never share
// a group.
func TestUpdateOnceRunsOnceAndLast(t *testing.T) {
	bad := errors.New("invalid input")
	for _, tc := range []struct {
		name            string
		failOther, fail bool
	}{{"all succeed", false, false}, {"another write fails", true, false}, {"it fails", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			release := holdCommit(t, s)
			var order []string
			var mu sync.Mutex
			note := func(what string) {
				mu.Lock()
				order = append(order, what)
				mu.Unlock()
			}
			var wg sync.WaitGroup
			var onceErr, otherErr error
			onceRuns := 0
			wg.Add(2)
			go func() {
				defer wg.Done()
				onceErr = s.UpdateOnce(func(tx *bolt.Tx) error {
					onceRuns++
					note("once")
					if tc.fail {
						return bad
					}
					return tx.Bucket([]byte("g")).Put([]byte("once"), []byte("1"))
				})
			}()
			waitQueued(t, s, 1)
			go func() {
				defer wg.Done()
				otherErr = s.Update(func(tx *bolt.Tx) error {
					note("other")
					if tc.failOther {
						return bad
					}
					return tx.Bucket([]byte("g")).Put([]byte("other"), []byte("1"))
				})
			}()
			waitQueued(t, s, 2)
			release()
			wg.Wait()
			if onceRuns != 1 {
				t.Errorf("the UpdateOnce function ran %d times", onceRuns)
			}
			if order[0] != "other" {
				t.Errorf("order %v: the UpdateOnce function did not run last in its group", order)
			}
			if (onceErr != nil) != tc.fail || (otherErr != nil) != tc.failOther {
				t.Errorf("UpdateOnce: %v, the other write: %v", onceErr, otherErr)
			}
		})
	}
	s := openStore(t)
	before := func() (id int) {
		s.DB().View(func(tx *bolt.Tx) error { id = int(tx.ID()); return nil })
		return id
	}()
	release := holdCommit(t, s)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); s.UpdateOnce(func(tx *bolt.Tx) error { return nil }) }()
	}
	waitQueued(t, s, 2)
	release()
	wg.Wait()
	var after int
	s.DB().View(func(tx *bolt.Tx) error { after = int(tx.ID()); return nil })
	if after-before != 3 {
		t.Errorf("%d commits for a held one and two UpdateOnce calls behind it, want 3", after-before)
	}
}

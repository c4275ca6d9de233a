package store

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSecondOpenIsLockedNotHung(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := make(chan error, 1)
	go func() {
		_, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("second Open: got %v, want ErrLocked", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second Open hung")
	}
}

func TestFileModeAndSchema(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode: got %v, want 0600", fi.Mode().Perm())
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	s.Close()
}

func TestU64Order(t *testing.T) {
	for _, n := range []uint64{0, 1, 255, 256, 1 << 40} {
		if got := U64From(U64(n)); got != n {
			t.Errorf("U64From(U64(%d)) = %d", n, got)
		}
		if string(U64(n)) >= string(U64(n+1)) {
			t.Errorf("U64(%d) does not sort before U64(%d)", n, n+1)
		}
	}
}

func TestNotebookSurvivesReopenAndKeepsNotebooksApart(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := s.Notebook("connectors", "github "), s.Notebook("connectors", "jira https://x.example")
	if got, err := a.Load(); err != nil || len(got) != 0 {
		t.Fatalf("a new notebook loads %v, %v; want nothing", got, err)
	}
	if err := a.Delete("never-written"); err != nil {
		t.Fatalf("Delete before any write: %v", err)
	}
	for _, kv := range [][2]string{{"k1", "v1"}, {"k2", "v2"}, {"k3", "v3"}, {"k1", "v1b"}} {
		if err := a.Put(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Put("k1", "other"); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete("k2", "missing"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Notebook("connectors", "github ").Load()
	if want := map[string]string{"k1": "v1b", "k3": "v3"}; err != nil || !maps.Equal(got, want) {
		t.Errorf("after reopening: %v, %v; want %v", got, err, want)
	}
	got, err = s.Notebook("connectors", "jira https://x.example").Load()
	if want := map[string]string{"k1": "other"}; err != nil || !maps.Equal(got, want) {
		t.Errorf("the other notebook: %v, %v; want %v", got, err, want)
	}
}

package store

import (
	"errors"
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

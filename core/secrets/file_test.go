package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileRoundTripAcrossOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	ctx := context.Background()
	if _, err := OpenFile(path, "short"); err == nil || !strings.Contains(err.Error(), "at least") {
		t.Errorf("a new file with a short passphrase: %v", err)
	}
	f, err := OpenFile(path, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Set(ctx, "agent-key:/d", "tandem-ed25519-seed:SECRETSEED"); err != nil {
		t.Fatal(err)
	}
	if err := f.Set(ctx, "tracker-credential:/d", "rt-password-1"); err != nil {
		t.Fatal(err)
	}
	if err := f.Delete(ctx, "tracker-credential:/d"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Get(ctx, "tracker-credential:/d"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted secret: %v, want ErrNotFound", err)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte("SECRETSEED")) || bytes.Contains(raw, []byte("agent-key")) {
		t.Errorf("the file holds a secret or an account name in the clear:\n%s", raw)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}

	g, err := OpenFile(path, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := g.Get(ctx, "agent-key:/d"); err != nil || v != "tandem-ed25519-seed:SECRETSEED" {
		t.Errorf("after reopening: %q, %v", v, err)
	}
	if _, err := OpenFile(path, "wrong horse battery"); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	if !strings.Contains(g.Describe(), "passphrase-encrypted file") {
		t.Errorf("Describe() = %q", g.Describe())
	}
}

// A file whose parameters or content were changed does not open, even with the passphrase.
func TestFileTamperingRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	f, err := OpenFile(path, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	f.Set(context.Background(), "a", "b")
	raw, _ := os.ReadFile(path)
	var sf map[string]any
	json.Unmarshal(raw, &sf)
	sf["kdf"].(map[string]any)["time"] = 1.0 // a weaker derivation
	weak, _ := json.Marshal(sf)
	os.WriteFile(path, weak, 0o600)
	if _, err := OpenFile(path, "correct horse battery"); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("changed parameters: %v, want refused", err)
	}
	os.WriteFile(path, []byte("{}"), 0o600)
	if _, err := OpenFile(path, "correct horse battery"); err == nil || !strings.Contains(err.Error(), "not a Tandem secrets file") {
		t.Errorf("not a secrets file: %v", err)
	}
}

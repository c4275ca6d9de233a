package secrets

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// FileName is the passphrase-encrypted secrets file inside a data directory.
const FileName = "secrets.enc"

// ErrWrongPassphrase means the passphrase does not open the secrets file (or the file was
// altered: the two cannot be told apart, by design).
var ErrWrongPassphrase = errors.New("the passphrase does not open the secrets file (wrong passphrase, or the file was altered)")

// MinPassphrase is the shortest passphrase a new secrets file accepts.
const MinPassphrase = 12

// kdf are the Argon2id parameters of a file; they are stored with it, so they can grow.
type kdf struct {
	Name      string `json:"name"` // "argon2id"
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
	Salt      []byte `json:"salt"`
}

// defaultKDF follows RFC 9106's second recommendation (64 MiB, 3 passes).
func defaultKDF() kdf {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	return kdf{Name: "argon2id", Time: 3, MemoryKiB: 64 << 10, Threads: 4, Salt: salt}
}

// sealedFile is the file's JSON form. The header (format, version, kdf) is the AEAD's
// additional data, so changing the parameters breaks the seal.
type sealedFile struct {
	Format  string `json:"format"` // "tandem-secrets"
	Version int    `json:"version"`
	KDF     kdf    `json:"kdf"`
	Nonce   []byte `json:"nonce"`
	Sealed  []byte `json:"sealed"` // XChaCha20-Poly1305 of the JSON map account -> secret
}

func (s sealedFile) header() []byte {
	h := s
	h.Nonce, h.Sealed = nil, nil
	b, _ := json.Marshal(h)
	return b
}

// File keeps secrets in one file, encrypted with a key derived from a passphrase: for a server
// without a desktop session, where no OS keychain answers. Argon2id derives the key;
// XChaCha20-Poly1305 seals the whole set; every change re-seals it with a fresh nonce and
// replaces the file atomically, mode 0600. Secrets stay in memory while the agent runs.
type File struct {
	path string
	mu   sync.Mutex
	kdf  kdf
	key  []byte
	m    map[string]string
}

// OpenFile opens the secrets file at path with passphrase, creating it when absent.
func OpenFile(path, passphrase string) (*File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if len(passphrase) < MinPassphrase {
			return nil, fmt.Errorf("a new secrets file needs a passphrase of at least %d characters", MinPassphrase)
		}
		f := &File{path: path, kdf: defaultKDF(), m: map[string]string{}}
		f.key = f.kdf.derive(passphrase)
		if err := f.save(); err != nil {
			return nil, err
		}
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open secrets file: %w", err)
	}
	var sf sealedFile
	if err := json.Unmarshal(data, &sf); err != nil || sf.Format != "tandem-secrets" {
		return nil, fmt.Errorf("%s is not a Tandem secrets file", path)
	}
	if sf.Version != 1 || sf.KDF.Name != "argon2id" {
		return nil, fmt.Errorf("%s is a secrets file of version %d (%s) that this Tandem cannot read", path, sf.Version, sf.KDF.Name)
	}
	if sf.KDF.MemoryKiB > 4<<20 || sf.KDF.Time > 100 || sf.KDF.Threads == 0 {
		return nil, fmt.Errorf("%s asks for key derivation parameters out of range", path)
	}
	f := &File{path: path, kdf: sf.KDF}
	f.key = f.kdf.derive(passphrase)
	aead, err := chacha20poly1305.NewX(f.key)
	if err != nil {
		return nil, err
	}
	if len(sf.Nonce) != aead.NonceSize() {
		return nil, ErrWrongPassphrase
	}
	plain, err := aead.Open(nil, sf.Nonce, sf.Sealed, sf.header())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, ErrWrongPassphrase)
	}
	if err := json.Unmarshal(plain, &f.m); err != nil {
		return nil, fmt.Errorf("%s: the sealed content is damaged: %w", path, err)
	}
	if f.m == nil {
		f.m = map[string]string{}
	}
	return f, nil
}

func (k kdf) derive(passphrase string) []byte {
	return argon2.IDKey([]byte(passphrase), k.Salt, k.Time, k.MemoryKiB, k.Threads, chacha20poly1305.KeySize)
}

// save seals the secrets and replaces the file; the caller holds mu (or owns f).
func (f *File) save() error {
	plain, err := json.Marshal(f.m)
	if err != nil {
		return err
	}
	aead, err := chacha20poly1305.NewX(f.key)
	if err != nil {
		return err
	}
	sf := sealedFile{Format: "tandem-secrets", Version: 1, KDF: f.kdf, Nonce: make([]byte, aead.NonceSize())}
	_, _ = rand.Read(sf.Nonce)
	sf.Sealed = aead.Seal(nil, sf.Nonce, plain, sf.header())
	out, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), ".secrets-*")
	if err != nil {
		return fmt.Errorf("write secrets file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write secrets file: %w", err)
	}
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return fmt.Errorf("write secrets file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write secrets file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write secrets file: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("write secrets file: %w", err)
	}
	return nil
}

// Path is the file.
func (f *File) Path() string { return f.path }

// Describe names the store for the operator.
func (f *File) Describe() string { return "a passphrase-encrypted file, " + f.path }

// Get returns the secret stored for account, or ErrNotFound.
func (f *File) Get(ctx context.Context, account string) (string, error) {
	if err := memCheck(ctx, "get", account); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[account]
	if !ok {
		return "", fmt.Errorf("secrets file get %q: %w", account, ErrNotFound)
	}
	return v, nil
}

// Set stores secret for account, replacing any earlier one, and writes the file.
func (f *File) Set(ctx context.Context, account, secret string) error {
	if err := memCheck(ctx, "set", account); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	old, had := f.m[account]
	f.m[account] = secret
	if err := f.save(); err != nil {
		if had {
			f.m[account] = old
		} else {
			delete(f.m, account)
		}
		return err
	}
	return nil
}

// Delete removes the secret for account, or returns ErrNotFound.
func (f *File) Delete(ctx context.Context, account string) error {
	if err := memCheck(ctx, "delete", account); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	old, ok := f.m[account]
	if !ok {
		return fmt.Errorf("secrets file delete %q: %w", account, ErrNotFound)
	}
	delete(f.m, account)
	if err := f.save(); err != nil {
		f.m[account] = old
		return err
	}
	return nil
}

// Probe checks that the file can still be written.
func (f *File) Probe(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.save()
}

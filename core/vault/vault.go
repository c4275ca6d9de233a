// Package vault keeps the tokens that outgoing rules send in place of sensitive values, so a
// partner holds only an opaque reference and a token that comes back resolves to the value.
package vault

// Layout inside the agent's bbolt file:
//
//	vault/<connection>   token -> nonce | AES-256-GCM(value)
//
// A token is "tok_" and 26 base32 characters of HMAC-SHA256(token key, connection, value): the
// same value gets the same token on one connection (so replicas diff cleanly) and a different
// one on another (so partners cannot correlate). The token key and the encryption key are
// derived from one 32-byte vault key that the agent keeps in the OS keychain, never in the data
// directory: the database alone holds neither the values nor the means to read them. The
// ciphertext is bound to its connection and token (GCM additional data), so a record copied
// elsewhere does not decrypt.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"regexp"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/store"
)

// KeySize is the length of a vault key.
const KeySize = 32

var rootBucket = []byte("vault")

// ErrWrongKey means a token's record does not decrypt with this vault key: the key in the
// keychain was replaced since the token was made.
var ErrWrongKey = errors.New("the token does not decrypt with this agent's vault key (was the key in the keychain replaced?)")

// NewKey returns a new random vault key.
func NewKey() []byte {
	k := make([]byte, KeySize)
	_, _ = rand.Read(k) // crypto/rand.Read never fails
	return k
}

// Vault is the token store of one agent.
type Vault struct {
	st       *store.Store
	tokenKey []byte
	aead     cipher.AEAD
}

// Open returns the vault in st, working with key (KeySize bytes, from the keychain).
func Open(st *store.Store, key []byte) (*Vault, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("vault key is %d bytes, want %d", len(key), KeySize)
	}
	tokenKey, err := hkdf.Key(sha256.New, key, nil, "tandem vault token", 32)
	if err != nil {
		return nil, err
	}
	encKey, err := hkdf.Key(sha256.New, key, nil, "tandem vault encryption", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if err := st.EnsureBuckets(string(rootBucket)); err != nil {
		return nil, err
	}
	return &Vault{st: st, tokenKey: tokenKey, aead: aead}, nil
}

// For returns the tokens of one connection; it implements core/rules' TokenVault.
func (v *Vault) For(connection string) *Tokens {
	return &Tokens{v: v, conn: connection}
}

// Purge forgets every token of a connection and reports how many there were. Tokens the
// partner still holds then no longer resolve here.
func (v *Vault) Purge(connection string) (int, error) {
	n := 0
	err := v.st.DB().Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(rootBucket)
		b := root.Bucket([]byte(connection))
		if b == nil {
			return nil
		}
		n = b.Stats().KeyN
		return root.DeleteBucket([]byte(connection))
	})
	if err != nil {
		return 0, fmt.Errorf("purge the token vault of %s: %w", connection, err)
	}
	return n, nil
}

// Count reports how many tokens a connection has.
func (v *Vault) Count(connection string) (int, error) {
	n := 0
	err := v.st.DB().View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(rootBucket).Bucket([]byte(connection)); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n, err
}

// Tokens is one connection's part of the vault.
type Tokens struct {
	v    *Vault
	conn string
}

var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// tokenRE matches a token anywhere in a text.
var tokenRE = regexp.MustCompile(`tok_[a-z2-7]{26}`)

func (t *Tokens) token(value string) string {
	m := hmac.New(sha256.New, t.v.tokenKey)
	m.Write([]byte(t.conn))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return "tok_" + strings.ToLower(encoding.EncodeToString(m.Sum(nil)[:16]))
}

func (t *Tokens) additional(token string) []byte {
	return []byte(t.conn + "\x00" + token)
}

// Token returns value's token on this connection, storing the value encrypted the first time.
func (t *Tokens) Token(value string) (string, error) {
	tok := t.token(value)
	known := false
	err := t.v.st.DB().View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(rootBucket).Bucket([]byte(t.conn)); b != nil {
			known = b.Get([]byte(tok)) != nil
		}
		return nil
	})
	if err != nil || known {
		return tok, err
	}
	nonce := make([]byte, t.v.aead.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := t.v.aead.Seal(nonce, nonce, []byte(value), t.additional(tok))
	err = t.v.st.DB().Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(rootBucket).CreateBucketIfNotExists([]byte(t.conn))
		if err != nil {
			return err
		}
		return b.Put([]byte(tok), sealed)
	})
	if err != nil {
		return "", fmt.Errorf("keep token: %w", err)
	}
	return tok, nil
}

// Value returns the value of a token this connection issued; ok is false for any other text.
func (t *Tokens) Value(token string) (value string, ok bool, err error) {
	var sealed []byte
	err = t.v.st.DB().View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(rootBucket).Bucket([]byte(t.conn)); b != nil {
			sealed = store.Copy(b.Get([]byte(token)))
		}
		return nil
	})
	if err != nil || sealed == nil {
		return "", false, err
	}
	n := t.v.aead.NonceSize()
	if len(sealed) < n {
		return "", false, fmt.Errorf("token %s: %w", token, ErrWrongKey)
	}
	plain, err := t.v.aead.Open(nil, sealed[:n], sealed[n:], t.additional(token))
	if err != nil {
		return "", false, fmt.Errorf("token %s: %w", token, ErrWrongKey)
	}
	return string(plain), true, nil
}

// Detokenize replaces every token in s that this connection issued with its value. Other
// text, and tokens it did not issue (another connection's, or purged), stay as they are.
func (t *Tokens) Detokenize(s string) (string, error) {
	if !strings.Contains(s, "tok_") {
		return s, nil
	}
	var firstErr error
	out := tokenRE.ReplaceAllStringFunc(s, func(tok string) string {
		v, ok, err := t.Value(tok)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if !ok {
			return tok
		}
		return v
	})
	if firstErr != nil {
		return s, firstErr
	}
	return out, nil
}

// DryRun returns a view of the connection's tokens for rule test runs: Token gives the token a
// value would get without keeping anything, and Detokenize resolves as usual.
func (t *Tokens) DryRun() *DryRun { return &DryRun{t: t} }

// DryRun is a connection's tokens that writes nothing.
type DryRun struct{ t *Tokens }

// Token returns the token value would get; the vault is not changed.
func (d *DryRun) Token(value string) (string, error) { return d.t.token(value), nil }

// Detokenize is Tokens.Detokenize.
func (d *DryRun) Detokenize(s string) (string, error) { return d.t.Detokenize(s) }

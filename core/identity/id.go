// Package identity is the agent's Ed25519 key, its self-signed certificate and its agent ID.
package identity

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
)

// ID identifies an agent: the SHA-256 of its public key's SubjectPublicKeyInfo DER.
// Trust between agents is a pinned ID, never a certificate authority.
type ID [32]byte

// ErrNotEd25519 means a certificate carries a key of another type; Tandem agents use Ed25519 only.
var ErrNotEd25519 = errors.New("the certificate's key is not Ed25519")

const (
	alphabet    = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	groupLen    = 7  // characters per dash-separated group in the display form
	checkedLen  = 13 // base32 characters covered by one check character
	base32Len   = 52 // base32 characters of 32 bytes, without padding
	displayLen  = base32Len + base32Len/checkedLen
	displayForm = "XXXXXXX-XXXXXXX-XXXXXXX-XXXXXXX-XXXXXXX-XXXXXXX-XXXXXXX-XXXXXXX"
)

var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// IDFromPublicKey is the ID of an Ed25519 public key.
func IDFromPublicKey(pub ed25519.PublicKey) ID {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		// MarshalPKIXPublicKey cannot fail for an ed25519.PublicKey.
		panic(fmt.Sprintf("identity: marshal ed25519 public key: %v", err))
	}
	return sha256.Sum256(der)
}

// IDFromCertificate is the ID of the certificate's public key; it fails unless the key is Ed25519.
func IDFromCertificate(c *x509.Certificate) (ID, error) {
	if c == nil {
		return ID{}, errors.New("no certificate")
	}
	if _, ok := c.PublicKey.(ed25519.PublicKey); !ok {
		return ID{}, fmt.Errorf("%w (it is %s)", ErrNotEd25519, c.PublicKeyAlgorithm)
	}
	return sha256.Sum256(c.RawSubjectPublicKeyInfo), nil
}

// String is the display form, as Syncthing shows device IDs: base32 without padding, a check
// character after every 13 characters, in groups of 7 joined by '-'. It is 63 characters long.
func (id ID) String() string {
	plain := encoding.EncodeToString(id[:])
	var checked strings.Builder
	for i := 0; i < base32Len; i += checkedLen {
		chunk := plain[i : i+checkedLen]
		checked.WriteString(chunk)
		checked.WriteByte(luhn32(chunk))
	}
	s := checked.String()
	var out strings.Builder
	out.Grow(len(displayForm))
	for i := 0; i < len(s); i += groupLen {
		if i > 0 {
			out.WriteByte('-')
		}
		out.WriteString(s[i : i+groupLen])
	}
	return out.String()
}

// Short is the first group of the display form, for log lines and lists.
func (id ID) Short() string {
	return id.String()[:groupLen]
}

// IsZero reports whether id is the zero value (no agent).
func (id ID) IsZero() bool {
	return id == ID{}
}

// ParseID reads an ID in its display form. It forgives lower case, spaces, missing or extra
// dashes and the look-alikes 0/1/8 for O/I/B; a wrong check character is an error that says
// which group holds the typo.
func ParseID(s string) (ID, error) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == '\n' || r == '\r':
			continue
		case r == '0':
			r = 'O'
		case r == '1':
			r = 'I'
		case r == '8':
			r = 'B'
		}
		if !strings.ContainsRune(alphabet, r) {
			return ID{}, fmt.Errorf("parse agent ID %q: %q is not a character of an agent ID (A-Z, 2-7)", s, r)
		}
		b.WriteRune(r)
	}
	clean := b.String()
	if len(clean) != displayLen {
		return ID{}, fmt.Errorf("parse agent ID %q: it has %d characters, want %d (form %s)", s, len(clean), displayLen, displayForm)
	}
	var plain strings.Builder
	for i, n := 0, 0; i < len(clean); i, n = i+checkedLen+1, n+1 {
		chunk, check := clean[i:i+checkedLen], clean[i+checkedLen]
		if luhn32(chunk) != check {
			pos := i + checkedLen
			return ID{}, fmt.Errorf("parse agent ID %q: check character %d (group %d, position %d) does not match; the ID has a typo",
				s, n+1, pos/groupLen+1, pos%groupLen+1)
		}
		plain.WriteString(chunk)
	}
	raw, err := encoding.DecodeString(plain.String())
	if err != nil {
		return ID{}, fmt.Errorf("parse agent ID %q: %w", s, err)
	}
	var id ID
	copy(id[:], raw)
	return id, nil
}

// MarshalText is the display form, so an ID can live in JSON and config files.
func (id ID) MarshalText() ([]byte, error) {
	return []byte(id.String()), nil
}

// UnmarshalText parses the display form with ParseID.
func (id *ID) UnmarshalText(text []byte) error {
	parsed, err := ParseID(string(text))
	if err != nil {
		return err
	}
	*id = parsed
	return nil
}

// luhn32 is the Luhn mod N check character over the base32 alphabet, as Syncthing computes it.
func luhn32(s string) byte {
	const n = len(alphabet)
	factor, sum := 1, 0
	for i := 0; i < len(s); i++ {
		addend := factor * strings.IndexByte(alphabet, s[i])
		factor = 3 - factor // alternates 1, 2
		sum += addend/n + addend%n
	}
	return alphabet[(n-sum%n)%n]
}

package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Identity is an agent's key pair and the self-signed certificate it presents in TLS.
type Identity struct {
	ID          ID
	Private     ed25519.PrivateKey
	Public      ed25519.PublicKey
	Certificate tls.Certificate
}

// privatePrefix marks the text form of a private key, so a wrong secret is recognised as such.
const privatePrefix = "tandem-ed25519-seed:"

// The certificate's validity is fixed rather than relative to now, so the certificate derived
// from a key is the same on every start and on every machine: trust is the pinned key, and
// an expiry would only break a working pairing.
var (
	certNotBefore = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	certNotAfter  = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// Generate makes a new identity with a fresh random key.
func Generate() (*Identity, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return FromPrivateKey(priv)
}

// FromPrivateKey rebuilds an identity from its private key. The certificate is derived
// deterministically (self-signed, CN = ID.Short(), serial from the ID), so only the key needs storing.
func FromPrivateKey(priv ed25519.PrivateKey) (*Identity, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("ed25519 private key has %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	// Recompute from the seed: a private key whose public half was tampered with is caught here.
	priv = ed25519.NewKeyFromSeed(priv.Seed())
	pub := priv.Public().(ed25519.PublicKey)
	id := IDFromPublicKey(pub)
	template := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(id[:16]),
		Subject:               pkix.Name{CommonName: id.Short(), Organization: []string{"Tandem agent"}},
		NotBefore:             certNotBefore,
		NotAfter:              certNotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"tandem-agent"},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("create self-signed certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse self-signed certificate: %w", err)
	}
	return &Identity{
		ID:      id,
		Private: priv,
		Public:  pub,
		Certificate: tls.Certificate{
			Certificate: [][]byte{der},
			PrivateKey:  priv,
			Leaf:        leaf,
		},
	}, nil
}

// MarshalPrivate is the text form of the private key (its 32-byte seed), for the keychain.
// It is a secret: never log it or write it to the data directory.
func (i *Identity) MarshalPrivate() string {
	return privatePrefix + base64.RawURLEncoding.EncodeToString(i.Private.Seed())
}

// ParsePrivate rebuilds an identity from the text form written by MarshalPrivate.
func ParsePrivate(s string) (*Identity, error) {
	s = strings.TrimSpace(s)
	enc, ok := strings.CutPrefix(s, privatePrefix)
	if !ok {
		return nil, fmt.Errorf("parse private key: it does not start with %q; this is not a Tandem agent key", privatePrefix)
	}
	seed, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("parse private key: seed has %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return FromPrivateKey(ed25519.NewKeyFromSeed(seed))
}

package transport

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tandemsync/tandem/core/identity"
)

const (
	// tokenLifetime is how long a token the client issues stays valid.
	tokenLifetime = 30 * time.Second
	// maxTokenLifetime is how far ahead of now a token's exp may be.
	maxTokenLifetime = 60 * time.Second
	// clockSkew is the tolerated clock difference between two agents' machines.
	clockSkew = 10 * time.Second
	// maxReplayEntries bounds the replay cache; only authenticated peers can fill it.
	maxReplayEntries = 1 << 20
)

var errReplayCacheFull = errors.New("too many recent requests")

// peerIdentity is the key of the TLS peer's certificate and its ID.
func peerIdentity(cs *tls.ConnectionState) (identity.ID, ed25519.PublicKey, error) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return identity.ID{}, nil, errors.New("no peer certificate")
	}
	cert := cs.PeerCertificates[0]
	id, err := identity.IDFromCertificate(cert)
	if err != nil {
		return identity.ID{}, nil, err
	}
	return id, cert.PublicKey.(ed25519.PublicKey), nil
}

// clientTLS is the client side: our certificate, TLS 1.3, and the partner pinned by its key hash.
// InsecureSkipVerify only turns off CA chain checks; VerifyConnection does the pinning and also
// runs on resumed sessions.
func clientTLS(id *identity.Identity, partner identity.ID, url string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &id.Certificate, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			got, _, err := peerIdentity(&cs)
			if err != nil {
				return &PinError{URL: url, Pinned: partner}
			}
			if got != partner {
				return &PinError{URL: url, Presented: got, Pinned: partner}
			}
			return nil
		},
	}
}

// issueToken makes the bearer token for one request from id to partner on connection connID.
func issueToken(id *identity.Identity, partner identity.ID, connID string, now time.Time) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("token id: %w", err)
	}
	claims := jwt.RegisteredClaims{
		Issuer:    id.ID.String(),
		Audience:  jwt.ClaimStrings{partner.String()},
		Subject:   connID,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(tokenLifetime)),
		ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(id.Private)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return tok, nil
}

// verifier checks bearer tokens against the TLS peer's key and remembers their ids.
type verifier struct {
	self   identity.ID
	now    func() time.Time
	replay replayCache
}

// verify checks the request's token: EdDSA only, signed by the TLS peer's key, iss = peer,
// aud = self, sub = connID, iat not in the future, exp not past and at most 60 s ahead, jti unused.
func (v *verifier) verify(r *http.Request, peer identity.ID, key ed25519.PublicKey, connID string) error {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return errors.New("missing bearer token")
	}
	now := v.now()
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(strings.TrimSpace(raw), &claims,
		func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(peer.String()),
		jwt.WithAudience(v.self.String()),
		jwt.WithSubject(connID),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(clockSkew),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return err
	}
	if claims.IssuedAt == nil {
		return errors.New("token has no iat")
	}
	if ahead := claims.ExpiresAt.Sub(now); ahead > maxTokenLifetime+clockSkew {
		return fmt.Errorf("token expires %s ahead, more than the %s allowed", ahead.Round(time.Second), maxTokenLifetime)
	}
	if claims.ID == "" || len(claims.ID) > 128 {
		return errors.New("token has no usable jti")
	}
	return v.replay.add(peer.String()+"/"+claims.ID, claims.ExpiresAt.Add(clockSkew), now)
}

// replayCache remembers token ids until their tokens can no longer be accepted.
type replayCache struct {
	mu        sync.Mutex
	seen      map[string]time.Time // jti -> when it may be forgotten
	nextPrune time.Time
}

func (c *replayCache) add(key string, forgetAt, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = make(map[string]time.Time)
	}
	if !now.Before(c.nextPrune) || len(c.seen) >= maxReplayEntries {
		for k, t := range c.seen {
			if now.After(t) {
				delete(c.seen, k)
			}
		}
		c.nextPrune = now.Add(5 * time.Second)
	}
	if _, dup := c.seen[key]; dup {
		return errors.New("token was already used (replayed jti)")
	}
	if len(c.seen) >= maxReplayEntries {
		return errReplayCacheFull
	}
	c.seen[key] = forgetAt
	return nil
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

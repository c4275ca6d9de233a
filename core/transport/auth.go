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
	// maxReplayEntries bounds the replay cache; only pinned peers can fill it, each at most
	// its quota.
	maxReplayEntries = 1 << 20
)

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

// verifier checks bearer tokens against the TLS peer's key.
type verifier struct {
	self identity.ID
	now  func() time.Time
}

// token is what a verified token grants: one request by peer, until forgetAt.
type token struct {
	jti      string
	forgetAt time.Time // after this the token can no longer be accepted, so its jti may be forgotten
}

// verify checks the request's token: EdDSA only, signed by the TLS peer's key, iss = peer,
// aud = exactly self, sub = connID, iat not in the future, exp not past and at most 60 s
// ahead of this agent's clock (skew included). It does not look at the replay cache: the
// caller records the jti only once it knows the key is pinned to connID.
func (v *verifier) verify(r *http.Request, peer identity.ID, key ed25519.PublicKey, connID string) (token, error) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return token{}, errors.New("missing bearer token")
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
		return token{}, err
	}
	if len(claims.Audience) != 1 {
		return token{}, fmt.Errorf("token is for %d audiences; it must name only this agent", len(claims.Audience))
	}
	if claims.IssuedAt == nil {
		return token{}, errors.New("token has no iat")
	}
	if ahead := claims.ExpiresAt.Sub(now); ahead > maxTokenLifetime {
		return token{}, fmt.Errorf("token expires %s ahead, more than the %s allowed (clock skew included)", ahead.Round(time.Second), maxTokenLifetime)
	}
	if claims.ID == "" || len(claims.ID) > 128 {
		return token{}, errors.New("token has no usable jti")
	}
	return token{jti: claims.ID, forgetAt: claims.ExpiresAt.Add(clockSkew)}, nil
}

// ReplayStore keeps the replay cache across restarts. The server writes an entry before the
// request it belongs to reaches the handler, so a token captured in flight cannot be replayed
// after a restart either.
type ReplayStore interface {
	// Remember keeps key until forgetAt.
	Remember(key string, forgetAt time.Time) error
	// Recall returns the keys not yet forgotten at now, with their forgetAt.
	Recall(now time.Time) (map[string]time.Time, error)
	// Forget drops the keys whose forgetAt is before t.
	Forget(t time.Time) error
}

// ReplayLater is a ReplayStore that can also make an entry durable with the request's own
// first write rather than in a commit of its own: RememberLater queues the entry for the
// store's next commit, and wait returns once it is durable (committing it if nothing else
// has). The events endpoint uses it, so a batch and its token id cost one fsync, not two.
type ReplayLater interface {
	RememberLater(key string, forgetAt time.Time) (wait func() error)
}

// errReplayed and errReplayQuota are the replay cache's refusals.
var (
	errReplayed      = errors.New("token was already used (replayed jti)")
	errReplayQuota   = errors.New("too many requests from this partner within a token's lifetime")
	errReplayFull    = errors.New("too many recent requests")
	errReplayPersist = errors.New("cannot record the token id")
)

// replayCache remembers token ids, per peer, until their tokens can no longer be accepted. Only
// peers pinned to the token's connection reach it, each within its quota.
type replayCache struct {
	mu        sync.Mutex
	seen      map[string]time.Time // peer/jti -> when it may be forgotten
	perPeer   map[string]int       // peer -> entries in seen
	quota     int                  // entries per peer
	store     ReplayStore          // nil: memory only
	nextPrune time.Time
}

func newReplayCache(store ReplayStore, quota int, now time.Time) (*replayCache, error) {
	c := &replayCache{seen: map[string]time.Time{}, perPeer: map[string]int{}, quota: quota, store: store}
	if store != nil {
		kept, err := store.Recall(now)
		if err != nil {
			return nil, fmt.Errorf("read the replay cache: %w", err)
		}
		for k, t := range kept {
			c.seen[k] = t
			c.perPeer[peerOf(k)]++
		}
	}
	return c, nil
}

func peerOf(key string) string {
	p, _, _ := strings.Cut(key, "/")
	return p
}

// add records peer's jti, durably when there is a store, or says why it cannot. The entry is
// reserved in memory first, so the same jti arriving twice at once is refused, and written
// to the store outside the lock, so requests do not queue behind each other's disk writes.
//
// With later, and a store that implements ReplayLater, the entry is only queued for the
// store's next commit, which the request's own write makes; the request must call durable
// before it answers (it returns errReplayPersist when the entry could not be written).
// Otherwise the entry is durable when add returns and durable does nothing.
func (c *replayCache) add(peer identity.ID, tok token, now time.Time, later bool) (durable func() error, err error) {
	key := peer.String() + "/" + tok.jti
	p := peer.String()
	c.mu.Lock()
	pruned := false
	if !now.Before(c.nextPrune) || len(c.seen) >= maxReplayEntries {
		c.prune(now)
		pruned = true
	}
	_, dup := c.seen[key]
	switch {
	case dup:
		c.mu.Unlock()
		return nil, errReplayed
	case c.perPeer[p] >= c.quota:
		c.mu.Unlock()
		return nil, errReplayQuota
	case len(c.seen) >= maxReplayEntries:
		c.mu.Unlock()
		return nil, errReplayFull
	}
	c.seen[key] = tok.forgetAt
	c.perPeer[p]++
	c.mu.Unlock()
	done := func() error { return nil }
	if c.store == nil {
		return done, nil
	}
	if pruned {
		c.store.Forget(now)
	}
	failed := func(err error) error {
		c.mu.Lock()
		delete(c.seen, key)
		c.perPeer[p]--
		c.mu.Unlock()
		return fmt.Errorf("%w: %v", errReplayPersist, err)
	}
	if rl, ok := c.store.(ReplayLater); ok && later {
		wait := rl.RememberLater(key, tok.forgetAt)
		return func() error {
			if err := wait(); err != nil {
				return failed(err)
			}
			return nil
		}, nil
	}
	if err := c.store.Remember(key, tok.forgetAt); err != nil {
		return nil, failed(err)
	}
	return done, nil
}

// prune forgets what has expired; the caller holds mu.
func (c *replayCache) prune(now time.Time) {
	for k, t := range c.seen {
		if now.After(t) {
			delete(c.seen, k)
			p := peerOf(k)
			if c.perPeer[p]--; c.perPeer[p] <= 0 {
				delete(c.perPeer, p)
			}
		}
	}
	c.nextPrune = now.Add(5 * time.Second)
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

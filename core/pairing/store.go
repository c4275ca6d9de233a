package pairing

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/identity"
	"github.com/tandemsync/tandem/core/store"
)

// DefaultTTL is how long an invitation stays valid when Create is given no ttl.
const DefaultTTL = 24 * time.Hour

// MaxWrongSecrets is how many wrong secrets an invitation takes before it refuses even the right one.
const MaxWrongSecrets = 5

// Redeem errors. Each reaches the caller inside an *Error that carries the HTTP status.
var (
	ErrMalformed = errors.New("malformed pairing request")
	ErrUnknown   = errors.New("no such invitation")
	ErrWrongCode = errors.New("wrong invitation secret")
	ErrUsed      = errors.New("the invitation has already been used")
	ErrRevoked   = errors.New("the invitation was cancelled by the inviter")
	ErrLocked    = errors.New("the invitation is locked after too many wrong secrets")
)

// Error is a refused redemption: what went wrong, for the invitee's operator, and the HTTP
// status the transport answers with.
type Error struct {
	Status int
	Err    error // one of the sentinels above, possibly wrapped with detail
}

func (e *Error) Error() string   { return e.Err.Error() }
func (e *Error) Unwrap() error   { return e.Err }
func (e *Error) StatusCode() int { return e.Status }

func refuse(status int, err error, format string, args ...any) *Error {
	if format == "" {
		return &Error{Status: status, Err: err}
	}
	return &Error{Status: status, Err: fmt.Errorf("%w: "+format, append([]any{err}, args...)...)}
}

// RedeemRequest is what the invitee sends to the inviter's POST /v1/pair.
type RedeemRequest struct {
	InvitationID string `json:"invitation_id"`
	Secret       []byte `json:"secret"`
	Name         string `json:"name"`
	URL          string `json:"url,omitempty"` // empty: the invitee cannot accept connections
}

// RedeemResponse is the inviter's answer to a redemption that succeeded.
type RedeemResponse struct {
	ConnectionID string `json:"connection_id"`
	Name         string `json:"name"`
	URL          string `json:"url"`
}

// Redeemed is a successful redemption, for the inviter to record the new connection.
type Redeemed struct {
	InvitationID string
	ConnectionID string
	Invitee      identity.ID
	InviteeName  string
	InviteeURL   string
}

// InvitationInfo describes one invitation for the app; it never holds the secret.
type InvitationInfo struct {
	ID           string
	URL          string // where the invitee dials; "" when it answers with a reply code
	Created      time.Time
	Expires      time.Time
	Used         bool
	UsedAt       time.Time   // zero unless Used
	Invitee      identity.ID // zero unless Used
	ConnectionID string      // empty unless Used
	Revoked      bool
	Expired      bool
	WrongSecrets int
	Locked       bool
}

// record is an invitation as stored: the secret only as its SHA-256. The secret is 32 random
// bytes, so a plain hash is as hard to reverse as the secret is to guess.
type record struct {
	ID           string      `json:"id"`
	Inviter      identity.ID `json:"inviter"`
	Name         string      `json:"name"`
	URL          string      `json:"url"`
	SecretHash   []byte      `json:"secret_sha256"`
	Created      time.Time   `json:"created"`
	Expires      time.Time   `json:"expires"`
	WrongSecrets int         `json:"wrong_secrets,omitempty"`
	Revoked      bool        `json:"revoked,omitempty"`
	UsedAt       time.Time   `json:"used_at,omitzero"`
	Invitee      identity.ID `json:"invitee,omitzero"`
	ConnectionID string      `json:"connection_id,omitempty"`
}

func (r *record) info(now time.Time) InvitationInfo {
	return InvitationInfo{
		ID:           r.ID,
		URL:          r.URL,
		Created:      r.Created,
		Expires:      r.Expires,
		Used:         !r.UsedAt.IsZero(),
		UsedAt:       r.UsedAt,
		Invitee:      r.Invitee,
		ConnectionID: r.ConnectionID,
		Revoked:      r.Revoked,
		Expired:      !now.Before(r.Expires),
		WrongSecrets: r.WrongSecrets,
		Locked:       r.WrongSecrets >= MaxWrongSecrets,
	}
}

func (r *record) pending(now time.Time) bool {
	return r.UsedAt.IsZero() && !r.Revoked && r.WrongSecrets < MaxWrongSecrets && now.Before(r.Expires)
}

var (
	bucket         = []byte("pairing_invitations")
	acceptedBucket = []byte("pairing_accepted") // invitations without a URL accepted here, waiting
)

// Store keeps the agent's invitations in its bbolt file, one bucket keyed by invitation ID.
type Store struct {
	db *bolt.DB
}

// OpenStore prepares the invitations bucket in st.
func OpenStore(st *store.Store) (*Store, error) {
	if err := st.EnsureBuckets(string(bucket), string(acceptedBucket)); err != nil {
		return nil, fmt.Errorf("open invitation store: %w", err)
	}
	return &Store{db: st.DB()}, nil
}

// Create makes an invitation from inviter (shown to the invitee as name, reached at url) that
// expires after ttl (DefaultTTL if 0). The returned Invitation holds the only copy of the secret.
func (s *Store) Create(ctx context.Context, inviter identity.ID, name, url string, ttl time.Duration) (Invitation, error) {
	if err := ctx.Err(); err != nil {
		return Invitation{}, fmt.Errorf("create invitation: %w", err)
	}
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < time.Minute {
		return Invitation{}, fmt.Errorf("create invitation: lifetime %v is too short; give at least a minute", ttl)
	}
	name = strings.TrimSpace(name)
	now := time.Now().UTC().Truncate(time.Second) // the code carries whole seconds
	inv := Invitation{
		URL:         strings.TrimSpace(url),
		Inviter:     inviter,
		InviterName: name,
		ID:          randomHex(12),
		Secret:      randomBytes(secretLen),
		Expires:     now.Add(ttl),
	}
	if err := inv.validate(); err != nil {
		return Invitation{}, fmt.Errorf("create invitation: %w", err)
	}
	sum := sha256.Sum256(inv.Secret)
	rec := record{ID: inv.ID, Inviter: inviter, Name: name, URL: inv.URL, SecretHash: sum[:], Created: now, Expires: inv.Expires}
	v, err := json.Marshal(&rec)
	if err != nil {
		return Invitation{}, fmt.Errorf("create invitation: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put([]byte(inv.ID), v)
	})
	if err != nil {
		return Invitation{}, fmt.Errorf("create invitation: save: %w", err)
	}
	return inv, nil
}

// Pending reports whether any invitation could still be redeemed at now. A read error counts
// as none pending: the caller only uses this to decide whether to listen for pairings.
func (s *Store) Pending(now time.Time) bool {
	found := false
	_ = s.each(func(r *record) bool {
		found = r.pending(now)
		return !found
	})
	return found
}

// Lookup reports whether invitation id exists and whether it could be redeemed at now. A read
// error counts as not there.
func (s *Store) Lookup(id string, now time.Time) (exists, pending bool) {
	_ = s.db.View(func(tx *bolt.Tx) error {
		r, err := load(tx.Bucket(bucket), id)
		if err != nil {
			return err
		}
		exists, pending = true, r.pending(now)
		return nil
	})
	return exists, pending
}

// List describes every stored invitation, oldest first.
func (s *Store) List(now time.Time) ([]InvitationInfo, error) {
	var out []InvitationInfo
	err := s.each(func(r *record) bool {
		out = append(out, r.info(now))
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// each calls f with every record until f returns false.
func (s *Store) each(f func(*record) bool) error {
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("invitation %q: %w", k, err)
			}
			if !f(&r) {
				return nil
			}
		}
		return nil
	})
}

// Revoke stops an invitation from being redeemed; it stays listed as revoked.
func (s *Store) Revoke(id string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		r, err := load(b, id)
		if err != nil {
			return err
		}
		if r.Revoked {
			return nil
		}
		r.Revoked = true
		return save(b, r)
	})
	if err != nil {
		return fmt.Errorf("revoke invitation %q: %w", id, err)
	}
	return nil
}

// Prune deletes the invitations, and the accepted invitations waiting for their inviter, that
// expired more than keep before now, used or not, so the lists do not grow forever; it returns
// how many it deleted.
func (s *Store) Prune(now time.Time, keep time.Duration) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucket, acceptedBucket} {
			c := tx.Bucket(name).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				var r struct {
					Expires time.Time `json:"expires"`
				}
				if err := json.Unmarshal(v, &r); err != nil {
					return fmt.Errorf("%s %q: %w", name, k, err)
				}
				if !now.Before(r.Expires.Add(keep)) {
					if err := c.Delete(); err != nil {
						return err
					}
					n++
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune invitations: %w", err)
	}
	return n, nil
}

// Redeem checks req against the invitation it names and, if it holds, marks the invitation used
// by invitee (the key the invitee presented in TLS) in the same transaction. The secret is
// compared in constant time; a wrong one counts towards MaxWrongSecrets. A refusal is an *Error
// carrying the HTTP status to answer with; nothing changes but the wrong-secret count.
func (s *Store) Redeem(ctx context.Context, req RedeemRequest, invitee identity.ID, now time.Time) (Redeemed, error) {
	if err := ctx.Err(); err != nil {
		return Redeemed{}, fmt.Errorf("redeem invitation: %w", err)
	}
	if err := checkRequest(req, invitee); err != nil {
		return Redeemed{}, err
	}
	var (
		out     Redeemed
		refusal *Error
	)
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		r, err := load(b, req.InvitationID)
		if errors.Is(err, ErrUnknown) {
			refusal = refuse(http.StatusForbidden, ErrUnknown, "%q; check the code, or ask the inviter for a new one", req.InvitationID)
			return nil
		}
		if err != nil {
			return err
		}
		if r.WrongSecrets >= MaxWrongSecrets {
			refusal = refuse(http.StatusForbidden, ErrLocked, "%d wrong attempts; ask the inviter for a new invitation", r.WrongSecrets)
			return nil
		}
		sum := sha256.Sum256(req.Secret)
		if subtle.ConstantTimeCompare(sum[:], r.SecretHash) != 1 {
			r.WrongSecrets++
			refusal = refuse(http.StatusForbidden, ErrWrongCode, "%d of %d attempts used; copy the whole code again", r.WrongSecrets, MaxWrongSecrets)
			return save(b, r) // the count must stick, so the transaction commits
		}
		switch {
		case r.Revoked:
			refusal = refuse(http.StatusForbidden, ErrRevoked, "ask the inviter for a new one")
		case !r.UsedAt.IsZero():
			refusal = refuse(http.StatusForbidden, ErrUsed, "at %s; ask the inviter for a new one", r.UsedAt.Format(time.RFC3339))
		case !now.Before(r.Expires):
			refusal = refuse(http.StatusForbidden, ErrExpired, "at %s; ask the inviter for a new one", r.Expires.Format(time.RFC3339))
		}
		if refusal != nil {
			return nil
		}
		r.UsedAt = now.UTC()
		r.Invitee = invitee
		r.ConnectionID = NewConnectionID()
		out = Redeemed{
			InvitationID: r.ID,
			ConnectionID: r.ConnectionID,
			Invitee:      invitee,
			InviteeName:  strings.TrimSpace(req.Name),
			InviteeURL:   req.URL,
		}
		return save(b, r)
	})
	if err != nil {
		return Redeemed{}, fmt.Errorf("redeem invitation: %w", err)
	}
	if refusal != nil {
		return Redeemed{}, refusal
	}
	return out, nil
}

func checkRequest(req RedeemRequest, invitee identity.ID) error {
	bad := func(format string, args ...any) error {
		return refuse(http.StatusBadRequest, ErrMalformed, format, args...)
	}
	if err := checkInvitationID(req.InvitationID); err != nil {
		return bad("%v", err)
	}
	if len(req.Secret) != secretLen {
		return bad("the secret has %d bytes, want %d", len(req.Secret), secretLen)
	}
	if err := checkName(req.Name); err != nil {
		return bad("name: %v", err)
	}
	if err := checkURL(req.URL, false); err != nil {
		return bad("url: %v", err)
	}
	if invitee.IsZero() {
		return bad("no invitee key: pairing needs the client certificate of the invitee")
	}
	return nil
}

func load(b *bolt.Bucket, id string) (*record, error) {
	v := b.Get([]byte(id))
	if v == nil {
		return nil, ErrUnknown
	}
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decode invitation %q: %w", id, err)
	}
	return &r, nil
}

func save(b *bolt.Bucket, r *record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode invitation %q: %w", r.ID, err)
	}
	return b.Put([]byte(r.ID), v)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails since Go 1.24
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

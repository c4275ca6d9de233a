package pairing

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/identity"
)

// CheckReply checks a reply for the inviter: the invitation it names must be one of this
// store's and the reply's proof must match it. It answers the invitation and its secret's hash
// (which the completion proof needs) and, when the invitation cannot be completed, one of
// ErrUnknown, ErrReplyMismatch, ErrUsed, ErrRevoked, ErrLocked or ErrExpired. Nothing changes:
// the invitation is marked used only once the replier confirmed (UseForReply).
func (s *Store) CheckReply(r Reply, now time.Time) (InvitationInfo, []byte, error) {
	var (
		info InvitationInfo
		hash []byte
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		rec, err := load(tx.Bucket(bucket), r.InvitationID)
		if err != nil {
			return err
		}
		info, hash = rec.info(now), rec.SecretHash
		switch {
		case subtle.ConstantTimeCompare(ReplyProof(rec.SecretHash, r), r.Proof) != 1:
			return ErrReplyMismatch
		case !rec.UsedAt.IsZero():
			return ErrUsed
		case rec.Revoked:
			return ErrRevoked
		case rec.WrongSecrets >= MaxWrongSecrets:
			return ErrLocked
		case !now.Before(rec.Expires):
			return ErrExpired
		}
		return nil
	})
	return info, hash, err
}

// UseForReply marks invitation id used by invitee on connection connID, once the invitee
// confirmed the pairing its reply asked for. Marking it again for the same invitee is not an
// error; for another one it is ErrUsed.
func (s *Store) UseForReply(id string, invitee identity.ID, connID string, now time.Time) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		r, err := load(b, id)
		if err != nil {
			return err
		}
		if !r.UsedAt.IsZero() {
			if r.Invitee == invitee && r.ConnectionID == connID {
				return nil
			}
			return ErrUsed
		}
		r.UsedAt, r.Invitee, r.ConnectionID = now.UTC(), invitee, connID
		return save(b, r)
	})
	if err != nil {
		return fmt.Errorf("mark invitation %s used: %w", id, err)
	}
	return nil
}

// Accepted is an invitation without a URL that this agent accepted: it waits for the inviter
// to dial it with the reply code's help and complete the pairing, until the invitation expires.
type Accepted struct {
	ConnectionID string      `json:"connection_id"` // ReplyConnectionID: the connection it becomes
	InvitationID string      `json:"invitation_id"`
	Inviter      identity.ID `json:"inviter"` // the only key admitted to complete it
	InviterName  string      `json:"inviter_name"`
	SecretHash   []byte      `json:"secret_sha256"` // to check the completion proof
	Reply        string      `json:"reply"`         // the reply code, shown again until it completes
	URL          string      `json:"url"`           // where the reply tells the inviter to dial
	Created      time.Time   `json:"created"`
	Expires      time.Time   `json:"expires"`
}

// Pending reports whether the inviter may still complete it at now.
func (a Accepted) Pending(now time.Time) bool { return now.Before(a.Expires) }

// SaveAccepted keeps (or replaces) an accepted invitation, keyed by its connection ID.
func (s *Store) SaveAccepted(a Accepted) error {
	v, err := json.Marshal(a)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(acceptedBucket).Put([]byte(a.ConnectionID), v)
	})
	if err != nil {
		return fmt.Errorf("keep the accepted invitation: %w", err)
	}
	return nil
}

// AcceptedFor is the accepted invitation that will become connection connID, if any. A read
// error counts as none: the caller decides whom to admit.
func (s *Store) AcceptedFor(connID string) (Accepted, bool) {
	var (
		a     Accepted
		found bool
	)
	_ = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(acceptedBucket).Get([]byte(connID))
		if v == nil {
			return nil
		}
		found = json.Unmarshal(v, &a) == nil
		return nil
	})
	return a, found
}

// AcceptedList is every accepted invitation waiting (or expired while waiting), oldest first.
func (s *Store) AcceptedList() ([]Accepted, error) {
	var out []Accepted
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(acceptedBucket).ForEach(func(k, v []byte) error {
			var a Accepted
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("accepted invitation %q: %w", k, err)
			}
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list accepted invitations: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// ErrNotAccepted means no accepted invitation waits under that connection ID.
var ErrNotAccepted = errors.New("no pairing waits under that ID")

// DeleteAccepted forgets an accepted invitation: its pairing was completed or cancelled.
func (s *Store) DeleteAccepted(connID string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(acceptedBucket)
		if b.Get([]byte(connID)) == nil {
			return ErrNotAccepted
		}
		return b.Delete([]byte(connID))
	})
}

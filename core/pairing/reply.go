package pairing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tandemsync/tandem/core/identity"
)

// An agent that accepts no connections (a firewalled one) can still invite. Its code carries no
// URL, so the invitee cannot redeem it by dialling the inviter; instead the invitee pins the
// inviter's key from the code, waits, and shows a reply code: its own URL and key, the
// invitation's ID and a proof that it read the code. The invitee's operator sends the reply
// back; the inviter's operator pastes it; the inviter checks the proof, dials the invitee
// (which admits only the key the code named, only for that waiting pairing) and completes the
// pairing by proving the invitation secret in turn. Nobody dials the firewalled agent, and no
// relay is involved.

// Errors of ParseReply.
var (
	ErrNotReply     = errors.New("this is not a Tandem reply code")
	ErrReplyDamaged = errors.New("the reply code is damaged")
	// ErrReplyMismatch: the reply's proof does not match the invitation it names; it was not
	// made from that invitation's code.
	ErrReplyMismatch = errors.New("the reply code does not match the invitation it names")
)

// replyPrefixPrefix starts every reply code, whatever its version.
const replyPrefixPrefix = "tandemreply"

// ReplyVersion is the reply code format this build writes and reads.
const ReplyVersion = 1

const proofLen = 16 // bytes of HMAC-SHA-256 kept in a proof

// Reply is the answer of an agent that accepted an invitation without a URL: where and whom
// the inviter dials to complete the pairing.
type Reply struct {
	Inviter      identity.ID // the agent that made the invitation: the reply is for it
	Replier      identity.ID // the agent that accepted it, which the inviter pins
	URL          string      // where the inviter dials the replier
	InvitationID string
	Proof        []byte // ReplyProof: the replier read the invitation's secret
}

func replyPrefix(version int) string { return replyPrefixPrefix + strconv.Itoa(version) + "-" }

// Code is the reply as one copyable string, "tandemreply1-" followed by base32 of the fields and
// a checksum.
func (r Reply) Code() string {
	b := make([]byte, 0, 2*len(identity.ID{})+len(r.InvitationID)+len(r.URL)+proofLen+8)
	b = append(b, r.Inviter[:]...)
	b = append(b, r.Replier[:]...)
	b = appendField(b, r.Proof)
	b = appendField(b, []byte(r.InvitationID))
	b = appendField(b, []byte(r.URL))
	return encodeBody(replyPrefix(ReplyVersion), b)
}

// IsReplyCode reports whether s looks like a reply code rather than an invitation code (it may
// still be damaged).
func IsReplyCode(s string) bool {
	return strings.HasPrefix(normalize(s), replyPrefixPrefix)
}

// ParseReply reads a code made by Reply.Code, forgiving white space and letter case as
// ParseCode does.
func ParseReply(s string) (Reply, error) {
	if len(s) > maxCodeLen {
		return Reply{}, fmt.Errorf("%w: the text is %d characters long, far more than a code", ErrNotReply, len(s))
	}
	s = normalize(s)
	rest, ok := strings.CutPrefix(s, replyPrefixPrefix)
	if !ok {
		return Reply{}, fmt.Errorf("%w: a reply code starts with %q", ErrNotReply, replyPrefix(ReplyVersion))
	}
	vs, body, ok := strings.Cut(rest, "-")
	version, err := strconv.Atoi(vs)
	if !ok || err != nil || version < 1 {
		return Reply{}, fmt.Errorf("%w: a reply code starts with %q", ErrNotReply, replyPrefix(ReplyVersion))
	}
	if version != ReplyVersion {
		return Reply{}, fmt.Errorf("%w: the reply code is version %d and this Tandem reads version %d; update Tandem", ErrUnsupportedVersion, version, ReplyVersion)
	}
	payload, err := decodeBody(replyPrefix(version), body, 2*len(identity.ID{})+3, ErrReplyDamaged)
	if err != nil {
		return Reply{}, err
	}
	r, err := decodeReply(payload)
	if err != nil {
		return Reply{}, fmt.Errorf("%w (%v); ask the partner's operator to accept the invitation again", ErrReplyDamaged, err)
	}
	return r, nil
}

func decodeReply(p []byte) (Reply, error) {
	var r Reply
	if len(p) < 2*len(r.Inviter) {
		return Reply{}, errors.New("too short")
	}
	copy(r.Inviter[:], p)
	p = p[len(r.Inviter):]
	copy(r.Replier[:], p)
	p = p[len(r.Replier):]
	fields, err := readFields(p, 3)
	if err != nil {
		return Reply{}, err
	}
	r.Proof, r.InvitationID, r.URL = fields[0], string(fields[1]), string(fields[2])
	if err := r.validate(); err != nil {
		return Reply{}, err
	}
	return r, nil
}

func (r Reply) validate() error {
	switch {
	case r.Inviter.IsZero():
		return errors.New("no inviter ID")
	case r.Replier.IsZero():
		return errors.New("no replier ID")
	case r.Inviter == r.Replier:
		return errors.New("the inviter and the replier are the same agent")
	case len(r.Proof) != proofLen:
		return fmt.Errorf("the proof has %d bytes, want %d", len(r.Proof), proofLen)
	}
	if err := checkInvitationID(r.InvitationID); err != nil {
		return err
	}
	if err := checkURL(r.URL, true); err != nil {
		return fmt.Errorf("URL: %w", err)
	}
	return nil
}

// NewReply is the reply of replier, reachable at url, to inv.
func NewReply(inv Invitation, replier identity.ID, url string) (Reply, error) {
	r := Reply{Inviter: inv.Inviter, Replier: replier, URL: strings.TrimSpace(url), InvitationID: inv.ID}
	r.Proof = ReplyProof(SecretHash(inv.Secret), r)
	if err := r.validate(); err != nil {
		return Reply{}, fmt.Errorf("make a reply code: %w", err)
	}
	return r, nil
}

// SecretHash is what both sides keep of an invitation's secret: the inviter to check a
// redemption or a reply, the replier to check the completion.
func SecretHash(secret []byte) []byte {
	sum := sha256.Sum256(secret)
	return sum[:]
}

// ReplyProof is the proof in a reply: an HMAC keyed with the secret's hash over what the reply
// asks the inviter to trust (the invitation, both keys and the URL to dial). The inviter keeps
// only that hash, so it can check the proof; whoever could not read the code cannot make one.
func ReplyProof(secretHash []byte, r Reply) []byte {
	return mac(secretHash, "tandem reply v1", []byte(r.InvitationID), r.Inviter[:], r.Replier[:], []byte(r.URL))
}

// CompletionProof is what the inviter sends the replier when it completes the pairing: the same
// HMAC under another label, over the invitation and both keys.
func CompletionProof(secretHash []byte, invitation string, inviter, replier identity.ID) []byte {
	return mac(secretHash, "tandem completion v1", []byte(invitation), inviter[:], replier[:])
}

// CheckProof compares a proof in constant time.
func CheckProof(got, want []byte) bool { return hmac.Equal(got, want) }

func mac(key []byte, label string, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	for _, p := range parts {
		m.Write(binary.AppendUvarint(nil, uint64(len(p))))
		m.Write(p)
	}
	return m.Sum(nil)[:proofLen]
}

// ReplyConnectionID is the ID of the connection a reply makes. Both sides derive it from the
// invitation and both keys, so the reply code need not carry it, and a waiting pairing is found
// from what the inviter presents when it dials (its key and the invitation it names).
func ReplyConnectionID(invitation string, inviter, replier identity.ID) string {
	h := sha256.New()
	h.Write([]byte("tandem reply connection v1\x00"))
	h.Write([]byte(invitation))
	h.Write([]byte{0})
	h.Write(inviter[:])
	h.Write(replier[:])
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// CompleteRequest is what the inviter sends to the replier's POST /v1/pair to complete a
// pairing from a reply.
type CompleteRequest struct {
	InvitationID string `json:"invitation_id"`
	Proof        []byte `json:"proof"` // CompletionProof
	Name         string `json:"name"`
	URL          string `json:"url,omitempty"` // empty: the inviter accepts no connections and pulls
}

// Check refuses a malformed completion request.
func (r CompleteRequest) Check() error {
	if err := checkInvitationID(r.InvitationID); err != nil {
		return err
	}
	if len(r.Proof) != proofLen {
		return fmt.Errorf("the proof has %d bytes, want %d", len(r.Proof), proofLen)
	}
	if err := checkName(r.Name); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if err := checkURL(r.URL, false); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	return nil
}

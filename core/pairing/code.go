// Package pairing makes and redeems invitation codes and derives the short verification code
// both operators compare after pairing.
package pairing

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tandemsync/tandem/core/identity"
)

// Errors of ParseCode; each is wrapped with details an operator can act on.
var (
	ErrNotCode            = errors.New("this is not a Tandem invitation code")
	ErrUnsupportedVersion = errors.New("unsupported invitation code version")
	ErrDamaged            = errors.New("the invitation code is damaged")
	ErrExpired            = errors.New("the invitation has expired")
)

// CodeVersion is the invitation code format this build writes and reads.
const CodeVersion = 1

const (
	secretLen   = 32
	checksumLen = 4
	maxCodeLen  = 8192 // far above any real code; refuses pasted documents early
	maxNameLen  = 200  // bytes of a display name
	maxURLLen   = 2048
)

// codeEncoding is lower-case base32 without padding: no characters that chat programs or URL
// detectors mangle, and case does not matter when reading it back.
var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Invitation is everything an invitee needs to pair with the inviter. Secret is shown once, in
// the code; the inviter's store keeps only its hash.
type Invitation struct {
	// URL is the inviter's HTTPS address; "" when the inviter accepts no connections: the
	// invitee then answers with a reply code (see Reply) and the inviter dials it.
	URL         string
	Inviter     identity.ID // the inviter's agent ID, which the invitee pins
	InviterName string
	ID          string
	Secret      []byte
	Expires     time.Time
}

// Code is the invitation as one copyable string, "tandem1-" followed by base32 of the fields and
// a checksum.
func (inv Invitation) Code() string {
	b := make([]byte, 0, 128+len(inv.URL)+len(inv.InviterName))
	b = append(b, inv.Inviter[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(inv.Expires.Unix()))
	b = appendField(b, inv.Secret)
	b = appendField(b, []byte(inv.ID))
	b = appendField(b, []byte(inv.InviterName))
	b = appendField(b, []byte(inv.URL))
	return encodeBody(codePrefix(CodeVersion), b)
}

func codePrefix(version int) string { return "tandem" + strconv.Itoa(version) + "-" }

// encodeBody is prefix, then base32 of body and its checksum.
func encodeBody(prefix string, body []byte) string {
	body = append(body, checksum(prefix, body)...)
	return prefix + strings.ToLower(codeEncoding.EncodeToString(body))
}

// checksum covers the prefix (kind and version) too, so a body moved under another prefix is
// caught.
func checksum(prefix string, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(prefix))
	h.Write(body)
	return h.Sum(nil)[:checksumLen]
}

// normalize drops white space anywhere (codes get wrapped in mail) and letter case.
func normalize(s string) string {
	return strings.ToLower(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s))
}

// decodeBody reads the base32 body of a code written under prefix and checks its checksum;
// it answers the payload, at least minLen bytes, or damaged wrapped with what is wrong.
func decodeBody(prefix, body string, minLen int, damaged error) ([]byte, error) {
	body = strings.ToUpper(body)
	raw, err := codeEncoding.DecodeString(body)
	// Re-encoding catches a changed last character whose changed bits the decoder drops.
	if err != nil || codeEncoding.EncodeToString(raw) != body {
		return nil, fmt.Errorf("%w (it contains characters a code cannot have, or was cut short); copy it again in full", damaged)
	}
	if len(raw) < minLen+checksumLen {
		return nil, fmt.Errorf("%w (it is too short); copy it again in full", damaged)
	}
	payload, sum := raw[:len(raw)-checksumLen], raw[len(raw)-checksumLen:]
	if !bytes.Equal(sum, checksum(prefix, payload)) {
		return nil, fmt.Errorf("%w (checksum mismatch: characters were changed, lost or added); copy it again in full", damaged)
	}
	return payload, nil
}

func appendField(b, f []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(f)))
	return append(b, f...)
}

// ParseCode reads a code made by Invitation.Code. It ignores white space anywhere (codes get
// wrapped in mail) and letter case. An expired invitation is returned with ErrExpired, so the
// caller can say whose it was; every other error returns the zero Invitation.
func ParseCode(s string) (Invitation, error) {
	return parseCode(s, time.Now())
}

func parseCode(s string, now time.Time) (Invitation, error) {
	if len(s) > maxCodeLen {
		return Invitation{}, fmt.Errorf("%w: the text is %d characters long, far more than a code", ErrNotCode, len(s))
	}
	s = normalize(s)
	if s == "" {
		return Invitation{}, fmt.Errorf("%w: it is empty", ErrNotCode)
	}
	if IsReplyCode(s) {
		return Invitation{}, fmt.Errorf("%w: this is a reply code, which answers an invitation; paste it into the agent that made the invitation", ErrNotCode)
	}
	rest, ok := strings.CutPrefix(s, "tandem")
	if !ok {
		return Invitation{}, fmt.Errorf("%w: a code starts with %q", ErrNotCode, codePrefix(CodeVersion))
	}
	vs, body, ok := strings.Cut(rest, "-")
	version, err := strconv.Atoi(vs)
	if !ok || err != nil || version < 1 {
		return Invitation{}, fmt.Errorf("%w: a code starts with %q", ErrNotCode, codePrefix(CodeVersion))
	}
	if version != CodeVersion {
		return Invitation{}, fmt.Errorf("%w: the code is version %d and this Tandem reads version %d; update Tandem or ask for a version %d code", ErrUnsupportedVersion, version, CodeVersion, CodeVersion)
	}
	payload, err := decodeBody(codePrefix(version), body, len(identity.ID{})+8+4, ErrDamaged)
	if err != nil {
		return Invitation{}, err
	}
	inv, err := decodePayload(payload)
	if err != nil {
		// The checksum matched, so whoever made this code wrote it wrongly.
		return Invitation{}, fmt.Errorf("%w (%v); ask the inviter for a new code", ErrDamaged, err)
	}
	if !now.Before(inv.Expires) {
		return inv, fmt.Errorf("%w: the invitation from %s expired at %s; ask for a new one", ErrExpired, describeInviter(inv), inv.Expires.Format(time.RFC3339))
	}
	return inv, nil
}

func describeInviter(inv Invitation) string {
	if inv.InviterName != "" {
		return fmt.Sprintf("%q (%s)", inv.InviterName, inv.Inviter.Short())
	}
	return inv.Inviter.Short()
}

func decodePayload(p []byte) (Invitation, error) {
	var inv Invitation
	copy(inv.Inviter[:], p)
	p = p[len(inv.Inviter):]
	inv.Expires = time.Unix(int64(binary.BigEndian.Uint64(p)), 0).UTC()
	p = p[8:]
	fields, err := readFields(p, 4)
	if err != nil {
		return Invitation{}, err
	}
	inv.Secret = fields[0]
	inv.ID = string(fields[1])
	inv.InviterName = string(fields[2])
	inv.URL = string(fields[3])
	if err := inv.validate(); err != nil {
		return Invitation{}, err
	}
	return inv, nil
}

// readFields reads exactly n length-prefixed fields (appendField's) that make up all of p.
func readFields(p []byte, n int) ([][]byte, error) {
	fields := make([][]byte, n)
	for i := range fields {
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return nil, errors.New("a field runs past the end")
		}
		fields[i] = bytes.Clone(p[k : k+int(l)])
		p = p[k+int(l):]
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%d stray bytes after the fields", len(p))
	}
	return fields, nil
}

func (inv Invitation) validate() error {
	if inv.Inviter.IsZero() {
		return errors.New("no inviter ID")
	}
	if len(inv.Secret) != secretLen {
		return fmt.Errorf("the secret has %d bytes, want %d", len(inv.Secret), secretLen)
	}
	if err := checkInvitationID(inv.ID); err != nil {
		return err
	}
	if err := checkName(inv.InviterName); err != nil {
		return fmt.Errorf("inviter name: %w", err)
	}
	if err := checkURL(inv.URL, false); err != nil { // none: the inviter cannot be dialled (see Reply)
		return fmt.Errorf("inviter URL: %w", err)
	}
	return nil
}

func checkInvitationID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("the invitation ID has %d characters, want 1 to 64", len(id))
	}
	for _, r := range id {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9') {
			return errors.New("the invitation ID has characters other than a-z and 0-9")
		}
	}
	return nil
}

func checkName(name string) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("%d bytes long, at most %d", len(name), maxNameLen)
	}
	if !utf8.ValidString(name) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return errors.New("contains control characters")
		}
	}
	return nil
}

// checkURL accepts an absolute https URL, or "" when not required (an agent that cannot
// accept connections has no URL).
func checkURL(s string, required bool) error {
	if s == "" {
		if required {
			return errors.New("empty; the inviter must be reachable over HTTPS to be paired with")
		}
		return nil
	}
	if len(s) > maxURLLen {
		return fmt.Errorf("%d bytes long, at most %d", len(s), maxURLLen)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", s, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q is not an https://host address", s)
	}
	if u.User != nil {
		return fmt.Errorf("%q carries a user name or password; remove it", u.Redacted())
	}
	return nil
}

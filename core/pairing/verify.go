package pairing

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/tandemsync/tandem/core/identity"
)

// VerificationCode is the short code both operators compare out of band after pairing, as Signal
// and Syncthing do: nine digits in groups of three, derived from both agent IDs and the same
// whichever side computes it: SHA-256("tandem verification code v1\x00" || lower ID || higher
// ID), its first 8 bytes big-endian, mod 10^9. It is part of the protocol: do not change it.
func VerificationCode(a, b identity.ID) string {
	lo, hi := a, b
	if bytes.Compare(lo[:], hi[:]) > 0 {
		lo, hi = hi, lo
	}
	h := sha256.New()
	h.Write([]byte("tandem verification code v1\x00"))
	h.Write(lo[:])
	h.Write(hi[:])
	n := binary.BigEndian.Uint64(h.Sum(nil)) % 1_000_000_000
	return fmt.Sprintf("%03d %03d %03d", n/1_000_000, n/1_000%1_000, n%1_000)
}

// NewConnectionID is a fresh random connection ID: 32 lower-case hex characters, safe in URL paths.
func NewConnectionID() string { return randomHex(16) }

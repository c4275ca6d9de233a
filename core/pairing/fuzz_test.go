package pairing

import (
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/identity"
)

// FuzzParseCode feeds arbitrary text to the invitation-code parser: it never panics, and what
// it accepts round-trips to the same invitation.
func FuzzParseCode(f *testing.F) {
	inv := Invitation{URL: "https://blue.example:7443", Inviter: identity.ID{1, 2, 3}, InviterName: "Blue", ID: "abc123",
		Secret: make([]byte, secretLen), Expires: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)}
	f.Add(inv.Code())
	f.Add("tandem1-")
	f.Add("tandem2-aaaa")
	f.Add("not a code")
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseCode(s, now)
		if err != nil {
			return
		}
		again, err := parseCode(got.Code(), now)
		if err != nil || again.ID != got.ID || again.URL != got.URL || again.Inviter != got.Inviter || string(again.Secret) != string(got.Secret) {
			t.Fatalf("accepted %q as %+v, which does not round-trip (%v)", s, got, err)
		}
	})
}

// FuzzParseReply feeds arbitrary text to the reply-code parser: it never panics, and what it
// accepts round-trips to the same reply.
func FuzzParseReply(f *testing.F) {
	r := Reply{Inviter: identity.ID{1}, Replier: identity.ID{2}, URL: "https://red.example:7443", InvitationID: "abc123", Proof: make([]byte, proofLen)}
	f.Add(r.Code())
	f.Add("tandemreply1-")
	f.Add("tandemreply2-aaaa")
	f.Add("tandem1-aaaa")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseReply(s)
		if err != nil {
			return
		}
		again, err := ParseReply(got.Code())
		if err != nil || again.InvitationID != got.InvitationID || again.URL != got.URL || again.Inviter != got.Inviter || again.Replier != got.Replier || string(again.Proof) != string(got.Proof) {
			t.Fatalf("accepted %q as %+v, which does not round-trip (%v)", s, got, err)
		}
	})
}

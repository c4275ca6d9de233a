package pairing

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/identity"
)

func randomID(t *testing.T) identity.ID {
	t.Helper()
	var id identity.ID
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatal(err)
	}
	return id
}

func sampleInvitation(t *testing.T) Invitation {
	t.Helper()
	return Invitation{
		URL:         "https://tandem.example.com:8443/agent",
		Inviter:     randomID(t),
		InviterName: "Acme Support — Zürich",
		ID:          randomHex(12),
		Secret:      randomBytes(secretLen),
		Expires:     time.Now().Add(time.Hour).UTC().Truncate(time.Second),
	}
}

func sameInvitation(a, b Invitation) bool {
	return a.URL == b.URL && a.Inviter == b.Inviter && a.InviterName == b.InviterName &&
		a.ID == b.ID && bytes.Equal(a.Secret, b.Secret) && a.Expires.Equal(b.Expires)
}

func TestCodeRoundTrip(t *testing.T) {
	inv := sampleInvitation(t)
	code := inv.Code()
	if !strings.HasPrefix(code, "tandem1-") {
		t.Fatalf("Code() = %q, want the prefix tandem1-", code)
	}
	if strings.ContainsAny(code, " \n=+/") {
		t.Errorf("Code() = %q has characters that do not copy cleanly", code)
	}
	var wrapped strings.Builder
	for i := 0; i < len(code); i += 40 {
		wrapped.WriteString(code[i:min(i+40, len(code))])
		wrapped.WriteString("\r\n")
	}
	forms := map[string]string{
		"as is":           code,
		"surrounded":      "  \n\t" + code + " \n",
		"upper case":      strings.ToUpper(code),
		"wrapped in mail": wrapped.String(),
	}
	for name, in := range forms {
		got, err := ParseCode(in)
		if err != nil {
			t.Errorf("%s: ParseCode: %v", name, err)
			continue
		}
		if !sameInvitation(got, inv) {
			t.Errorf("%s: ParseCode = %+v, want %+v", name, got, inv)
		}
	}
}

func TestParseCodeErrors(t *testing.T) {
	inv := sampleInvitation(t)
	code := inv.Code()
	body := strings.TrimPrefix(code, "tandem1-")

	expired := inv
	expired.Expires = time.Now().Add(-time.Minute).Truncate(time.Second)
	plainHTTP := inv
	plainHTTP.URL = "http://tandem.example.com"
	shortSecret := inv
	shortSecret.Secret = shortSecret.Secret[:8]

	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrNotCode},
		{"spaces only", " \n ", ErrNotCode},
		{"prose", "hello, here is the code", ErrNotCode},
		{"syncthing device id", "P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2", ErrNotCode},
		{"a url", "https://tandem.example.com/pair", ErrNotCode},
		{"no version", "tandem-" + body, ErrNotCode},
		{"word version", "tandemx-" + body, ErrNotCode},
		{"huge paste", "tandem1-" + strings.Repeat("a", maxCodeLen), ErrNotCode},
		{"future version", "tandem2-" + body, ErrUnsupportedVersion},
		{"prefix only", "tandem1-", ErrDamaged},
		{"truncated", code[:len(code)-5], ErrDamaged},
		{"cut in half", code[:len(code)/2], ErrDamaged},
		{"extra characters", code + "abcd", ErrDamaged},
		{"not base32", strings.Replace(code, body[:3], "018", 1), ErrDamaged},
		{"valid checksum, http url", plainHTTP.Code(), ErrDamaged},
		{"valid checksum, short secret", shortSecret.Code(), ErrDamaged},
		{"expired", expired.Code(), ErrExpired},
	}
	for _, tc := range tests {
		got, err := ParseCode(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: ParseCode(%.40q...) error = %v, want %v", tc.name, tc.in, err, tc.want)
			continue
		}
		if tc.want == ErrExpired {
			if !sameInvitation(got, expired) {
				t.Errorf("%s: ParseCode returned %+v with ErrExpired, want the invitation", tc.name, got)
			}
			if !strings.Contains(err.Error(), inv.InviterName) {
				t.Errorf("%s: error %q does not name the inviter", tc.name, err)
			}
		} else if got.ID != "" || got.Secret != nil {
			t.Errorf("%s: ParseCode returned %+v with an error, want the zero Invitation", tc.name, got)
		}
		if strings.Contains(err.Error(), string(inv.Secret)) {
			t.Errorf("%s: error reveals the secret", tc.name)
		}
	}
}

// Every single-character change anywhere in the body is caught, including in the last
// character, whose low bits the base32 decoder would otherwise drop.
func TestParseCodeCatchesEveryTypo(t *testing.T) {
	code := sampleInvitation(t).Code()
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	for i := len("tandem1-"); i < len(code); i++ {
		for _, c := range []byte{alphabet[(strings.IndexByte(alphabet, code[i])+1)%32], alphabet[(strings.IndexByte(alphabet, code[i])+17)%32]} {
			typo := code[:i] + string(c) + code[i+1:]
			if _, err := ParseCode(typo); !errors.Is(err, ErrDamaged) {
				t.Fatalf("position %d changed to %q: ParseCode error = %v, want ErrDamaged", i, c, err)
			}
		}
	}
	// Two adjacent characters swapped.
	for i := len("tandem1-"); i+1 < len(code); i++ {
		if code[i] == code[i+1] {
			continue
		}
		swapped := code[:i] + string(code[i+1]) + string(code[i]) + code[i+2:]
		if _, err := ParseCode(swapped); !errors.Is(err, ErrDamaged) {
			t.Fatalf("positions %d,%d swapped: ParseCode error = %v, want ErrDamaged", i, i+1, err)
		}
	}
}

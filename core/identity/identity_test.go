package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"
)

// syncthingID is a device ID from Syncthing's own tests; it parsing here shows the check
// characters are computed exactly as Syncthing does.
const syncthingID = "P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2"

func TestIDRoundTrip(t *testing.T) {
	for i := 0; i < 50; i++ {
		var id ID
		if _, err := rand.Read(id[:]); err != nil {
			t.Fatal(err)
		}
		s := id.String()
		if len(s) != len(displayForm) || strings.Count(s, "-") != 7 {
			t.Fatalf("String() = %q: want the form %s", s, displayForm)
		}
		got, err := ParseID(s)
		if err != nil {
			t.Fatalf("#%d ParseID(%q): %v", i, s, err)
		}
		if got != id {
			t.Fatalf("#%d ParseID(String()) = %x, want %x", i, got, id)
		}
		if id.Short() != s[:7] {
			t.Errorf("Short() = %q, want %q", id.Short(), s[:7])
		}
	}
}

func TestSyncthingCompatibleCheck(t *testing.T) {
	id, err := ParseID(syncthingID)
	if err != nil {
		t.Fatalf("ParseID(%q): %v", syncthingID, err)
	}
	if got := id.String(); got != syncthingID {
		t.Errorf("String() = %q, want %q", got, syncthingID)
	}
}

func TestParseIDForgiving(t *testing.T) {
	want, err := ParseID(syncthingID)
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range []string{
		strings.ToLower(syncthingID),
		strings.ReplaceAll(syncthingID, "-", ""),
		strings.ReplaceAll(syncthingID, "-", " "),
		"  " + strings.ToLower(strings.ReplaceAll(syncthingID, "-", "")) + "\n",
		"P56I0I7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2", // digit zero for O
		"P56IOI7MZJNU2Y-IQGD REY-DM2MGTIMGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2",
	} {
		got, err := ParseID(in)
		if err != nil {
			t.Errorf("#%d ParseID(%q): %v", i, in, err)
			continue
		}
		if got != want {
			t.Errorf("#%d ParseID(%q) = %s, want %s", i, in, got, want)
		}
	}
}

func TestParseIDErrors(t *testing.T) {
	for i, tc := range []struct {
		in, wantErr string
	}{
		// The last character of group 2 is check character 1; change a data character instead.
		{"P56IOI7-MZJNU2Z-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2", "check character 1"},
		{"P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ3", "check character 4"},
		{"P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ", "55 characters, want 56"},
		{"P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2A", "57 characters"},
		{"P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWIC!2", "'!' is not a character"},
		{"", "0 characters"},
	} {
		_, err := ParseID(tc.in)
		if err == nil {
			t.Errorf("#%d ParseID(%q): no error, want one containing %q", i, tc.in, tc.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("#%d ParseID(%q) error = %q, want it to contain %q", i, tc.in, err, tc.wantErr)
		}
	}
}

// Every single-character substitution in a data character must be caught by its check character.
func TestParseIDCatchesEverySingleTypo(t *testing.T) {
	clean := strings.ReplaceAll(syncthingID, "-", "")
	for pos := 0; pos < len(clean); pos++ {
		for _, r := range alphabet {
			if byte(r) == clean[pos] {
				continue
			}
			typo := clean[:pos] + string(r) + clean[pos+1:]
			if _, err := ParseID(typo); err == nil {
				t.Fatalf("ParseID accepted a typo at position %d (%c for %c)", pos, r, clean[pos])
			}
		}
	}
}

func TestIDJSON(t *testing.T) {
	ident, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	type doc struct {
		Partner ID `json:"partner"`
	}
	b, err := json.Marshal(doc{Partner: ident.ID})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"partner":"` + ident.ID.String() + `"}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	var back doc
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("Unmarshal(%s): %v", b, err)
	}
	if back.Partner != ident.ID {
		t.Errorf("Unmarshal = %s, want %s", back.Partner, ident.ID)
	}
	if err := json.Unmarshal([]byte(`{"partner":"nope"}`), &back); err == nil {
		t.Error("Unmarshal of a bad ID: no error")
	}
}

func TestGenerateAndPrivateRoundTrip(t *testing.T) {
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(a.Public)
	if err != nil {
		t.Fatal(err)
	}
	if want := ID(sha256.Sum256(spki)); a.ID != want {
		t.Errorf("ID = %s, want SHA-256 of the SPKI %s", a.ID, want)
	}
	leaf := a.Certificate.Leaf
	if leaf == nil {
		t.Fatal("Certificate.Leaf is nil")
	}
	if got, err := IDFromCertificate(leaf); err != nil || got != a.ID {
		t.Errorf("IDFromCertificate = %s, %v; want %s", got, err, a.ID)
	}
	if leaf.Subject.CommonName != a.ID.Short() {
		t.Errorf("CN = %q, want %q", leaf.Subject.CommonName, a.ID.Short())
	}
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		t.Errorf("certificate is not self-signed: %v", err)
	}
	if leaf.NotAfter.Before(time.Now().AddDate(50, 0, 0)) {
		t.Errorf("NotAfter = %v: want a long validity", leaf.NotAfter)
	}

	text := a.MarshalPrivate()
	b, err := ParsePrivate(text)
	if err != nil {
		t.Fatalf("ParsePrivate(MarshalPrivate()): %v", err)
	}
	if b.ID != a.ID || !b.Private.Equal(a.Private) {
		t.Errorf("ParsePrivate gave ID %s, want %s", b.ID, a.ID)
	}
	if !bytes.Equal(b.Certificate.Certificate[0], a.Certificate.Certificate[0]) {
		t.Error("the certificate derived from the same key differs: want it deterministic")
	}

	c, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == a.ID {
		t.Error("two generated identities share an ID")
	}
}

func TestParsePrivateErrors(t *testing.T) {
	for i, in := range []string{
		"",
		"hello",
		privatePrefix + "!!!",
		privatePrefix + "AAAA",
		"-----BEGIN PRIVATE KEY-----",
	} {
		if _, err := ParsePrivate(in); err == nil {
			t.Errorf("#%d ParsePrivate(%q): no error", i, in)
		}
	}
}

func TestIDFromCertificateRejectsOtherKeys(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ec"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := IDFromCertificate(cert); err == nil || !strings.Contains(err.Error(), "not Ed25519") {
		t.Errorf("IDFromCertificate(ECDSA cert) error = %v, want ErrNotEd25519", err)
	}
}

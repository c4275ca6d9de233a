package vault

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tandemsync/tandem/core/rules"
	"github.com/tandemsync/tandem/core/store"
)

var _ rules.TokenVault = (*Tokens)(nil)

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestTokenRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	key := NewKey()
	v, err := Open(st, key)
	if err != nil {
		t.Fatal(err)
	}
	red, green := v.For("conn-red"), v.For("conn-green")
	const secret = "ACME-customer-4711"
	tok, err := red.Token(secret)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := red.Token(secret)
	other, _ := red.Token("someone else")
	elsewhere, _ := green.Token(secret)
	if !regexp.MustCompile(`^tok_[a-z2-7]{26}$`).MatchString(tok) || tok != again || tok == other || tok == elsewhere {
		t.Errorf("tokens %q %q %q %q: want tok_ and 26 base32, stable per value, distinct per value and per connection", tok, again, other, elsewhere)
	}

	got, err := red.Detokenize("customer " + tok + ", unknown tok_aaaaaaaaaaaaaaaaaaaaaaaaaa, " + elsewhere)
	if err != nil {
		t.Fatal(err)
	}
	if want := "customer " + secret + ", unknown tok_aaaaaaaaaaaaaaaaaaaaaaaaaa, " + elsewhere; got != want {
		t.Errorf("Detokenize = %q, want %q (another connection's token stays a token)", got, want)
	}
	if n, _ := v.Count("conn-red"); n != 2 {
		t.Errorf("Count(conn-red) = %d, want 2", n)
	}

	// The database holds the token, never the value.
	st.Close()
	raw, err := os.ReadFile(filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Error("the database file holds the value in clear")
	}
	if !bytes.Contains(raw, []byte(tok)) {
		t.Error("the database file lacks the token (is it stored at all?)")
	}

	// After a restart with the same key the token still resolves; with another key it does not,
	// and says why.
	st = openStore(t, dir)
	defer st.Close()
	v, _ = Open(st, key)
	if got, _ := v.For("conn-red").Detokenize(tok); got != secret {
		t.Errorf("after reopening: Detokenize = %q, want %q", got, secret)
	}
	wrong, _ := Open(st, NewKey())
	if _, err := wrong.For("conn-red").Detokenize(tok); !errors.Is(err, ErrWrongKey) {
		t.Errorf("Detokenize with another key: err %v, want ErrWrongKey", err)
	}
}

func TestPurge(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	v, _ := Open(st, NewKey())
	a, b := v.For("a"), v.For("b")
	ta, _ := a.Token("alpha")
	a.Token("alpha two")
	tb, _ := b.Token("beta")
	n, err := v.Purge("a")
	if err != nil || n != 2 {
		t.Fatalf("Purge(a) = %d, %v; want 2", n, err)
	}
	if got, _ := a.Detokenize(ta); got != ta {
		t.Errorf("purged token resolves to %q", got)
	}
	if got, _ := b.Detokenize(tb); got != "beta" {
		t.Errorf("another connection's token after purge: %q, want beta", got)
	}
	if n, err := v.Purge("never"); err != nil || n != 0 {
		t.Errorf("Purge(unknown) = %d, %v", n, err)
	}
	// Purged, then used again: a new record under the same token.
	if again, _ := a.Token("alpha"); again != ta {
		t.Errorf("token after purge %q, want the same %q", again, ta)
	}
	if got, _ := a.Detokenize(ta); got != "alpha" {
		t.Errorf("re-tokenized value resolves to %q", got)
	}
}

func TestBadKey(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	if _, err := Open(st, []byte("short")); err == nil || !strings.Contains(err.Error(), "want 32") {
		t.Errorf("Open with a 5-byte key: %v", err)
	}
}

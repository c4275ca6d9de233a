package pairing

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/identity"
	"github.com/tandemsync/tandem/core/store"
)

const inviterURL = "https://inviter.example.com:8443"

func openStore(t *testing.T, dir string) (*store.Store, *Store) {
	t.Helper()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	ps, err := OpenStore(st)
	if err != nil {
		st.Close()
		t.Fatalf("OpenStore: %v", err)
	}
	return st, ps
}

func newStore(t *testing.T) *Store {
	t.Helper()
	st, ps := openStore(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	return ps
}

func create(t *testing.T, s *Store, ttl time.Duration) Invitation {
	t.Helper()
	inv, err := s.Create(context.Background(), randomID(t), "Acme", inviterURL, ttl)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return inv
}

func request(inv Invitation) RedeemRequest {
	return RedeemRequest{InvitationID: inv.ID, Secret: inv.Secret, Name: "Globex", URL: "https://globex.example.net"}
}

// wantRefusal checks that err is an *Error with the sentinel and status.
func wantRefusal(t *testing.T, what string, err error, sentinel error, status int) {
	t.Helper()
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("%s: error = %v (%T), want *pairing.Error", what, err, err)
	}
	if !errors.Is(err, sentinel) || perr.StatusCode() != status {
		t.Fatalf("%s: error = %v, status %d; want %v, status %d", what, err, perr.StatusCode(), sentinel, status)
	}
}

// The whole path: the inviter creates, the code travels as text, the invitee parses it and
// sends the request, the inviter redeems it.
func TestCreateCodeRedeem(t *testing.T) {
	s := newStore(t)
	inviter := randomID(t)
	inv, err := s.Create(context.Background(), inviter, "  Acme Support ", inviterURL, 0)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if d := time.Until(inv.Expires); d < DefaultTTL-time.Minute || d > DefaultTTL {
		t.Errorf("Expires in %v, want about the default %v", d, DefaultTTL)
	}
	if !s.Pending(time.Now()) {
		t.Error("Pending() = false after Create, want true")
	}
	parsed, err := ParseCode(inv.Code())
	if err != nil {
		t.Fatalf("ParseCode(Code()): %v", err)
	}
	if parsed.Inviter != inviter || parsed.InviterName != "Acme Support" || parsed.URL != inviterURL {
		t.Errorf("parsed invitation = %+v, want inviter %s named %q at %s", parsed, inviter, "Acme Support", inviterURL)
	}
	invitee := randomID(t)
	red, err := s.Redeem(context.Background(), request(parsed), invitee, time.Now())
	if err != nil {
		t.Fatalf("Redeem: %v", err)
	}
	want := Redeemed{InvitationID: inv.ID, ConnectionID: red.ConnectionID, Invitee: invitee, InviteeName: "Globex", InviteeURL: "https://globex.example.net"}
	if red != want || len(red.ConnectionID) != 32 {
		t.Errorf("Redeem = %+v, want %+v with a 32-character connection ID", red, want)
	}
	if s.Pending(time.Now()) {
		t.Error("Pending() = true after the only invitation was used, want false")
	}
	list, err := s.List(time.Now())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 1 || !list[0].Used || list[0].Invitee != invitee || list[0].ConnectionID != red.ConnectionID || list[0].ID != inv.ID {
		t.Errorf("List = %+v, want one used invitation %s by %s, connection %s", list, inv.ID, invitee.Short(), red.ConnectionID)
	}
}

func TestSingleUse(t *testing.T) {
	s := newStore(t)
	inv := create(t, s, time.Hour)
	if _, err := s.Redeem(context.Background(), request(inv), randomID(t), time.Now()); err != nil {
		t.Fatalf("first Redeem: %v", err)
	}
	for _, who := range []string{"another agent", "the same agent"} {
		_, err := s.Redeem(context.Background(), request(inv), randomID(t), time.Now())
		wantRefusal(t, "second Redeem by "+who, err, ErrUsed, http.StatusForbidden)
	}
}

// Many invitees racing for one invitation: exactly one wins.
func TestSingleUseConcurrent(t *testing.T) {
	s := newStore(t)
	inv := create(t, s, time.Hour)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		id := randomID(t)
		wg.Go(func() {
			_, errs[i] = s.Redeem(context.Background(), request(inv), id, time.Now())
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrUsed):
			t.Errorf("#%d Redeem: %v, want nil or ErrUsed", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent redemptions succeeded, want exactly 1", won, n)
	}
}

func TestExpiry(t *testing.T) {
	s := newStore(t)
	inv := create(t, s, 10*time.Minute)
	after := inv.Expires
	if !s.Pending(after.Add(-time.Second)) || s.Pending(after) {
		t.Errorf("Pending just before/at expiry = %v/%v, want true/false", s.Pending(after.Add(-time.Second)), s.Pending(after))
	}
	_, err := s.Redeem(context.Background(), request(inv), randomID(t), after)
	wantRefusal(t, "Redeem at expiry", err, ErrExpired, http.StatusForbidden)
	list, _ := s.List(after)
	if len(list) != 1 || !list[0].Expired || list[0].Used {
		t.Errorf("List after expiry = %+v, want one expired, unused invitation", list)
	}
	// Refusing changed nothing: just before expiry it still works.
	if _, err := s.Redeem(context.Background(), request(inv), randomID(t), after.Add(-time.Second)); err != nil {
		t.Errorf("Redeem just before expiry: %v", err)
	}
}

func TestWrongSecretLockout(t *testing.T) {
	s := newStore(t)
	inv := create(t, s, time.Hour)
	other := create(t, s, time.Hour)
	wrong := request(inv)
	wrong.Secret = bytes.Clone(inv.Secret)
	wrong.Secret[0] ^= 1
	for i := 1; i <= MaxWrongSecrets; i++ {
		_, err := s.Redeem(context.Background(), wrong, randomID(t), time.Now())
		wantRefusal(t, "wrong secret", err, ErrWrongCode, http.StatusForbidden)
		if strings.Contains(err.Error(), hex.EncodeToString(inv.Secret)) {
			t.Fatalf("error reveals the secret: %v", err)
		}
	}
	_, err := s.Redeem(context.Background(), request(inv), randomID(t), time.Now())
	wantRefusal(t, "right secret after lockout", err, ErrLocked, http.StatusForbidden)
	// The other invitation's secret does not open this one, and its own count is untouched.
	cross := request(inv)
	cross.Secret = other.Secret
	_, err = s.Redeem(context.Background(), cross, randomID(t), time.Now())
	wantRefusal(t, "another invitation's secret", err, ErrLocked, http.StatusForbidden)
	if _, err := s.Redeem(context.Background(), request(other), randomID(t), time.Now()); err != nil {
		t.Errorf("Redeem of the other invitation: %v", err)
	}
	list, _ := s.List(time.Now())
	for _, info := range list {
		if info.ID == inv.ID && (!info.Locked || info.WrongSecrets != MaxWrongSecrets || info.Used) {
			t.Errorf("List entry %+v, want locked after %d wrong secrets and unused", info, MaxWrongSecrets)
		}
	}
	if s.Pending(time.Now()) {
		t.Error("Pending() = true with one invitation locked and the other used, want false")
	}
}

func TestWrongSecretsBelowLimit(t *testing.T) {
	s := newStore(t)
	inv := create(t, s, time.Hour)
	wrong := request(inv)
	wrong.Secret = make([]byte, secretLen)
	for range MaxWrongSecrets - 1 {
		_, err := s.Redeem(context.Background(), wrong, randomID(t), time.Now())
		wantRefusal(t, "wrong secret", err, ErrWrongCode, http.StatusForbidden)
	}
	if _, err := s.Redeem(context.Background(), request(inv), randomID(t), time.Now()); err != nil {
		t.Errorf("Redeem with the right secret after %d wrong ones: %v", MaxWrongSecrets-1, err)
	}
}

func TestMalformedRequests(t *testing.T) {
	s := newStore(t)
	inv := create(t, s, time.Hour)
	good := request(inv)
	tests := []struct {
		name    string
		edit    func(*RedeemRequest)
		invitee identity.ID
	}{
		{"empty invitation id", func(r *RedeemRequest) { r.InvitationID = "" }, randomID(t)},
		{"invitation id with slashes", func(r *RedeemRequest) { r.InvitationID = "../etc" }, randomID(t)},
		{"no secret", func(r *RedeemRequest) { r.Secret = nil }, randomID(t)},
		{"short secret", func(r *RedeemRequest) { r.Secret = r.Secret[:16] }, randomID(t)},
		{"name too long", func(r *RedeemRequest) { r.Name = strings.Repeat("x", maxNameLen+1) }, randomID(t)},
		{"name with control characters", func(r *RedeemRequest) { r.Name = "a\x00b" }, randomID(t)},
		{"plain http url", func(r *RedeemRequest) { r.URL = "http://globex.example.net" }, randomID(t)},
		{"url with password", func(r *RedeemRequest) { r.URL = "https://u:p@globex.example.net" }, randomID(t)},
		{"no invitee key", func(*RedeemRequest) {}, identity.ID{}},
	}
	for _, tc := range tests {
		req := good
		req.Secret = bytes.Clone(good.Secret)
		tc.edit(&req)
		_, err := s.Redeem(context.Background(), req, tc.invitee, time.Now())
		wantRefusal(t, tc.name, err, ErrMalformed, http.StatusBadRequest)
	}
	list, _ := s.List(time.Now())
	if len(list) != 1 || list[0].WrongSecrets != 0 || list[0].Used {
		t.Errorf("List after malformed requests = %+v, want the invitation untouched", list)
	}
	if _, err := s.Redeem(context.Background(), good, randomID(t), time.Now()); err != nil {
		t.Errorf("Redeem after malformed requests: %v", err)
	}
	// A private invitee (no URL) is fine.
	priv := create(t, s, time.Hour)
	req := request(priv)
	req.URL = ""
	if _, err := s.Redeem(context.Background(), req, randomID(t), time.Now()); err != nil {
		t.Errorf("Redeem without an invitee URL: %v", err)
	}
}

func TestUnknownAndRevoked(t *testing.T) {
	s := newStore(t)
	inv := create(t, s, time.Hour)
	unknown := request(inv)
	unknown.InvitationID = randomHex(12)
	_, err := s.Redeem(context.Background(), unknown, randomID(t), time.Now())
	wantRefusal(t, "unknown invitation", err, ErrUnknown, http.StatusForbidden)

	if err := s.Revoke(inv.ID); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if s.Pending(time.Now()) {
		t.Error("Pending() = true after Revoke, want false")
	}
	_, err = s.Redeem(context.Background(), request(inv), randomID(t), time.Now())
	wantRefusal(t, "revoked invitation", err, ErrRevoked, http.StatusForbidden)
	if err := s.Revoke("nosuchinvitation"); !errors.Is(err, ErrUnknown) {
		t.Errorf("Revoke of an unknown ID: %v, want ErrUnknown", err)
	}
	list, _ := s.List(time.Now())
	if len(list) != 1 || !list[0].Revoked {
		t.Errorf("List after Revoke = %+v, want one revoked invitation", list)
	}
}

// (No URL is fine: TestCodeWithoutURL.)
func TestCreateRefusesBadInput(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	tests := []struct {
		name, url, inviterName string
		ttl                    time.Duration
		inviter                identity.ID
	}{
		{"plain http", "http://acme.example.com", "Acme", time.Hour, randomID(t)},
		{"not a url", "acme example", "Acme", time.Hour, randomID(t)},
		{"ttl too short", inviterURL, "Acme", time.Second, randomID(t)},
		{"negative ttl", inviterURL, "Acme", -time.Hour, randomID(t)},
		{"no inviter", inviterURL, "Acme", time.Hour, identity.ID{}},
		{"name too long", inviterURL, strings.Repeat("n", maxNameLen+1), time.Hour, randomID(t)},
	}
	for _, tc := range tests {
		if inv, err := s.Create(ctx, tc.inviter, tc.inviterName, tc.url, tc.ttl); err == nil {
			t.Errorf("%s: Create = %+v, want an error", tc.name, inv)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Create(cancelled, randomID(t), "Acme", inviterURL, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Create with a cancelled context: %v, want context.Canceled", err)
	}
	if list, _ := s.List(time.Now()); len(list) != 0 {
		t.Errorf("List after refused Creates = %+v, want empty", list)
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	st, s := openStore(t, dir)
	used := create(t, s, time.Hour)
	open := create(t, s, time.Hour)
	red, err := s.Redeem(context.Background(), request(used), randomID(t), time.Now())
	if err != nil {
		t.Fatalf("Redeem: %v", err)
	}
	wrong := request(open)
	wrong.Secret = make([]byte, secretLen)
	if _, err := s.Redeem(context.Background(), wrong, randomID(t), time.Now()); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("wrong secret: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, s = openStore(t, dir)
	defer st.Close()
	list, err := s.List(time.Now())
	if err != nil {
		t.Fatalf("List after reopen: %v", err)
	}
	if len(list) != 2 {
		t.Fatalf("List after reopen has %d invitations, want 2", len(list))
	}
	for _, info := range list {
		switch info.ID {
		case used.ID:
			if !info.Used || info.ConnectionID != red.ConnectionID {
				t.Errorf("used invitation after reopen = %+v, want used with connection %s", info, red.ConnectionID)
			}
		case open.ID:
			if info.Used || info.WrongSecrets != 1 {
				t.Errorf("open invitation after reopen = %+v, want unused with 1 wrong secret", info)
			}
		default:
			t.Errorf("unexpected invitation %+v", info)
		}
	}
	_, err = s.Redeem(context.Background(), request(used), randomID(t), time.Now())
	wantRefusal(t, "used invitation after reopen", err, ErrUsed, http.StatusForbidden)
	if _, err := s.Redeem(context.Background(), request(open), randomID(t), time.Now()); err != nil {
		t.Errorf("open invitation after reopen: %v", err)
	}
}

// The secret never reaches the disk in any encoding; only its hash does.
func TestOnlySecretHashOnDisk(t *testing.T) {
	dir := t.TempDir()
	st, s := openStore(t, dir)
	var invs []Invitation
	for range 5 {
		invs = append(invs, create(t, s, time.Hour))
	}
	// A redeemed one too: redemption must not write the presented secret.
	if _, err := s.Redeem(context.Background(), request(invs[0]), randomID(t), time.Now()); err != nil {
		t.Fatal(err)
	}
	path := st.Path()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, inv := range invs {
		// The scan works: the invitation ID is there in plain text.
		if !bytes.Contains(data, []byte(inv.ID)) {
			t.Fatalf("#%d invitation ID %s not found in the database file: the scan is broken", i, inv.ID)
		}
		for enc, form := range map[string][]byte{
			"raw":       inv.Secret,
			"base64":    []byte(base64.StdEncoding.EncodeToString(inv.Secret)),
			"base64url": []byte(base64.RawURLEncoding.EncodeToString(inv.Secret)),
			"hex":       []byte(hex.EncodeToString(inv.Secret)),
			"half raw":  inv.Secret[:secretLen/2],
		} {
			if bytes.Contains(data, form) {
				t.Errorf("#%d secret found in the database file (%s)", i, enc)
			}
		}
		if bytes.Contains(data, []byte(strings.TrimPrefix(inv.Code(), "tandem1-")[40:80])) {
			t.Errorf("#%d part of the invitation code found in the database file", i)
		}
	}
}

func TestPrune(t *testing.T) {
	s := newStore(t)
	short := create(t, s, time.Hour)
	long := create(t, s, 48*time.Hour)
	if _, err := s.Redeem(context.Background(), request(short), randomID(t), time.Now()); err != nil {
		t.Fatal(err)
	}
	keep := 7 * 24 * time.Hour
	tests := []struct {
		at   time.Time
		want []string // remaining IDs
	}{
		{time.Now(), []string{short.ID, long.ID}},
		{short.Expires.Add(keep - time.Second), []string{short.ID, long.ID}},
		{short.Expires.Add(keep), []string{long.ID}},
		{long.Expires.Add(keep), nil},
	}
	for i, tc := range tests {
		if _, err := s.Prune(tc.at, keep); err != nil {
			t.Fatalf("#%d Prune: %v", i, err)
		}
		list, err := s.List(tc.at)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, info := range list {
			got = append(got, info.ID)
		}
		slices.Sort(got)
		slices.Sort(tc.want)
		if !slices.Equal(got, tc.want) {
			t.Errorf("#%d after Prune at %v: invitations %v, want %v", i, tc.at, got, tc.want)
		}
	}
}

package pairing

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// An invitation without a URL (its inviter accepts no connections) is a valid code.
func TestCodeWithoutURL(t *testing.T) {
	s := newStore(t)
	inv, err := s.Create(context.Background(), randomID(t), "Firewalled", "", time.Hour)
	if err != nil {
		t.Fatalf("Create without a URL: %v", err)
	}
	got, err := ParseCode(inv.Code())
	if err != nil || got.URL != "" || got.ID != inv.ID {
		t.Fatalf("ParseCode = %+v, %v; want the invitation without a URL", got, err)
	}
	list, _ := s.List(time.Now())
	if len(list) != 1 || list[0].URL != "" {
		t.Errorf("List = %+v, want the invitation listed without a URL", list)
	}
}

func sampleReply(t *testing.T) (Invitation, Reply) {
	t.Helper()
	inv := sampleInvitation(t)
	inv.URL = ""
	r, err := NewReply(inv, randomID(t), "https://globex.example.net:7443")
	if err != nil {
		t.Fatalf("NewReply: %v", err)
	}
	return inv, r
}

func TestReplyRoundTrip(t *testing.T) {
	inv, r := sampleReply(t)
	code := r.Code()
	if !strings.HasPrefix(code, "tandemreply1-") || strings.ContainsAny(code, " \n=+/") {
		t.Fatalf("Code() = %q, want tandemreply1- and characters that copy cleanly", code)
	}
	if !IsReplyCode(" \n" + strings.ToUpper(code)) {
		t.Errorf("IsReplyCode(%q) = false", code)
	}
	if IsReplyCode(inv.Code()) {
		t.Errorf("IsReplyCode(an invitation code) = true")
	}
	var wrapped strings.Builder
	for i := 0; i < len(code); i += 40 {
		wrapped.WriteString(code[i:min(i+40, len(code))] + "\r\n")
	}
	for name, in := range map[string]string{"as is": code, "upper case": strings.ToUpper(code), "wrapped": wrapped.String()} {
		got, err := ParseReply(in)
		if err != nil {
			t.Errorf("%s: ParseReply: %v", name, err)
			continue
		}
		if got.Inviter != r.Inviter || got.Replier != r.Replier || got.URL != r.URL || got.InvitationID != r.InvitationID || string(got.Proof) != string(r.Proof) {
			t.Errorf("%s: ParseReply = %+v, want %+v", name, got, r)
		}
	}
	if !CheckProof(r.Proof, ReplyProof(SecretHash(inv.Secret), r)) {
		t.Error("the reply's proof does not check against the invitation's secret")
	}
	other := inv
	other.Secret = randomBytes(secretLen)
	if CheckProof(r.Proof, ReplyProof(SecretHash(other.Secret), r)) {
		t.Error("the reply's proof checks against another secret")
	}
	moved := r
	moved.URL = "https://evil.example"
	if CheckProof(r.Proof, ReplyProof(SecretHash(inv.Secret), moved)) {
		t.Error("the proof still checks with another URL: a reply could be redirected")
	}
	if _, err := ParseCode(code); !errors.Is(err, ErrNotCode) || !strings.Contains(err.Error(), "reply code") {
		t.Errorf("ParseCode(a reply code) = %v, want it to say it is a reply code", err)
	}
}

func TestParseReplyErrors(t *testing.T) {
	_, r := sampleReply(t)
	code := r.Code()
	noURL := r
	noURL.URL = ""
	self := r
	self.Replier = r.Inviter
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"invitation code", sampleInvitation(t).Code(), ErrNotReply},
		{"prose", "thanks, here it is", ErrNotReply},
		{"huge paste", "tandemreply1-" + strings.Repeat("a", maxCodeLen), ErrNotReply},
		{"future version", "tandemreply2-" + strings.TrimPrefix(code, "tandemreply1-"), ErrUnsupportedVersion},
		{"prefix only", "tandemreply1-", ErrReplyDamaged},
		{"truncated", code[:len(code)-7], ErrReplyDamaged},
		{"cut in half", code[:len(code)/2], ErrReplyDamaged},
		{"extra characters", code + "ab", ErrReplyDamaged},
		{"valid checksum, no URL", noURL.Code(), ErrReplyDamaged},
		{"valid checksum, replier is the inviter", self.Code(), ErrReplyDamaged},
	} {
		if _, err := ParseReply(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: ParseReply error = %v, want %v", tc.name, err, tc.want)
		}
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	for i := len("tandemreply1-"); i < len(code); i++ {
		c := alphabet[(strings.IndexByte(alphabet, code[i])+1)%32]
		if _, err := ParseReply(code[:i] + string(c) + code[i+1:]); !errors.Is(err, ErrReplyDamaged) {
			t.Fatalf("position %d changed: ParseReply error = %v, want ErrReplyDamaged", i, err)
		}
	}
}

func TestReplyConnectionIDIsSharedAndDistinct(t *testing.T) {
	a, b := randomID(t), randomID(t)
	id := ReplyConnectionID("abc", a, b)
	if len(id) != 32 || id != ReplyConnectionID("abc", a, b) {
		t.Fatalf("ReplyConnectionID = %q, want 32 hex characters, the same each time", id)
	}
	for _, other := range []string{ReplyConnectionID("abd", a, b), ReplyConnectionID("abc", b, a), ReplyConnectionID("abc", a, randomID(t))} {
		if other == id {
			t.Errorf("another invitation or key gives the same connection ID %s", id)
		}
	}
}

// The inviter checks a reply against its invitation and says why one cannot complete.
func TestCheckReplyAndUse(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	inviter := randomID(t)
	invite := func() (Invitation, Reply) {
		inv, err := s.Create(ctx, inviter, "Firewalled", "", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewReply(inv, randomID(t), "https://globex.example.net")
		if err != nil {
			t.Fatal(err)
		}
		return inv, r
	}
	now := time.Now()
	inv, r := invite()
	info, hash, err := s.CheckReply(r, now)
	if err != nil || info.ID != inv.ID || string(hash) != string(SecretHash(inv.Secret)) {
		t.Fatalf("CheckReply = %+v, %x, %v; want the invitation and its secret's hash", info, hash, err)
	}
	connID := ReplyConnectionID(inv.ID, inviter, r.Replier)
	if err := s.UseForReply(inv.ID, r.Replier, connID, now); err != nil {
		t.Fatal(err)
	}
	if err := s.UseForReply(inv.ID, r.Replier, connID, now); err != nil {
		t.Errorf("UseForReply again for the same replier: %v, want nil", err)
	}
	if err := s.UseForReply(inv.ID, randomID(t), "other", now); !errors.Is(err, ErrUsed) {
		t.Errorf("UseForReply for another replier: %v, want ErrUsed", err)
	}
	if info, _, err := s.CheckReply(r, now); !errors.Is(err, ErrUsed) || info.Invitee != r.Replier {
		t.Errorf("CheckReply of a used invitation = %+v, %v; want ErrUsed naming the replier", info, err)
	}

	cancelled, rc := invite()
	if err := s.Revoke(cancelled.ID); err != nil {
		t.Fatal(err)
	}
	_, rx := invite()
	forged := rx
	forged.Replier = randomID(t) // someone who never read the code
	unknown := rx
	unknown.InvitationID = "ffff"
	for _, tc := range []struct {
		name string
		r    Reply
		at   time.Time
		want error
	}{
		{"cancelled", rc, now, ErrRevoked},
		{"expired", rx, now.Add(2 * time.Hour), ErrExpired},
		{"forged", forged, now, ErrReplyMismatch},
		{"unknown invitation", unknown, now, ErrUnknown},
	} {
		if _, _, err := s.CheckReply(tc.r, tc.at); !errors.Is(err, tc.want) {
			t.Errorf("%s: CheckReply = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// Accepted invitations are kept by connection ID until completed, cancelled or pruned.
func TestAcceptedKeptAndPruned(t *testing.T) {
	s := newStore(t)
	now := time.Now().UTC()
	a := Accepted{ConnectionID: "c1", InvitationID: "abc", Inviter: randomID(t), InviterName: "Kim", SecretHash: SecretHash([]byte("s")),
		Reply: "tandemreply1-x", URL: "https://me.example", Created: now, Expires: now.Add(time.Hour)}
	b := a
	b.ConnectionID, b.Created, b.Expires = "c2", now.Add(time.Second), now.Add(-40*24*time.Hour)
	for _, x := range []Accepted{b, a} {
		if err := s.SaveAccepted(x); err != nil {
			t.Fatal(err)
		}
	}
	if got, ok := s.AcceptedFor("c1"); !ok || got.Inviter != a.Inviter || !got.Pending(now) {
		t.Errorf("AcceptedFor(c1) = %+v, %v; want it pending", got, ok)
	}
	if _, ok := s.AcceptedFor("nope"); ok {
		t.Error("AcceptedFor(an unknown ID) found one")
	}
	list, err := s.AcceptedList()
	if err != nil || len(list) != 2 || list[0].ConnectionID != "c1" {
		t.Fatalf("AcceptedList = %+v, %v; want c1 then c2", list, err)
	}
	if n, err := s.Prune(now, 30*24*time.Hour); err != nil || n != 1 {
		t.Errorf("Prune = %d, %v; want the long expired one gone", n, err)
	}
	if err := s.DeleteAccepted("c1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccepted("c1"); !errors.Is(err, ErrNotAccepted) {
		t.Errorf("DeleteAccepted twice: %v, want ErrNotAccepted", err)
	}
	if list, _ := s.AcceptedList(); len(list) != 0 {
		t.Errorf("AcceptedList after all ended = %+v", list)
	}
}

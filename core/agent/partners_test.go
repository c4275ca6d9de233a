package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/audit"
	"github.com/tandemsync/tandem/core/control"
	"github.com/tandemsync/tandem/core/identity"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/pairing"
	"github.com/tandemsync/tandem/core/store"
	"github.com/tandemsync/tandem/core/transport"
)

func connInfo(t *testing.T, a *running, id string) ConnectionInfo {
	t.Helper()
	list, err := a.Connections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("%s has no connection %s", a.Name(), id)
	return ConnectionInfo{}
}

// The command line reaches a running agent over its control socket: the data directory is
// locked by the agent, so only the socket can answer.
func TestControlChannelDrivesRunningAgent(t *testing.T) {
	keys := testKeys(t)
	blueDir := t.TempDir()
	blue := start(t, Options{Dir: blueDir, Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys})
	red := start(t, Options{Dir: t.TempDir(), Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Keys: keys})
	ctx := context.Background()
	opt := Options{Dir: blueDir, Keys: keys, Logger: slog.New(slog.DiscardHandler)}
	if _, err := Open(ctx, opt); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("opening the running agent's directory: %v, want ErrLocked (so Call must use the socket)", err)
	}
	var info AgentInfo
	if err := Call(ctx, opt, "agent.info", None{}, &info); err != nil || info.ID != blue.ID().String() || info.URL != blue.URL() {
		t.Fatalf("agent.info over the socket = %+v, %v; want blue at %s", info, err, blue.URL())
	}
	var inv Invitation
	if err := Call(ctx, opt, "invite", InviteRequest{Expires: time.Hour}, &inv); err != nil {
		t.Fatalf("invite over the socket: %v", err)
	}
	if d := time.Until(inv.Expires); d < 59*time.Minute || d > time.Hour {
		t.Errorf("invitation expires in %v, want about 1h as asked", d)
	}
	c, err := red.Accept(ctx, inv.Code)
	if err != nil {
		t.Fatalf("accept the code made over the socket: %v", err)
	}
	var list []ConnectionInfo
	if err := Call(ctx, opt, "connections.list", None{}, &list); err != nil || len(list) != 1 || list[0].ID != c.ID {
		t.Fatalf("connections.list = %+v, %v; want the new connection", list, err)
	}
	var paused ConnectionInfo
	if err := Call(ctx, opt, "connections.pause", ConnectionRequest{Connection: "red"}, &paused); err != nil || paused.State != StatePaused {
		t.Fatalf("pause by the partner's name: %+v, %v", paused, err)
	}
	if got := connInfo(t, blue, c.ID).State; got != StatePaused {
		t.Errorf("the running agent's connection is %s after pause over the socket, want paused", got)
	}
	err = Call(ctx, opt, "connections.pause", ConnectionRequest{Connection: "nobody"}, nil)
	var re *control.RemoteError
	if !errors.As(err, &re) || re.Code != control.CodeNotFound || !strings.Contains(err.Error(), `no such connection "nobody"`) {
		t.Errorf("pause of an unknown connection: %v; want not_found in words", err)
	}
	var rep audit.Report
	if err := Call(ctx, opt, "audit.verify", None{}, &rep); err != nil || !rep.OK || rep.Entries < 3 {
		t.Errorf("audit.verify = %+v, %v; want an intact chain with the address, invitation, pairing and pause", rep, err)
	}
}

// With no agent running, Call opens the directory for the one call; the address kept from the
// first start is what the invitation carries.
func TestCallOpensTheDirectoryAndTheAgentRemembersItsAddress(t *testing.T) {
	keys := testKeys(t)
	dir := t.TempDir()
	ctx := context.Background()
	a, err := Open(ctx, Options{Dir: dir, Name: "Blue Corp", Listen: "127.0.0.1:0", URL: "https://tandem.blue.example:7443", Keys: keys, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.RemoveKey(context.Background()) })
	a.Close()
	opt := Options{Dir: dir, Keys: keys, DefaultListen: "127.0.0.1:7443", Logger: slog.New(slog.DiscardHandler)}
	var inv Invitation
	if err := Call(ctx, opt, "invite", InviteRequest{}, &inv); err != nil {
		t.Fatalf("invite on a directory no agent runs on: %v", err)
	}
	code, err := pairing.ParseCode(inv.Code)
	if err != nil {
		t.Fatal(err)
	}
	if code.URL != "https://tandem.blue.example:7443" || code.InviterName != "Blue Corp" {
		t.Errorf("the code carries %q at %s, want the kept name and URL", code.InviterName, code.URL)
	}
	if d := time.Until(inv.Expires); d < 23*time.Hour || d > 24*time.Hour {
		t.Errorf("default expiry in %v, want 24h", d)
	}
	var info AgentInfo
	if err := Call(ctx, opt, "agent.info", None{}, &info); err != nil || info.Address.Listen != "127.0.0.1:0" {
		t.Errorf("kept address %+v, %v; want listen 127.0.0.1:0 as first given", info.Address, err)
	}
	var list []InvitationInfo
	if err := Call(ctx, opt, "invitations.list", None{}, &list); err != nil || len(list) != 1 || list[0].State != InvitationPending {
		t.Fatalf("invitations.list = %+v, %v", list, err)
	}
	if err := Call(ctx, opt, "invitations.cancel", InvitationRequest{ID: list[0].ID}, nil); err != nil {
		t.Fatal(err)
	}
	if err := Call(ctx, opt, "invitations.list", None{}, &list); err != nil || list[0].State != InvitationCancelled {
		t.Errorf("after cancel: %+v, %v; want cancelled", list, err)
	}
}

func TestNoPairingWithItselfOrTwice(t *testing.T) {
	keys := testKeys(t)
	blue := start(t, Options{Dir: t.TempDir(), Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys})
	red := start(t, Options{Dir: t.TempDir(), Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Keys: keys})
	ctx := context.Background()
	inv, err := blue.Invite(ctx, InviteRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blue.Accept(ctx, inv.Code); err == nil || !strings.Contains(err.Error(), "never pairs with itself") {
		t.Errorf("accepting its own code: %v; want a refusal in words", err)
	}
	pair(t, blue, red)
	inv2, err := blue.Invite(ctx, InviteRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := red.Accept(ctx, inv2.Code); err == nil || !strings.Contains(err.Error(), "already paired with Blue") {
		t.Errorf("accepting a second code of a partner: %v; want 'already paired'", err)
	}
	// The inviter refuses too, whatever the invitee's agent checked: its own key, and a key it
	// is paired with already.
	for _, tc := range []struct {
		name string
		id   *identity.Identity
		want string
	}{
		{"its own key", blue.id, "never pairs with itself"},
		{"a partner's key", red.id, "already paired"},
	} {
		inv, _ := blue.Invite(ctx, InviteRequest{})
		code, _ := pairing.ParseCode(inv.Code)
		body, _ := json.Marshal(pairing.RedeemRequest{InvitationID: code.ID, Secret: code.Secret, Name: "X"})
		_, err := transport.Pair(ctx, tc.id, blue.ID(), blue.URL(), code.ID, body)
		var se *transport.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusConflict || !strings.Contains(se.Message, tc.want) {
			t.Errorf("redeeming with %s: %v; want 409 saying %q", tc.name, err, tc.want)
		}
	}
	if n := len(connList(t, blue)); n != 1 {
		t.Errorf("blue has %d connections, want 1", n)
	}
}

// pairedAgents starts Blue and Red on loopback and pairs them (Blue invites).
func pairedAgents(t *testing.T) (blue, red *running, connID string) {
	t.Helper()
	keys := testKeys(t)
	blue = start(t, Options{Dir: t.TempDir(), Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys})
	red = start(t, Options{Dir: t.TempDir(), Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Keys: keys})
	return blue, red, pair(t, blue, red)
}

func connList(t *testing.T, a *running) []ConnectionInfo {
	t.Helper()
	l, err := a.Connections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Redeeming a code that was used, cancelled, locked or expired says which, in words.
func TestUsedCancelledLockedExpiredCodesSaySo(t *testing.T) {
	keys := testKeys(t)
	blue := start(t, Options{Dir: t.TempDir(), Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys})
	red := start(t, Options{Dir: t.TempDir(), Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Keys: keys})
	green := start(t, Options{Dir: t.TempDir(), Name: "Green", Listen: "127.0.0.1:0", Prefix: "GREEN", Keys: keys})
	ctx := context.Background()

	used, _ := blue.Invite(ctx, InviteRequest{})
	if _, err := red.Accept(ctx, used.Code); err != nil {
		t.Fatal(err)
	}
	cancelled, _ := blue.Invite(ctx, InviteRequest{})
	if err := blue.CancelInvitation(ctx, cancelled.ID); err != nil {
		t.Fatal(err)
	}
	locked, _ := blue.Invite(ctx, InviteRequest{})
	lockedInv, _ := pairing.ParseCode(locked.Code)
	for range pairing.MaxWrongSecrets {
		bad := lockedInv
		bad.Secret = make([]byte, len(bad.Secret))
		green.Accept(ctx, bad.Code())
	}
	expiring, err := blue.invites.Create(ctx, blue.ID(), "Blue", blue.URL(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	expire(t, blue, expiring.ID)

	for _, tc := range []struct {
		name, code, want string
	}{
		{"used", used.Code, "has already been used"},
		{"cancelled", cancelled.Code, "was cancelled by the inviter"},
		{"locked", locked.Code, "locked after too many wrong secrets"},
		{"expired at the inviter", expiring.Code(), "has expired"},
	} {
		_, err := green.Accept(ctx, tc.code)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "refuses this agent's key") {
			t.Errorf("%s code: %v; want it to say %q", tc.name, err, tc.want)
		}
	}
	if n := len(connList(t, green)); n != 0 {
		t.Errorf("green paired %d times with refused codes", n)
	}
}

// expire moves an invitation's expiry into the past, as time would.
func expire(t *testing.T, a *running, id string) {
	t.Helper()
	err := a.st.DB().Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("pairing_invitations"))
		var rec map[string]any
		if err := json.Unmarshal(b.Get([]byte(id)), &rec); err != nil {
			return err
		}
		rec["expires"] = time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
		v, _ := json.Marshal(rec)
		return b.Put([]byte(id), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Pause holds both sides, and resume drains in order with nothing lost.
func TestPauseHoldsAndResumeDrainsInOrder(t *testing.T) {
	blue, red, id := pairedAgents(t)
	ctx := context.Background()
	if _, err := blue.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "red hears that blue paused", func() (bool, string) {
		c := connInfo(t, red, id)
		return c.Status() == "Paused by the partner", c.Status()
	})
	it, err := red.CreateItem(ctx, item.Item{Title: "Printer jams", Status: "open"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		it.Description = fmt.Sprintf("edit %d", i)
		if it, err = red.UpdateItem(ctx, it); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	blueItem, err := blue.Local().Create(ctx, item.Item{Title: "Blue's own", Status: "open"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if items := byTitle(t, blue); len(items) != 1 {
		t.Fatalf("blue applied red's events while paused: %v", keysOf(items))
	}
	if items := byTitle(t, red); len(items) != 1 {
		t.Fatalf("red received blue's item while blue is paused: %v", keysOf(items))
	}
	if c := connInfo(t, red, id); c.Outbox == 0 || c.Failed != 0 {
		t.Errorf("red's outbox %d, failed %d while blue is paused; want events held, none failed", c.Outbox, c.Failed)
	}
	if _, err := blue.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "both sides caught up after resume", func() (bool, string) {
		b, r := byTitle(t, blue), byTitle(t, red)
		return len(b) == 2 && len(r) == 2 && b["Printer jams"].Description == "edit 4" && r["Blue's own"].Key != "",
			fmt.Sprintf("blue %v, red %v", b, r)
	})
	if c := connInfo(t, red, id); c.Status() != "Active" {
		t.Errorf("red shows %q after the resume, want Active", c.Status())
	}
	_ = blueItem
}

// Revoking on one side stops the other, which says why; the revoking side refuses the key.
func TestRevokeStopsThePartnerWhichSaysWhy(t *testing.T) {
	blue, red, id := pairedAgents(t)
	ctx := context.Background()
	if _, err := red.CreateItem(ctx, item.Item{Title: "Before", Status: "open"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "first item synced", func() (bool, string) { return len(byTitle(t, blue)) == 1, "" })

	if _, err := blue.Revoke(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "red says blue revoked", func() (bool, string) {
		c := connInfo(t, red, id)
		return c.Status() == "Revoked by the partner" && strings.Contains(c.Problem, "The partner revoked"), c.Status() + " / " + c.Problem
	})
	if _, err := red.CreateItem(ctx, item.Item{Title: "After", Status: "open"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if items := byTitle(t, blue); len(items) != 1 {
		t.Errorf("blue got items after revoking: %v", keysOf(items))
	}
	// Blue refuses red's key outright now.
	c, _ := red.conn(id)
	if _, err := c.client.Status(ctx); !transport.IsRefused(err) {
		t.Errorf("red's call after the revoke: %v, want a refused key", err)
	}
	if got := connInfo(t, blue, id).Status(); got != "Revoked" {
		t.Errorf("blue shows %q, want Revoked", got)
	}
	if _, err := blue.Resume(ctx, id); err == nil {
		t.Error("a revoked connection resumed")
	}
}

// A partner that refuses this agent's key (it revoked while this agent was down) shows at once
// in words, and the sender holds for minutes instead of retrying every few seconds.
func TestRefusedKeyShownAtOnceAndNotRetriedSoon(t *testing.T) {
	keys := testKeys(t)
	blue := start(t, Options{Dir: t.TempDir(), Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys})
	redOpt := Options{Dir: t.TempDir(), Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Keys: keys}
	red := start(t, redOpt)
	id := pair(t, blue, red)
	ctx := context.Background()
	red.stop() // red is down when blue revokes, so it is never told
	redOpt.Listen = strings.TrimPrefix(red.URL(), "https://")
	if _, err := blue.Revoke(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	red = start(t, redOpt)
	if _, err := red.CreateItem(ctx, item.Item{Title: "Hello?", Status: "open"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "red shows the refusal", func() (bool, string) {
		c := connInfo(t, red, id)
		return c.Status() == "Refused by the partner" && strings.Contains(c.Problem, "refuses this agent's key"), c.Status() + " / " + c.Problem
	})
	c, _ := red.conn(id)
	c.partner.mu.Lock()
	wait := time.Until(c.partner.until)
	c.partner.mu.Unlock()
	if wait < 10*time.Minute {
		t.Errorf("red tries again in %v, want a hold of minutes", wait)
	}
	if ci := connInfo(t, red, id); ci.Failed != 0 || ci.Outbox == 0 {
		t.Errorf("red's events: outbox %d, failed %d; want them waiting, not failed", ci.Outbox, ci.Failed)
	}
}

// A pair where one side has no listener at all syncs both ways: it pulls and pushes.
func TestFirewalledPartnerSyncsBothWays(t *testing.T) {
	blue, red := firewalledPair(t)
	id := pair(t, blue, red)
	if c := connInfo(t, red, id); !c.Pulls {
		t.Errorf("red's connection does not pull: %+v", c)
	}
	if c := connInfo(t, blue, id); c.PartnerURL != "" {
		t.Errorf("blue would dial red at %q", c.PartnerURL)
	}
	syncsBothWays(t, blue, red, id)
}

// syncsBothWays checks that an item made on each side reaches the other, that an update on
// blue reaches red, and that both outboxes drain.
func syncsBothWays(t *testing.T, blue, red *running, id string) {
	t.Helper()
	ctx := context.Background()
	b, err := blue.CreateItem(ctx, item.Item{Title: "From blue", Status: "open"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := red.CreateItem(ctx, item.Item{Title: "From red", Status: "open"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "both items on both sides", func() (bool, string) {
		bb, rr := byTitle(t, blue), byTitle(t, red)
		return len(bb) == 2 && len(rr) == 2, fmt.Sprintf("blue %v, red %v", keysOf(bb), keysOf(rr))
	})
	b.Status = "in progress"
	if _, err := blue.UpdateItem(ctx, b); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "blue's update pulled by red", func() (bool, string) {
		return byTitle(t, red)["From blue"].Status == "in progress", byTitle(t, red)["From blue"].Status
	})
	eventually(t, 30*time.Second, "outboxes drained", func() (bool, string) {
		bc, rc := connInfo(t, blue, id), connInfo(t, red, id)
		return bc.Outbox == 0 && rc.Outbox == 0, fmt.Sprintf("blue outbox %d, red outbox %d", bc.Outbox, rc.Outbox)
	})
}

// The audit log records pairing, verification, pause, resume and revoke, with the OS user,
// and its chain verifies.
func TestAuditRecordsConnectionChanges(t *testing.T) {
	blue, red, id := pairedAgents(t)
	ctx := context.Background()
	if _, err := blue.Verify(ctx, id, "000 000 000"); err == nil {
		t.Error("verify with a wrong code succeeded")
	}
	code := connInfo(t, blue, id).VerificationCode
	if _, err := blue.Verify(ctx, id, code); err != nil {
		t.Fatal(err)
	}
	if c := connInfo(t, blue, id); !c.IsVerified() {
		t.Error("not verified after Verify")
	}
	blue.Pause(ctx, id)
	blue.Resume(ctx, id)
	blue.SetAllowList(ctx, id, []string{"127.0.0.1", "10.0.0.0/8"})
	if err := blue.SetHistoryRetention(ctx, 30); err != nil {
		t.Fatal(err)
	}
	blue.Revoke(ctx, id, false)
	entries, err := blue.AuditTail(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range entries {
		kinds = append(kinds, e.Kind)
		if e.User == "" || e.Time.IsZero() {
			t.Errorf("entry %+v has no user or time", e)
		}
	}
	want := []string{audit.KindAgent, audit.KindInvitation, audit.KindPairing, audit.KindVerification, audit.KindPause, audit.KindResume, audit.KindAllowList, audit.KindSettings, audit.KindRevoke}
	if strings.Join(kinds, ",") != strings.Join(want, ",") {
		t.Errorf("audit kinds %v, want %v", kinds, want)
	}
	rep, err := blue.VerifyAudit(ctx)
	if err != nil || !rep.OK {
		t.Errorf("VerifyAudit = %+v, %v", rep, err)
	}
	// Red recorded its side, and the partner's revoke.
	redEntries, _ := red.AuditTail(ctx, 100)
	if last := redEntries[len(redEntries)-1]; last.Kind != audit.KindRevoke || !strings.Contains(last.What, "revoked by the partner") {
		t.Errorf("red's last audit entry %+v, want the partner's revoke", last)
	}
}

// An allow-list refuses the partner from elsewhere (here: loopback is not on it).
func TestAllowListRefusesPartnerElsewhere(t *testing.T) {
	blue, red, id := pairedAgents(t)
	ctx := context.Background()
	if _, err := blue.SetAllowList(ctx, id, []string{"not an address"}); err == nil {
		t.Error("a malformed allow-list was accepted")
	}
	if _, err := blue.SetAllowList(ctx, id, []string{"203.0.113.0/24"}); err != nil {
		t.Fatal(err)
	}
	c, _ := red.conn(id)
	_, err := c.client.Status(ctx)
	if err == nil {
		t.Fatal("red reached blue from outside the allow-list")
	}
	if _, err := blue.SetAllowList(ctx, id, []string{"127.0.0.0/8"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.Status(ctx); err != nil {
		t.Errorf("red from inside the allow-list: %v", err)
	}
}

// A partner's events for a connection paused here are answered "paused" and not stored; for a
// revoked one its key is refused and nothing is stored.
func TestEventsForPausedAndRevokedConnectionsRefused(t *testing.T) {
	blue, red, id := pairedAgents(t)
	ctx := context.Background()
	c, _ := red.conn(id)
	batch := []transport.Event{{Seq: 1, ID: "forged-1", ItemKey: "RED-1", Kind: "create", Payload: []byte(`{"source":"RED-1","replica":{"title":"x"}}`), Created: time.Now()}}
	inbox := func() int {
		bc, _ := blue.conn(id)
		n, err := bc.in.Counts()
		if err != nil {
			t.Fatal(err)
		}
		return n.Total()
	}
	if _, err := blue.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	_, err := c.client.Send(ctx, batch)
	var se *transport.StatusError
	if !errors.As(err, &se) || se.State != "paused" || se.RetryAfter() <= 0 {
		t.Errorf("events for a paused connection: %v; want a 'paused' answer with Retry-After", err)
	}
	if n := inbox(); n != 0 {
		t.Errorf("blue stored %d events while paused", n)
	}
	if _, err := blue.Revoke(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.Send(ctx, batch); !transport.IsRefused(err) {
		t.Errorf("events for a revoked connection: %v; want the key refused", err)
	}
	if n := inbox(); n != 0 {
		t.Errorf("blue stored %d events after the revoke", n)
	}
	if items := byTitle(t, blue); len(items) != 0 {
		t.Errorf("blue applied %v", keysOf(items))
	}
}

// A partner that asks to slow down (429 with Retry-After) holds the sender for as long as it
// asked; a 'paused' answer holds it until the partner is heard from.
func TestSenderHonoursRetryAfter(t *testing.T) {
	_, red, id := pairedAgents(t)
	c, _ := red.conn(id)
	err := red.partnerFailed(c, &transport.StatusError{Code: 429, Message: "slow down", After: 30 * time.Second})
	var p interface{ Permanent() bool }
	if !errors.As(err, &p) || p.Permanent() {
		t.Errorf("a 429 became %v; want a transient error the events wait out", err)
	}
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := c.partner.wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the sender went on %v after a Retry-After of 30 s", err)
	}
	if st := connInfo(t, red, id); st.PartnerState != partnerLimiting || !strings.Contains(st.Problem, "slow down") {
		t.Errorf("connection shows %q / %q; want the partner's request to slow down", st.PartnerState, st.Problem)
	}
	c.partner.heard() // the partner calling in does not cancel its own request to wait
	short2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if err := c.partner.wait(short2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hearing from the partner lifted its Retry-After: %v", err)
	}
	red.partnerFailed(c, &transport.StatusError{Code: 503, Message: "paused", State: "paused", After: time.Minute})
	c.partner.heard()
	if err := c.partner.wait(context.Background()); err != nil {
		t.Errorf("a pause hold after hearing from the partner: %v", err)
	}
}

// Bad codes get a clear sentence each, and a code for a closed port fails fast.
func TestBadCodesSayWhatIsWrong(t *testing.T) {
	keys := testKeys(t)
	a := start(t, Options{Dir: t.TempDir(), Name: "Blue", Listen: "127.0.0.1:0", Keys: keys})
	ctx := context.Background()
	inv, err := a.Invite(ctx, InviteRequest{})
	if err != nil {
		t.Fatal(err)
	}
	other := start(t, Options{Dir: t.TempDir(), Name: "Red", Listen: "127.0.0.1:0", Keys: keys})
	code, _ := pairing.ParseCode(inv.Code)
	code.URL = "https://" + freePort(t)
	for _, tc := range []struct{ name, code, want string }{
		{"truncated", inv.Code[:len(inv.Code)-9], "damaged"},
		{"not a code", "hello", "not a Tandem invitation code"},
		{"closed port", code.Code(), "nothing accepts connections"},
	} {
		_, err := other.Accept(ctx, tc.code)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want it to say %q", tc.name, err, tc.want)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

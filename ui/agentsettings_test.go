package ui

import (
	"context"
	"errors"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/audit"
)

func TestSettingsShowTheAgentAndItsSecretsAndSaveTheAddress(t *testing.T) {
	f := newFakeAgent()
	f.info = agent.AgentInfo{Address: agent.Address{Name: "Blue", Listen: "0.0.0.0:7443", URL: "https://blue.example:7443"},
		Secrets: "a passphrase-encrypted file, /srv/tandem/secrets.enc"}
	f.audit = audit.Report{OK: true, Entries: 12, Last: audit.Entry{Seq: 12}}
	u, w := newTestUI(t, f)
	test.Tap(u.nav[screenSettings])
	u.pending.Wait()
	s := &u.agentSet
	if s.name.Text != "Blue" || s.listen.Text != "0.0.0.0:7443" || s.url.Text != "https://blue.example:7443" {
		t.Fatalf("form shows %q %q %q, want the agent's address", s.name.Text, s.listen.Text, s.url.Text)
	}
	wantShownWrapped(t, w, "a passphrase-encrypted file, /srv/tandem/secrets.enc")
	wantShownWrapped(t, w, "holds 12 entries and its chain is intact")

	s.listen.SetText("off")
	test.Tap(s.save)
	u.pending.Wait()
	if len(f.addresses) != 1 || f.addresses[0].Listen != "off" || f.addresses[0].Name != "Blue" {
		t.Errorf("SetAddress got %+v, want Blue with listen off", f.addresses)
	}
	f.failing("SetAddress", errors.New(`listen address "x": want host:port`))
	s.listen.SetText("x")
	test.Tap(s.save)
	u.pending.Wait()
	wantShown(t, w, `want host:port`)
	if s.listen.Text != "x" {
		t.Error("a refused address was cleared from the form")
	}
}

// A broken audit chain shows where it breaks, at start and in Settings.
func TestBrokenAuditChainShown(t *testing.T) {
	f := newFakeAgent()
	f.audit = audit.Report{Entries: 3, Line: 4, Seq: 4, Reason: "entry #4 was changed after it was written (its hash does not match its content)"}
	u, w := newTestUI(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	u.Start(ctx)
	u.pending.Wait()
	wantShownWrapped(t, w, "The audit log's chain breaks at line 4")
	test.Tap(u.nav[screenSettings])
	u.pending.Wait()
	wantShownWrapped(t, w, "entry #4 was changed after it was written")
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/audit"
	"github.com/tandemsync/tandem/core/secrets"
)

// needKeychain skips (or, under make test, fails) when no OS keychain answers: the commands
// keep the agent's key there.
func needKeychain(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := secrets.NewKeychain("tandem-cli-test").Probe(ctx); err != nil {
		if os.Getenv("TANDEM_REQUIRE_KEYCHAIN") == "1" {
			t.Fatalf("keychain required but unavailable: %v", err)
		}
		t.Skipf("no OS keychain: %v", err)
	}
}

// buildTandem builds the command once per test binary.
var buildTandem = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "tandem-cli-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "tandem")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// serveAgent runs `tandem serve` on dir until the test ends; its log is returned for reading.
func serveAgent(t *testing.T, bin, dir, name string) *syncBuffer {
	return serveAgentWith(t, bin, dir, name, nil)
}

// serveAgentWith is serveAgent with more arguments and the environment env (nil: this one's).
func serveAgentWith(t *testing.T, bin, dir, name string, env []string, args ...string) *syncBuffer {
	t.Helper()
	var out syncBuffer
	cmd := exec.Command(bin, append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--name", name}, args...)...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		removeAgentKey(t, bin, dir)
	})
	// Ready when its control socket answers.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "control.sock")); err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("tandem serve exited:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("tandem serve did not open its control socket:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &out
}

// removeAgentKey deletes the test agent's key from the keychain.
func removeAgentKey(t *testing.T, bin, dir string) {
	abs, _ := filepath.Abs(dir)
	secrets.NewKeychain("tandem").Delete(context.Background(), "agent-key:"+abs)
}

// firstLogLine is the first line the agent logged (Fyne's locale warnings aside).
func firstLogLine(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, " INFO ") || strings.Contains(line, " WARN ") || strings.Contains(line, " ERROR ") {
			return line
		}
	}
	return ""
}

type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.String()
}

// tandem runs one command and returns its stdout; it fails the test on an error unless
// wantErr, in which case it returns stderr.
func tandem(t *testing.T, bin string, wantErr bool, args ...string) string {
	t.Helper()
	return tandemEnv(t, bin, nil, wantErr, args...)
}

// tandemEnv is tandem with the environment env (nil: this one's).
func tandemEnv(t *testing.T, bin string, env []string, wantErr bool, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if wantErr {
		if err == nil {
			t.Fatalf("tandem %s succeeded, want an error; output:\n%s", strings.Join(args, " "), stdout.String())
		}
		return stderr.String()
	}
	if err != nil {
		t.Fatalf("tandem %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// With tandem serve running, invite, accept, connections and queue act on the running agents
// through their control sockets (their databases are locked, so nothing else could).
func TestCLIDrivesRunningServe(t *testing.T) {
	needKeychain(t)
	bin, err := buildTandem()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	blue, red := filepath.Join(root, "blue"), filepath.Join(root, "red")
	blueLog := serveAgent(t, bin, blue, "Blue")
	serveAgent(t, bin, red, "Red")
	if first := firstLogLine(blueLog.String()); !strings.Contains(first, "secrets=") {
		t.Errorf("serve's first log line %q does not name where secrets are kept", first)
	}

	code := strings.TrimSpace(tandem(t, bin, false, "invite", "--data-dir", blue, "--expires", "2h"))
	if !strings.HasPrefix(code, "tandem1-") {
		t.Fatalf("invite printed %q, want a code", code)
	}
	inv := tandem(t, bin, false, "invitations", "--data-dir", blue)
	if !strings.Contains(inv, "pending") {
		t.Errorf("invitations:\n%s\nwant the pending one", inv)
	}
	if msg := tandem(t, bin, true, "accept", code, "--data-dir", blue); !strings.Contains(msg, "never pairs with itself") {
		t.Errorf("blue accepting its own code: %q", msg)
	}
	out := tandem(t, bin, false, "accept", code, "--data-dir", red)
	if !strings.Contains(out, "Paired with Blue") || !strings.Contains(out, "Verification code:") {
		t.Fatalf("accept:\n%s", out)
	}
	list := tandem(t, bin, false, "connections", "--data-dir", blue)
	if !strings.Contains(list, "Red") || !strings.Contains(list, "Active") || !strings.Contains(list, "Unverified") {
		t.Fatalf("connections at blue:\n%s", list)
	}
	out = tandem(t, bin, false, "connections", "pause", "Red", "--data-dir", blue)
	if !strings.Contains(out, "Paused") {
		t.Errorf("connections pause:\n%s", out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(tandem(t, bin, false, "connections", "--data-dir", red), "Paused by the partner") {
		if time.Now().After(deadline) {
			t.Fatalf("red does not show that blue paused:\n%s", tandem(t, bin, false, "connections", "--data-dir", red))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if q := tandem(t, bin, false, "queue", "--data-dir", red, "--connection", "Blue"); !strings.Contains(q, "PARTNER") && !strings.Contains(q, "Nothing waiting") {
		t.Errorf("queue:\n%s", q)
	}
	if msg := tandem(t, bin, true, "connections", "revoke", "Blue", "--data-dir", red); !strings.Contains(msg, "--keep-queued") {
		t.Errorf("revoke without a choice: %q; want it to ask for --keep-queued or --delete-queued", msg)
	}
	// Output a script reads comes as JSON with --json, and parses back.
	var conns []agent.ConnectionInfo
	fromJSON(t, tandem(t, bin, false, "connections", "--json", "--data-dir", blue), &conns)
	if len(conns) != 1 || conns[0].PartnerName != "Red" || conns[0].VerificationCode == "" {
		t.Errorf("connections --json: %+v; want the one connection with Red and its code", conns)
	}
	var invs []agent.InvitationInfo
	fromJSON(t, tandem(t, bin, false, "--data-dir", blue, "invitations", "--json"), &invs)
	if len(invs) != 1 || invs[0].Connection != conns[0].ID {
		t.Errorf("invitations --json: %+v; want the used invitation of connection %s", invs, conns[0].ID)
	}
	var made agent.Invitation
	fromJSON(t, tandem(t, bin, false, "invite", "--json", "--data-dir", blue), &made)
	if !strings.HasPrefix(made.Code, "tandem1-") || made.ID == "" || made.Expires.Before(time.Now()) {
		t.Errorf("invite --json: %+v", made)
	}
	if out := tandem(t, bin, false, "invitations", "cancel", made.ID, "--data-dir", blue); !strings.Contains(out, "cancelled") {
		t.Errorf("invitations cancel: %q", out)
	}
	var page agent.QueuePage
	fromJSON(t, tandem(t, bin, false, "queue", "--json", "--data-dir", red), &page)
	if page.Entries == nil || page.Total != len(page.Entries) {
		t.Errorf("queue --json: %+v; want a page with a list", page)
	}
	// A change says what it changed, in words and as JSON.
	if out := tandem(t, bin, false, "connections", "resume", "Red", "--data-dir", blue); !strings.Contains(out, "Resumed the connection with Red") {
		t.Errorf("connections resume:\n%s", out)
	}
	var verified agent.ConnectionInfo
	fromJSON(t, tandem(t, bin, false, "connections", "verify", "Red", conns[0].VerificationCode, "--json", "--data-dir", blue), &verified)
	if verified.Verified.IsZero() {
		t.Errorf("connections verify --json: %+v; want it verified", verified)
	}
	// Verifying again says it was done before rather than claiming it happened now (the
	// command tells the two apart by a second's margin).
	time.Sleep(1100 * time.Millisecond)
	if out := tandem(t, bin, false, "connections", "verify", "Red", "--data-dir", blue); !strings.Contains(out, "was already verified on") {
		t.Errorf("connections verify, a second time:\n%s", out)
	}
	if msg := tandem(t, bin, true, "queue", "retry", "Red", "out", "999999", "--data-dir", blue); msg == "" {
		t.Error("retrying an event that does not exist says nothing")
	}
	var entries []audit.Entry
	fromJSON(t, tandem(t, bin, false, "audit", "--json", "--data-dir", blue), &entries)
	if len(entries) < 3 || entries[len(entries)-1].Hash == "" {
		t.Errorf("audit --json: %+v", entries)
	}
	var rep audit.Report
	fromJSON(t, tandem(t, bin, false, "audit", "verify", "--json", "--data-dir", blue), &rep)
	if !rep.OK || rep.Entries != len(entries) {
		t.Errorf("audit verify --json: %+v; want OK over %d entries", rep, len(entries))
	}
	if out := tandem(t, bin, false, "audit", "verify", "--data-dir", blue); !strings.Contains(out, "chain is intact") {
		t.Errorf("audit verify:\n%s", out)
	}
	if out := tandem(t, bin, false, "audit", "--data-dir", blue); !strings.Contains(out, "pause") || !strings.Contains(out, "pairing") {
		t.Errorf("audit:\n%s", out)
	}
	// The history commands ask the running agent too.
	if msg := tandem(t, bin, true, "history", "retention", "0", "--data-dir", blue); !strings.Contains(msg, "from 1 to 365") {
		t.Errorf("history retention 0: %q; want the allowed range", msg)
	}
	if out := tandem(t, bin, false, "history", "retention", "9", "--data-dir", blue); !strings.Contains(out, "keeps 9 days") {
		t.Errorf("history retention 9: %q", out)
	}
	if out := tandem(t, bin, false, "history", "retention", "--data-dir", blue); !strings.Contains(out, "keeps 9 days") {
		t.Errorf("history retention: %q", out)
	}
	if out := tandem(t, bin, false, "history", "capture", "Red", "on", "--data-dir", blue); !strings.Contains(out, "on for 24 hours") {
		t.Errorf("history capture on: %q", out)
	}
	if out := tandem(t, bin, false, "history", "--item", "NO-SUCH-1", "--data-dir", blue); !strings.Contains(out, "Nothing recorded") {
		t.Errorf("history of an unknown item: %q", out)
	}
}

// withoutKeychain is this environment without a D-Bus session, so no keychain can answer.
func withoutKeychain(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DBUS_SESSION_BUS_ADDRESS=") && !strings.HasPrefix(kv, "XDG_RUNTIME_DIR=") && !strings.HasPrefix(kv, passphraseEnv+"=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// On a server without a keychain, tandem serve --secrets-file keeps the secrets in a
// passphrase-encrypted file, says so in its first log line, and every later command on the
// directory needs the passphrase.
func TestServeWithSecretsFile(t *testing.T) {
	bin, err := buildTandem()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "srv")
	pass := passphraseEnv + "=correct horse battery staple"
	if msg := tandemEnv(t, bin, withoutKeychain(), true, "invite", "--data-dir", dir); !strings.Contains(msg, "keychain") {
		t.Errorf("invite without a keychain or a secrets file: %q; want it to name the keychain", msg)
	}
	log := serveAgentWith(t, bin, dir, "Server", withoutKeychain(pass), "--secrets-file")
	first := firstLogLine(log.String())
	if !strings.Contains(first, "passphrase-encrypted file") || !strings.Contains(first, "secrets.enc") {
		t.Errorf("serve's first log line %q does not name the secrets file", first)
	}
	// The running agent answers over its socket: no passphrase needed.
	if out := tandemEnv(t, bin, withoutKeychain(), false, "invite", "--data-dir", dir); !strings.HasPrefix(out, "tandem1-") {
		t.Errorf("invite from the running agent: %q", out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "secrets.enc"))
	if err != nil || bytes.Contains(raw, []byte("tandem-ed25519-seed")) {
		t.Fatalf("secrets file %v; it must exist and hold nothing in the clear", err)
	}
}

// With no agent running, a command on a directory with a secrets file asks for its passphrase
// in words, and works with it.
func TestSecretsFileNeedsPassphraseOffline(t *testing.T) {
	bin, err := buildTandem()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "srv")
	pass := passphraseEnv + "=correct horse battery staple"
	if out := tandemEnv(t, bin, withoutKeychain(pass), false, "invite", "--secrets-file", "--data-dir", dir); !strings.HasPrefix(out, "tandem1-") {
		t.Fatalf("first invite with a new secrets file: %q", out)
	}
	if msg := tandemEnv(t, bin, withoutKeychain(), true, "invitations", "--data-dir", dir); !strings.Contains(msg, passphraseEnv) {
		t.Errorf("without the passphrase: %q; want it to say how to give it", msg)
	}
	if msg := tandemEnv(t, bin, withoutKeychain(passphraseEnv+"=wrong horse battery"), true, "invitations", "--data-dir", dir); !strings.Contains(msg, "does not open") {
		t.Errorf("with a wrong passphrase: %q", msg)
	}
	if out := tandemEnv(t, bin, withoutKeychain(pass), false, "invitations", "--data-dir", dir); !strings.Contains(out, "pending") {
		t.Errorf("invitations with the passphrase:\n%s", out)
	}
}

// fromJSON decodes a command's --json output, failing the test when it is not JSON of v's shape.
func fromJSON(t *testing.T, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("--json output does not parse into %T: %v\n%s", v, err, out)
	}
}

// Stopped agent: the commands open the directory themselves, --json still parses back, and
// history (which reads the directory directly) too.
func TestCLIOnStoppedAgentJSON(t *testing.T) {
	needKeychain(t)
	bin, err := buildTandem()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "agent")
	t.Cleanup(func() { removeAgentKey(t, bin, dir) })
	var inv agent.Invitation
	fromJSON(t, tandem(t, bin, false, "invite", "--json", "--data-dir", dir, "--listen", "127.0.0.1:0"), &inv)
	if !strings.HasPrefix(inv.Code, "tandem1-") {
		t.Fatalf("invite --json on a new agent: %+v", inv)
	}
	var conns []agent.ConnectionInfo
	fromJSON(t, tandem(t, bin, false, "connections", "--json", "--data-dir", dir), &conns)
	if conns == nil || len(conns) != 0 {
		t.Errorf("connections --json with none: %#v; want []", conns)
	}
	var hist struct {
		Records    []agent.HistoryRecord `json:"records"`
		More       bool                  `json:"more"`
		Incomplete json.RawMessage       `json:"incomplete"`
	}
	fromJSON(t, tandem(t, bin, false, "history", "--json", "--data-dir", dir), &hist)
	if hist.Records == nil || hist.More {
		t.Errorf("history --json: %+v", hist)
	}
	var ret struct {
		Days int `json:"days"`
	}
	fromJSON(t, tandem(t, bin, false, "history", "retention", "45", "--json", "--data-dir", dir), &ret)
	if ret.Days != 45 {
		t.Errorf("history retention 45 --json: %+v", ret)
	}
	var v struct {
		Version  string `json:"version"`
		Protocol int    `json:"protocol"`
	}
	fromJSON(t, tandem(t, bin, false, "version", "--json"), &v)
	if v.Version != agent.Version || v.Protocol != agent.ProtocolVersion {
		t.Errorf("version --json: %+v", v)
	}
}

// No Fyne locale noise on a terminal, whatever the locale: Debian's default C.UTF-8 made
// Fyne log "Error parsing user locale C" three lines at a time.
func TestNoLocaleNoise(t *testing.T) {
	bin, err := buildTandem()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"C", "C.UTF-8", "POSIX", "", "en_US.UTF-8", "de_DE.UTF-8", "de_DE@euro", "xx_YY.bogus"} {
		for _, args := range [][]string{{"version"}, {"--help"}, {"queue", "--data-dir", filepath.Join(t.TempDir(), "none")}} {
			cmd := exec.Command(bin, args...)
			cmd.Env = append(withoutLocale(os.Environ()), "LANG="+lang)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			cmd.Run()
			if strings.Contains(stderr.String(), "Fyne") || strings.Contains(stderr.String(), "locale") {
				t.Errorf("LANG=%q tandem %s: stderr has locale noise:\n%s", lang, strings.Join(args, " "), stderr.String())
			}
		}
	}
}

func withoutLocale(env []string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, "LANG=") && !strings.HasPrefix(e, "LC_") && !strings.HasPrefix(e, "LANGUAGE=") {
			out = append(out, e)
		}
	}
	return out
}

// A data directory another user owns and this one may not write, and a listen address that
// is taken: one sentence each, saying what to do, exit 1.
func TestCLIBadStarts(t *testing.T) {
	needKeychain(t)
	bin, err := buildTandem()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "agent")
	t.Cleanup(func() { removeAgentKey(t, bin, dir) })
	cmd := exec.Command(bin, "serve", "--data-dir", dir, "--listen", ln.Addr().String())
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "another program already listens on "+ln.Addr().String()) || !strings.Contains(string(out), "--listen ADDR") {
		t.Errorf("serve on a taken address: exit %d\n%s\nwant 1 and a sentence saying the address is taken and how to choose another", code, out)
	}

	// Unwritable: as root, run the command as nobody on a directory root owns.
	locked := filepath.Join(t.TempDir(), "locked")
	os.Mkdir(locked, 0o755)
	os.Chmod(filepath.Dir(locked), 0o755)
	os.Chmod(filepath.Dir(filepath.Dir(locked)), 0o755)
	cmd = exec.Command(bin, "serve", "--data-dir", locked)
	if os.Getuid() == 0 {
		nobody, err := user.Lookup("nobody")
		if err != nil {
			t.Skip("no user nobody to try an unwritable directory as")
		}
		uid, _ := strconv.Atoi(nobody.Uid)
		gid, _ := strconv.Atoi(nobody.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		os.Chmod(filepath.Dir(bin), 0o755)
	} else {
		os.Chmod(locked, 0o555)
	}
	out, err = cmd.CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "is not writable by this user") {
		t.Errorf("serve on an unwritable data directory: exit %d\n%s", code, out)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

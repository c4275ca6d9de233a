package secrets

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// vault is what the shared tests need from Keychain and Memory.
type vault interface {
	Get(ctx context.Context, account string) (string, error)
	Set(ctx context.Context, account, secret string) error
	Delete(ctx context.Context, account string) error
	Probe(ctx context.Context) error
}

// realKeychain returns a Keychain on the session's real Secret Service under a fresh service
// name, skipping without a session bus unless TANDEM_REQUIRE_KEYCHAIN=1.
func realKeychain(t *testing.T) *Keychain {
	t.Helper()
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		if os.Getenv("TANDEM_REQUIRE_KEYCHAIN") == "1" {
			t.Fatal("TANDEM_REQUIRE_KEYCHAIN=1 but DBUS_SESSION_BUS_ADDRESS is unset; run under dbus-run-session with gnome-keyring-daemon --unlock")
		}
		t.Skip("no D-Bus session bus; set TANDEM_REQUIRE_KEYCHAIN=1 to make this a failure")
	}
	k := NewKeychain("tandem-test-" + randomHex(6))
	if err := k.Probe(context.Background()); err != nil {
		t.Fatalf("Probe on the session keychain: %v", err)
	}
	return k
}

func vaults(t *testing.T) map[string]vault {
	t.Helper()
	m := map[string]vault{"memory": NewMemory()}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" || os.Getenv("TANDEM_REQUIRE_KEYCHAIN") == "1" {
		m["keychain"] = realKeychain(t)
	} else {
		t.Log("keychain variant skipped: no D-Bus session bus")
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	secrets := []struct {
		name, account, secret string
	}{
		{"plain", "tracker/jira", "api-token-123"},
		{"unicode and newlines", "identity/key", "ключ\nline two\n\ttab ✓"},
		{"long", "long", strings.Repeat("0123456789abcdef", 256)},
		{"empty secret", "empty", ""},
	}
	for vname, v := range vaults(t) {
		for _, tc := range secrets {
			t.Run(vname+"/"+tc.name, func(t *testing.T) {
				t.Cleanup(func() { _ = v.Delete(ctx, tc.account) })
				if err := v.Set(ctx, tc.account, tc.secret); err != nil {
					t.Fatalf("Set(%q): %v", tc.account, err)
				}
				got, err := v.Get(ctx, tc.account)
				if err != nil {
					t.Fatalf("Get(%q): %v", tc.account, err)
				}
				if got != tc.secret {
					t.Errorf("Get(%q) = %q (len %d), want %q (len %d)", tc.account, got, len(got), tc.secret, len(tc.secret))
				}
			})
		}
	}
}

func TestOverwriteDeleteNotFound(t *testing.T) {
	ctx := context.Background()
	for vname, v := range vaults(t) {
		t.Run(vname, func(t *testing.T) {
			const acct = "overwrite"
			t.Cleanup(func() { _ = v.Delete(ctx, acct) })
			if _, err := v.Get(ctx, acct); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get of a missing account: got %v, want ErrNotFound", err)
			}
			if err := v.Set(ctx, acct, "first"); err != nil {
				t.Fatalf("Set first: %v", err)
			}
			if err := v.Set(ctx, acct, "second"); err != nil {
				t.Fatalf("Set second: %v", err)
			}
			if got, err := v.Get(ctx, acct); err != nil || got != "second" {
				t.Fatalf("Get after overwrite = %q, %v; want %q, nil", got, err, "second")
			}
			if err := v.Delete(ctx, acct); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, err := v.Get(ctx, acct); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get after Delete: got %v, want ErrNotFound", err)
			}
			if err := v.Delete(ctx, acct); !errors.Is(err, ErrNotFound) {
				t.Errorf("second Delete: got %v, want ErrNotFound", err)
			}
			if err := v.Probe(ctx); err != nil {
				t.Errorf("Probe: %v", err)
			}
		})
	}
}

func TestAccountsAndServicesAreSeparate(t *testing.T) {
	ctx := context.Background()
	for vname, v := range vaults(t) {
		t.Run(vname, func(t *testing.T) {
			t.Cleanup(func() { _ = v.Delete(ctx, "a"); _ = v.Delete(ctx, "b") })
			if err := v.Set(ctx, "a", "secret-a"); err != nil {
				t.Fatal(err)
			}
			if err := v.Set(ctx, "b", "secret-b"); err != nil {
				t.Fatal(err)
			}
			for acct, want := range map[string]string{"a": "secret-a", "b": "secret-b"} {
				if got, err := v.Get(ctx, acct); err != nil || got != want {
					t.Errorf("Get(%q) = %q, %v; want %q", acct, got, err, want)
				}
			}
		})
	}
}

func TestServicesAreSeparate(t *testing.T) {
	ctx := context.Background()
	k := realKeychain(t)
	other := NewKeychain(k.service + "-other")
	if err := k.Set(ctx, "shared", "mine"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Delete(ctx, "shared") })
	if _, err := other.Get(ctx, "shared"); !errors.Is(err, ErrNotFound) {
		t.Errorf("another service's Get: got %v, want ErrNotFound", err)
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	// The keychain variant needs no bus for these: both are refused before any call.
	for vname, v := range map[string]vault{"memory": NewMemory(), "keychain": NewKeychain("tandem-test")} {
		if err := v.Set(ctx, "", "x"); err == nil || !strings.Contains(err.Error(), "empty account") {
			t.Errorf("%s Set with empty account: got %v, want an empty account error", vname, err)
		}
		if err := v.Set(cancelled, "acct", "hunter2-secret"); !errors.Is(err, context.Canceled) {
			t.Errorf("%s Set with a cancelled context: got %v, want context.Canceled", vname, err)
		} else if strings.Contains(err.Error(), "hunter2-secret") {
			t.Errorf("%s error reveals the secret: %v", vname, err)
		}
	}
}

// helperResult is one operation's outcome, reported by the helper process.
type helperResult struct {
	Op          string `json:"op"`
	Err         string `json:"err"`
	Unavailable bool   `json:"unavailable"`
}

const helperSecret = "do-not-leak-7f3a9c"

// TestHelperProcess is not a test: the tests below run it in a child process with a doctored
// environment, because godbus caches the session bus for the life of a process.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("TANDEM_SECRETS_HELPER") != "1" {
		t.Skip("helper process only")
	}
	timeout, err := time.ParseDuration(os.Getenv("TANDEM_SECRETS_TIMEOUT"))
	if err != nil {
		t.Fatal(err)
	}
	k := NewKeychainTimeout("tandem-test", timeout)
	ctx := context.Background()
	var out []helperResult
	add := func(op string, err error) {
		r := helperResult{Op: op, Unavailable: errors.Is(err, ErrUnavailable)}
		if err != nil {
			r.Err = err.Error()
		}
		out = append(out, r)
	}
	add("set", k.Set(ctx, "acct", helperSecret))
	_, err = k.Get(ctx, "acct")
	add("get", err)
	add("delete", k.Delete(ctx, "acct"))
	add("probe", k.Probe(ctx))
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		t.Fatal(err)
	}
}

// runHelper runs TestHelperProcess with the session bus address set to addr ("" unsets it).
func runHelper(t *testing.T, addr string, timeout time.Duration) []helperResult {
	t.Helper()
	// A bound on the child, so a hang fails the test instead of stalling it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.v=false")
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DBUS_SESSION_BUS_ADDRESS=") || strings.HasPrefix(kv, "XDG_RUNTIME_DIR=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "TANDEM_SECRETS_HELPER=1", "TANDEM_SECRETS_TIMEOUT="+timeout.String(), "XDG_RUNTIME_DIR="+t.TempDir())
	if addr != "" {
		env = append(env, "DBUS_SESSION_BUS_ADDRESS="+addr)
	}
	cmd.Env = env
	outb, err := cmd.Output()
	if ctx.Err() != nil {
		t.Fatalf("helper process hung: %v", ctx.Err())
	}
	if err != nil {
		t.Fatalf("helper process: %v\n%s", err, outb)
	}
	line := outb
	if i := strings.IndexByte(string(outb), '['); i >= 0 {
		line = outb[i:]
	}
	if j := strings.IndexByte(string(line), '\n'); j >= 0 {
		line = line[:j]
	}
	var res []helperResult
	if err := json.Unmarshal(line, &res); err != nil {
		t.Fatalf("helper output %q: %v", outb, err)
	}
	if len(res) != 4 {
		t.Fatalf("helper reported %d results, want 4: %q", len(res), outb)
	}
	return res
}

func TestUnreachableKeychain(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	dir := t.TempDir()
	silent := filepath.Join(dir, "silent.sock")
	ln, err := net.Listen("unix", silent)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Accept and never answer: a bus that hangs, like a keyring waiting on an unseen prompt.
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()

	const never = time.Hour // a fast failure must not come from the timeout
	tests := []struct {
		name    string
		addr    func(t *testing.T) string
		timeout time.Duration
		want    string // in every error
	}{
		{"no session bus", func(*testing.T) string { return "" }, never, "DBUS_SESSION_BUS_ADDRESS is unset"},
		{"dead socket", func(*testing.T) string { return "unix:path=" + filepath.Join(dir, "nobody-here.sock") }, never, "unavailable"},
		{"silent bus", func(*testing.T) string { return "unix:path=" + silent }, 300 * time.Millisecond, "is gnome-keyring running and unlocked?"},
		{"bus without secret service", emptyBus, never, "no Secret Service on the D-Bus session bus"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			res := runHelper(t, addr, tc.timeout)
			t.Logf("as the operator sees it: %s", res[0].Err)
			for _, r := range res {
				if !r.Unavailable {
					t.Errorf("%s: got %q, want ErrUnavailable", r.Op, r.Err)
				}
				if !strings.Contains(r.Err, tc.want) {
					t.Errorf("%s: error %q does not say %q", r.Op, r.Err, tc.want)
				}
				if strings.Contains(r.Err, helperSecret) {
					t.Errorf("%s: error reveals the secret: %q", r.Op, r.Err)
				}
			}
		})
	}
}

// emptyBus starts a private dbus-daemon with no services on it and returns its address.
func emptyBus(t *testing.T) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon is not installed")
	}
	// A short directory: unix socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "tandem-bus")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	conf := filepath.Join(dir, "bus.conf")
	// No <servicedir>: nothing can be activated, so org.freedesktop.secrets is unknown.
	err = os.WriteFile(conf, []byte(`<busconfig><type>session</type>
<listen>unix:path=`+filepath.Join(dir, "bus")+`</listen>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>
</busconfig>`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+conf, "--nofork", "--print-address=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read dbus-daemon address: %v", err)
	}
	return strings.TrimSpace(line)
}

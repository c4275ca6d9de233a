// Package rttest starts a throwaway Request Tracker 5 on loopback, with a fresh SQLite
// database in a temporary directory, for tests that need a real RT.
package rttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Where Debian's request-tracker5 package puts RT; RT_SERVER and RT_SETUP_DATABASE override.
const (
	defaultServer = "/usr/share/request-tracker5/libexec/rt-server"
	defaultSetup  = "/usr/sbin/rt-setup-database-5"
	defaultLib    = "/usr/share/request-tracker5/lib"
)

// ErrNotInstalled is returned by Start when RT is not installed on this machine.
var ErrNotInstalled = errors.New("request tracker 5 is not installed (apt-get install request-tracker5 rt5-db-sqlite)")

// Server is a running throwaway RT. Its user root has the password "password".
type Server struct {
	URL      string // base URL, e.g. http://127.0.0.1:41234 (REST 2 is under /REST/2.0)
	User     string
	Password string
	Dir      string // the temporary directory holding the database, config and log

	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	env  []string
}

// Required reports whether a missing RT must fail the tests (TANDEM_REQUIRE_RT=1, as the
// Makefile sets) rather than skip them.
func Required() bool { return os.Getenv("TANDEM_REQUIRE_RT") == "1" }

// Main runs a test binary's tests with one shared RT: it starts RT, stores it in *srv, runs
// m and stops RT. When RT is not installed *srv stays nil and the live tests are expected to
// skip (see Need), unless Required. Use it from TestMain: os.Exit(rttest.Main(m, &srv)).
func Main(m *testing.M, srv **Server) int {
	s, err := Start(context.Background())
	switch {
	case errors.Is(err, ErrNotInstalled) && !Required():
		fmt.Fprintf(os.Stderr, "rttest: %v: live RT tests will skip\n", err)
	case err != nil:
		fmt.Fprintf(os.Stderr, "rttest: %v\n", err)
		return 1
	default:
		*srv = s
		defer s.Stop()
	}
	return m.Run()
}

// Need returns srv, or skips t when RT is not available.
func Need(t testing.TB, srv *Server) *Server {
	t.Helper()
	if srv == nil {
		t.Skip("request tracker 5 is not installed; set TANDEM_REQUIRE_RT=1 to make this fail")
	}
	return srv
}

// StartT starts an RT of its own for t and stops it in t.Cleanup. Prefer one shared server
// per test binary (Main): starting RT takes a few seconds.
func StartT(t testing.TB) *Server {
	t.Helper()
	s, err := Start(context.Background())
	if errors.Is(err, ErrNotInstalled) && !Required() {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

// Start creates a fresh database in a new temporary directory and starts rt-server on a
// free loopback port, returning once REST 2 answers. It never touches the system's own RT
// configuration or database: RT_SITE_CONFIG points at a config of our own and
// RT_SITE_CONFIG_DIR at an empty directory, so Debian's snippets are not read.
func Start(ctx context.Context) (*Server, error) {
	server := envOr("RT_SERVER", defaultServer)
	setup := envOr("RT_SETUP_DATABASE", defaultSetup)
	for _, p := range []string{server, setup} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%w: %s missing", ErrNotInstalled, p)
		}
	}
	dir, err := os.MkdirTemp("", "tandem-rt-")
	if err != nil {
		return nil, fmt.Errorf("make rt directory: %w", err)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{
		URL:      fmt.Sprintf("http://127.0.0.1:%d", port),
		User:     "root",
		Password: "password",
		Dir:      dir,
		port:     port,
	}
	if err := s.writeConfig(port); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.env = append(os.Environ(),
		"RT_SITE_CONFIG="+filepath.Join(dir, "RT_SiteConfig.pm"),
		"RT_SITE_CONFIG_DIR="+filepath.Join(dir, "site.d"),
	)
	init := exec.CommandContext(ctx, setup, "--action", "init", "--skip-create")
	init.Env = s.env
	if out, err := init.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initialize rt database: %w: %s", err, tail(out))
	}
	if err := s.launch(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// launch starts rt-server on s's port and database and waits until REST 2 answers.
func (s *Server) launch(ctx context.Context) error {
	logf, err := os.OpenFile(filepath.Join(s.Dir, "rt-server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("create rt log: %w", err)
	}
	s.cmd = exec.Command(envOr("RT_SERVER", defaultServer), "--port", fmt.Sprint(s.port))
	s.cmd.Env = s.env
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = sysProcAttr()
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start rt-server: %w", err)
	}
	done := make(chan struct{})
	s.done = done
	cmd := s.cmd
	go func() { // owned by s: ends when the server process does, which Stop and Halt ensure
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		s.Halt()
		return err
	}
	return nil
}

func (s *Server) writeConfig(port int) error {
	if err := os.Mkdir(filepath.Join(s.Dir, "site.d"), 0o755); err != nil {
		return fmt.Errorf("make rt config directory: %w", err)
	}
	for _, d := range []string{"mason", "sessions"} {
		if err := os.Mkdir(filepath.Join(s.Dir, d), 0o755); err != nil {
			return fmt.Errorf("make rt %s directory: %w", d, err)
		}
	}
	q := func(p string) string { return "'" + strings.ReplaceAll(filepath.Join(s.Dir, p), "'", `\'`) + "'" }
	cfg := fmt.Sprintf(`# Written by rttest for a throwaway RT; deleted when the test ends.
Set($rtname, 'tandem-test');
Set($Organization, 'tandem-test');
Set($DatabaseType, 'SQLite');
Set($DatabaseName, %s);
Set($DatabaseHost, 'localhost');
Set($DatabaseUser, '');
Set($DatabasePassword, '');
Set($WebPath, '');
Set($WebDomain, '127.0.0.1');
Set($WebPort, %d);
Set($WebBaseURL, 'http://127.0.0.1:%d');
Set($Timezone, 'UTC');
Set($LogToSyslog, undef);
Set($LogToFile, undef);
Set($LogToSTDERR, 'warning');
Set($MailCommand, 'mbox');
Set($LogDir, %s);
$RT::MasonDataDir = %s;
$RT::MasonSessionDir = %s;
$RT::VarPath = %s;
1;
`, q("rtdb"), port, port, q(""), q("mason"), q("sessions"), q(""))
	if err := os.WriteFile(filepath.Join(s.Dir, "RT_SiteConfig.pm"), []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("write rt config: %w", err)
	}
	return nil
}

// waitReady polls REST 2 until it answers (401 without credentials is an answer).
func (s *Server) waitReady(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/REST/2.0/", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("rt-server exited while starting: %s", s.Log())
		case <-ctx.Done():
			return fmt.Errorf("rt-server did not answer on %s within %s: %s", s.URL, limit, s.Log())
		case <-tick.C:
		}
	}
}

// Log returns the end of the server's log, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "rt-server.log"))
	return tail(b)
}

// Stop ends the server and its workers and removes its directory.
func (s *Server) Stop() error {
	s.Halt()
	return os.RemoveAll(s.Dir)
}

// Halt ends the server and its workers but keeps its database, as an operator stopping RT
// for maintenance would; Restart starts it again on the same port. For tests of outages
// where connections are refused rather than left hanging (see Pause).
func (s *Server) Halt() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	killGroup(s.cmd.Process.Pid)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
	}
}

// Restart starts a halted server again with the same database and port.
func (s *Server) Restart(ctx context.Context) error { return s.launch(ctx) }

// Pause stops the server's processes (SIGSTOP), so requests hang as on a dead server;
// Resume continues them. For tests of outages.
func (s *Server) Pause() error  { return signalGroup(s.cmd.Process.Pid, false) }
func (s *Server) Resume() error { return signalGroup(s.cmd.Process.Pid, true) }

// Token creates an RT authentication token for user (RT::Authen::Token, built into RT 5)
// and returns the string to send as "Authorization: token ...".
func (s *Server) Token(ctx context.Context, user string) (string, error) {
	script := `
use strict; use warnings;
use lib '` + envOr("RT_LIB", defaultLib) + `';
use RT; RT::LoadConfig(); RT::Init();
my $u = RT::User->new(RT->SystemUser); $u->Load($ARGV[0]) or die "no user $ARGV[0]\n";
my $t = RT::AuthToken->new(RT->SystemUser);
my ($id, $msg, $auth) = $t->Create(Owner => $u->Id, Description => 'tandem test');
die "$msg\n" unless $id;
print $auth;
`
	cmd := exec.CommandContext(ctx, "perl", "-e", script, user)
	cmd.Env = s.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("create rt token for %s: %w: %s", user, err, tail(errb.Bytes()))
	}
	return strings.TrimSpace(out.String()), nil
}

// AddUser creates a privileged user with every right (SuperUser), e.g. a second person
// who answers tickets in tests of authorship.
func (s *Server) AddUser(ctx context.Context, name, realName, email, password string) error {
	script := `
use strict; use warnings;
use lib '` + envOr("RT_LIB", defaultLib) + `';
use RT; RT::LoadConfig(); RT::Init();
my $u = RT::User->new(RT->SystemUser);
my ($id, $msg) = $u->Create(Name => $ARGV[0], RealName => $ARGV[1], EmailAddress => $ARGV[2],
	Password => $ARGV[3], Privileged => 1);
die "$msg\n" unless $id;
($id, $msg) = $u->PrincipalObj->GrantRight(Right => 'SuperUser', Object => $RT::System);
die "$msg\n" unless $id;
`
	cmd := exec.CommandContext(ctx, "perl", "-e", script, name, realName, email, password)
	cmd.Env = s.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("create rt user %s: %w: %s", name, err, tail(out))
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

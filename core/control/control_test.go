package control

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

type pauseReq struct {
	Connection string `json:"connection"`
}

type pauseRes struct {
	State string `json:"state"`
}

func testMux() *Mux {
	m := NewMux()
	Handle(m, "connections.pause", func(ctx context.Context, req pauseReq) (pauseRes, error) {
		if req.Connection == "" {
			return pauseRes{}, WithCode(errors.New("name a connection"), CodeInvalid)
		}
		if req.Connection != "c1" {
			return pauseRes{}, WithCode(errors.New(`no connection "`+req.Connection+`"`), CodeNotFound)
		}
		return pauseRes{State: "paused"}, nil
	})
	return m
}

// serve runs a control server on a fresh directory until the test ends.
func serve(t *testing.T, dir string) {
	t.Helper()
	ln, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(testMux(), nil).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestCallRoundTrip(t *testing.T) {
	dir := shortDir(t)
	serve(t, dir)
	ctx := context.Background()
	var res pauseRes
	if err := Call(ctx, dir, "connections.pause", pauseReq{Connection: "c1"}, &res); err != nil || res.State != "paused" {
		t.Fatalf("Call = %+v, %v; want paused", res, err)
	}
	var re *RemoteError
	err := Call(ctx, dir, "connections.pause", pauseReq{Connection: "zz"}, &res)
	if !errors.As(err, &re) || re.Code != CodeNotFound || !strings.Contains(err.Error(), `no connection "zz"`) {
		t.Errorf("unknown connection: %v; want a not_found RemoteError naming it", err)
	}
	err = Call(ctx, dir, "connections.explode", nil, nil)
	if !errors.Is(err, ErrUnknownMethod) {
		t.Errorf("unknown method: %v; want ErrUnknownMethod", err)
	}
	err = Call(ctx, dir, "connections.pause", map[string]any{"connection": "c1", "force": true}, nil)
	if !errors.As(err, &re) || re.Code != CodeInvalid || !strings.Contains(err.Error(), "force") {
		t.Errorf("unknown parameter: %v; want an invalid RemoteError naming it", err)
	}
	fi, err := os.Stat(SocketPath(dir))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode %v, %v; want a socket with mode 0600", fi.Mode(), err)
	}
}

func TestNotRunning(t *testing.T) {
	dir := shortDir(t)
	if err := Call(context.Background(), dir, "x", nil, nil); !errors.Is(err, ErrNotRunning) {
		t.Errorf("no socket: %v; want ErrNotRunning", err)
	}
	// A socket file left by an agent that crashed: nobody answers.
	ln, err := net.Listen("unix", SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if err := Call(context.Background(), dir, "x", nil, nil); !errors.Is(err, ErrNotRunning) {
		t.Errorf("stale socket: %v; want ErrNotRunning", err)
	}
	// The next agent replaces it.
	serve(t, dir)
	if err := Call(context.Background(), dir, "connections.pause", pauseReq{"c1"}, nil); err != nil {
		t.Errorf("after replacing the stale socket: %v", err)
	}
	if _, err := Listen(dir); err == nil || !strings.Contains(err.Error(), "another agent answers") {
		t.Errorf("second Listen: %v; want a refusal", err)
	}
}

// rawExchange sends data as is and returns the answer line.
func rawExchange(t *testing.T, dir string, data []byte) Response {
	t.Helper()
	c, err := net.Dial("unix", SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		c.Write(data)
		c.(*net.UnixConn).CloseWrite()
	}()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("answer %q: %v", b, err)
	}
	return r
}

// Malformed and oversized requests are refused with a reason, and the server keeps serving.
func TestBadRequestsRefused(t *testing.T) {
	dir := shortDir(t)
	serve(t, dir)
	for _, tc := range []struct {
		name, data, want string
	}{
		{"not JSON", "hello\n", "malformed"},
		{"wrong version", `{"v":9,"method":"x"}` + "\n", "version 9"},
		{"no method", `{"v":1}` + "\n", "method"},
		{"unknown field", `{"v":1,"method":"x","sudo":true}` + "\n", "sudo"},
		{"two documents", `{"v":1,"method":"x"} {"v":1}` + "\n", "after the JSON"},
		{"too large", `{"v":1,"method":"x","params":"` + strings.Repeat("a", MaxRequest+10) + `"}` + "\n", "larger than"},
		{"empty", "", "empty"},
	} {
		r := rawExchange(t, dir, []byte(tc.data))
		if r.Code != CodeInvalid || !strings.Contains(r.Error, tc.want) {
			t.Errorf("%s: answer %+v; want an invalid answer saying %q", tc.name, r, tc.want)
		}
	}
	var res pauseRes
	if err := Call(context.Background(), dir, "connections.pause", pauseReq{"c1"}, &res); err != nil || res.State != "paused" {
		t.Errorf("after bad requests the server answers %+v, %v", res, err)
	}
}

func TestCheckUID(t *testing.T) {
	if err := checkUID(1000, 42, 1000); err != nil {
		t.Errorf("same user refused: %v", err)
	}
	err := checkUID(1001, 42, 1000)
	if !errors.Is(err, ErrForeignUser) || !strings.Contains(err.Error(), "uid 1001") {
		t.Errorf("other user: %v; want ErrForeignUser naming uid 1001", err)
	}
}

// A process of another OS user that reaches the socket (here the socket is opened to everyone
// on purpose, to get past the file mode) is refused by its peer credentials.
func TestOtherUserRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a process as another user; TestCheckUID covers the rule")
	}
	if os.Getenv("TANDEM_CONTROL_DIAL") != "" {
		t.Skip("helper process")
	}
	dir := shortDir(t)
	os.Chmod(dir, 0o755)
	serve(t, dir)
	os.Chmod(SocketPath(dir), 0o666)
	// The test binary, copied where the other user can run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "helper.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestHelperDial$")
	cmd.Env = append(os.Environ(), "TANDEM_CONTROL_DIAL="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper as uid 65534: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "REFUSED: the control socket accepts only the OS user") {
		t.Errorf("helper output %q; want the refusal", out)
	}
}

// TestHelperDial runs inside TestOtherUserRefused's child process.
func TestHelperDial(t *testing.T) {
	dir := os.Getenv("TANDEM_CONTROL_DIAL")
	if dir == "" {
		t.Skip("only runs as a helper process")
	}
	var res pauseRes
	err := Call(context.Background(), dir, "connections.pause", pauseReq{"c1"}, &res)
	var re *RemoteError
	if errors.As(err, &re) && re.Code == CodeRefused {
		os.Stdout.WriteString("REFUSED: " + err.Error() + "\n")
		return
	}
	t.Fatalf("another user's call answered %+v, %v; want a refusal", res, err)
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"v":1,"method":"connections.pause","params":{"connection":"c1"}}`))
	f.Add([]byte(`{"v":1,"method":"x","params":[1,2,{"a":null}]}`))
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`nonsense`))
	m := testMux()
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := DecodeRequest(line)
		if err != nil {
			return
		}
		if req.V != Version || req.Method == "" {
			t.Fatalf("accepted %q as %+v", line, req)
		}
		resp := m.Serve(context.Background(), req)
		if resp.Error == "" && resp.Result == nil {
			t.Fatalf("answer with neither result nor error for %q", line)
		}
	})
}

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestScreenshot builds the real binary, runs it on a private Xvfb display and checks that the
// window it draws is a real picture, not a blank or black rectangle. With
// TANDEM_UPDATE_SCREENSHOT=1 it also writes docs/first-start.png (what a new operator sees first).
func TestScreenshot(t *testing.T) {
	needDisplayTools(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "tandem")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	display := startXvfb(t)

	win, appOut := startApp(t, bin, display, nil, "--data-dir", filepath.Join(dir, "data"), "--listen", freeAddr(t), "--name", "Blue")

	// The first frames may still be empty while the window maps and the agent answers; poll for
	// a good picture, bounded.
	var shot image.Image
	var problem error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		shot, problem = screenshot(t, display, dir)
		if problem == nil {
			problem = looksDrawn(shot)
		}
		if problem == nil {
			break
		}
	}
	if problem != nil {
		t.Fatalf("the screen does not show a drawn window: %v\napp output:\n%s", problem, appOut.String())
	}
	if os.Getenv("TANDEM_UPDATE_SCREENSHOT") == "1" {
		writePNG(t, filepath.Join("..", "..", "docs", "first-start.png"), crop(shot, windowBounds(t, display, win)))
	}
}

// appTest readies a test of the real app under Xvfb on the OS keychain: without the display
// tools or a keychain it skips (or fails, as TANDEM_REQUIRE_DISPLAY and TANDEM_REQUIRE_KEYCHAIN
// say). It returns the built tandem and a directory of the test's.
func appTest(t *testing.T) (bin, root string) {
	t.Helper()
	needDisplayTools(t)
	needKeychain(t)
	bin, err := buildTandem()
	if err != nil {
		t.Fatal(err)
	}
	return bin, t.TempDir()
}

// needDisplayTools skips the test, or fails it under TANDEM_REQUIRE_DISPLAY=1, when Xvfb,
// xdotool or ImageMagick's import is missing.
func needDisplayTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"Xvfb", "xdotool", "import"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("TANDEM_REQUIRE_DISPLAY") == "1" {
				t.Fatalf("%s is not installed and TANDEM_REQUIRE_DISPLAY=1 (run make test to install it)", tool)
			}
			t.Skipf("%s is not installed; set TANDEM_REQUIRE_DISPLAY=1 to make this a failure", tool)
		}
	}
}

// startApp runs the app binary on display with args (and env added to the test's), until the
// test ends (asked to stop, then killed), and returns its window once it shows, with what it
// printed.
func startApp(t testing.TB, bin, display string, env []string, args ...string) (win string, out *syncBuffer) {
	t.Helper()
	app := exec.Command(bin, args...)
	app.Env = append(append(os.Environ(), "DISPLAY="+display, "LANG="+utf8Locale(), "LC_ALL="+utf8Locale(),
		"XDG_CONFIG_HOME="+filepath.Join(t.TempDir(), "config")), env...)
	out = &syncBuffer{}
	app.Stdout, app.Stderr = out, out
	if err := app.Start(); err != nil {
		t.Fatalf("start tandem: %v", err)
	}
	exited, done := make(chan error, 1), make(chan struct{})
	go func() { exited <- app.Wait(); close(done) }()
	t.Cleanup(func() {
		app.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			app.Process.Kill()
			<-done
		}
	})
	return waitForWindow(t, display, "^Tandem", exited, out), out
}

// startXvfb starts Xvfb on a display number it picks itself (-displayfd), so parallel runs
// never collide, and stops it when the test ends.
func startXvfb(t testing.TB) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	x := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "1280x800x24", "-nolisten", "tcp")
	x.ExtraFiles = []*os.File{w}
	var out bytes.Buffer
	x.Stderr = &out
	if err := x.Start(); err != nil {
		t.Fatalf("start Xvfb: %v", err)
	}
	w.Close()
	t.Cleanup(func() {
		_ = x.Process.Kill()
		_ = x.Wait()
	})
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case n := <-got:
		if _, err := strconv.Atoi(n); err != nil {
			t.Fatalf("Xvfb did not report its display (%q): %s", n, out.String())
		}
		return ":" + n
	case <-time.After(30 * time.Second):
		t.Fatalf("Xvfb did not start within 30s: %s", out.String())
	}
	return ""
}

// waitForWindow returns the id of the first visible window whose name matches, failing early
// when the app exits.
func waitForWindow(t testing.TB, display, name string, exited <-chan error, appOut fmt.Stringer) string {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("tandem exited before showing a window (%v):\n%s", err, appOut.String())
		default:
		}
		cmd := exec.Command("xdotool", "search", "--onlyvisible", "--name", name)
		cmd.Env = append(os.Environ(), "DISPLAY="+display)
		out, _ := cmd.Output() // exits 1 while there is no such window
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			return ids[0]
		}
	}
	t.Fatalf("no window named %q within 60s; app output:\n%s", name, appOut.String())
	return ""
}

func screenshot(t testing.TB, display, dir string) (image.Image, error) {
	t.Helper()
	path := filepath.Join(dir, "screen.png")
	cmd := exec.Command("import", "-window", "root", path)
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("import: %v: %s", err, out)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return png.Decode(f)
}

// looksDrawn says why img is not a drawn window: too few colours, or no dark text on light
// or light text on dark.
func looksDrawn(img image.Image) error {
	colours := map[[3]uint32]bool{}
	var dark, light, total int
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			luma := (299*(r>>8) + 587*(g>>8) + 114*(bl>>8)) / 1000
			switch {
			case luma < 70:
				dark++
			case luma > 190:
				light++
			}
			total++
		}
	}
	switch {
	case len(colours) < 64:
		return fmt.Errorf("only %d distinct colours", len(colours))
	case dark < total/1000:
		return fmt.Errorf("only %d of %d pixels are dark", dark, total)
	case light < total/1000:
		return fmt.Errorf("only %d of %d pixels are light", light, total)
	}
	return nil
}

func windowBounds(t testing.TB, display, win string) image.Rectangle {
	t.Helper()
	cmd := exec.Command("xdotool", "getwindowgeometry", "--shell", win)
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xdotool getwindowgeometry: %v", err)
	}
	v := map[string]int{}
	for _, line := range strings.Fields(string(out)) {
		k, s, _ := strings.Cut(line, "=")
		v[k], _ = strconv.Atoi(s)
	}
	return image.Rect(v["X"], v["Y"], v["X"]+v["WIDTH"], v["Y"]+v["HEIGHT"])
}

func crop(img image.Image, r image.Rectangle) image.Image {
	r = r.Intersect(img.Bounds())
	if r.Empty() {
		return img
	}
	out := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(out, out.Bounds(), img, r.Min, draw.Src)
	return out
}

func writePNG(t testing.TB, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

// freeAddr returns a loopback address nothing listens on, so the app does not collide with an
// agent already running on the default port.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// utf8Locale is en_US.UTF-8 when the system has it, else C.UTF-8, which every glibc has.
func utf8Locale() string {
	out, _ := exec.Command("locale", "-a").Output()
	for _, l := range strings.Fields(string(out)) {
		if strings.EqualFold(l, "en_US.utf8") || strings.EqualFold(l, "en_US.UTF-8") {
			return "en_US.UTF-8"
		}
	}
	return "C.UTF-8"
}

// TestAppMetadataMatchesFyneAppToml keeps the identity compiled into the binary equal to
// FyneApp.toml, which `fyne package` reads.
func TestAppMetadataMatchesFyneAppToml(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "FyneApp.toml"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	want := map[string]string{
		"ID": appID, "Name": appName, "Version": appVersion, "Build": strconv.Itoa(appBuild),
		"Icon": "assets/icon.png", "fyneDo": "true",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("FyneApp.toml %s = %q, want %q", k, got[k], v)
		}
	}
}

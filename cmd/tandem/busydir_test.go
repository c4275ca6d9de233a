package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAppOnABusyDataDirectorySaysSo opens the app on a data directory that tandem serve holds:
// a window says so and what to do, where the app used to end with a line on standard error
// that nobody reads when Tandem is opened from the applications menu.
func TestAppOnABusyDataDirectorySaysSo(t *testing.T) {
	bin, root := appTest(t)
	dir := filepath.Join(root, "acme")
	serveAgent(t, bin, dir, "Acme")
	display := startXvfb(t)
	win, appOut := startApp(t, bin, display, nil, "--data-dir", dir)
	cmd := exec.Command("xdotool", "getwindowname", win)
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	name, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(name)); got != "Tandem — The data directory is in use" {
		t.Fatalf("the app on a busy directory shows the window %q, want the problem window:\n%s", got, appOut.String())
	}
	shot := waitForShot(t, display, root, appOut, func() bool { return true })
	if err := looksDrawn(crop(shot, windowBounds(t, display, win))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if strings.Contains(appOut.String(), "panic") {
		t.Fatalf("the app panicked:\n%s", appOut.String())
	}
}

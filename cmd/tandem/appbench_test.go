package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/agent"
)

// appRun is what one run of the real app measured.
type appRun struct {
	rssMiB float64 // resident memory after it settled
	cpu    float64 // share of one core used while idle
}

// measureApp runs the built app on dir under its own Xvfb display, lets it settle, then reads
// its CPU time over idle and its resident memory from /proc.
func measureApp(b *testing.B, bin, dir string, settle, idle time.Duration) appRun {
	b.Helper()
	return measureWindow(b, "^Tandem", dir, settle, idle, bin, "--data-dir", dir, "--listen", freeAddr(b), "--name", "Blue")
}

// measureWindow runs command under a fresh Xvfb until a window titled title shows, lets it
// settle, then measures its idle CPU and its memory; name labels the memory log line.
func measureWindow(b *testing.B, title, name string, settle, idle time.Duration, command ...string) appRun {
	b.Helper()
	display := startXvfb(b)
	app := exec.Command(command[0], command[1:]...)
	app.Env = append(os.Environ(), "DISPLAY="+display, "LANG="+utf8Locale(), "LC_ALL="+utf8Locale(),
		"XDG_CONFIG_HOME="+filepath.Join(b.TempDir(), "config"))
	var out bytes.Buffer
	app.Stdout, app.Stderr = &out, &out
	if err := app.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- app.Wait() }()
	defer func() {
		_ = app.Process.Kill()
		<-exited
	}()
	waitForWindow(b, display, title, exited, &out)
	time.Sleep(settle)
	pid := app.Process.Pid
	t0, c0 := time.Now(), cpuTicks(b, pid)
	time.Sleep(idle)
	t1, c1 := time.Now(), cpuTicks(b, pid)
	const ticksPerSecond = 100 // USER_HZ on Linux
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
		var parts []string
		for _, line := range strings.Split(string(raw), "\n") {
			for _, k := range []string{"Rss:", "Anonymous:", "Shared_Clean:", "Private_Clean:"} {
				if strings.HasPrefix(line, k) {
					parts = append(parts, strings.Join(strings.Fields(line), " "))
				}
			}
		}
		b.Logf("%s: %s", filepath.Base(name), strings.Join(parts, ", "))
	}
	return appRun{
		rssMiB: float64(rssKiB(b, pid)) / 1024,
		cpu:    float64(c1-c0) / ticksPerSecond / t1.Sub(t0).Seconds(),
	}
}

// cpuTicks is the process's user plus system CPU time, in clock ticks.
func cpuTicks(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) start at state, field 3.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return utime + stime
}

func rssKiB(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// BenchmarkAppAtScale runs the real app (the binary, under Xvfb) on an agent with 10,000 items
// and 100,000 queued events, and on an empty agent in the same run as the baseline, and reports
// the app's resident memory and its idle CPU as ratios to the empty agent's, beside a bare Fyne
// window's idle CPU (testdata/barefyne: the floor of any Fyne app here). It needs Xvfb and
// the OS keychain (make bench runs it in a D-Bus session with gnome-keyring).
func BenchmarkAppAtScale(b *testing.B) {
	if _, err := exec.LookPath("Xvfb"); err != nil {
		b.Skip("needs Xvfb")
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		b.Skip("needs the OS keychain: run in a D-Bus session with gnome-keyring (make bench)")
	}
	ctx := context.Background()
	root := b.TempDir()
	bin := filepath.Join(root, "tandem")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	bare := filepath.Join(root, "barefyne")
	if out, err := exec.Command("go", "build", "-o", bare, "./testdata/barefyne").CombinedOutput(); err != nil {
		b.Fatalf("go build barefyne: %v\n%s", err, out)
	}
	settle, idle := 20*time.Second, 60*time.Second
	if s := os.Getenv("TANDEM_BENCH_IDLE"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			idle = d
		}
	}
	for range b.N {
		empty, loaded := filepath.Join(root, fmt.Sprintf("empty-%d", b.N)), filepath.Join(root, fmt.Sprintf("loaded-%d", b.N))
		a, err := agent.Open(ctx, agent.Options{Dir: empty})
		if err != nil {
			b.Fatal(err)
		}
		a.Close()
		start := time.Now()
		if _, err := agent.PrepareBacklog(ctx, loaded, nil, 10000, 100000); err != nil {
			b.Fatal(err)
		}
		b.Logf("prepared 10,000 items and 100,000 queued events in %v", time.Since(start).Round(time.Second))
		floor := measureWindow(b, "^Bare Fyne", "bare Fyne window", settle, idle, bare)
		base := measureApp(b, bin, empty, settle, idle)
		big := measureApp(b, bin, loaded, settle, idle)
		b.Logf("bare Fyne window (the floor of any idle Fyne app here): idle CPU %.2f%% of a core", 100*floor.cpu)
		b.Logf("empty agent:  RSS %.0f MiB, idle CPU %.2f%% of a core", base.rssMiB, 100*base.cpu)
		b.Logf("with backlog: RSS %.0f MiB, idle CPU %.2f%% of a core", big.rssMiB, 100*big.cpu)
		b.ReportMetric(big.rssMiB, "MiB-rss")
		b.ReportMetric(base.rssMiB, "MiB-rss-empty")
		b.ReportMetric(big.rssMiB/base.rssMiB, "rss-ratio")
		b.ReportMetric(100*big.cpu, "%cpu-idle")
		b.ReportMetric(100*base.cpu, "%cpu-idle-empty")
		b.ReportMetric(100*floor.cpu, "%cpu-idle-bare-fyne")
		if base.cpu > 0 {
			b.ReportMetric(big.cpu/base.cpu, "cpu-ratio")
		}
		for _, dir := range []string{empty, loaded} {
			if a, err := agent.Open(ctx, agent.Options{Dir: dir}); err == nil {
				a.RemoveKey(ctx)
				a.Close()
			}
		}
	}
}

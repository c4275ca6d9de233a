package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/item"
)

// A disk that fills while both sides work: items are made at A until its tracker or an engine
// cannot write; the engine that could not says so in words; once there is room again every item
// A's tracker accepted is at B exactly once and the outboxes are empty. The disk is made full
// for real with a file-size limit, in a child process so the limit stays there.
func TestFullDiskLosesNothingAndRepeatsNothing(t *testing.T) {
	if os.Getenv("TANDEM_ENGINE_FULL_DISK") != "" {
		fullDiskChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestFullDiskLosesNothingAndRepeatsNothing$", "-test.v")
	cmd.Env = append(os.Environ(), "TANDEM_ENGINE_FULL_DISK=1")
	out, err := cmd.CombinedOutput()
	if bytes.Contains(out, []byte("--- SKIP")) {
		t.Skipf("child skipped:\n%s", out)
	}
	if err != nil || !bytes.Contains(out, []byte("--- PASS")) {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "fulldisk_test.go") {
			t.Log(strings.TrimSpace(l))
		}
	}
}

func fullDiskChild(t *testing.T) {
	signal.Ignore(syscall.SIGXFSZ) // a write past the limit fails with EFBIG instead of killing us
	a, b, _, _ := pairSides(t, plainRules{})
	ctx := context.Background()
	var accepted []string
	create := func(i int, desc string) error {
		title := fmt.Sprintf("item %d", i)
		_, err := a.tracker.Create(ctx, item.Item{Title: title, Description: desc})
		if err == nil {
			accepted = append(accepted, title)
		}
		return err
	}
	for i := range 5 {
		if err := create(i, "before"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the first items at B", func() bool { n, _ := b.tracker.Count(ctx); return n == 5 })

	sizeA, sizeB := fileSize(t, a.st.Path()), fileSize(t, b.st.Path())
	old := &syscall.Rlimit{}
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, old); err != nil {
		t.Fatal(err)
	}
	// Only the soft limit, so the process may raise it again when the "disk" has room.
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: uint64(max(sizeA, sizeB)), Max: old.Max}); err != nil {
		t.Skipf("cannot limit the file size: %v", err)
	}
	const words = "is full or the file may not grow"
	said := func() string {
		for _, s := range []*side{a, b} {
			if e := s.eng.Stats().LastError; strings.Contains(e, words) {
				return e
			}
		}
		return ""
	}
	big := strings.Repeat("a long description that fills the disk ", 100)
	refused := 0
	for i := 5; i < 300 && (refused == 0 || said() == ""); i++ {
		if err := create(i, big); err != nil {
			refused++
			time.Sleep(20 * time.Millisecond) // let the engines run into the full disk too
		}
	}
	if refused == 0 {
		t.Fatal("the tracker never hit the full disk")
	}
	waitFor(t, "an engine saying the disk is full", func() bool { return said() != "" })
	t.Logf("while the disk was full (%d items accepted, %d refused): %s", len(accepted), refused, said())

	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, old); err != nil {
		t.Fatalf("lift the file size limit: %v", err)
	}
	waitForWithin(t, time.Minute, "every accepted item at B", func() bool { n, _ := b.tracker.Count(ctx); return n >= len(accepted) })
	time.Sleep(500 * time.Millisecond) // anything sent twice would show itself now
	items, err := b.tracker.List(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, it := range items {
		seen[it.Title]++
	}
	for _, title := range accepted {
		if seen[title] != 1 {
			t.Errorf("%q is at B %d times, want once", title, seen[title])
		}
	}
	if len(items) != len(accepted) {
		t.Errorf("B has %d items, A's tracker accepted %d", len(items), len(accepted))
	}
	waitFor(t, "A's outbox empty", func() bool { c, err := a.out.Counts(); return err == nil && c.Total() == 0 })
	waitFor(t, "the error cleared", func() bool { return said() == "" })
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

package main

import (
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/item"
)

// TestTrackerLongTitleScreenshot opens the real app under Xvfb on an agent whose item has a
// 3,000-character title, selects it on the Tracker screen and checks that the screen is
// drawn: the title wraps inside its field instead of drawing as a black bar (a single line
// wider than the largest texture the GPU takes). With TANDEM_UPDATE_SCREENSHOT=1 it writes
// docs/tracker-long-title.png.
func TestTrackerLongTitleScreenshot(t *testing.T) {
	needDisplayTools(t)
	needKeychain(t)
	root := t.TempDir()
	bin, err := buildTandem()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "agent")
	ctx := context.Background()
	a, err := agent.Open(ctx, agent.Options{Dir: dir, Name: "Blue", Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeAgentKey(t, bin, dir) })
	words := strings.Fields(strings.Repeat("The printer on the third floor jams whenever someone prints double-sided from the shared laptop ", 40))
	title := strings.Join(words, " ")[:3000]
	it, err := a.CreateItem(ctx, item.Item{Title: title, Description: "A title this long comes from a partner's tracker that allows it.", Status: "open"})
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len([]rune(it.Title)) != 3000 {
		t.Fatalf("title is %d characters, want 3000", len([]rune(it.Title)))
	}

	display := startXvfb(t)
	win, out := startApp(t, bin, display, nil, "--data-dir", dir, "--listen", freeAddr(t))
	xdo(t, display, "windowmove", win, "0", "0")
	xdo(t, display, "windowsize", win, "1100", "760")
	time.Sleep(2 * time.Second)
	click := func(x, y int) {
		xdo(t, display, "mousemove", "--window", win, fmt.Sprint(x), fmt.Sprint(y))
		time.Sleep(300 * time.Millisecond)
		xdo(t, display, "click", "1")
		time.Sleep(1500 * time.Millisecond)
	}
	click(60, 72+5*40) // Tracker, the sixth navigation button
	click(300, 140)    // the first (only) item in its list

	var shot image.Image
	var problem error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if shot, problem = screenshot(t, display, root); problem != nil {
			continue
		}
		shot = crop(shot, windowBounds(t, display, win))
		if problem = looksDrawn(shot); problem == nil {
			problem = blackBar(shot)
		}
		if problem == nil {
			break
		}
	}
	if os.Getenv("TANDEM_UPDATE_SCREENSHOT") == "1" && shot != nil {
		writePNG(t, filepath.Join("..", "..", "docs", "tracker-long-title.png"), shot)
	}
	if problem != nil {
		if shot != nil {
			writePNG(t, filepath.Join(root, "failed.png"), shot)
		}
		t.Fatalf("the Tracker with a 3,000-character title is not drawn right: %v\napp output:\n%s", problem, out.String())
	}
}

// blackBar finds a block of pure black pixels larger than any text, border or separator
// draws (at least 150 pixels wide and 8 high): what a texture that failed to upload looks like.
func blackBar(img image.Image) error {
	b := img.Bounds()
	rows := 0 // consecutive rows with a long black run
	for y := b.Min.Y; y < b.Max.Y; y++ {
		run, long := 0, false
		for x := b.Min.X; x < b.Max.X && !long; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 < 4 && g>>8 < 4 && bl>>8 < 4 {
				run++
				long = run > 150
			} else {
				run = 0
			}
		}
		if !long {
			rows = 0
			continue
		}
		if rows++; rows >= 8 {
			return fmt.Errorf("a black bar ending at y=%d", y-b.Min.Y)
		}
	}
	return nil
}

package main

import (
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/item"
)

// TestTrackerLongTitleScreenshot opens the real app under Xvfb on an agent whose item has a
// 3,000-character title, selects it on the Tracker screen and checks that the screen is
// drawn: the title wraps inside its field instead of drawing as a black bar (a single line
// wider than the largest texture the GPU takes). With TANDEM_UPDATE_SCREENSHOT=1 it writes
// docs/tracker-long-title.png.
func TestTrackerLongTitleScreenshot(t *testing.T) {
	bin, root := appTest(t)
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

	app := openTracker(t, bin, root, dir)
	app.click(300, trackerFirstRowY) // the first (only) item in its list
	shot, problem := app.shoot(blackBar)
	if os.Getenv("TANDEM_UPDATE_SCREENSHOT") == "1" && shot != nil {
		writePNG(t, filepath.Join("..", "..", "docs", "tracker-long-title.png"), shot)
	}
	if problem != nil {
		t.Fatalf("the Tracker with a 3,000-character title is not drawn right: %v\napp output:\n%s", problem, app.out.String())
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

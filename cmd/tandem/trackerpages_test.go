package main

import (
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/agent"
)

// TestTrackerPagesScreenshot opens the real app under Xvfb on an agent with 10,000 items,
// goes to the Tracker, pages on once and opens an item, and checks that the screen is drawn.
// With TANDEM_UPDATE_SCREENSHOT=1 it writes docs/tracker-pages.png (and keeps every step's
// shot in TANDEM_SHOTS, if set).
func TestTrackerPagesScreenshot(t *testing.T) {
	bin, root := appTest(t)
	dir := filepath.Join(root, "agent")
	if _, err := agent.PrepareBacklog(context.Background(), dir, nil, 10000, 10000); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeAgentKey(t, bin, dir) })

	app := openTracker(t, bin, root, dir)
	shoot := func(name string) image.Image {
		shot, problem := app.shoot(nil)
		if problem != nil {
			t.Fatalf("%s: the Tracker with 10,000 items is not drawn: %v\napp output:\n%s", name, problem, app.out.String())
		}
		if d := os.Getenv("TANDEM_SHOTS"); d != "" {
			writePNG(t, filepath.Join(d, name+".png"), shot)
		}
		return shot
	}
	first := shoot("1-first-page")
	app.click(trackerNextX, trackerPagesY) // Next
	next := shoot("2-next-page")
	app.click(300, trackerFirstRowY) // the first item of the second page
	shot := shoot("3-open-item")
	list := image.Rect(145, 140, 500, 720) // the rows and the page line
	form := image.Rect(515, 60, 1095, 440) // the open item's header and fields
	row := image.Rect(145, 140, 500, 210)  // the first row
	if !differs(first, next, list) {
		t.Errorf("Next did not change the list")
	}
	if !differs(next, shot, form) || !differs(next, shot, row) {
		t.Errorf("clicking the first row did not open it (its row highlighted, its fields in the form)")
	}
	if os.Getenv("TANDEM_UPDATE_SCREENSHOT") == "1" {
		writePNG(t, filepath.Join("..", "..", "docs", "tracker-pages.png"), shot)
	}
}

// trackerApp is the real app under Xvfb, on its Tracker screen.
type trackerApp struct {
	t            *testing.T
	display, win string
	root         string // where screenshots are taken
	out          *syncBuffer
}

// openTracker starts the app on the agent in dir, in a 1100×760 window, and goes to the
// Tracker.
func openTracker(t *testing.T, bin, root, dir string) *trackerApp {
	display := startXvfb(t)
	win, out := startApp(t, bin, display, nil, "--data-dir", dir, "--listen", freeAddr(t))
	xdo(t, display, "windowmove", win, "0", "0")
	xdo(t, display, "windowsize", win, "1100", "760")
	time.Sleep(2 * time.Second)
	app := &trackerApp{t: t, display: display, win: win, root: root, out: out}
	app.click(60, 72+5*40) // Tracker, the sixth navigation button
	return app
}

func (a *trackerApp) click(x, y int) {
	xdo(a.t, a.display, "mousemove", "--window", a.win, fmt.Sprint(x), fmt.Sprint(y))
	time.Sleep(300 * time.Millisecond)
	xdo(a.t, a.display, "click", "1")
	time.Sleep(1500 * time.Millisecond)
}

// shoot takes screenshots of the window until one looks drawn and passes check (nil: any),
// for up to 20 seconds, and returns the last with what is wrong with it. A failed one is kept
// as failed.png in the test's directory.
func (a *trackerApp) shoot(check func(image.Image) error) (image.Image, error) {
	var shot image.Image
	var problem error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if shot, problem = screenshot(a.t, a.display, a.root); problem != nil {
			continue
		}
		shot = crop(shot, windowBounds(a.t, a.display, a.win))
		if problem = looksDrawn(shot); problem == nil && check != nil {
			problem = check(shot)
		}
		if problem == nil {
			break
		}
	}
	if problem != nil && shot != nil {
		writePNG(a.t, filepath.Join(a.root, "failed.png"), shot)
	}
	return shot, problem
}

// Where the Tracker's controls are in a 1100×760 window: the list's first row and the page
// buttons below the list.
const (
	trackerFirstRowY = 185
	trackerNextX     = 480
	trackerPagesY    = 700
)

// differs reports whether a and b differ anywhere inside r.
func differs(a, b image.Image, r image.Rectangle) bool {
	r = r.Intersect(a.Bounds()).Intersect(b.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if a.At(x, y) != b.At(x, y) {
				return true
			}
		}
	}
	return false
}

package main

import (
	"errors"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConnectionsScreenshot runs the real app (Blue) with two partners served headless (Red and
// Green), pairs them through the control sockets, lets Green pause and Blue verify Red, has Blue
// accept the code of a third partner behind a firewall (Kim's Shop, no listener), so that
// pairing waits for Kim's operator, and checks that the Connections screen is drawn with the
// waiting pairing's reply code. With TANDEM_UPDATE_SCREENSHOT=1 it writes docs/connections.png.
func TestConnectionsScreenshot(t *testing.T) {
	bin, root := appTest(t)
	blue, red, green, kim := filepath.Join(root, "blue"), filepath.Join(root, "red"), filepath.Join(root, "green"), filepath.Join(root, "kim")
	serveAgent(t, bin, red, "Red Support")
	serveAgent(t, bin, green, "Green Logistics")
	serveAgentWith(t, bin, kim, "Kim's Shop", nil, "--listen", "off")

	display := startXvfb(t)
	t.Cleanup(func() { removeAgentKey(t, bin, blue) }) // after the app stops (cleanups run last first)
	win, appOut := startApp(t, bin, display, nil, "--data-dir", blue, "--listen", freeAddr(t), "--name", "Blue Helpdesk")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(blue, "control.sock")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app opened no control socket:\n%s", appOut.String())
		}
	}
	// Blue invites both; the app's agent answers through its control socket. Red first, alone in
	// the list: selected, its detail shows the verification code and "Codes match…".
	pair := func(partner string) {
		code := strings.TrimSpace(tandem(t, bin, false, "invite", "--data-dir", blue))
		tandem(t, bin, false, "accept", code, "--data-dir", partner)
	}
	pair(red)
	xdo(t, display, "mousemove", "--window", win, "70", "115", "click", "1")
	time.Sleep(time.Second)
	xdo(t, display, "mousemove", "--window", win, "250", "200", "click", "1")
	verify := waitForShot(t, display, root, appOut, func() bool {
		return strings.Contains(tandem(t, bin, false, "connections", "--data-dir", blue), "Unverified")
	})
	if os.Getenv("TANDEM_UPDATE_SCREENSHOT") == "1" {
		writePNG(t, filepath.Join("..", "..", "docs", "verify.png"), crop(verify, windowBounds(t, display, win)))
	}
	pair(green)
	list := tandem(t, bin, false, "connections", "--data-dir", blue)
	var redCode string
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, "Red Support") {
			_, after, _ := strings.Cut(line, "(code ")
			redCode, _, _ = strings.Cut(after, ")")
		}
	}
	tandem(t, bin, false, "connections", "verify", "Red Support", redCode, "--data-dir", blue)
	tandem(t, bin, false, "connections", "pause", "Blue Helpdesk", "--data-dir", green)
	tandem(t, bin, false, "invite", "--data-dir", blue, "--expires", "3h") // one pending in the list
	kimCode := strings.TrimSpace(tandem(t, bin, false, "invite", "--data-dir", kim))
	reply := strings.TrimSpace(tandem(t, bin, false, "accept", kimCode, "--data-dir", blue))
	if !strings.HasPrefix(reply, "tandemreply1-") {
		t.Fatalf("blue accepting the firewalled agent's code printed %q, want a reply code", reply)
	}
	if list := tandem(t, bin, false, "connections", "--data-dir", blue); !strings.Contains(list, "Waiting for the partner to complete pairing") {
		t.Fatalf("blue does not list the pairing waiting for Kim:\n%s", list)
	}

	// The first in the list: the pairing waiting for Kim, once the window lists it (the screen
	// reads the waiting pairings again within a second or two).
	time.Sleep(3 * time.Second)
	xdo(t, display, "mousemove", "--window", win, "250", "215", "click", "1")
	shot := waitForShot(t, display, root, appOut, func() bool {
		return strings.Contains(tandem(t, bin, false, "connections", "--data-dir", blue), "Paused by the partner")
	})
	if os.Getenv("TANDEM_UPDATE_SCREENSHOT") == "1" {
		writePNG(t, filepath.Join("..", "..", "docs", "connections.png"), crop(shot, windowBounds(t, display, win)))
	}

	// Invite a partner in the window: the code shows above the list, with Copy.
	xdo(t, display, "mousemove", "--window", win, "220", "75", "click", "1")
	xdo(t, display, "mousemove", "--window", win, "70", "450")
	invite := waitForShot(t, display, root, appOut, func() bool {
		return strings.Count(tandem(t, bin, false, "invitations", "--data-dir", blue), "pending") == 2
	})
	if os.Getenv("TANDEM_UPDATE_SCREENSHOT") == "1" {
		writePNG(t, filepath.Join("..", "..", "docs", "invite.png"), crop(invite, windowBounds(t, display, win)))
	}
}

// waitForShot takes screenshots until one shows a drawn window and ready says the agent has
// reached the state to show, then gives the window a second to redraw and takes the last one.
func waitForShot(t *testing.T, display, root string, appOut *syncBuffer, ready func() bool) image.Image {
	t.Helper()
	var shot image.Image
	problem := errors.New("the agent did not reach the state to show within 30s")
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		shot, problem = screenshot(t, display, root)
		if problem == nil {
			problem = looksDrawn(shot)
		}
		if problem == nil {
			if !ready() {
				problem = errors.New("the agent did not reach the state to show within 30s")
				continue
			}
			time.Sleep(time.Second) // the window redraws what the agent told it
			shot, problem = screenshot(t, display, root)
			break
		}
	}
	if problem != nil {
		t.Fatalf("the Connections screen is not drawn: %v\n%s", problem, appOut.String())
	}
	return shot
}

package ui

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"
)

// Without a keychain the app says what is wrong and what to do, and Try again opens the agent
// once the keychain answers.
func TestKeychainProblemWindow(t *testing.T) {
	test.NewTempApp(t)
	var tries atomic.Int32
	fixed := make(chan struct{}, 1)
	quit := false
	v := newProblemView(KeychainProblem(errors.New("no D-Bus session bus")), func(ctx context.Context) error {
		if tries.Add(1) == 1 {
			return errors.New("the OS keychain is unavailable: still locked")
		}
		return nil
	}, func() { fixed <- struct{}{} }, func() { quit = true })
	w := test.NewTempWindow(t, v.content)
	wantShownWrapped(t, w, "What is wrong")
	wantShownWrapped(t, w, "no D-Bus session bus")
	wantShownWrapped(t, w, "What to do")
	wantShownWrapped(t, w, "tandem serve --secrets-file")

	test.Tap(v.retry)
	<-v.pending
	if !strings.Contains(v.status.Text, "Still not working") {
		t.Errorf("after a failed retry the window says %q", v.status.Text)
	}
	wantShownWrapped(t, w, "still locked")
	select {
	case <-fixed:
		t.Fatal("the agent opened although the retry failed")
	default:
	}
	test.Tap(v.retry)
	<-v.pending
	select {
	case <-fixed:
	case <-time.After(5 * time.Second):
		t.Fatal("Try again succeeded but the agent's window was not opened")
	}
	test.Tap(v.quit)
	if !quit {
		t.Error("Quit did not quit")
	}
}

// A data directory another agent holds: the window says which and what to do.
func TestDataDirInUseProblemWindow(t *testing.T) {
	test.NewTempApp(t)
	v := newProblemView(DataDirInUseProblem("/home/ann/.local/share/tandem", errors.New("the data directory is in use by another Tandem agent")),
		func(ctx context.Context) error { return nil }, func() {}, func() {})
	w := test.NewTempWindow(t, v.content)
	wantShownWrapped(t, w, "Another Tandem agent runs on /home/ann/.local/share/tandem")
	wantShownWrapped(t, w, "systemctl --user stop tandem")
	wantShownWrapped(t, w, "tandem --data-dir ~/tandem-second --name Second")
}

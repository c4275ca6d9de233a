// Package uitest holds helpers for tests of the app's screens: walking a test window as the
// operator sees it.
package uitest

import (
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// Visit calls fn for every visible object in w, overlays first, descending into containers
// and widgets' renderers; fn returns false to stop.
func Visit(w fyne.Window, fn func(fyne.CanvasObject) bool) {
	stop := false
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if stop || o == nil || !o.Visible() {
			return
		}
		if !fn(o) {
			stop = true
			return
		}
		switch x := o.(type) {
		case *fyne.Container:
			for _, c := range x.Objects {
				walk(c)
			}
		case fyne.Widget:
			for _, c := range test.WidgetRenderer(x).Objects() {
				walk(c)
			}
		}
	}
	for _, o := range w.Canvas().Overlays().List() {
		walk(o)
	}
	walk(w.Canvas().Content())
}

// Texts returns every text visible in w, one per line.
func Texts(w fyne.Window) string {
	var out []string
	Visit(w, func(o fyne.CanvasObject) bool {
		if x, ok := o.(*canvas.Text); ok {
			out = append(out, x.Text)
		}
		return true
	})
	return strings.Join(out, "\n")
}

// Button returns the first visible button with the given text, dialogs first; nil if none.
func Button(w fyne.Window, text string) *widget.Button {
	var found *widget.Button
	Visit(w, func(o fyne.CanvasObject) bool {
		if b, ok := o.(*widget.Button); ok && b.Text == text {
			found = b
			return false
		}
		return true
	})
	return found
}

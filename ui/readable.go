package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Values a list or line cuts off (partner ids, errors, codes) can be read in full and copied:
// a tapLabel opens its whole text in a dialog with a Copy button, and detail panes show
// selectable text.

// tapLabel is a one-line label that cuts its text off with an ellipsis and shows all of it,
// selectable and with a Copy button, when tapped.
type tapLabel struct {
	widget.Label
	title string // the dialog's title, e.g. "Status"
	u     *UI
}

func newTapLabel(u *UI, title string) *tapLabel {
	l := &tapLabel{u: u, title: title}
	l.Truncation = fyne.TextTruncateEllipsis
	l.ExtendBaseWidget(l)
	return l
}

// Tapped shows the whole text.
func (l *tapLabel) Tapped(*fyne.PointEvent) {
	if l.Text != "" {
		l.u.showFullText(l.title, l.Text)
	}
}

// Cursor says the label can be clicked.
func (l *tapLabel) Cursor() desktop.Cursor { return desktop.PointerCursor }

// showFullText opens text in a dialog, selectable, with a Copy button. Without a window (tests)
// it only remembers what it would show.
func (u *UI) showFullText(title, text string) {
	u.lastFullText = text
	if u.win == nil {
		return
	}
	body := widget.NewLabel(text)
	body.Wrapping = fyne.TextWrapBreak
	body.Selectable = true
	copyButton := widget.NewButtonWithIcon("Copy", theme.ContentCopyIcon(), func() {
		fyne.CurrentApp().Clipboard().SetContent(text)
	})
	d := dialog.NewCustom(title, "Close", container.NewBorder(nil, container.NewHBox(copyButton), nil, nil, container.NewVScroll(body)), u.win)
	d.Resize(fyne.NewSize(600, 300))
	d.Show()
}

// copyable is a selectable, wrapping label with a Copy button beside it, for a detail pane.
// Copy copies value(the label's text): the value alone, without the words around it (an
// agent ID without "Agent ", a twin's key without "synced ⇄").
func copyable(text string, value func(shown string) string) (*widget.Label, *fyne.Container) {
	l := widget.NewLabel(text)
	l.Wrapping = fyne.TextWrapBreak
	l.Selectable = true
	b := widget.NewButtonWithIcon("", theme.ContentCopyIcon(), func() {
		fyne.CurrentApp().Clipboard().SetContent(value(l.Text))
	})
	b.Importance = widget.LowImportance
	return l, container.NewBorder(nil, nil, nil, b, l)
}

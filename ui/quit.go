package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"
)

// ConfirmQuit makes closing w ask before it quits the app. It is for a desktop without a
// system tray, where a hidden window would leave an agent nobody can see or end but with kill:
// there, closing the window ends the agent, and the operator should know that it then stops
// syncing until Tandem starts again.
func ConfirmQuit(w fyne.Window, quit func()) {
	w.SetCloseIntercept(func() { askQuit(w, quit) })
}

// askQuit asks whether to quit; Quit calls quit, Keep open leaves everything as it was.
func askQuit(w fyne.Window, quit func()) *dialog.ConfirmDialog {
	msg := widget.NewLabel("While Tandem is closed this agent does not sync: changes wait, safely queued, until it starts again. " +
		"To keep syncing without a window, run it as a service: systemctl --user enable --now tandem (and stop the service before opening the app again).")
	msg.Wrapping = fyne.TextWrapWord
	d := dialog.NewCustomConfirm("Quit Tandem?", "Quit", "Keep open", msg, func(ok bool) {
		if ok {
			quit()
		}
	}, w)
	d.Resize(fyne.NewSize(520, 220))
	d.Show()
	return d
}

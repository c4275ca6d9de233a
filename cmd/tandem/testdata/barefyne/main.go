// Command barefyne is a Fyne window with one label and nothing else: the floor of an idle
// Fyne app's CPU, which BenchmarkAppAtScale measures beside Tandem's app in the same run.
package main

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/widget"
)

func main() {
	a := app.NewWithID("io.tandemsync.barefyne")
	w := a.NewWindow("Bare Fyne")
	w.SetContent(widget.NewLabel("A Fyne window with nothing to do."))
	w.Resize(fyne.NewSize(1000, 700))
	w.ShowAndRun()
}

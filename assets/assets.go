// Package assets holds Tandem's embedded resources: the app icon.
package assets

import (
	_ "embed"

	"fyne.io/fyne/v2"
)

//go:generate go run gen_icon.go

//go:embed icon.png
var icon []byte

// Icon returns the app icon, a 512x512 PNG.
func Icon() fyne.Resource { return fyne.NewStaticResource("icon.png", icon) }

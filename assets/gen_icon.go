//go:build ignore

// gen_icon draws icon.png: two interlocking rings, Tandem's blue and red, on a light rounded
// square. Run it with `go generate ./assets`.
package main

import (
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
)

const (
	size   = 512
	sub    = 4 // samples per pixel side, for anti-aliasing
	radius = 118.0
	band   = 36.0 // ring thickness
	gap    = 10.0 // the background halo that makes one ring pass over the other
	offset = 78.0 // each ring's centre from the middle
	corner = 104.0
)

var (
	bg   = color.NRGBA{0xF7, 0xF9, 0xFC, 0xFF}
	blue = color.NRGBA{0x1F, 0x6F, 0xEB, 0xFF}
	red  = color.NRGBA{0xE5, 0x39, 0x35, 0xFF}
)

func main() {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	c := size / 2.0
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var r, g, b, a float64
			for sy := 0; sy < sub; sy++ {
				for sx := 0; sx < sub; sx++ {
					x := float64(px) + (float64(sx)+0.5)/sub
					y := float64(py) + (float64(sy)+0.5)/sub
					col, ok := sample(x, y, c)
					if !ok {
						continue
					}
					r += float64(col.R)
					g += float64(col.G)
					b += float64(col.B)
					a++
				}
			}
			if a == 0 {
				continue
			}
			img.SetNRGBA(px, py, color.NRGBA{
				uint8(r / a), uint8(g / a), uint8(b / a), uint8(255 * a / (sub * sub)),
			})
		}
	}
	f, err := os.Create("icon.png")
	if err != nil {
		log.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

// sample returns the colour at (x, y), or false outside the rounded square.
func sample(x, y, c float64) (color.NRGBA, bool) {
	if !inRoundedSquare(x, y) {
		return color.NRGBA{}, false
	}
	blueD := ringDistance(x, y, c-offset, c)
	redD := ringDistance(x, y, c+offset, c)
	// Above the middle blue passes over red; below, red over blue: the rings interlock.
	under, over := redD, blueD
	underCol, overCol := red, blue
	if y > c {
		under, over = blueD, redD
		underCol, overCol = blue, red
	}
	switch {
	case over <= band/2:
		return overCol, true
	case over <= band/2+gap:
		return bg, true
	case under <= band/2:
		return underCol, true
	}
	return bg, true
}

// ringDistance is how far (x, y) is from the centre line of the ring around (cx, cy).
func ringDistance(x, y, cx, cy float64) float64 {
	return math.Abs(math.Hypot(x-cx, y-cy) - radius)
}

func inRoundedSquare(x, y float64) bool {
	m := 8.0 // margin
	lo, hi := m+corner, size-m-corner
	dx := math.Max(0, math.Max(lo-x, x-hi))
	dy := math.Max(0, math.Max(lo-y, y-hi))
	if x < m || x > size-m || y < m || y > size-m {
		return false
	}
	return math.Hypot(dx, dy) <= corner
}

//go:build ignore

// make_masks writes the masks the example config controls_masks.yaml uses:
// sky.png, white above the far mountain ridge of builtin:village, and
// land.png, its complement. Run from the repository root:
//
//	go run docs/gallery/make_masks.go
package main

import (
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
	"path/filepath"
)

func main() {
	// builtin:village is 768x512; its far ridge is this curve (see
	// builtinimg/internal/paint).
	const w, h = 768, 512
	ridge := func(x float64) float64 { return 250 - 70*math.Abs(math.Sin(x/130)) - 25*math.Sin(x/37+1) }
	sky := image.NewGray(image.Rect(0, 0, w, h))
	land := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			// A soft edge of a few pixels, so the two styles blend there.
			d := (ridge(float64(x)+0.5) - float64(y) - 0.5) / 4
			v := 1 / (1 + math.Exp(-d))
			sky.SetGray(x, y, color.Gray{uint8(math.Round(255 * v))})
			land.SetGray(x, y, color.Gray{uint8(math.Round(255 * (1 - v)))})
		}
	}
	dir := filepath.Join("docs", "gallery", "masks")
	for name, img := range map[string]*image.Gray{"sky.png": sky, "land.png": land} {
		f, err := os.Create(filepath.Join(dir, name))
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
}

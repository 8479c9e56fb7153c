// Command gen writes the volumes the volume configs read, so that the
// repository can make its own examples: stripes32.npy
// (configs/volume_stripes.yaml), a 32³ uint8 volume of stripes along the
// diagonal (1,1,1), white where (z+y+x) mod 8 < 4, so that its period is
// 8 voxels along every axis and along the rows and columns of every
// slice; and colour8.npy (configs/volume_slices.yaml), an 8³ RGB cube
// whose red grows along the width, green along the height and blue along
// the depth, a content that sets a colour volume's shape (1.6 KB; the run
// resamples it to volume.size).
//
// With -picture RUN, it instead draws docs/volume/stripes.png from the
// run folder RUN of that config: three slices along each axis of the
// exemplar (enlarged 2×) beside those of the result, in 8-bit grey. With
// -slices RUN, it draws docs/volume/slices.png from a run folder of
// configs/volume_slices.yaml: each axis's style image as the run used it
// (style1.png to style3.png) beside four slices of the result along that
// axis, enlarged 3×.
//
// usage: go run ./docs/volume/gen [-out examples/volumes] [-picture RUN] [-slices RUN]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/internal/atomicfile"
	"github.com/nst-project/nst/internal/npyfmt"
	"github.com/nst-project/nst/volume"
)

// Side and Period are the exemplar's size and its stripes' period, in
// voxels.
const (
	Side   = 32
	Period = 8
)

func main() {
	out := flag.String("out", filepath.Join("examples", "volumes"), "folder to write the volume into")
	picture := flag.String("picture", "", "run folder of configs/volume_stripes.yaml to draw docs/volume/stripes.png from")
	slicesRun := flag.String("slices", "", "run folder of configs/volume_slices.yaml to draw docs/volume/slices.png from")
	flag.Parse()
	var err error
	switch {
	case *picture != "":
		err = drawPicture(*picture, filepath.Join("docs", "volume", "stripes.png"))
	case *slicesRun != "":
		err = drawSlicesPicture(*slicesRun, filepath.Join("docs", "volume", "slices.png"))
	default:
		err = run(*out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// run writes stripes32.npy and colour8.npy into dir.
func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	header, err := npyfmt.EncodeHeader("|u1", []int{Side, Side, Side})
	if err != nil {
		return err
	}
	data := []byte(header)
	for z := range Side {
		for y := range Side {
			for x := range Side {
				v := byte(0)
				if (z+y+x)%Period < Period/2 {
					v = 255
				}
				data = append(data, v)
			}
		}
	}
	path := filepath.Join(dir, fmt.Sprintf("stripes%d.npy", Side))
	if err := writeFile(path, data); err != nil {
		return fmt.Errorf("stripes: %w", err)
	}
	if err := writeColourCube(dir); err != nil {
		return err
	}
	return writeFibres(dir)
}

// FibreSide, FibrePeriod and FibreRadius shape the fibre exemplars: 64 px
// square, fibres every 8 px, 2.5 px in radius.
const (
	FibreSide   = 64
	FibrePeriod = 8
	FibreRadius = 2.5
)

// Colours of the fibre exemplars: dark blue fibres in a cream matrix.
var (
	fibreColour  = color.NRGBA{30, 50, 120, 255}
	matrixColour = color.NRGBA{235, 215, 170, 255}
)

// writeFibres writes the two views of a fibre composite whose fibres run
// along one axis, the exemplars of configs/volume_slices.yaml:
// fibres_across.png, a cut across the fibres (discs on a square grid),
// and fibres_along.png, a cut along them (vertical bands of the discs'
// width), each 64 px square.
func writeFibres(dir string) error {
	across := image.NewNRGBA(image.Rect(0, 0, FibreSide, FibreSide))
	along := image.NewNRGBA(image.Rect(0, 0, FibreSide, FibreSide))
	// offset is how far the centre of pixel p lies from the axis of its
	// period's fibre, at the period's middle.
	offset := func(p int) float64 { return float64(p%FibrePeriod) + 0.5 - FibrePeriod/2.0 }
	for y := range FibreSide {
		for x := range FibreSide {
			dx, dy := offset(x), offset(y)
			c := matrixColour
			if dx*dx+dy*dy <= FibreRadius*FibreRadius {
				c = fibreColour
			}
			across.SetNRGBA(x, y, c)
			c = matrixColour
			if dx*dx <= FibreRadius*FibreRadius {
				c = fibreColour
			}
			along.SetNRGBA(x, y, c)
		}
	}
	for name, img := range map[string]image.Image{"fibres_across.png": across, "fibres_along.png": along} {
		if err := writePNG(filepath.Join(dir, name), img); err != nil {
			return fmt.Errorf("fibres: %w", err)
		}
	}
	return nil
}

// writePNG writes img to path as a compact PNG and prints the path.
func writePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		return err
	}
	return writeFile(path, buf.Bytes())
}

// writeFile writes data to path whole or not at all and prints the path.
func writeFile(path string, data []byte) error {
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}

// ColourSide is the side of colour8.npy, in voxels.
const ColourSide = 8

// writeColourCube writes colour8.npy into dir: [D,H,W,3] uint8, red
// x·255/7, green y·255/7, blue z·255/7.
func writeColourCube(dir string) error {
	header, err := npyfmt.EncodeHeader("|u1", []int{ColourSide, ColourSide, ColourSide, 3})
	if err != nil {
		return err
	}
	data := []byte(header)
	ramp := func(i int) byte { return byte(i * 255 / (ColourSide - 1)) }
	for z := range ColourSide {
		for y := range ColourSide {
			for x := range ColourSide {
				data = append(data, ramp(x), ramp(y), ramp(z))
			}
		}
	}
	path := filepath.Join(dir, fmt.Sprintf("colour%d.npy", ColourSide))
	if err := writeFile(path, data); err != nil {
		return fmt.Errorf("colour cube: %w", err)
	}
	return nil
}

// drawPicture writes to path the exemplar's montage (style1 of the run in
// dir, enlarged 2×) and the result's side by side, in grey.
func drawPicture(dir, path string) error {
	var tiles []image.Image
	for _, part := range []struct {
		file  string
		scale int
	}{{filepath.Join("examples", "volumes", "stripes32.npy"), 2}, {"final.npy", 1}} {
		file := part.file
		if part.scale == 1 {
			file = filepath.Join(dir, file)
		}
		v, _, err := volume.ReadNPY(file, volume.ReadOptions{})
		if err != nil {
			return err
		}
		img, err := volume.Montage(v, volume.MontageOptions{PerAxis: 3, Scale: part.scale})
		if err != nil {
			return err
		}
		tiles = append(tiles, img)
	}
	const gap = 8
	w := tiles[0].Bounds().Dx() + gap + tiles[1].Bounds().Dx()
	h := max(tiles[0].Bounds().Dy(), tiles[1].Bounds().Dy())
	out := image.NewGray(image.Rect(0, 0, w, h))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(out, tiles[0].Bounds(), tiles[0], image.Point{}, draw.Src)
	draw.Draw(out, tiles[1].Bounds().Add(image.Pt(tiles[0].Bounds().Dx()+gap, 0)), tiles[1], image.Point{}, draw.Src)
	return writePNG(path, out)
}

// drawSlicesPicture writes to path, for the run in dir of
// configs/volume_slices.yaml, one row per axis (depth, height, width):
// the style image of that axis, resized to the row's height, then four
// slices of the result along the axis, enlarged 3×.
func drawSlicesPicture(dir, path string) error {
	v, _, err := volume.ReadNPY(filepath.Join(dir, "final.npy"), volume.ReadOptions{})
	if err != nil {
		return err
	}
	const scale, gap = 3, 8
	montage, err := volume.Montage(v, volume.MontageOptions{PerAxis: 4, Scale: scale, Gap: gap})
	if err != nil {
		return err
	}
	var styles []image.Image
	left := 0
	rows := []int{v.H * scale, v.D * scale, v.D * scale} // each axis's slice height
	for i, h := range rows {
		img, err := imageio.Load(filepath.Join(dir, fmt.Sprintf("style%d.png", i+1)), imageio.LoadOptions{})
		if err != nil {
			return err
		}
		b := img.Bounds()
		if img, err = imageio.Resize(img, max(1, b.Dx()*h/b.Dy()), h); err != nil {
			return err
		}
		styles = append(styles, img)
		left = max(left, img.Bounds().Dx())
	}
	mb := montage.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, left+2*gap+mb.Dx(), mb.Dy()))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	y := 0
	for i, img := range styles {
		draw.Draw(out, img.Bounds().Add(image.Pt(left-img.Bounds().Dx(), y)), img, image.Point{}, draw.Src)
		y += rows[i] + gap
	}
	draw.Draw(out, mb.Add(image.Pt(left+2*gap, 0)), montage, image.Point{}, draw.Src)
	return writePNG(path, out)
}

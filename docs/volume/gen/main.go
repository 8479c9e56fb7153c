// Command gen writes the volume configs/volume_stripes.yaml reads, so
// that the repository can make its own example: stripes32.npy, a 32³
// uint8 volume of stripes along the diagonal (1,1,1), white where
// (z+y+x) mod 8 < 4, so that its period is 8 voxels along every axis and
// along the rows and columns of every slice.
//
// With -picture RUN, it instead draws docs/volume/stripes.png from the
// run folder RUN of that config: three slices along each axis of the
// exemplar (enlarged 2×) beside those of the result, in 8-bit grey.
//
// usage: go run ./docs/volume/gen [-out examples/volumes] [-picture RUN]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"

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
	flag.Parse()
	var err error
	if *picture != "" {
		err = drawPicture(*picture, filepath.Join("docs", "volume", "stripes.png"))
	} else {
		err = run(*out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// run writes stripes32.npy into dir.
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
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("stripes: %w", err)
	}
	fmt.Println(path)
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
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, out); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}

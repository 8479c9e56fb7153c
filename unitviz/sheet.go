package unitviz

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"github.com/disintegration/imaging"
)

// Sheet layout, in pixels. Units are told apart by the wider gap between
// their blocks of patches.
const (
	sheetMargin = 12
	unitGap     = 12
	patchGap    = 2
	// Auto cell sizes: small fields are enlarged by a whole factor to at
	// least minAutoCell, so their pixels stay crisp squares; large ones
	// are shrunk to maxAutoCell so a sheet of many units stays viewable.
	minAutoCell = 64
	maxAutoCell = 128
	// maxSheetPixels bounds the sheet's size (400 MB of RGBA).
	maxSheetPixels = 100_000_000
)

// SheetBackground is the colour between the patches of a sheet.
var SheetBackground = color.NRGBA{R: 24, G: 24, B: 24, A: 255}

// SheetOptions control Sheet.
type SheetOptions struct {
	// Cell is the side, in pixels, of the square each patch is scaled to
	// fit; 0 derives it from the receptive field's size.
	Cell int
}

// Sheet lays out the patches as a contact sheet: each unit's patches in a
// block of ceil(sqrt(Top)) columns (3x3 for nine), best first, row by row;
// the blocks of the units, in the order asked for, again in a near-square
// grid row by row. Patches keep their aspect ratio, enlarged with nearest
// neighbour sampling so single pixels stay visible, or shrunk with a
// Lanczos filter.
func (r *TopResult) Sheet(o SheetOptions) (*image.NRGBA, error) {
	if len(r.Units) == 0 || r.Top < 1 {
		return nil, errors.New("contact sheet: no units")
	}
	cell := o.Cell
	if cell == 0 {
		cell = autoCell(max(r.Field.Width, r.Field.Height))
	}
	if cell < 1 {
		return nil, fmt.Errorf("contact sheet: cell size %d; want 0 (automatic) or more", cell)
	}
	patchCols := gridColumns(r.Top)
	patchRows := (r.Top + patchCols - 1) / patchCols
	unitCols := gridColumns(len(r.Units))
	unitRows := (len(r.Units) + unitCols - 1) / unitCols
	blockW := patchCols*cell + (patchCols-1)*patchGap
	blockH := patchRows*cell + (patchRows-1)*patchGap
	w := 2*sheetMargin + unitCols*blockW + (unitCols-1)*unitGap
	h := 2*sheetMargin + unitRows*blockH + (unitRows-1)*unitGap
	if float64(w)*float64(h) > maxSheetPixels {
		return nil, fmt.Errorf("contact sheet of %dx%d pixels is too large; ask for fewer units or a smaller cell", w, h)
	}
	sheet := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.Draw(sheet, sheet.Bounds(), image.NewUniform(SheetBackground), image.Point{}, draw.Src)
	for k, u := range r.Units {
		bx := sheetMargin + (k%unitCols)*(blockW+unitGap)
		by := sheetMargin + (k/unitCols)*(blockH+unitGap)
		for i, p := range u.Patches {
			cx := bx + (i%patchCols)*(cell+patchGap)
			cy := by + (i/patchCols)*(cell+patchGap)
			scaled := fitCell(p.Crop, cell)
			// Centred in its cell when the field is not square.
			at := image.Pt(cx+(cell-scaled.Bounds().Dx())/2, cy+(cell-scaled.Bounds().Dy())/2)
			draw.Draw(sheet, scaled.Bounds().Add(at), scaled, image.Point{}, draw.Src)
		}
	}
	return sheet, nil
}

// autoCell is the cell size Sheet picks for a field of side pixels.
func autoCell(side int) int {
	switch {
	case side >= maxAutoCell:
		return maxAutoCell
	case side >= minAutoCell:
		return side
	}
	return side * ((minAutoCell + side - 1) / side)
}

// gridColumns is the column count of a near-square grid of n items.
func gridColumns(n int) int {
	return max(1, int(math.Ceil(math.Sqrt(float64(n)))))
}

// fitCell scales img to fit a cell x cell square, keeping its aspect.
func fitCell(img *image.NRGBA, cell int) *image.NRGBA {
	b := img.Bounds()
	side := max(b.Dx(), b.Dy())
	if side == cell {
		return img
	}
	w := max(1, int(math.Round(float64(b.Dx())*float64(cell)/float64(side))))
	h := max(1, int(math.Round(float64(b.Dy())*float64(cell)/float64(side))))
	filter := imaging.Lanczos
	if cell > side {
		filter = imaging.NearestNeighbor
	}
	return imaging.Resize(img, w, h, filter)
}

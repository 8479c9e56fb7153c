package unitviz

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"github.com/disintegration/imaging"

	"github.com/nst-project/nst/models"
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
	l, err := layoutSheet(len(r.Units), r.Top, r.Field, o)
	if err != nil {
		return nil, err
	}
	cell, patchCols, unitCols, blockW, blockH := l.cell, l.patchCols, l.unitCols, l.blockW, l.blockH
	sheet := image.NewNRGBA(image.Rect(0, 0, l.w, l.h))
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

// CheckSheet returns the error Sheet would give for units units of top
// patches each on a layer whose receptive field is field (a cell size out
// of range, a sheet too large), before the patches are found: callers
// check it before the work of Top.
func CheckSheet(units, top int, field models.ReceptiveField, o SheetOptions) error {
	_, err := layoutSheet(units, top, field, o)
	return err
}

// sheetLayout is the geometry of a contact sheet, in pixels.
type sheetLayout struct {
	cell, patchCols, unitCols, blockW, blockH, w, h int
}

// layoutSheet lays out a sheet of units blocks of top patches each, and
// refuses a cell size out of range and a sheet over maxSheetPixels.
func layoutSheet(units, top int, field models.ReceptiveField, o SheetOptions) (sheetLayout, error) {
	if units < 1 || top < 1 {
		return sheetLayout{}, errors.New("contact sheet: no units")
	}
	l := sheetLayout{cell: o.Cell}
	if l.cell == 0 {
		l.cell = autoCell(max(field.Width, field.Height))
	}
	if l.cell < 1 {
		return sheetLayout{}, fmt.Errorf("contact sheet: cell size %d; want 0 (automatic) or more", l.cell)
	}
	l.patchCols = gridColumns(top)
	patchRows := (top + l.patchCols - 1) / l.patchCols
	l.unitCols = gridColumns(units)
	unitRows := (units + l.unitCols - 1) / l.unitCols
	l.blockW = l.patchCols*l.cell + (l.patchCols-1)*patchGap
	l.blockH = patchRows*l.cell + (patchRows-1)*patchGap
	l.w = 2*sheetMargin + l.unitCols*l.blockW + (l.unitCols-1)*unitGap
	l.h = 2*sheetMargin + unitRows*l.blockH + (unitRows-1)*unitGap
	if float64(l.w)*float64(l.h) > maxSheetPixels {
		return sheetLayout{}, fmt.Errorf("contact sheet of %dx%d pixels is too large; ask for fewer units or a smaller cell", l.w, l.h)
	}
	return l, nil
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

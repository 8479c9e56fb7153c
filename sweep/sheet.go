package sweep

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // item images may be JPEG (output.format: jpeg)
	"image/png"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/nst-project/nst/internal/atomicfile"
	"github.com/nst-project/nst/internal/safefile"
)

// SheetOptions configure Sheet.
type SheetOptions struct {
	// Cell is the side of each square cell in pixels; images are scaled to
	// fit it. 0 means DefaultCell.
	Cell int
}

// DefaultCell is the cell side Sheet uses when none is given.
const DefaultCell = 256

// Sheet layout, in pixels. Labels use basicfont's 7x13 face (ASCII).
const (
	sheetPad      = 8  // around the sheet and between cells
	sheetLine     = 16 // one line of text
	sheetCharW    = 7  // one character's advance
	maxLabelChars = 32 // row labels are cut to this
	maxTitleChars = 100
	// maxSheetPixels bounds a sheet's memory (4 bytes a pixel: 1 GiB).
	maxSheetPixels = 1 << 28
)

// SheetIndex describes one contact sheet; it is written beside the image as
// JSON.
type SheetIndex struct {
	// Image and Index are the file names of the sheet and of this index,
	// in the sweep folder.
	Image string `json:"image"`
	Index string `json:"index"`
	// Width and Height are the image's size; Cell the side of a cell.
	Width  int `json:"width"`
	Height int `json:"height"`
	Cell   int `json:"cell"`
	// Rows and Columns are the axes laid out down and across; nil when the
	// sweep has too few axes with more than one value.
	Rows    *SheetAxis `json:"rows,omitempty"`
	Columns *SheetAxis `json:"columns,omitempty"`
	// Fixed are the axes held at one value on this sheet: axes with one
	// value, and the axes beyond the first two that have more (one sheet
	// per combination of their values).
	Fixed []SheetFixed `json:"fixed,omitempty"`
	// Cells are every cell, row by row.
	Cells []SheetCell `json:"cells"`
	// Missing are the ids of the cells without a result, which the sheet
	// draws as crossed-out blanks.
	Missing []string `json:"missing"`
}

// SheetAxis is an axis of a sheet.
type SheetAxis struct {
	Key    string   `json:"key"`
	Labels []string `json:"labels"`
}

// SheetFixed is an axis at one value.
type SheetFixed struct {
	Key   string `json:"key"`
	Label string `json:"label"`
}

// SheetCell is one cell of a sheet.
type SheetCell struct {
	Row    int    `json:"row"`
	Column int    `json:"column"`
	ID     string `json:"id"`
	// State is done, resumable, pending, or unreadable (done, but its
	// image cannot be read).
	State string `json:"state"`
	// Image is the item's final image relative to the sweep folder, for
	// done items.
	Image string `json:"image,omitempty"`
	// X, Y, W and H are the cell's rectangle in the sheet image.
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// Sheet lays the results of the sweep in folder dir out as labelled grids:
// the first axis with more than one value down the rows, the second across
// the columns (a single such axis goes across). Each combination of further
// multi-valued axes gets its own sheet, named by its values. Items without a
// result are drawn as crossed-out cells and listed in the index. Sheet
// writes sheet[-VALUES].png and .json into dir and returns their indexes.
func Sheet(dir string, opt SheetOptions) ([]SheetIndex, error) {
	cell := opt.Cell
	if cell == 0 {
		cell = DefaultCell
	}
	if cell < 16 || cell > 4096 {
		return nil, fmt.Errorf("sheet: cell size %d; want 16 to 4096 pixels", cell)
	}
	rec, err := ReadRecord(dir)
	if err != nil {
		return nil, fmt.Errorf("sheet %s: %w (run the sweep first)", dir, err)
	}
	byChoice := map[string]RecordItem{}
	for _, it := range rec.Items {
		byChoice[choiceKey(it.Choice)] = it
	}
	var multi, single []int
	for i, ax := range rec.Axes {
		if len(ax.Labels) > 1 {
			multi = append(multi, i)
		} else {
			single = append(single, i)
		}
	}
	rowAx, colAx := -1, -1
	switch {
	case len(multi) == 1:
		colAx = multi[0]
	case len(multi) >= 2:
		rowAx, colAx = multi[0], multi[1]
	}
	var extra []int
	if len(multi) > 2 {
		extra = multi[2:]
	}
	sizes := make([]int, len(extra))
	for i, a := range extra {
		sizes[i] = len(rec.Axes[a].Labels)
	}
	var pages []SheetIndex
	var pageErr error
	names := map[string]bool{}
	forEachChoice(sizes, func(pageChoice []int) bool {
		choice := make([]int, len(rec.Axes))
		var fixed []SheetFixed
		var slug []string
		for _, a := range single {
			fixed = append(fixed, SheetFixed{rec.Axes[a].Key, rec.Axes[a].Labels[0]})
		}
		for i, a := range extra {
			choice[a] = pageChoice[i]
			l := rec.Axes[a].Labels[pageChoice[i]]
			fixed = append(fixed, SheetFixed{rec.Axes[a].Key, l})
			slug = append(slug, slugKey(rec.Axes[a].Key)+"-"+slugPart(l))
		}
		name := "sheet"
		if len(slug) > 0 {
			name += "-" + strings.Join(slug, "_")
		}
		// Values whose slugs coincide must not overwrite each other.
		if names[name] {
			name += "-" + strconv.Itoa(len(pages)+1)
		}
		names[name] = true
		page, err := drawSheet(dir, rec, name, cell, rowAx, colAx, choice, fixed, byChoice)
		if err != nil {
			pageErr = err
			return false
		}
		pages = append(pages, page)
		return true
	})
	if pageErr != nil {
		return nil, fmt.Errorf("sheet %s: %w", dir, pageErr)
	}
	return pages, nil
}

func choiceKey(c []int) string {
	var b strings.Builder
	for i, x := range c {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(x))
	}
	return b.String()
}

// Sheet colours.
var (
	sheetBG     = color.RGBA{255, 255, 255, 255}
	cellBG      = color.RGBA{236, 236, 236, 255}
	missingBG   = color.RGBA{252, 228, 228, 255}
	missingMark = color.RGBA{200, 0, 0, 255}
	textColor   = color.RGBA{0, 0, 0, 255}
)

// drawSheet draws and writes one sheet: the cells of rowAx × colAx with the
// other axes at choice.
func drawSheet(dir string, rec *Record, name string, cell, rowAx, colAx int, choice []int, fixed []SheetFixed, byChoice map[string]RecordItem) (SheetIndex, error) {
	idx := SheetIndex{Image: name + ".png", Index: name + ".json", Cell: cell, Fixed: fixed, Missing: []string{}}
	nRows, nCols := 1, 1
	var rowLabels, colLabels []string
	if rowAx >= 0 {
		ax := rec.Axes[rowAx]
		idx.Rows = &SheetAxis{Key: ax.Key, Labels: ax.Labels}
		nRows, rowLabels = len(ax.Labels), ax.Labels
	}
	if colAx >= 0 {
		ax := rec.Axes[colAx]
		idx.Columns = &SheetAxis{Key: ax.Key, Labels: ax.Labels}
		nCols, colLabels = len(ax.Labels), ax.Labels
	}

	title := []string{"sweep " + rec.File}
	var layout []string
	if idx.Rows != nil {
		layout = append(layout, "rows: "+idx.Rows.Key)
	}
	if idx.Columns != nil {
		layout = append(layout, "columns: "+idx.Columns.Key)
	}
	if len(layout) > 0 {
		title = append(title, strings.Join(layout, "   "))
	}
	if len(fixed) > 0 {
		var f []string
		for _, x := range fixed {
			f = append(f, x.Key+"="+x.Label)
		}
		title = append(title, "fixed: "+strings.Join(f, ", "))
	}
	titleChars := 0
	for i, t := range title {
		title[i] = cut(t, maxTitleChars)
		titleChars = max(titleChars, len(title[i]))
	}

	labelW := 0
	for _, l := range rowLabels {
		labelW = max(labelW, len(cut(l, maxLabelChars))*sheetCharW+sheetPad)
	}
	headerH := 0
	if colAx >= 0 {
		headerH = sheetLine
	}
	top := sheetPad + len(title)*sheetLine + sheetPad + headerH
	idx.Width = max(sheetPad+labelW+nCols*(cell+sheetPad), 2*sheetPad+titleChars*sheetCharW)
	idx.Height = top + nRows*(cell+sheetPad)
	if int64(idx.Width)*int64(idx.Height) > maxSheetPixels {
		return idx, fmt.Errorf("a %d x %d sheet is too large; give a smaller cell size", idx.Width, idx.Height)
	}

	img := image.NewRGBA(image.Rect(0, 0, idx.Width, idx.Height))
	draw.Draw(img, img.Bounds(), image.NewUniform(sheetBG), image.Point{}, draw.Src)
	for i, t := range title {
		drawText(img, sheetPad, sheetPad+i*sheetLine, t)
	}
	maxColChars := cell / sheetCharW
	for c, l := range colLabels {
		l = cut(l, maxColChars)
		x := sheetPad + labelW + c*(cell+sheetPad) + (cell-len(l)*sheetCharW)/2
		drawText(img, x, top-sheetLine, l)
	}
	for r, l := range rowLabels {
		drawText(img, sheetPad, top+r*(cell+sheetPad)+(cell-sheetLine)/2, cut(l, maxLabelChars))
	}

	for r := range nRows {
		for c := range nCols {
			ch := append([]int(nil), choice...)
			if rowAx >= 0 {
				ch[rowAx] = r
			}
			if colAx >= 0 {
				ch[colAx] = c
			}
			it, ok := byChoice[choiceKey(ch)]
			if !ok {
				return idx, fmt.Errorf("%s lists no item for values %v", RecordName, ch)
			}
			sc := SheetCell{Row: r, Column: c, ID: it.ID, W: cell, H: cell,
				X: sheetPad + labelW + c*(cell+sheetPad), Y: top + r*(cell+sheetPad)}
			rect := image.Rect(sc.X, sc.Y, sc.X+cell, sc.Y+cell)
			st, err := itemStatus(filepath.Join(dir, ItemsDir, it.ID))
			sc.State = string(st.State)
			var src image.Image
			if err != nil {
				sc.State = "unreadable"
			} else if st.State == StateDone {
				sc.Image = filepath.Join(ItemsDir, it.ID, st.Done.Image)
				if src, err = loadImage(filepath.Join(dir, sc.Image)); err != nil {
					sc.State = "unreadable"
				}
			}
			if src != nil {
				drawFitted(img, rect, src)
			} else {
				drawMissing(img, rect, sc.State)
				idx.Missing = append(idx.Missing, it.ID)
			}
			idx.Cells = append(idx.Cells, sc)
		}
	}

	if err := atomicfile.Write(filepath.Join(dir, idx.Image), 0o644, func(w io.Writer) error {
		return png.Encode(w, img)
	}); err != nil {
		return idx, err
	}
	data, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return idx, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, idx.Index), append(data, '\n'), 0o644); err != nil {
		return idx, err
	}
	return idx, nil
}

func loadImage(path string) (image.Image, error) {
	f, err := safefile.Open(path, safefile.MaxImageBytes)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// drawFitted scales src to fit rect, keeping its aspect, centred on the
// cell background.
func drawFitted(dst *image.RGBA, rect image.Rectangle, src image.Image) {
	draw.Draw(dst, rect, image.NewUniform(cellBG), image.Point{}, draw.Src)
	sb := src.Bounds()
	w, h := rect.Dx(), rect.Dy()
	if sb.Dx()*h > sb.Dy()*w {
		h = max(1, sb.Dy()*w/sb.Dx())
	} else {
		w = max(1, sb.Dx()*h/sb.Dy())
	}
	x := rect.Min.X + (rect.Dx()-w)/2
	y := rect.Min.Y + (rect.Dy()-h)/2
	draw.CatmullRom.Scale(dst, image.Rect(x, y, x+w, y+h), src, sb, draw.Src, nil)
}

// drawMissing draws a blank cell crossed out, with the item's state
// (pending, resumable, unreadable) written in the middle.
func drawMissing(dst *image.RGBA, rect image.Rectangle, state string) {
	draw.Draw(dst, rect, image.NewUniform(missingBG), image.Point{}, draw.Src)
	n := rect.Dx()
	for i := range n {
		for t := range 2 { // 2 px thick
			j := min(i+t, n-1)
			dst.SetRGBA(rect.Min.X+i, rect.Min.Y+j, missingMark)
			dst.SetRGBA(rect.Min.X+i, rect.Max.Y-1-j, missingMark)
		}
	}
	text := state
	tw := len(text) * sheetCharW
	x := rect.Min.X + (n-tw)/2
	y := rect.Min.Y + (rect.Dy()-sheetLine)/2
	box := image.Rect(x-2, y, x+tw+2, y+sheetLine)
	draw.Draw(dst, box.Intersect(rect), image.NewUniform(sheetBG), image.Point{}, draw.Src)
	// Drawn on the cell's sub-image: text wider than a small cell is cut.
	drawText(dst.SubImage(rect).(*image.RGBA), x, y, text)
}

// drawText writes s with its line's top-left corner at (x, y).
func drawText(dst *image.RGBA, x, y int, s string) {
	face := basicfont.Face7x13
	d := font.Drawer{
		Dst:  dst,
		Src:  image.NewUniform(textColor),
		Face: face,
		Dot:  fixed.P(x, y+(sheetLine-face.Height)/2+face.Ascent),
	}
	d.DrawString(ascii(s))
}

// ascii replaces what basicfont cannot draw.
func ascii(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// cut shortens s to n characters, ending in "..." when cut.
func cut(s string, n int) string {
	s = ascii(s)
	if len(s) <= n {
		return s
	}
	if n <= 3 {
		return s[:max(n, 0)]
	}
	return s[:n-3] + "..."
}

package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nst-project/nst/internal/testimg"
)

// near reports whether two colours differ by at most 3 per channel
// (scaling rounds).
func near(a, b color.RGBA) bool {
	d := func(x, y uint8) bool { return x-y <= 3 || y-x <= 3 }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B)
}

func readSheet(t *testing.T, path string) *image.RGBA {
	t.Helper()
	img := testimg.ReadPNG(t, path)
	rgba := image.NewRGBA(img.Bounds())
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			rgba.Set(x, y, img.At(x, y))
		}
	}
	return rgba
}

func TestSheet(t *testing.T) {
	// Rows weights.style (2), columns color (3), one sheet per size (2);
	// seed has one value and is listed as fixed.
	s, _ := load(t, `base: base.yaml
output: out
grid:
  weights.style: [100, 1000]
  seed: [7]
  color: [none, luminance, histogram]
  size: [128, 256]
`, nil)
	// Item 3 (weights.style=100, color=luminance, size=256) stays pending:
	// its runner fails before creating its folder. Item 8 fails after
	// writing a checkpoint, so it is resumable.
	c := newCounter(t)
	c.fail = map[string]bool{s.Items[8].ID: true}
	_, err := s.Run(context.Background(), All, func(ctx context.Context, job Job) (Result, error) {
		if job.Item.Index == 3 {
			return Result{}, errors.New("no memory to start")
		}
		return c.run(ctx, job)
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "2 of 12 items failed") {
		t.Fatalf("run: %v", err)
	}

	const cell = 40
	pages, err := Sheet(s.Output, SheetOptions{Cell: cell})
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 2 || pages[0].Image != "sheet-size-128.png" || pages[1].Image != "sheet-size-256.png" {
		t.Fatalf("pages %+v", pages)
	}
	for p, page := range pages {
		img := readSheet(t, filepath.Join(s.Output, page.Image))
		// Layout: title (3 lines: sweep, axes, fixed), column labels, then
		// 2 rows of 3 cells with the row labels ("1000") on the left.
		labelW := len("1000")*sheetCharW + sheetPad
		wantW := sheetPad + labelW + 3*(cell+sheetPad)
		titleW := 2*sheetPad + len(cut("sweep "+s.File, maxTitleChars))*sheetCharW
		wantW = max(wantW, titleW)
		wantH := sheetPad + 3*sheetLine + sheetPad + sheetLine + 2*(cell+sheetPad)
		if b := img.Bounds(); b.Dx() != wantW || b.Dy() != wantH || page.Width != wantW || page.Height != wantH {
			t.Errorf("page %d: image %v, index %dx%d; want %dx%d", p, b, page.Width, page.Height, wantW, wantH)
		}
		if page.Rows == nil || page.Rows.Key != "weights.style" || page.Columns == nil || page.Columns.Key != "color" ||
			!slices.Equal(page.Columns.Labels, []string{"none", "luminance", "histogram"}) {
			t.Errorf("page %d axes: %+v %+v", p, page.Rows, page.Columns)
		}
		wantFixed := []SheetFixed{{"seed", "7"}, {"size", []string{"128", "256"}[p]}}
		if !slices.Equal(page.Fixed, wantFixed) {
			t.Errorf("page %d fixed %v, want %v", p, page.Fixed, wantFixed)
		}
		if len(page.Cells) != 6 {
			t.Fatalf("page %d: %d cells", p, len(page.Cells))
		}
		var missing []string
		for _, sc := range page.Cells {
			// Item index: weights.style × 6 + color × 2 + size.
			idx := sc.Row*6 + sc.Column*2 + p
			it := s.Items[idx]
			if sc.ID != it.ID || sc.W != cell || sc.H != cell {
				t.Errorf("cell %d,%d: %+v, want item %d", sc.Row, sc.Column, sc, idx)
			}
			// The test images are 8x6: scaled to 40x30, centred.
			centre := img.RGBAAt(sc.X+cell/2, sc.Y+cell/2)
			corner := img.RGBAAt(sc.X+2, sc.Y+2)
			switch idx {
			case 3, 8:
				wantState := map[int]string{3: "pending", 8: "resumable"}[idx]
				if sc.State != wantState || sc.Image != "" {
					t.Errorf("cell of item %d: state %q image %q, want %s", idx, sc.State, sc.Image, wantState)
				}
				if corner != missingMark || near(centre, itemColor(idx)) {
					t.Errorf("missing cell of item %d: corner %v centre %v; want the red cross", idx, corner, centre)
				}
				missing = append(missing, it.ID)
			default:
				if sc.State != "done" || sc.Image != filepath.Join("items", it.ID, "final.png") {
					t.Errorf("cell of item %d: %+v", idx, sc)
				}
				if !near(centre, itemColor(idx)) {
					t.Errorf("cell of item %d: centre %v, want %v", idx, centre, itemColor(idx))
				}
				// Letterboxed: above the 30 px high image is the cell
				// background.
				if corner != cellBG {
					t.Errorf("cell of item %d: corner %v, want the cell background", idx, corner)
				}
			}
		}
		if !slices.Equal(page.Missing, missing) || (p == 1 && len(missing) != 1) || (p == 0 && len(missing) != 1) {
			t.Errorf("page %d missing %v, want %v", p, page.Missing, missing)
		}
		// The index on disk is the one returned.
		raw, err := os.ReadFile(filepath.Join(s.Output, page.Index))
		if err != nil {
			t.Fatal(err)
		}
		var onDisk SheetIndex
		if err := json.Unmarshal(raw, &onDisk); err != nil {
			t.Fatal(err)
		}
		if onDisk.Image != page.Image || len(onDisk.Cells) != 6 || !slices.Equal(onDisk.Missing, page.Missing) {
			t.Errorf("index on disk %+v", onDisk)
		}
	}
}

func TestSheetShapes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		grid       string
		rows, cols int
		pages      []string
	}{
		{"one axis across", "  color: [none, luminance, histogram]\n", 1, 3, []string{"sheet.png"}},
		{"one item", "  color: [none]\n", 1, 1, []string{"sheet.png"}},
		{"three axes", "  color: [none, after]\n  seed: [1, 2]\n  size: [64, 128, 256]\n", 2, 2, []string{"sheet-size-64.png", "sheet-size-128.png", "sheet-size-256.png"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := load(t, "base: base.yaml\noutput: out\ngrid:\n"+tc.grid, nil)
			if _, err := s.Run(context.Background(), All, newCounter(t).run, nil); err != nil {
				t.Fatal(err)
			}
			pages, err := Sheet(s.Output, SheetOptions{Cell: 16})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range pages {
				names = append(names, p.Image)
				if n := len(p.Cells); n != tc.rows*tc.cols || p.Cells[n-1].Row != tc.rows-1 || p.Cells[n-1].Column != tc.cols-1 || len(p.Missing) != 0 {
					t.Errorf("%s: %d cells, last %+v, missing %v", p.Image, n, p.Cells[n-1], p.Missing)
				}
			}
			if !slices.Equal(names, tc.pages) {
				t.Errorf("pages %v, want %v", names, tc.pages)
			}
		})
	}
}

func TestSheetErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Sheet(dir, SheetOptions{}); err == nil || !strings.Contains(err.Error(), "run the sweep first") {
		t.Errorf("no sweep.json: %v", err)
	}
	if _, err := Sheet(dir, SheetOptions{Cell: 5}); err == nil || !strings.Contains(err.Error(), "cell size 5") {
		t.Errorf("cell 5: %v", err)
	}
	// An unreadable image is marked, not fatal.
	s, _ := load(t, "base: base.yaml\noutput: out\ngrid:\n  color: [none, after]\n", nil)
	if _, err := s.Run(context.Background(), All, newCounter(t).run, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.ItemDir(s.Items[1]), "final.png"), []byte("not a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	pages, err := Sheet(s.Output, SheetOptions{Cell: 16})
	if err != nil {
		t.Fatal(err)
	}
	if c := pages[0].Cells[1]; c.State != "unreadable" || !slices.Equal(pages[0].Missing, []string{s.Items[1].ID}) {
		t.Errorf("cells %+v missing %v", pages[0].Cells, pages[0].Missing)
	}
}

func TestSheetBadRecord(t *testing.T) {
	// A sweep.json edited by hand into something that does not fit
	// together is an error, not a crash.
	for _, tc := range []struct{ name, json, want string }{
		{"axis without values", `{"version":1,"shards":1,"axes":[{"key":"color","labels":[]}],"items":[]}`, "axis color has no values"},
		{"choice out of range", `{"version":1,"shards":1,"axes":[{"key":"color","labels":["a"]}],"items":[{"index":0,"id":"x","choice":[3]}]}`, "value 3 of axis color does not exist"},
		{"missing choice", `{"version":1,"shards":1,"axes":[{"key":"color","labels":["a"]}],"items":[{"index":0,"id":"x","choice":[]}]}`, "0 choices for 1 axes"},
		{"id with a slash", `{"version":1,"shards":1,"axes":[{"key":"color","labels":["a"]}],"items":[{"index":0,"id":"../x","choice":[0]}]}`, "is not a folder name"},
		{"other version", `{"version":9,"shards":1}`, "format version 9"},
		{"not JSON", `{"version":`, "unexpected end of JSON input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, RecordName), []byte(tc.json), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Sheet(dir, SheetOptions{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	// A sheet too large to hold in memory is refused before drawing.
	s, _ := load(t, "base: base.yaml\noutput: out\ngrid:\n  seed: [1, 2]\n  size: ["+seq(9)+"]\n", nil)
	if err := s.claimRecord(All); err != nil {
		t.Fatal(err)
	}
	if _, err := Sheet(s.Output, SheetOptions{Cell: 4096}); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("huge sheet: %v", err)
	}
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nst-project/nst/internal/testimg"
	"github.com/nst-project/nst/unitviz"
)

// TestUnitsTopWritesSheetAndListing runs nst units top end to end through
// pipeline.UnitsTop, the function the studio shares: it prints the sheet
// and the listing, the listing holds every unit's patches in order, and
// the sheet is laid out for them; options Top refuses, and a sheet too
// large to draw, are refused before any work with their messages.
func TestUnitsTopWritesSheetAndListing(t *testing.T) {
	config := writeConfig(t, "")
	images := t.TempDir()
	writePNGFile(t, filepath.Join(images, "a.png"))
	writePNGFile(t, filepath.Join(images, "b.png"))
	out := t.TempDir()
	sheet, listing := filepath.Join(out, "sheet.png"), filepath.Join(out, "sheet.json")
	r := nst(t, "units", "top", "-c", config, "--layer", "relu1_1", "--units", "0-3", "--top", "4",
		"--images", images, "--size", "16", "--cell", "10", "--out", sheet)
	checkNoTrace(t, r.stderr)
	if r.code != 0 || r.stdout != sheet+"\n"+listing+"\n" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant exit 0 and the sheet and listing printed", r.code, r.stdout, r.stderr)
	}
	raw, err := os.ReadFile(listing)
	if err != nil {
		t.Fatal(err)
	}
	var l unitviz.Listing
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatal(err)
	}
	if l.Layer != "relu1_1" || l.Images != 2 || len(l.Patches) != 16 || l.Patches[0].Unit != 0 || l.Patches[15].Unit != 3 {
		t.Fatalf("listing: layer %q, %d images, %d patches; want relu1_1, 2 images, 4 units of 4 patches", l.Layer, l.Images, len(l.Patches))
	}
	img := testimg.ReadPNG(t, sheet)
	// 2x2 units of 2x2 cells of 10 px: margins 12, patch gaps 2, unit gap 12.
	if side := 2*12 + 2*(2*10+2) + 12; img.Bounds().Dx() != side || img.Bounds().Dy() != side {
		t.Errorf("sheet %v; want %dx%d", img.Bounds(), side, side)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no patches", []string{"--units", "0", "--top", "0"}, "nst: units top: 0 patches per unit; want at least 1"},
		{"unit past the layer", []string{"--units", "0-4"}, "nst: unit 4: layer relu1_1 has units 0 to 3"},
		{"sheet too large", []string{"--units", "0-3", "--cell", "20000"}, "too large; ask for fewer units or a smaller cell"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad.png")
			args := append([]string{"units", "top", "-c", config, "--layer", "relu1_1", "--images", images, "--size", "16", "--out", bad}, c.args...)
			r := nst(t, args...)
			checkNoTrace(t, r.stderr)
			if r.code != 1 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and %q", r.code, r.stderr, c.want)
			}
			if _, err := os.Stat(bad); err == nil {
				t.Errorf("a refused units top wrote %s", bad)
			}
		})
	}
}

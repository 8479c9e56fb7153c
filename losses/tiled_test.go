package losses_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/nst-project/nst/losses"
)

// tile is one tile of a set of layers: each layer's crop of rows and
// columns around the positions the tile owns, with the window placing it.
type tile struct {
	acts []losses.Activation
	wins []losses.Window
}

// garbage fills the margins of a tile's crops: a tiled evaluation must not
// read them.
const garbage = 1e6

// cutLayers cuts whole activations into ty×tx tiles: tile (i, j) owns rows
// [i·H/ty, (i+1)·H/ty) and columns [j·W/tx, (j+1)·W/tx) of every layer
// (empty at some layers when the layer has fewer positions than tiles),
// and holds a crop one position wider on each side, whose margin is
// garbage.
func cutLayers(whole []losses.Activation, ty, tx int) []tile {
	var tiles []tile
	for i := range ty {
		for j := range tx {
			var t tile
			for _, a := range whole {
				y0, y1 := i*a.H/ty, (i+1)*a.H/ty
				x0, x1 := j*a.W/tx, (j+1)*a.W/tx
				cy0, cy1 := max(y0-1, 0), min(y1+1, a.H)
				cx0, cx1 := max(x0-1, 0), min(x1+1, a.W)
				h, w := cy1-cy0, cx1-cx0
				crop := losses.Activation{Name: a.Name, C: a.C, H: h, W: w, Data: make([]float32, a.C*h*w)}
				for c := range a.C {
					for y := range h {
						for x := range w {
							v := float32(garbage)
							if gy, gx := y+cy0, x+cx0; gy >= y0 && gy < y1 && gx >= x0 && gx < x1 {
								v = a.Data[(c*a.H+gy)*a.W+gx]
							}
							crop.Data[(c*h+y)*w+x] = v
						}
					}
				}
				t.acts = append(t.acts, crop)
				t.wins = append(t.wins, losses.Window{Y0: y0 - cy0, Y1: y1 - cy0, X0: x0 - cx0, X1: x1 - cx0, OffY: cy0, OffX: cx0, H: a.H, W: a.W})
			}
			tiles = append(tiles, t)
		}
	}
	return tiles
}

// tiledObjective builds the fixture's objective with every target set
// from tiles: the content image's (SetContentTargetTile) and the style
// images' Grams (AddStyleTile), each image cut its own way.
func tiledObjective(t *testing.T, f fixture, k losses.Kernel, masks [][]losses.Mask, blend []float64) *losses.Objective {
	t.Helper()
	o, err := losses.New(f.prob.spec, k)
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range cutLayers(acts([]string{"c", "a", "b"}, f.prob.content), 2, 3) {
		if err := o.SetContentTargetTile(tl.acts, tl.wins); err != nil {
			t.Fatal(err)
		}
	}
	var grams []*losses.StyleGrams
	for i, names := range [][]string{{"a", "b", "d"}, {"d", "b", "a"}} {
		g := o.NewStyleGrams()
		for _, tl := range cutLayers(acts(names, f.prob.styles[i]), 3-i, 2+i) {
			if err := o.AddStyleTile(g, tl.acts, tl.wins); err != nil {
				t.Fatal(err)
			}
		}
		grams = append(grams, g)
	}
	if err := o.SetStyleTargetGrams(grams, blend, masks); err != nil {
		t.Fatal(err)
	}
	return o
}

// evalTiled runs both passes of a tiled evaluation of the fixture's
// generated image, cut ty×tx, and returns the costs and each layer's whole
// gradient assembled from the tiles' owned positions. With inPlace the
// gradients overwrite the tiles' activations. It fails the test if a tile's
// gradient is not zero outside the positions the tile owns.
func evalTiled(t *testing.T, f fixture, o *losses.Objective, ty, tx int, inPlace bool) (*losses.Costs, map[string][]float32) {
	t.Helper()
	whole := acts(f.names, f.gen)
	tiles := cutLayers(whole, ty, tx)
	costs := o.NewCosts()
	o.BeginTiles()
	for _, tl := range tiles {
		if err := o.AccumulateTile(tl.acts, tl.wins); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.FinishTiles(costs); err != nil {
		t.Fatal(err)
	}
	grads := map[string][]float32{}
	for _, a := range whole {
		grads[a.Name] = make([]float32, len(a.Data))
	}
	for _, tl := range tiles {
		g := make([][]float32, len(tl.acts))
		for i, a := range tl.acts {
			if inPlace {
				g[i] = a.Data
			} else {
				g[i] = slices.Repeat([]float32{float32(math.NaN())}, len(a.Data))
			}
		}
		if err := o.EvalTile(costs, tl.acts, tl.wins, g); err != nil {
			t.Fatal(err)
		}
		for i, a := range tl.acts {
			w := tl.wins[i]
			for c := range a.C {
				for y := range a.H {
					for x := range a.W {
						v := g[i][(c*a.H+y)*a.W+x]
						if y < w.Y0 || y >= w.Y1 || x < w.X0 || x >= w.X1 {
							if v != 0 {
								t.Fatalf("layer %s: gradient %v outside the tile's own positions", a.Name, v)
							}
							continue
						}
						grads[a.Name][(c*w.H+y+w.OffY)*w.W+x+w.OffX] = v
					}
				}
			}
		}
	}
	return costs, grads
}

// TestTiledMatchesWhole checks that a tiled evaluation, targets included,
// gives the whole evaluation's costs and gradients, for plain and masked
// styles, in separate buffers and in place, tiles cut several ways.
func TestTiledMatchesWhole(t *testing.T) {
	f := newFixture()
	cases := []struct {
		name  string
		masks []map[string][]float64
		blend []float64
	}{{name: "plain", blend: []float64{3, 1}}}
	cases = append(cases, guidedCases(f.gen)...)
	cuts := [][2]int{{1, 1}, {2, 2}, {3, 2}, {1, 4}}
	for kname, k := range kernels(t) {
		for _, tc := range cases {
			var masks [][]losses.Mask
			if tc.masks != nil {
				masks = packageMasks(tc.masks, f.gen)
			}
			whole := guidedObjective(t, f, k, tc.masks, tc.blend)
			wantCosts, wantGrads := f.eval(t, whole)
			for _, cut := range cuts {
				for _, inPlace := range []bool{false, true} {
					t.Run(strings.Join([]string{kname, tc.name}, "/"), func(t *testing.T) {
						o := tiledObjective(t, f, k, masks, tc.blend)
						costs, grads := evalTiled(t, f, o, cut[0], cut[1], inPlace)
						const tol = 1e-6
						for i := range wantCosts.Content {
							if !closeTo(costs.Content[i], wantCosts.Content[i], tol, 1e-12) {
								t.Errorf("cut %v: content[%d] = %.10g, whole %.10g", cut, i, costs.Content[i], wantCosts.Content[i])
							}
						}
						for i := range wantCosts.Style {
							if !closeTo(costs.Style[i], wantCosts.Style[i], tol, 1e-12) {
								t.Errorf("cut %v: style[%d] = %.10g, whole %.10g", cut, i, costs.Style[i], wantCosts.Style[i])
							}
						}
						if !closeTo(costs.Total, wantCosts.Total, tol, 0) {
							t.Errorf("cut %v: total = %.10g, whole %.10g", cut, costs.Total, wantCosts.Total)
						}
						for name, want := range wantGrads {
							scale := 0.0
							for _, v := range want {
								scale = math.Max(scale, math.Abs(float64(v)))
							}
							for i, g := range grads[name] {
								if !(math.Abs(float64(g-want[i])) <= 1e-5*scale) {
									t.Fatalf("cut %v in place %v: layer %s grad[%d] = %.8g, whole %.8g", cut, inPlace, name, i, g, want[i])
								}
							}
						}
					})
				}
			}
		}
	}
}

// TestTiledErrors checks that misuse of the tiled evaluation is an error,
// not a wrong result.
func TestTiledErrors(t *testing.T) {
	f := newFixture()
	k := refKernel{}
	one := cutLayers(acts(f.names, f.gen), 1, 1)[0]
	costs := &losses.Costs{}
	cases := []struct {
		name string
		run  func(o *losses.Objective) error
		want string
	}{
		{"finish before accumulating", func(o *losses.Objective) error { o.BeginTiles(); return o.FinishTiles(costs) }, "no tile accumulated"},
		{"no windows", func(o *losses.Objective) error { return o.AccumulateTile(one.acts, nil) }, "no windows"},
		{"window outside the tile", func(o *losses.Objective) error {
			wins := slices.Clone(one.wins)
			wins[0].Y1 = one.acts[0].H + 1
			return o.AccumulateTile(one.acts, wins)
		}, "outside the tile"},
		{"window outside the whole layer", func(o *losses.Objective) error {
			wins := slices.Clone(one.wins)
			wins[0].OffY = 1
			return o.AccumulateTile(one.acts, wins)
		}, "outside the whole layer"},
		{"content of another size", func(o *losses.Objective) error {
			o.BeginTiles()
			if err := o.AccumulateTile(one.acts, one.wins); err != nil {
				return err
			}
			if err := o.FinishTiles(costs); err != nil {
				return err
			}
			wins := slices.Clone(one.wins)
			for i := range wins {
				wins[i].H++
			}
			grads := make([][]float32, len(one.acts))
			for i, a := range one.acts {
				grads[i] = make([]float32, len(a.Data))
			}
			return o.EvalTile(costs, one.acts, wins, grads)
		}, "must have the content image's size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(f.objective(t, k))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

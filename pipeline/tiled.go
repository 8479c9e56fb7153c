package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nst-project/nst/losses"
	"github.com/nst-project/nst/models"
)

// tiledEval is a scale evaluated in tiles (tiles.go): the cut, and the
// whole-image buffers the passes fill. The experiment's Net is then of the
// crops' size.
type tiledEval struct {
	cut     tileCut
	strides []int               // each requested layer's stride
	wins    [][]losses.Window   // per tile, per requested layer
	crop    []float32           // one crop of the network's input
	dx      []float32           // dJ/d(network input), the whole image's
	shapes  []losses.Activation // the whole layers' sizes (no data)
	// reported is when the evaluation last logged its progress: at print
	// sizes one evaluation takes minutes.
	reported time.Time
}

// tileProgressEvery is how often a tiled evaluation logs how far it is.
const tileProgressEvery = 30 * time.Second

// progress logs, at most every tileProgressEvery, how many of the total
// tiles of stage are done.
func (t *tiledEval) progress(stage string, done, total int) {
	now := time.Now()
	if t.reported.IsZero() {
		t.reported = now
		return
	}
	if now.Sub(t.reported) < tileProgressEvery {
		return
	}
	t.reported = now
	slog.Info("tiled evaluation", "stage", stage, "tiles", fmt.Sprintf("%d/%d", done, total))
}

// tileSide decides how a scale of width×height is evaluated: it returns 0
// to evaluate it whole, or the tile side. runtime.tile: auto tiles only
// when the whole evaluation's estimate exceeds the memory limit, with the
// largest tiles that fit, then evened out so that no tile is needlessly
// larger than the others (every crop has the largest tile's size).
func (e *experiment) tileSide(f Footprint, width, height int) (int, error) {
	t := e.tile
	if t.off || e.audio != nil || e.volume != nil {
		return 0, nil // spectrograms and volumes are evaluated whole
	}
	if e.tileGeomErr != nil {
		if t.side > 0 {
			return 0, fmt.Errorf("runtime.tile: %w; set runtime.tile: off", e.tileGeomErr)
		}
		return 0, nil
	}
	g := e.tileGeom
	side := t.side
	if t.auto {
		if EstimatePeak(f, width, height) <= e.memLimit || e.memLimit <= 0 {
			return 0, nil
		}
		// The estimate grows with the side: find the largest that fits.
		lo, hi := 0, roundUp(max(width, height), g.stride)/g.stride
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if EstimateTiledPeak(f, width, height, mid*g.stride) <= e.memLimit {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		if lo == 0 {
			return 0, nil // nothing fits; checkMemory says so
		}
		side = lo * g.stride
		// As many tiles as that side needs, each as small as they allow.
		nx, ny := (width+side-1)/side, (height+side-1)/side
		side = min(side, roundUp(max((width+nx-1)/nx, (height+ny-1)/ny), g.stride))
	}
	side = max(side/g.stride*g.stride, g.stride)
	if len(cutTiles(width, height, side, g).tiles) < 2 {
		return 0, nil
	}
	return side, nil
}

// prepareTiles readies a tiled scale: the cut, and the buffers a tiled
// evaluation needs beside the Net.
func (e *experiment) prepareTiles(side int) {
	cut := cutTiles(e.width, e.height, side, e.tileGeom)
	e.tiled = &tiledEval{
		cut:     cut,
		strides: e.tileGeom.strides,
		crop:    make([]float32, 3*cut.cropW*cut.cropH),
		dx:      make([]float32, 3*e.width*e.height),
	}
	slog.Info("tiled evaluation", "size", fmt.Sprintf("%dx%d", e.width, e.height), "tiles", len(cut.tiles), "tile", side, "crop", fmt.Sprintf("%dx%d", cut.cropW, cut.cropH), "margin", e.tileGeom.margin)
}

// cropTile copies tile p's crop of src, a whole c×height×width image, into
// dst, c×cropH×cropW.
func cropTile(dst, src []float32, c int, cut tileCut, p tilePlace) {
	for ch := range c {
		s := src[ch*cut.width*cut.height:]
		d := dst[ch*cut.cropW*cut.cropH:]
		for y := range cut.cropH {
			row := (p.crop.Y+y)*cut.width + p.crop.X
			copy(d[y*cut.cropW:(y+1)*cut.cropW], s[row:row+cut.cropW])
		}
	}
}

// addTile adds src, tile p's crop of an image gradient (c×cropH×cropW), to
// dst, the whole image's.
func addTile(dst, src []float32, c int, cut tileCut, p tilePlace) {
	for ch := range c {
		s := src[ch*cut.cropW*cut.cropH:]
		d := dst[ch*cut.width*cut.height:]
		for y := range cut.cropH {
			row := d[(p.crop.Y+y)*cut.width+p.crop.X:][:cut.cropW]
			for x, v := range s[y*cut.cropW : (y+1)*cut.cropW] {
				row[x] += v
			}
		}
	}
}

// forwardTile runs net on tile p's crop of img (a whole 3-channel image
// of cut's size) into crop and returns the activations; the first call
// computes the cut's windows into *wins from the crop's layer sizes.
func (e *experiment) forwardTile(net *models.Net, img []float32, cut tileCut, p tilePlace, crop []float32, wins *[][]losses.Window) ([]losses.Activation, error) {
	cropTile(crop, img, 3, cut, p)
	acts, err := e.forward(net, crop)
	if err != nil {
		return nil, err
	}
	if *wins == nil {
		*wins = cut.windows(e.tiled.strides, acts)
	}
	return acts, nil
}

// setTiledTargets computes the content targets tile by tile, the style
// images' Grams over their own tiles, and the masks at the whole layers'
// sizes; it returns the whole layers' shapes.
func (e *experiment) setTiledTargets(ctx context.Context) ([]losses.Activation, error) {
	t := e.tiled
	content := e.color.contentInput()
	for i, p := range t.cut.tiles {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		acts, err := e.forwardTile(e.net, content, t.cut, p, t.crop, &t.wins)
		if err != nil {
			return nil, fmt.Errorf("content targets: %w", err)
		}
		if err := e.objective.SetContentTargetTile(acts, t.wins[i]); err != nil {
			return nil, fmt.Errorf("content targets: %w", err)
		}
		t.progress("content targets", i+1, len(t.cut.tiles))
	}
	t.shapes = make([]losses.Activation, len(e.layers))
	for i, w := range t.wins[0] {
		t.shapes[i] = losses.Activation{Name: e.layers[i], C: e.acts[i].C, H: w.H, W: w.W}
	}
	grams := make([]*losses.StyleGrams, len(e.styles))
	blend := make([]float64, len(e.styles))
	for i, img := range e.styles {
		size := e.styleSizes[i]
		g, err := e.styleGramsTiled(ctx, img, size)
		if err != nil {
			return nil, fmt.Errorf("style %q at %dx%d: %w", e.cfg.Style[i].Path, size[0], size[1], err)
		}
		grams[i], blend[i] = g, e.cfg.Style[i].Weight
	}
	if err := e.objective.SetStyleTargetGrams(grams, blend, e.masks.forLayers(t.shapes, e.width, e.height)); err != nil {
		return nil, fmt.Errorf("style targets: %w", err)
	}
	return t.shapes, nil
}

// styleGramsTiled sums a style image's Grams over tiles of the scale's
// side, on the run's Net where the crops have its size and on a
// forward-only Net of their own size otherwise.
func (e *experiment) styleGramsTiled(ctx context.Context, img []float32, size [2]int) (*losses.StyleGrams, error) {
	cut := cutTiles(size[0], size[1], e.tiled.cut.side, e.tileGeom)
	net := e.net
	if cut.cropW != e.tiled.cut.cropW || cut.cropH != e.tiled.cut.cropH {
		own, err := e.backbone.Prepare(models.Options{
			Layers: e.layers, Pooling: e.cfg.Model.Pooling, Height: cut.cropH, Width: cut.cropW,
			Preprocess: e.pre, Session: e.session, ForwardOnly: true,
		})
		if err != nil {
			return nil, err
		}
		defer own.Close()
		net = own
	}
	crop := make([]float32, 3*cut.cropW*cut.cropH)
	var wins [][]losses.Window
	g := e.objective.NewStyleGrams()
	for i, p := range cut.tiles {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		acts, err := e.forwardTile(net, img, cut, p, crop, &wins)
		if err != nil {
			return nil, err
		}
		if err := e.objective.AddStyleTile(g, acts, wins[i]); err != nil {
			return nil, err
		}
		e.tiled.progress("style Grams", i+1, len(cut.tiles))
	}
	return g, nil
}

// networkCostsTiled is networkCosts in tiles: pass 1 sums the style Grams
// over the tiles, pass 2 back-propagates each tile's gradients and adds
// the crops' image gradients. Pass 2 runs the tiles in reverse order, so
// that the last tile of pass 1 is still in the Net and needs no second
// forward pass.
func (e *experiment) networkCostsTiled(ctx context.Context, x, grad []float32) error {
	t := e.tiled
	in := e.color.netInput(x)
	var fwd, costs, bwd time.Duration
	defer func() {
		e.timing.Forward += fwd
		e.timing.Costs += costs
		e.timing.Backward += bwd
	}()
	e.objective.BeginTiles()
	for i, p := range t.cut.tiles {
		if err := ctx.Err(); err != nil {
			return err
		}
		t0 := time.Now()
		acts, err := e.forwardTile(e.net, in, t.cut, p, t.crop, &t.wins)
		if err != nil {
			return err
		}
		t1 := time.Now()
		if err := e.objective.AccumulateTile(acts, t.wins[i]); err != nil {
			return err
		}
		fwd, costs = fwd+t1.Sub(t0), costs+time.Since(t1)
		t.progress("pass 1 of 2 (Grams)", i+1, len(t.cut.tiles))
	}
	if err := e.objective.FinishTiles(e.costs); err != nil {
		return err
	}
	clear(t.dx)
	last := len(t.cut.tiles) - 1
	for i := last; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := t.cut.tiles[i]
		t0 := time.Now()
		acts := e.acts
		if i != last {
			var err error
			if acts, err = e.forwardTile(e.net, in, t.cut, p, t.crop, &t.wins); err != nil {
				return err
			}
		}
		t1 := time.Now()
		if err := e.objective.EvalTile(e.costs, acts, t.wins[i], e.net.GradBuffers()); err != nil {
			return err
		}
		t2 := time.Now()
		dx, err := e.net.Backward()
		if err != nil {
			return err
		}
		addTile(t.dx, dx, 3, t.cut, p)
		fwd, costs, bwd = fwd+t1.Sub(t0), costs+t2.Sub(t1), bwd+time.Since(t2)
		t.progress("pass 2 of 2 (gradients)", last-i+1, len(t.cut.tiles))
	}
	e.color.gradToVariable(grad, t.dx)
	return nil
}

package pipeline

import (
	"fmt"
	"image"
	"strconv"
	"strings"

	"github.com/nst-project/nst/losses"
	"github.com/nst-project/nst/models"
)

// Tiled evaluation (runtime.tile). An image whose whole evaluation does
// not fit in memory is evaluated in tiles, exactly (losses/tiled.go): the
// tiles own a partition of the image, and each is run through the network
// on a crop that adds a margin around what it owns. The margin covers the
// receptive field of every position the tile owns at every layer the costs
// read, so those positions' activations are the whole image's; the zero
// padding at a crop's edge reaches only the margin. Crops start on
// multiples of the deepest layer's stride, so that every pooling window of
// a crop is one of the whole image's, and all crops of an image have one
// size (those at the image's edges are shifted inwards), so that one
// network serves them all.

// Named values of runtime.tile; any other value is a tile side in pixels.
const (
	TileAuto = "auto" // tile only when the whole image does not fit
	TileOff  = "off"  // never tile
)

// tileSetting is runtime.tile parsed: auto, off, or a side in pixels.
type tileSetting struct {
	auto, off bool
	side      int
}

// parseTile parses runtime.tile.
func parseTile(s string) (tileSetting, error) {
	switch s := strings.TrimSpace(s); s {
	case TileAuto, "":
		return tileSetting{auto: true}, nil
	case TileOff:
		return tileSetting{off: true}, nil
	default:
		n, err := strconv.Atoi(s)
		if err != nil || n < minTileSide || n > 16384 {
			return tileSetting{}, fmt.Errorf("runtime.tile: %q; want auto, off or a tile side of %d to 16384 pixels", s, minTileSide)
		}
		return tileSetting{side: n}, nil
	}
}

// minTileSide is the smallest tile side runtime.tile accepts: below it the
// margins are nearly all of a crop's work.
const minTileSide = 64

// tileGeometry is what cutting an image for a network depends on: the
// stride of the deepest layer the costs read (crops start on its
// multiples) and the margin, a multiple of it, that covers those layers'
// receptive fields.
type tileGeometry struct {
	stride, margin int
	// strides are the stride of each layer, in the order given.
	strides []int
}

// tileGeometryOf computes the geometry for the backbone's layers from
// their receptive fields. It fails for a layer without one (after a global
// pooling, say) or with strides that do not divide each other.
func tileGeometryOf(b *models.Backbone, layers []string) (tileGeometry, error) {
	var g tileGeometry
	reach := 0
	for _, name := range layers {
		rf, err := b.ReceptiveField(name)
		if err != nil {
			return g, fmt.Errorf("tiled evaluation: %w", err)
		}
		if rf.StrideY != rf.StrideX || rf.StrideY < 1 {
			return g, fmt.Errorf("tiled evaluation: layer %s has strides %d×%d; tiles need equal strides", name, rf.StrideY, rf.StrideX)
		}
		g.strides = append(g.strides, rf.StrideY)
		g.stride = max(g.stride, rf.StrideY)
		// Unit q of the layer sees pixels q·s+Top to q·s+Top+Height−1:
		// Top before its own pixels, Top+Height−s after them.
		reach = max(reach, -rf.Top, rf.Top+rf.Height-rf.StrideY, -rf.Left, rf.Left+rf.Width-rf.StrideX)
	}
	for i, s := range g.strides {
		if g.stride%s != 0 {
			return g, fmt.Errorf("tiled evaluation: layer %s's stride %d does not divide the deepest layer's, %d", layers[i], s, g.stride)
		}
	}
	g.margin = roundUp(max(reach, 0), g.stride)
	return g, nil
}

// roundUp rounds n up to a multiple of m.
func roundUp(n, m int) int { return (n + m - 1) / m * m }

// tileCut is an image of width×height cut into tiles of side pixels (a
// multiple of the stride; those at the right and bottom edges smaller),
// each evaluated on a crop of cropW×cropH pixels.
type tileCut struct {
	width, height int
	side          int
	cropW, cropH  int
	tiles         []tilePlace
}

// tilePlace is one tile: the pixels it owns and where its crop starts.
type tilePlace struct {
	own  image.Rectangle
	crop image.Point
}

// cutTiles cuts a width×height image into tiles of side pixels, side a
// multiple of g.stride.
func cutTiles(width, height, side int, g tileGeometry) tileCut {
	c := tileCut{width: width, height: height, side: side}
	var xs, ys []axisTile
	c.cropW, xs = cutAxis(width, side, g)
	c.cropH, ys = cutAxis(height, side, g)
	for _, y := range ys {
		for _, x := range xs {
			c.tiles = append(c.tiles, tilePlace{own: image.Rect(x.lo, y.lo, x.hi, y.hi), crop: image.Pt(x.crop, y.crop)})
		}
	}
	return c
}

// axisTile is a tile along one axis: it owns pixels [lo, hi), and its crop
// starts at crop.
type axisTile struct{ lo, hi, crop int }

// cutAxis cuts one axis of n pixels into tiles of side pixels and returns
// the crop length and the tiles. A crop is the tile's side plus a margin
// on each side, lengthened so that n minus it is a multiple of the stride:
// then the last crop, which ends at the image's edge, also starts on a
// multiple. Where one crop spans the axis, one tile owns all of it.
func cutAxis(n, side int, g tileGeometry) (int, []axisTile) {
	crop := min(n, side+2*g.margin)
	crop = n - (n-crop)/g.stride*g.stride
	if crop == n {
		return n, []axisTile{{0, n, 0}}
	}
	var tiles []axisTile
	for lo := 0; lo < n; lo += side {
		tiles = append(tiles, axisTile{lo, min(lo+side, n), min(max(lo-g.margin, 0), n-crop)})
	}
	return crop, tiles
}

// windows places each tile's activations in the whole image's: for
// tile t, windows()[t][i] is the window of layer i, whose stride is
// strides[i] and whose size in a crop is that of crop[i].
func (c tileCut) windows(strides []int, crop []losses.Activation) [][]losses.Window {
	wins := make([][]losses.Window, len(c.tiles))
	for t, p := range c.tiles {
		wins[t] = make([]losses.Window, len(crop))
		for i, a := range crop {
			s := strides[i]
			// The last crop of each axis ends at the image's edge, so the
			// whole layer is its size plus the positions before it.
			H, W := (c.height-c.cropH)/s+a.H, (c.width-c.cropW)/s+a.W
			w := losses.Window{OffY: p.crop.Y / s, OffX: p.crop.X / s, H: H, W: W}
			w.Y0, w.Y1 = ownedRange(p.own.Min.Y, p.own.Max.Y, c.height, s, H, w.OffY)
			w.X0, w.X1 = ownedRange(p.own.Min.X, p.own.Max.X, c.width, s, W, w.OffX)
			wins[t][i] = w
		}
	}
	return wins
}

// ownedRange converts a tile's pixels [lo, hi) along an axis of n pixels
// into the crop's positions it owns at a layer of stride s and whole
// length whole, the crop starting at whole-layer position off. A tile
// that ends at the image's edge owns the layer up to its end.
func ownedRange(lo, hi, n, s, whole, off int) (int, int) {
	end := hi / s
	if hi == n {
		end = whole
	}
	start := min(lo/s, end)
	return start - off, end - off
}

// smallestTile is the tile side runtime.tile: auto goes down to, where a
// run needs the least memory: a few strides, and no less than minTileSide.
func (e *experiment) smallestTile() int {
	return roundUp(max(minTileSide, 4*e.tileGeom.stride), e.tileGeom.stride)
}

// memoryError is the refusal of a run of f at width×height (evaluated in
// tiles of side pixels, or whole for 0) whose estimate, peak, exceeds
// limit. It names the largest size that fits, evaluated whole or, where
// runtime.tile allows, in tiles, and for L-BFGS the smaller history or
// the optimiser with which the requested size would fit.
func (e *experiment) memoryError(f Footprint, width, height, side int, peak, limit int64, from string) error {
	tiling := !e.tile.off && e.tileGeomErr == nil && e.audio == nil
	tileSide := e.tile.side
	if tileSide == 0 {
		tileSide = e.smallestTile()
	}
	fits := func(f Footprint, w, h int) bool {
		if (e.tile.side == 0 || !tiling) && EstimatePeak(f, w, h) <= limit {
			return true
		}
		return tiling && EstimateTiledPeak(f, w, h, tileSide) <= limit
	}
	fw, fh := largestFitting(f, width, height, fits)
	err := &MemoryError{Estimate: peak, Limit: limit, LimitFrom: from, Width: width, Height: height, FitWidth: fw, FitHeight: fh, Tile: side}
	if f.Optimizer == "adam" {
		return err
	}
	for h := f.History - 1; h >= 1; h-- {
		g := f
		g.History = h
		if fits(g, width, height) {
			err.Hint = fmt.Sprintf("optimizer.history: %d", h)
			return err
		}
	}
	g := f
	g.Optimizer = "adam"
	if fits(g, width, height) {
		err.Hint = "optimizer.name: adam"
	}
	return err
}

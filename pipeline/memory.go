package pipeline

import (
	"fmt"
	"math"
	"slices"

	"github.com/nst-project/nst/internal/sysmem"
	"github.com/nst-project/nst/models"
)

// Footprint is what a run's memory depends on besides the image size: the
// network's layers up to the deepest one the costs read, its weights and
// the optimiser's history. It holds plain values, so that the estimate can
// be made, and tested, without loading anything.
type Footprint struct {
	// Layers are the backbone's layers from the image up to the deepest
	// requested one, in graph order.
	Layers []LayerFootprint
	// BackboneBytes is the size of the weights the loaded backbone keeps
	// in memory for the whole run; NetBytes that of the weights up to the
	// deepest requested layer, which each ONNX Runtime session holds.
	BackboneBytes, NetBytes int64
	// Masked says a style image has a mask (style[].mask, or the band of
	// its axis's slices in a volume run's slice stack, style[].axis): the
	// guided costs then need two scratch buffers (the masked activations
	// and their product, losses/guided.go) and, with gradients in place,
	// a third, each up to the size of the largest requested layer.
	Masked bool
	// Optimizer is "lbfgs" or "adam"; History is L-BFGS's pair count.
	Optimizer string
	History   int
	// StyleSizes are the sizes, width then height, of the style
	// activations held besides the run's network while the style targets
	// are computed: one for each style image of another size than the
	// output (held in a forward-only network of its own), and one for each
	// copy the run's network makes when several style images have the
	// output's size.
	StyleSizes [][2]int
	// Styles are the sizes of every style image, width then height: a
	// tiled run holds them all whole while their Grams are summed.
	Styles [][2]int
	// TileStride and TileMargin are the geometry of a tiled evaluation of
	// the layers (tiles.go); 0 where they cannot be tiled.
	TileStride, TileMargin int
	// Channels is the network input's channel count, and so the image's
	// and the optimiser's variable's: 3 for an image (0 counts as 3), the
	// bins of an audio run's spectrogram (257 by default), a volume's C
	// on a 3-D backbone.
	Channels int
}

// imageBytes is the size of the network's input, the image the optimiser
// varies, at width×height: an image's 3 channels, a spectrogram's bins
// (width frames, height 1), a volume's channels (width W, height D·H).
func (f Footprint) imageBytes(width, height int) int64 {
	c := f.Channels
	if c <= 0 {
		c = 3
	}
	return 4 * int64(c) * int64(width) * int64(height)
}

// LayerFootprint is one layer's share of a run's memory.
type LayerFootprint struct {
	// Op is the ONNX op producing the layer: Relu outputs are kept from
	// the forward to the backward pass for their masks.
	Op string
	// Channels is the activation's channel count, and Stride how many
	// image pixels one activation pixel spans; a layer of stride 0 (no
	// spatial grid) counts as one pixel.
	Channels, Stride int
	// Requested marks the layers the costs read, Content those of them
	// the content cost reads (its targets are kept).
	Requested, Content bool
}

// Constants of the memory model, fitted to the peaks nst bench measures
// (docs/performance.md, "The memory estimate").
const (
	// baseBytes is the process before any image: the Go runtime and its
	// heap's slack, ONNX Runtime's library and its environment.
	baseBytes = 110 << 20
	// sessionWeightCopies is how many copies of its weights an ONNX
	// Runtime session holds: the initializers in the blocked layout its
	// convolutions use, and what creating it leaves allocated.
	sessionWeightCopies = 2
	// arenaActivations is ONNX Runtime's working memory, one arena the
	// passes share, in multiples of the largest activation: at the
	// backward pass's widest point the incoming gradient, the ReLU mask
	// cast to float, the masked gradient, its blocked-layout copy and the
	// convolution's output.
	arenaActivations = 5
	// buildWeightCopies is how many copies of the network's weights
	// building its two sessions at once holds: the backward's flipped
	// weights and both graphs' serialisations in Go, and in each session
	// ONNX Runtime's parsed, optimised and saved copies.
	buildWeightCopies = 11
)

// values is the layer's activation count for a width×height image.
func (l LayerFootprint) values(width, height int) int64 {
	s := max(l.Stride, 1)
	if l.Stride == 0 {
		width, height = 1, 1
	}
	return int64(l.Channels) * int64((height+s-1)/s) * int64((width+s-1)/s)
}

// requestedBytes is the size of f's requested activations on a
// width×height image, and so of their gradients.
func (f Footprint) requestedBytes(width, height int) int64 {
	var n int64
	for _, l := range f.Layers {
		if l.Requested {
			n += 4 * l.values(width, height)
		}
	}
	return n
}

// gradInPlaceAbove is the size of the requested activations above which a
// run's gradients overwrite them (models.Options.GradInPlace,
// losses.EvalInPlace) instead of filling buffers of their own. Overwriting
// costs time (docs/design.md, "Gradients in place"), so only above this
// size does the memory matter more. A variable for tests.
var gradInPlaceAbove int64 = 256 << 20

// gradInPlace reports whether gradients of requested bytes overwrite the
// activations.
func gradInPlace(requested int64) bool { return requested > gradInPlaceAbove }

// layerSums are f's layers' activation bytes on one image size.
type layerSums struct {
	// requested is the requested layers' bytes, content the content
	// layers', largest the largest layer's and largestRequested the
	// largest requested one's; reluMasks and seedMasks count the one-byte
	// masks of the ReLUs not requested and requested.
	requested, content, largest, largestRequested int64
	reluMasks, seedMasks                          int64
	// grams is 16 bytes per entry of each requested layer's C×C matrix.
	grams int64
}

// sums adds up f's layers on a width×height image.
func (f Footprint) sums(width, height int) layerSums {
	var s layerSums
	for _, l := range f.Layers {
		n := l.values(width, height)
		s.largest = max(s.largest, 4*n)
		switch {
		case l.Requested:
			s.requested += 4 * n
			s.grams += 16 * int64(l.Channels) * int64(l.Channels)
			s.largestRequested = max(s.largestRequested, 4*n)
			if l.Op == "Relu" {
				s.seedMasks += n
			}
		case l.Op == "Relu":
			s.reluMasks += n
		}
		if l.Content {
			s.content += 4 * n
		}
	}
	return s
}

// network is the memory of a Net of width×height: its tensors (input,
// requested activations, their gradients or, in place, the requested
// ReLUs' masks, the other ReLUs' one-byte masks, two image gradients), its
// two sessions' weights and ONNX Runtime's working memory; and guided, the
// layer-sized buffer masked style gradients need in place.
func (f Footprint) network(width, height int) (net, guided int64) {
	image := f.imageBytes(width, height)
	s := f.sums(width, height)
	grads := s.requested
	if gradInPlace(s.requested) {
		// The gradients overwrite the activations, and the requested
		// ReLUs' masks are kept instead; masked styles compute their
		// gradients through a buffer of the layer's size.
		grads = s.seedMasks
		if f.Masked {
			guided = s.largestRequested
		}
	}
	largest := max(s.largest, image)
	return 3*image + s.requested + grads + s.reluMasks + 2*sessionWeightCopies*f.NetBytes + arenaActivations*largest, guided
}

// optimizer is the optimiser's state for an image of imageBytes.
func (f Footprint) optimizer(imageBytes int64) int64 {
	if f.Optimizer == "adam" {
		return 3 * imageBytes // Adam's moments and its gradient
	}
	return int64(2*f.History+6) * imageBytes // pairs, gradients, direction, trial point
}

// build is the peak of a first run building both sessions at once, before
// any activation exists, which for a small image is the peak.
func (f Footprint) build() int64 {
	return baseBytes + f.BackboneBytes + buildWeightCopies*f.NetBytes
}

// EstimatePeak predicts the peak resident memory, in bytes, of a run of f
// on a width×height image evaluated whole.
func EstimatePeak(f Footprint, width, height int) int64 {
	if width <= 0 || height <= 0 {
		return 0
	}
	image := f.imageBytes(width, height)
	net, guided := f.network(width, height)
	s := f.sums(width, height)
	// The costs keep the content targets and C×C Gram matrices; the loop
	// keeps the image, its last good copy and its gradient.
	costs := s.content + s.grams + guided + 3*image
	if f.Masked {
		costs += 2 * s.largestRequested // the guided costs' scratch
	}
	// Every style image's activations are held until the style targets
	// are set.
	var style int64
	for _, sz := range f.StyleSizes {
		style += f.sums(sz[0], sz[1]).requested
	}
	run := baseBytes + f.BackboneBytes + net + costs + f.optimizer(image) + style
	return max(run, f.build())
}

// EstimateTiledPeak predicts the peak resident memory of a run of f on a
// width×height image evaluated in tiles of side pixels (tiles.go): one
// Net of the crops' size, and whole-image buffers for the image, its
// gradients, the optimiser's state, the content targets, the masks and
// the style images. It is 0 where f's layers cannot be tiled.
func EstimateTiledPeak(f Footprint, width, height, side int) int64 {
	if width <= 0 || height <= 0 || f.TileStride == 0 || side < f.TileStride {
		return 0
	}
	g := tileGeometry{stride: f.TileStride, margin: f.TileMargin}
	cut := cutTiles(width, height, side/g.stride*g.stride, g)
	image := f.imageBytes(width, height)
	net, guided := f.network(cut.cropW, cut.cropH)
	crop := f.sums(cut.cropW, cut.cropH)
	whole := f.sums(width, height)
	// One tile's scratch: its owned positions gathered, the gradient's
	// sum, a product and a masked copy, each of the largest layer's size.
	scratch := 4 * crop.largestRequested
	// Each masked style's mask at every requested layer, whole: once as
	// the pipeline resizes it, once kept by the costs.
	var masks int64
	if f.Masked {
		var planes int64
		for _, l := range f.Layers {
			if l.Requested {
				planes += 4 * l.values(width, height) / int64(max(l.Channels, 1))
			}
		}
		masks = 2 * planes * int64(len(f.Styles))
	}
	// Throughout: the Net, the content targets, Grams and masks, the
	// content image.
	common := baseBytes + f.BackboneBytes + net + whole.content + whole.grams*3/2 + guided + masks + image
	// While the targets are set: every style image whole, as the network
	// sees it, its Grams summed through a forward-only Net of its crops'
	// size where that differs from the run's (its own tensors; the
	// session and its working memory are shared).
	var styles, styleNet int64
	for _, sz := range f.Styles {
		styles += f.imageBytes(sz[0], sz[1])
		sc := cutTiles(sz[0], sz[1], cut.side, g)
		if sc.cropW != cut.cropW || sc.cropH != cut.cropH {
			styleNet = max(styleNet, f.imageBytes(sc.cropW, sc.cropH)+f.sums(sc.cropW, sc.cropH).requested)
		}
	}
	targets := common + styles + styleNet
	// While the optimiser runs: the image, its last good copy and its
	// gradient, the network's input (grey in luminance mode) and its
	// gradient, one tile's scratch, and the optimiser's state.
	run := common + 5*image + scratch + f.optimizer(image)
	return max(run, targets, f.build())
}

// MemoryError reports a run that would not fit in memory.
type MemoryError struct {
	// Estimate is the run's predicted peak and Limit what it may use.
	Estimate, Limit int64
	// LimitFrom says where the limit comes from.
	LimitFrom string
	// Width and Height are the requested size; FitWidth and FitHeight the
	// largest size of the same aspect ratio that fits, 0 when none does.
	Width, Height, FitWidth, FitHeight int
	// Tile is the tile side the estimate is for; 0 for a whole
	// evaluation.
	Tile int
	// Hint names another setting that would make the requested size fit,
	// or is empty.
	Hint string
}

// Error says what does not fit and what would.
func (e *MemoryError) Error() string {
	tiles := ""
	if e.Tile > 0 {
		tiles = fmt.Sprintf(" in tiles of %d px", e.Tile)
	}
	msg := fmt.Sprintf("a %dx%d run%s needs about %s of memory, more than the %s %s",
		e.Width, e.Height, tiles, sysmem.Format(e.Estimate), sysmem.Format(e.Limit), e.LimitFrom)
	if e.FitWidth == 0 {
		msg += "; no size fits: lower the style images' size or raise the limit"
	} else {
		msg += fmt.Sprintf("; the largest size that fits is %dx%d (size: %d)", e.FitWidth, e.FitHeight, max(e.FitWidth, e.FitHeight))
	}
	if e.Hint != "" {
		msg += "; or keep the size with " + e.Hint
	}
	return msg
}

// CheckMemory estimates a run's peak, evaluated whole, and returns it,
// with a *MemoryError when it exceeds limit (runtime.max_memory, in bytes)
// or, with limit 0, the memory the system has available.
func CheckMemory(f Footprint, width, height int, limit int64) (int64, error) {
	estimate := EstimatePeak(f, width, height)
	from := "set by runtime.max_memory"
	if limit <= 0 {
		avail, err := sysmem.Available()
		if err != nil {
			// Without a limit to check against, the estimate is all
			// there is to report.
			return estimate, nil
		}
		limit, from = avail.Bytes, "available ("+avail.Source+")"
	}
	if estimate <= limit {
		return estimate, nil
	}
	fw, fh := LargestFitting(f, width, height, limit)
	return estimate, &MemoryError{Estimate: estimate, Limit: limit, LimitFrom: from, Width: width, Height: height, FitWidth: fw, FitHeight: fh}
}

// memoryLimit returns the memory a run of cfg may use and where that limit
// comes from: runtime.max_memory, else the memory available; 0 when
// neither is known.
func memoryLimit(cfg *Config) (int64, string, error) {
	if cfg.Runtime.MaxMemory != "" {
		limit, err := sysmem.ParseMemory(cfg.Runtime.MaxMemory)
		if err != nil {
			return 0, "", fmt.Errorf("runtime.max_memory: %w", err)
		}
		return limit, "set by runtime.max_memory", nil
	}
	avail, err := sysmem.Available()
	if err != nil {
		return 0, "", nil
	}
	return avail.Bytes, "available (" + avail.Source + ")", nil
}

// LargestFitting returns the largest size with width:height's aspect
// ratio whose estimated peak, evaluated whole, stays within limit, or 0, 0.
func LargestFitting(f Footprint, width, height int, limit int64) (int, int) {
	return largestFitting(f, width, height, func(f Footprint, w, h int) bool { return EstimatePeak(f, w, h) <= limit })
}

// largestFitting returns the largest size with width:height's aspect
// ratio that fits says fits, or 0, 0; the style images' sizes follow the
// output's.
func largestFitting(f Footprint, width, height int, fits func(f Footprint, w, h int) bool) (int, int) {
	long := max(width, height)
	scaled := func(l int) (int, int) {
		w := max(1, int(math.Round(float64(width)*float64(l)/float64(long))))
		h := max(1, int(math.Round(float64(height)*float64(l)/float64(long))))
		return w, h
	}
	fitsAt := func(l int) bool {
		w, h := scaled(l)
		return fits(f.scaled(l, long), w, h)
	}
	if !fitsAt(1) {
		return 0, 0
	}
	lo, hi := 1, long // fitsAt(lo); the answer lies below hi or is hi
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if fitsAt(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return scaled(lo)
}

// scaled returns f with its style images' sizes scaled by num/den, as
// they are for an output whose longer side is num where f's is den: the
// style images follow the output's size (style[].scale).
func (f Footprint) scaled(num, den int) Footprint {
	scale := func(sizes [][2]int) [][2]int {
		out := make([][2]int, len(sizes))
		for i, s := range sizes {
			out[i] = [2]int{max(1, s[0]*num/den), max(1, s[1]*num/den)}
		}
		return out
	}
	f.StyleSizes, f.Styles = scale(f.StyleSizes), scale(f.Styles)
	return f
}

// FootprintOf describes a run of cfg on backbone b reading layers, with
// the style images of the sizes given (those equal to width×height need
// no network of their own; all but the last of them are copied).
func FootprintOf(b *models.Backbone, layers []string, cfg *Config, width, height int, styleSizes [][2]int) (Footprint, error) {
	f := Footprint{Optimizer: cfg.Optimizer.Name, History: cfg.Optimizer.History, Channels: b.InputChannels()}
	for _, s := range cfg.Style {
		f.Masked = f.Masked || s.Mask != "" || (s.Axis != "" && s.Axis != AxisAll)
	}
	all := b.Layers()
	deepest := -1
	for _, name := range layers {
		i := slices.IndexFunc(all, func(l models.LayerInfo) bool { return l.Name == name })
		if i < 0 {
			return f, fmt.Errorf("memory estimate: %w %q", models.ErrUnknownLayer, name)
		}
		deepest = max(deepest, i)
	}
	for i := 0; i <= deepest; i++ {
		l := all[i]
		_, content := cfg.Layers.Content[l.Name]
		f.Layers = append(f.Layers, LayerFootprint{Op: l.Op, Channels: l.Channels, Stride: l.Stride, Requested: slices.Contains(layers, l.Name), Content: content})
	}
	f.BackboneBytes = b.WeightBytes("")
	if deepest >= 0 {
		f.NetBytes = b.WeightBytes(all[deepest].Name)
	}
	if g, err := tileGeometryOf(b, layers); err == nil {
		f.TileStride, f.TileMargin = g.stride, g.margin
	}
	f.Styles = slices.Clone(styleSizes)
	output := [2]int{width, height}
	for i, s := range styleSizes {
		if s != output || slices.Contains(styleSizes[i+1:], output) {
			f.StyleSizes = append(f.StyleSizes, s)
		}
	}
	return f, nil
}

// styleSize is the size a style image of w×h is resized to for an output
// whose longer side is long (its longer side matches the output's).
func styleSize(w, h, long int) (int, int) {
	if w >= h {
		return long, max(1, int(math.Round(float64(h)*float64(long)/float64(w))))
	}
	return max(1, int(math.Round(float64(w)*float64(long)/float64(h)))), long
}

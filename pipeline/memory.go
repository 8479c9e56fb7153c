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
	// Masked says a style image has a mask (style[].mask): the costs then
	// need a buffer the size of the largest requested layer.
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

// EstimatePeak predicts the peak resident memory, in bytes, of a run of f
// on a width×height image.
func EstimatePeak(f Footprint, width, height int) int64 {
	if width <= 0 || height <= 0 {
		return 0
	}
	image := 4 * 3 * int64(width) * int64(height)

	// The run's network: its tensors (input, requested activations, their
	// gradients, the one-byte masks of the other ReLUs, two image
	// gradients), its two sessions' weights and ONNX Runtime's working
	// memory.
	var requested, masks, seedMasks, content, grams, largest, guided int64
	for _, l := range f.Layers {
		n := l.values(width, height)
		largest = max(largest, 4*n)
		switch {
		case l.Requested:
			requested += 4 * n
			grams += 16 * int64(l.Channels) * int64(l.Channels)
			guided = max(guided, 4*n)
			if l.Op == "Relu" {
				seedMasks += n
			}
		case l.Op == "Relu":
			masks += n
		}
		if l.Content {
			content += 4 * n
		}
	}
	largest = max(largest, image)
	grads := requested
	if gradInPlace(requested) {
		// The gradients overwrite the activations, and the requested
		// ReLUs' masks are kept instead; masked styles compute their
		// gradients through a buffer of the layer's size.
		grads = seedMasks
		if !f.Masked {
			guided = 0
		}
	} else {
		guided = 0
	}
	net := 3*image + requested + grads + masks + 2*sessionWeightCopies*f.NetBytes + arenaActivations*largest

	// The costs keep the content targets and C×C Gram matrices; the loop
	// keeps the image, its last good copy and its gradient.
	costs := content + grams + guided + 3*image
	opt := 3 * image // Adam's moments and its gradient
	if f.Optimizer != "adam" {
		opt = int64(2*f.History+6) * image // pairs, gradients, direction, trial point
	}

	// Every style image's activations are held until the style targets
	// are set.
	var style int64
	for _, s := range f.StyleSizes {
		for _, l := range f.Layers {
			if l.Requested {
				style += 4 * l.values(s[0], s[1])
			}
		}
	}
	run := baseBytes + f.BackboneBytes + net + costs + opt + style
	// A first run builds both sessions at once, before any activation
	// exists, which for a small image is the peak.
	build := baseBytes + f.BackboneBytes + buildWeightCopies*f.NetBytes
	return max(run, build)
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
}

// Error says what does not fit and what would.
func (e *MemoryError) Error() string {
	msg := fmt.Sprintf("a %dx%d run needs about %s of memory, more than the %s %s",
		e.Width, e.Height, sysmem.Format(e.Estimate), sysmem.Format(e.Limit), e.LimitFrom)
	if e.FitWidth == 0 {
		return msg + "; no size fits: lower the style images' size or raise the limit"
	}
	return msg + fmt.Sprintf("; the largest size that fits is %dx%d (size: %d)", e.FitWidth, e.FitHeight, max(e.FitWidth, e.FitHeight))
}

// CheckMemory estimates a run's peak and returns it, with a *MemoryError
// when it exceeds limit (runtime.max_memory, in bytes) or, with limit 0,
// the memory the system has available.
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

// LargestFitting returns the largest size with width:height's aspect
// ratio whose estimated peak stays within limit, or 0, 0.
func LargestFitting(f Footprint, width, height int, limit int64) (int, int) {
	long := max(width, height)
	scaled := func(l int) (int, int) {
		w := max(1, int(math.Round(float64(width)*float64(l)/float64(long))))
		h := max(1, int(math.Round(float64(height)*float64(l)/float64(long))))
		return w, h
	}
	fits := func(l int) bool {
		w, h := scaled(l)
		return EstimatePeak(f, w, h) <= limit
	}
	if !fits(1) {
		return 0, 0
	}
	lo, hi := 1, long // fits(lo); the answer lies below hi or is hi
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return scaled(lo)
}

// FootprintOf describes a run of cfg on backbone b reading layers, with
// the style images of the sizes given (those equal to width×height need
// no network of their own; all but the last of them are copied).
func FootprintOf(b *models.Backbone, layers []string, cfg *Config, width, height int, styleSizes [][2]int) (Footprint, error) {
	f := Footprint{Optimizer: cfg.Optimizer.Name, History: cfg.Optimizer.History}
	for _, s := range cfg.Style {
		f.Masked = f.Masked || s.Mask != ""
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

package pipeline

import (
	"context"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/internal/gemm"
	"github.com/nst-project/nst/internal/ortrt"
	"github.com/nst-project/nst/losses"
	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/record"
)

// Coarse-to-fine (the scales key). A run optimises at each scale in turn,
// the output's longer side growing from scale to scale. Each scale starts
// from the previous scale's result, clamped to [0, 1] and enlarged by
// bilinear interpolation of the float image (imageio.ResizeBilinear): going
// through an 8-bit image would round away detail the optimiser made below
// 1/255, and a Lanczos filter's ringing would add halos the next scale must
// first remove, while the coarse result holds no detail finer than
// bilinear can carry. Content, style and mask targets are computed again at
// every scale, from the images as loaded, with a Net of the new size; the
// previous one is closed first, so peak memory is the largest scale's.
//
// Iterations count on across scales (scale 2 of [{256, 100}, {512, 50}]
// holds iterations 101-150), so costs.csv has one row per step with
// increasing iterations; the costs of different scales are not comparable
// and jump where a scale starts. Each scale's result is kept as
// scale<N>_<size>px.png, and intermediate images carry the scale's size.

// Bounds of style[].scale: a twentieth of the output is about the least a
// backbone can still read texture from, and eight times it is already 64
// times the output's pixels.
const (
	MinStyleScale = 0.05
	MaxStyleScale = 8
)

// validateScales checks the coarse-to-fine schedule: sizes increasing, each
// a valid size, the last one the output's size.
func (c *Config) validateScales() []error {
	var errs []error
	for i, s := range c.Scales {
		if s.Size < 16 || s.Size > 16384 {
			errs = append(errs, fmt.Errorf("scales[%d].size: %d; want 16 to 16384 (the output's longer side at this scale)", i, s.Size))
		}
		if i > 0 && s.Size <= c.Scales[i-1].Size {
			errs = append(errs, fmt.Errorf("scales[%d].size: %d after %d; sizes must increase, coarse to fine", i, s.Size, c.Scales[i-1].Size))
		}
		if s.Iterations < 0 || s.Iterations > 1_000_000 {
			errs = append(errs, fmt.Errorf("scales[%d].iterations: %d; want 0 to 1000000", i, s.Iterations))
		}
	}
	if n := len(c.Scales); n > 0 && c.Scales[n-1].Size != c.Size {
		errs = append(errs, fmt.Errorf("scales: the last scale's size is %d but size is %d; the last scale is the output, so make them agree", c.Scales[n-1].Size, c.Size))
	}
	return errs
}

// ScaleList returns the run's schedule: the configured scales, or one scale
// of size and optimizer.iterations when none are configured.
func (c *Config) ScaleList() []ScaleConfig {
	if len(c.Scales) > 0 {
		return slices.Clone(c.Scales)
	}
	return []ScaleConfig{{Size: c.Size, Iterations: c.Optimizer.Iterations}}
}

// styleLongSide is the longer side, in pixels, of style image i for an
// output whose longer side is outputLong: style[i].scale times it.
func (e *experiment) styleLongSide(i, outputLong int) int {
	return max(1, int(math.Round(e.cfg.Style[i].Scale*float64(outputLong))))
}

// checkStyleSizes checks, before any heavy work, that no style image grows
// past limits.max_pixels at the largest scale.
func (e *experiment) checkStyleSizes() error {
	last := e.sched[len(e.sched)-1].Size
	cb := e.contentImg.Bounds()
	w, h := imageio.LongSideSize(cb.Dx(), cb.Dy(), last)
	for i, img := range e.styleImgs {
		b := img.Bounds()
		sw, sh := imageio.LongSideSize(b.Dx(), b.Dy(), e.styleLongSide(i, max(w, h)))
		if int64(sw)*int64(sh) > e.cfg.Limits.MaxPixels {
			return fmt.Errorf("style[%d] at scale %v of a %dx%d output is %dx%d, over limits.max_pixels (%d); lower style[%d].scale or raise the limit", i, e.cfg.Style[i].Scale, w, h, sw, sh, e.cfg.Limits.MaxPixels, i)
		}
	}
	return nil
}

// enterScale prepares scale k: the content at its size, a Net of that size
// (the previous one closed), and content, style and mask targets computed
// there. When it fails, the size and content are left as they were, so that
// the previous scale's image can still be saved.
func (e *experiment) enterScale(ctx context.Context, k int) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	size := e.sched[k].Size
	var content *image.NRGBA
	if e.audio == nil && e.volume == nil {
		if content, err = imageio.FitLongSide(e.contentImg, size); err != nil {
			return fmt.Errorf("resize content: %w", err)
		}
	}
	e.closeScale()
	w, h, prevContent, prevColor := e.width, e.height, e.content, e.color
	defer func() {
		if err != nil {
			e.width, e.height, e.content, e.color = w, h, prevContent, prevColor
		}
	}()
	if e.audio != nil {
		// An audio run's one scale is the content spectrogram as it is:
		// Bins channels, height 1, Frames columns.
		e.width, e.height = e.audio.content.Frames, 1
		e.content = slices.Clone(e.audio.content.Data)
	} else if e.volume != nil {
		e.width, e.height, e.content = e.volumeContent()
	} else {
		e.width, e.height = content.Bounds().Dx(), content.Bounds().Dy()
		e.content = imageio.ToTensor(content)
	}
	if k > 0 {
		// Logged before the scale's targets, which take minutes at print sizes.
		slog.Info("scale", "scale", fmt.Sprintf("%d/%d", k+1, len(e.sched)), "size", fmt.Sprintf("%dx%d", e.width, e.height), "iterations", e.sched[k].Iterations)
	}
	e.color.prepare(e.content)
	nw, nh := e.netSize() // e.width, e.height but for a volume's slices
	f, err := FootprintOf(e.backbone, e.layers, e.cfg, nw, nh, e.scaleStyleSizes())
	if err != nil {
		return err
	}
	// The Net has the image's size, or the crops' in a tiled scale.
	e.tiled = nil
	netW, netH := nw, nh
	side, err := e.tileSide(f, e.width, e.height)
	if err != nil {
		return err
	}
	if side > 0 {
		e.prepareTiles(side)
		netW, netH = e.tiled.cut.cropW, e.tiled.cut.cropH
	}
	e.inPlace = gradInPlace(f.requestedBytes(netW, netH))
	t0 := time.Now()
	e.net, err = e.backbone.Prepare(models.Options{
		Layers: e.layers, Pooling: e.cfg.Model.Pooling, Height: netH, Width: netW,
		Depth:      e.netDepth(e.content, [2]int{e.width, e.height}),
		Preprocess: e.pre, Session: e.session, GradInPlace: e.inPlace,
	})
	if err != nil {
		return err // models names the backbone and the size
	}
	// Preparing left garbage as large as the weights (the backward graph's
	// flipped copies), which Go would otherwise give back to the system
	// only slowly: at 512x512 the run's peak was 1148-1152 MB with it
	// resident, 1096-1097 MB without, for about 10 ms of start-up.
	debug.FreeOSMemory()
	if e.kernel, err = gemm.NewORT(e.session); err != nil {
		return err
	}
	if e.objective, err = losses.New(e.spec, e.kernel); err != nil {
		return err
	}
	e.costs = e.objective.NewCosts()
	e.acts = make([]losses.Activation, len(e.layers))
	e.scratch = nil
	t1 := time.Now()
	if err := e.prepareStyles(); err != nil {
		return err
	}
	var shapes []losses.Activation
	if e.tiled != nil {
		shapes, err = e.setTiledTargets(ctx)
	} else {
		shapes, err = e.setTargets(ctx)
	}
	if err != nil {
		return err
	}
	// The style images served the targets only.
	e.styles = nil
	if k == 0 {
		e.info.Startup.Sessions, e.info.Startup.Targets = t1.Sub(t0), time.Since(t1)
	}
	e.info.GraphCached = e.net.Cached()
	e.info.EvalFLOPs = e.evalFLOPs(shapes)
	e.info.Tiling = nil
	if t := e.tiled; t != nil {
		e.info.Tiling = &record.Tiling{Scale: k, Size: fmt.Sprintf("%dx%d", e.width, e.height), Side: t.cut.side, Tiles: len(t.cut.tiles),
			Crop: fmt.Sprintf("%dx%d", t.cut.cropW, t.cut.cropH), Margin: e.tileGeom.margin}
	}
	e.scale = k
	return nil
}

// scaleStyleSizes returns the style images' sizes at the current scale's
// output size, before they are resized.
func (e *experiment) scaleStyleSizes() [][2]int {
	if e.volume != nil {
		_, _, sizes := e.volumeSizes()
		return sizes
	}
	sizes := make([][2]int, len(e.cfg.Style))
	for i := range sizes {
		if e.audio != nil {
			sizes[i] = [2]int{e.audio.styles[i].Frames, 1}
			continue
		}
		b := e.styleImgs[i].Bounds()
		sizes[i][0], sizes[i][1] = imageio.LongSideSize(b.Dx(), b.Dy(), e.styleLongSide(i, max(e.width, e.height)))
	}
	return sizes
}

// prepareStyles sets the style images as the network sees them at the
// current scale: resized and colour-transformed, or an audio run's
// spectrograms.
func (e *experiment) prepareStyles() error {
	nStyles := len(e.cfg.Style)
	e.styles = make([][]float32, nStyles)
	e.styleSizes = make([][2]int, nStyles)
	for i := range nStyles {
		if e.volume != nil {
			var err error
			if e.styles[i], e.styleSizes[i], err = e.volumeStyle(i); err != nil {
				return fmt.Errorf("style %q: %w", e.cfg.Style[i].Path, err)
			}
			continue
		}
		if e.audio != nil {
			// Each style spectrogram at its own length: the Gram
			// matrices average over time.
			spec := e.audio.styles[i]
			e.styleSizes[i] = [2]int{spec.Frames, 1}
			e.styles[i] = slices.Clone(spec.Data)
			continue
		}
		img := e.styleImgs[i]
		// The style image's longer side is style[i].scale times the
		// output's, so brush strokes keep their size relative to the
		// picture at every scale.
		resized, err := imageio.FitLongSide(img, e.styleLongSide(i, max(e.width, e.height)))
		if err != nil {
			return fmt.Errorf("resize style %q: %w", e.cfg.Style[i].Path, err)
		}
		e.styleSizes[i] = [2]int{resized.Bounds().Dx(), resized.Bounds().Dy()}
		if e.styles[i], err = e.color.styleInput(imageio.ToTensor(resized)); err != nil {
			return fmt.Errorf("style %q: %w", e.cfg.Style[i].Path, err)
		}
	}
	return nil
}

// setTargets computes the content, style and mask targets of a scale
// evaluated whole, and returns the generated image's layer shapes.
func (e *experiment) setTargets(ctx context.Context) ([]losses.Activation, error) {
	acts, err := e.forward(e.net, e.color.contentInput())
	if err != nil {
		return nil, fmt.Errorf("content targets: %w", err)
	}
	if err := e.objective.SetContentTargets(acts); err != nil {
		return nil, fmt.Errorf("content targets: %w", err)
	}
	// The generated image's layer sizes, for the masks; the data is
	// overwritten by the style images' forward passes.
	shapes := slices.Clone(acts)
	nStyles := len(e.styles)
	styleActs := make([][]losses.Activation, nStyles)
	blend := make([]float64, nStyles)
	// Every style's activations must live until the targets are set. Those
	// of a style of another size stay in its own Net, closed after that;
	// those in the run's Net are copied only when a later style overwrites
	// them.
	var styleNets []*models.Net
	defer func() {
		for _, n := range styleNets {
			n.Close()
		}
	}()
	for i, size := range e.styleSizes {
		acts, own, err := e.styleActivations(ctx, e.styles[i], size)
		if err != nil {
			return nil, fmt.Errorf("style %q at %dx%d: %w", e.cfg.Style[i].Path, size[0], size[1], err)
		}
		if own != nil {
			styleNets = append(styleNets, own)
		} else if slices.Contains(e.styleSizes[i+1:], size) {
			for j := range acts {
				acts[j].Data = slices.Clone(acts[j].Data)
			}
		}
		styleActs[i] = acts
		blend[i] = e.cfg.Style[i].Weight
	}
	nw, nh := e.netSize() // e.width, e.height but for a volume's slices
	if err := e.objective.SetGuidedStyleTargets(styleActs, blend, e.masks.forLayers(shapes, nw, nh)); err != nil {
		return nil, fmt.Errorf("style targets: %w", err)
	}
	return shapes, nil
}

// closeScale releases the current scale's Net and kernel, and hands what
// they held back to the system before the next scale allocates its own:
// the Go tensors, and ONNX Runtime's arena, which never shrinks by itself
// (at 4096 px after 2048 px its old regions were gigabytes).
func (e *experiment) closeScale() {
	if e.net == nil && e.kernel == nil {
		return
	}
	if e.net != nil {
		e.net.Close()
		e.net = nil
	}
	if e.kernel != nil {
		e.kernel.Close()
		e.kernel = nil
	}
	debug.FreeOSMemory()
	ortrt.ReleaseArena()
}

// schedule is a run's coarse-to-fine plan: the scales in order, each
// with its size and iterations (one scale for a run at one size).
type schedule []ScaleConfig

// start is the iteration count before scale k.
func (s schedule) start(k int) int {
	n := 0
	for _, sc := range s[:k] {
		n += sc.Iterations
	}
	return n
}

// end is the iteration count at the end of scale k.
func (s schedule) end(k int) int { return s.start(k) + s[k].Iterations }

// total is the iteration count of the whole schedule.
func (s schedule) total() int { return s.start(len(s)) }

// lastScale reports whether the current scale is the output's.
func (e *experiment) lastScale() bool { return e.scale == len(e.sched)-1 }

// multiScale reports whether the run has more than one scale.
func (e *experiment) multiScale() bool { return len(e.sched) > 1 }

// iterImageName names the intermediate image of iteration iter.
func (e *experiment) iterImageName(iter int) string {
	if e.multiScale() {
		return fmt.Sprintf("iter_%05d_%dpx", iter, e.sched[e.scale].Size)
	}
	return fmt.Sprintf("iter_%05d", iter)
}

// nextScale saves the current scale's result in the run folder, moves to
// the next scale, and continues from that result clamped to [0, 1] and
// enlarged to the new size, with a new optimiser. On error s is unchanged.
func (e *experiment) nextScale(ctx context.Context, s *runState) error {
	if _, err := e.saveImage(s.dir, fmt.Sprintf("scale%d_%dpx", e.scale+1, e.sched[e.scale].Size), s.x); err != nil {
		return err
	}
	clamped := slices.Clone(s.x)
	for i, v := range clamped {
		clamped[i] = min(max(v, 0), 1)
	}
	opt, err := newOptimizer(e.cfg.Optimizer)
	if err != nil {
		return err
	}
	c, w, h := e.color.channels(), e.width, e.height
	if err := e.enterScale(ctx, e.scale+1); err != nil {
		return fmt.Errorf("scale %d (%dpx): %w", e.scale+2, e.sched[e.scale+1].Size, err)
	}
	next := make([]float32, c*e.width*e.height)
	if err := imageio.ResizeBilinear(next, clamped, c, h, w, e.height, e.width); err != nil {
		return err
	}
	s.x, s.lastGood, s.opt, s.totals = next, slices.Clone(next), opt, nil
	return nil
}

// progress reports the current scale's iterations on w, labelled with the run folder and, with several scales, the scale.
func (e *experiment) progress(w io.Writer, dir string) record.Progress {
	label := filepath.Base(dir)
	if e.multiScale() {
		label = fmt.Sprintf("%s %dpx (%d/%d)", label, e.sched[e.scale].Size, e.scale+1, len(e.sched))
	}
	return record.NewProgress(w, e.sched[e.scale].Iterations, label)
}

// evalFLOPs counts one evaluation's floating-point operations at the
// current scale: the convolutions forward and backward (the input gradient
// of a convolution costs what the convolution does) and, per style layer of
// C channels over M positions, the Gram product and its gradient's
// product, 2·C²·M each.
// acts are the generated image's activations (their shapes are what count).
func (e *experiment) evalFLOPs(acts []losses.Activation) int64 {
	flops := 2 * e.net.ConvFLOPs()
	if e.tiled != nil {
		// Each tile's crop forward in pass 1, forward again (but the
		// last) and backward in pass 2.
		flops = int64(3*len(e.tiled.cut.tiles)-1) * e.net.ConvFLOPs()
	}
	for _, a := range acts {
		for _, l := range e.spec.Style {
			if l.Name == a.Name {
				flops += 2 * 2 * int64(a.C) * int64(a.C) * int64(a.H) * int64(a.W)
			}
		}
	}
	return flops
}

// checkMinSize refuses images too small for the deepest requested layer:
// the content at every scale and every style image as resized there must
// have a shorter side of at least that layer's stride, or the network's
// last poolings have nothing to pool. The error names the layer and the
// smallest size that works.
func (e *experiment) checkMinSize() error {
	stride, deepest := 0, ""
	for _, l := range e.backbone.Layers() {
		if slices.Contains(e.layers, l.Name) && l.Stride > stride {
			stride, deepest = l.Stride, l.Name
		}
	}
	if stride <= 1 || e.contentImg == nil {
		return nil // audio: its spectrogram's frames are checked by audio's loader
	}
	// smallest is the least longer side that gives an image of w×h a
	// shorter side of stride pixels.
	smallest := func(w, h int) int {
		long, short := max(w, h), min(w, h)
		return (stride*long + short - 1) / short
	}
	cb := e.contentImg.Bounds()
	for _, sc := range e.sched {
		w, h := imageio.LongSideSize(cb.Dx(), cb.Dy(), sc.Size)
		if min(w, h) < stride {
			return fmt.Errorf("size %d gives a %dx%d image, too small for layer %s (stride %d): its shorter side must be at least %d px; use a size of at least %d", sc.Size, w, h, deepest, stride, stride, smallest(w, h))
		}
		for i, img := range e.styleImgs {
			b := img.Bounds()
			sw, sh := imageio.LongSideSize(b.Dx(), b.Dy(), e.styleLongSide(i, max(w, h)))
			if min(sw, sh) < stride {
				return fmt.Errorf("style[%d] at size %d is %dx%d, too small for layer %s (stride %d): its shorter side must be at least %d px; raise style[%d].scale or the size", i, sc.Size, sw, sh, deepest, stride, stride, i)
			}
		}
	}
	return nil
}

package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/nst-project/nst/builtinimg"
	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/internal/gemm"
	"github.com/nst-project/nst/internal/ortrt"
	"github.com/nst-project/nst/losses"
	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/record"
)

// plan is what a run does around the evaluation, and knows nothing of the
// network: the coarse-to-fine schedule, the colour control (how the
// optimiser's variable relates to the images) and the styles' masks.
type plan struct {
	sched schedule   // one scale without scales
	color colour     // color.go
	masks styleMasks // masks.go
}

// experiment is a config made ready to evaluate: images loaded, backbone
// prepared at the current scale's size, cost targets computed. The
// evaluation (network, targets, costs) is its own; the plan it follows is
// embedded. It holds the buffers one evaluation needs, so evaluating
// allocates nothing.
type experiment struct {
	plan
	cfg           *Config
	backbone      *models.Backbone
	width, height int            // the output's size at the current scale
	content       []float32      // the content image, [1,3,H,W] in [0,1]
	inputs        []record.Input // images read or drawn, for the manifest
	// audio holds an audio run's spectrograms (audio.go); nil for images.
	audio *audioInputs
	// volume holds a volume run's volumes (volume.go); nil otherwise.
	volume *volumeInputs

	// The images as loaded; each scale resizes them again from these.
	contentImg *image.NRGBA
	styleImgs  []*image.NRGBA
	// styles are the style images as the network saw them at the current
	// scale (resized, colour-transformed), styleSizes their sizes.
	styles     [][]float32
	styleSizes [][2]int

	// What every scale shares: the cost terms, the layers the backbone
	// returns, its preprocessing and session options.
	spec    losses.Spec
	layers  []string
	pre     models.Preprocess
	session ortrt.SessionOptions

	scale int // index of the scale the Net and targets are at

	net *models.Net
	// tiled is the current scale's tiled evaluation, nil when it is
	// evaluated whole (tiles.go, tiled.go); tile is runtime.tile, and
	// tileGeom the layers' tiling geometry (tileGeomErr why they cannot be
	// tiled). memLimit is the memory a run may use, fixed at the start.
	tiled       *tiledEval
	tile        tileSetting
	tileGeom    tileGeometry
	tileGeomErr error
	memLimit    int64
	// inPlace says the gradients overwrite the activations at the current
	// scale (see gradInPlaceAbove).
	inPlace   bool
	kernel    *gemm.ORT
	objective *losses.Objective
	costs     *losses.Costs
	acts      []losses.Activation // headers over the Net's activation buffers
	scratch   []float32           // a gradient nobody reads, for costsAt
	terms     []string            // the cost terms, as costs.csv names them
	// extra are the caller's cost terms (RunOptions.Terms) and extraCosts
	// their values at the last evaluation.
	extra      []Term
	extraCosts []float64
	// start is the caller's starting image (RunOptions.Start), or nil.
	start *image.NRGBA
	ev    Event // the event value a run reuses

	// timing accumulates where evaluation time goes, for the manifest and
	// the benchmark; setup splits the time to the first scale's targets.
	timing Timing
	info   RunInfo
}

// StartupSplit divides the time from the start of a run to its first
// iteration.
type StartupSplit struct {
	// Inputs is reading and decoding the images.
	Inputs time.Duration `json:"inputs_ns"`
	// Backbone is loading the model file (or making the built-in weights)
	// and ONNX Runtime's library.
	Backbone time.Duration `json:"backbone_ns"`
	// Sessions is cutting and differentiating the network and making its
	// ONNX Runtime sessions: optimised and cached on a graph-cache miss,
	// read from the cache on a hit.
	Sessions time.Duration `json:"sessions_ns"`
	// Targets is the content and style images' forward passes and the
	// cost targets made from them.
	Targets time.Duration `json:"targets_ns"`
}

// newExperiment loads and checks everything cfg names, cheapest checks
// first, so that a bad image or layer name fails before the model is built.
func newExperiment(ctx context.Context, cfg *Config, progress io.Writer) (e *experiment, err error) {
	e = &experiment{cfg: cfg, plan: plan{color: colour{mode: cfg.Color}}}
	if e.tile, err = parseTile(string(cfg.Runtime.Tile)); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	e.sched = cfg.ScaleList()
	t0 := time.Now()
	if cfg.IsAudio() {
		if err := e.loadAudio(); err != nil {
			return nil, err
		}
	} else if cfg.IsVolume() {
		if err := e.loadVolumes(); err != nil {
			return nil, err
		}
	} else {
		if e.contentImg, err = e.loadImage("content", cfg.Content); err != nil {
			return nil, err
		}
		e.styleImgs = make([]*image.NRGBA, len(cfg.Style))
		e.masks = make([]*image.NRGBA, len(cfg.Style))
		for i, s := range cfg.Style {
			if e.styleImgs[i], err = e.loadImage(fmt.Sprintf("style[%d]", i), s.Path); err != nil {
				return nil, err
			}
			if s.Mask == "" {
				continue
			}
			role := fmt.Sprintf("style[%d].mask", i)
			if e.masks[i], err = e.loadImage(role, s.Mask); err != nil {
				return nil, err
			}
			warnMaskAspect(role, e.masks[i].Bounds(), e.contentImg.Bounds())
		}
		if err := e.checkStyleSizes(); err != nil {
			return nil, err
		}
		if cfg.Init == "image" {
			if _, err := e.loadImage("init", cfg.InitImage); err != nil {
				return nil, err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t1 := time.Now()
	e.info.Startup.Inputs = t1.Sub(t0)

	open, err := cfg.Model.resolve(ctx, progress)
	if err != nil {
		return nil, err
	}
	if e.audio != nil {
		open.AudioBins, open.AudioFilters = e.audio.content.Bins, cfg.Audio.Filters
	}
	if e.volume != nil {
		open.VolumeChannels, open.VolumeFilters = e.volume.content.C, cfg.Volume.Filters
	}
	if e.backbone, err = models.Open(open); err != nil {
		return nil, err
	}
	if e.spec, e.layers, err = e.costSpec(); err != nil {
		return nil, err
	}
	e.terms = costTerms(e.spec)
	if err := e.checkMinSize(); err != nil {
		return nil, err
	}
	if e.pre, err = cfg.Model.Preprocess.Models(); err != nil {
		return nil, err
	}
	if e.audio != nil {
		// Spectrograms go into the network as they are.
		e.pre = models.Preprocess{}
	}
	if e.volume != nil {
		if err := e.checkVolumeBackbone(); err != nil {
			return nil, err
		}
	}
	// ONNX Runtime is needed from here on only, so that a mistyped layer
	// is reported even where the library is missing.
	if err := ortrt.Init(cfg.Runtime.Library); err != nil {
		return nil, err
	}
	e.session = ortrt.SessionOptions{Threads: cfg.Runtime.Threads, Device: cfg.Runtime.Device}
	e.info.Startup.Backbone = time.Since(t1)
	if err := e.checkMemory(); err != nil {
		return nil, err
	}
	cache := ""
	if cfg.Runtime.GraphCache {
		cache = cmp.Or(cfg.Runtime.GraphCacheDir, models.DefaultCacheDir())
	}
	models.UseGraphCache(cache)
	if err := e.enterScale(ctx, 0); err != nil {
		return nil, err
	}
	return e, nil
}

// checkMemory estimates the peak of the largest scale from the layer
// shapes into e.info.EstimatedPeak (the run logs it once it starts),
// evaluated whole or in tiles as runtime.tile decides, and refuses the run
// up front when it exceeds runtime.max_memory or the memory available,
// naming what fits.
func (e *experiment) checkMemory() error {
	w, h, styleSizes := e.audioSizes()
	if e.volume != nil {
		w, h, styleSizes = e.volumeSizes()
	} else if e.audio == nil {
		long := e.sched[len(e.sched)-1].Size
		cb := e.contentImg.Bounds()
		w, h = imageio.LongSideSize(cb.Dx(), cb.Dy(), long)
		styleSizes = make([][2]int, len(e.styleImgs))
		for i, img := range e.styleImgs {
			sb := img.Bounds()
			sw, sh := imageio.LongSideSize(sb.Dx(), sb.Dy(), e.styleLongSide(i, max(w, h)))
			styleSizes[i] = [2]int{sw, sh}
		}
	}
	f, err := FootprintOf(e.backbone, e.layers, e.cfg, w, h, styleSizes)
	if err != nil {
		return err
	}
	limit, from, err := memoryLimit(e.cfg)
	if err != nil {
		return err
	}
	e.memLimit = limit
	e.tileGeom, e.tileGeomErr = tileGeometryOf(e.backbone, e.layers)
	side, err := e.tileSide(f, w, h)
	if err != nil {
		return err
	}
	peak := EstimatePeak(f, w, h)
	if side > 0 {
		peak = EstimateTiledPeak(f, w, h, side)
	}
	e.info.EstimatedPeak = peak
	if limit <= 0 || peak <= limit {
		return nil
	}
	if e.volume != nil {
		return e.volumeMemoryError(f, peak, limit, from)
	}
	if side == 0 && e.tile.auto && e.tileGeomErr == nil && e.audio == nil {
		// Even the smallest tiles do not fit: say what they would need.
		side = e.smallestTile()
		peak = min(peak, EstimateTiledPeak(f, w, h, side))
	}
	return e.memoryError(f, w, h, side, peak, limit, from)
}

// styleActivations runs a style image through the backbone and returns its
// activations, which alias the buffers of the Net that computed them: the
// run's own Net for an image of the output's size (overwritten by its next
// forward pass), else a forward-only Net of the image's size, returned as
// own for the caller to close once done with the activations. Nothing is
// copied: at 512x512 a copy of VGG19's activations is 130 MB of fresh
// memory, which cost 0.3-0.8 s of start-up in page faults alone.
func (e *experiment) styleActivations(ctx context.Context, img []float32, size [2]int) (acts []losses.Activation, own *models.Net, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	net := e.net
	depth := e.netDepth(img, size) // 0 but for a volume
	if nw, nh := e.netSize(); size != [2]int{nw, nh} || depth != e.netDepth(e.content, [2]int{e.width, e.height}) {
		own, err = e.backbone.Prepare(models.Options{
			Layers: e.layers, Pooling: e.cfg.Model.Pooling, Height: size[1], Width: size[0], Depth: depth,
			Preprocess: e.pre, Session: e.session, ForwardOnly: true,
		})
		if err != nil {
			return nil, nil, err
		}
		net = own
	}
	if acts, err = e.forward(net, img); err != nil {
		if own != nil {
			own.Close()
		}
		return nil, nil, err
	}
	// e.forward's headers are shared by every call.
	return slices.Clone(acts), own, nil
}

// forward runs net on img and returns the activations as losses sees them,
// in e.acts (no allocation).
func (e *experiment) forward(net *models.Net, img []float32) ([]losses.Activation, error) {
	acts, err := net.Forward(img)
	if err != nil {
		return nil, err
	}
	for i, a := range acts {
		e.acts[i] = losses.Activation{Name: a.Name, C: a.C, H: a.H, W: a.W, Data: a.Data}
	}
	return e.acts, nil
}

// evaluate computes J at x and dJ/dx into grad; it is the optimiser's
// objective. The per-term costs of this evaluation are left in e.costs.
func (e *experiment) evaluate(ctx context.Context, x, grad []float32) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var err error
	if e.tiled != nil {
		err = e.networkCostsTiled(ctx, x, grad)
	} else {
		err = e.networkCosts(x, grad)
	}
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	c, d := e.color.channels(), 1
	if e.volume != nil {
		// A volume's smoothness counts across its slices as within them.
		c, d = e.volume.content.C, e.volume.content.D
	}
	if err := e.objective.AddTV3D(e.costs, x, c, d, e.height, e.width, grad); err != nil {
		return 0, err
	}
	for i, t := range e.extra {
		v, err := t.Eval(x, e.color.channels(), e.height, e.width, grad)
		if err != nil {
			return 0, fmt.Errorf("cost term %s: %w", t.Name, err)
		}
		e.extraCosts[i] = v
		e.costs.Total += v
	}
	e.timing.Costs += time.Since(t0)
	e.timing.Evaluations++
	if math.IsNaN(e.costs.Total) || math.IsInf(e.costs.Total, 0) {
		return 0, fmt.Errorf("%w: J = %v (content %v, style %v, tv %v); lower optimizer.lr or the weights", ErrDiverged, e.costs.Total, e.costs.ContentTotal, e.costs.StyleTotal, e.costs.TV)
	}
	return e.costs.Total, nil
}

// networkCosts runs the network forward on x, computes the content and
// style costs and their gradients, and back-propagates them into grad.
func (e *experiment) networkCosts(x, grad []float32) error {
	t0 := time.Now()
	acts, err := e.forward(e.net, e.color.netInput(x))
	if err != nil {
		return err
	}
	t1 := time.Now()
	if e.inPlace {
		err = e.objective.EvalInPlace(e.costs, acts)
	} else {
		err = e.objective.Eval(e.costs, acts, e.net.GradBuffers())
	}
	if err != nil {
		return err
	}
	t2 := time.Now()
	dx, err := e.net.Backward()
	if err != nil {
		return err
	}
	e.color.gradToVariable(grad, dx)
	t3 := time.Now()
	e.timing.Forward += t1.Sub(t0)
	e.timing.Costs += t2.Sub(t1)
	e.timing.Backward += t3.Sub(t2)
	return nil
}

// ErrDiverged is returned when the cost stops being a finite number.
var ErrDiverged = errors.New("cost diverged")

// initImage returns the optimisation's starting point as the config says.
func (e *experiment) initImage() ([]float32, error) {
	var x []float32
	init := e.cfg.Init
	if e.start != nil {
		init = "start"
	}
	switch init {
	case "start":
		img, err := imageio.Resize(e.start, e.width, e.height)
		if err != nil {
			return nil, fmt.Errorf("resize the starting image: %w", err)
		}
		return e.color.variable(imageio.ToTensor(img)), nil
	case "content":
		x = slices.Clone(e.content)
	case "noise":
		x = make([]float32, len(e.content))
		e.fillNoise(x)
		return e.color.variable(x), nil
	case "image":
		img, err := e.loadImage("", e.cfg.InitImage)
		if err != nil {
			return nil, err
		}
		if img, err = imageio.Resize(img, e.width, e.height); err != nil {
			return nil, fmt.Errorf("resize init image: %w", err)
		}
		x = imageio.ToTensor(img)
	}
	if r := float32(e.cfg.NoiseRatio); r > 0 {
		noise := make([]float32, len(x))
		e.fillNoise(noise)
		for i := range x {
			x[i] = (1-r)*x[i] + r*noise[i]
		}
	}
	return e.color.variable(x), nil
}

// fillNoise fills x with uniform noise in [0,1) from the config's seed.
func (e *experiment) fillNoise(x []float32) {
	r := rand.New(rand.NewPCG(uint64(e.cfg.Seed), 0x6e7374))
	for i := range x {
		x[i] = r.Float32()
	}
}

// loadImage reads a file or draws a built-in image; a non-empty role
// records it with its SHA-256 for the manifest (of the file's bytes, or of
// a built-in image's RGBA pixels).
func (e *experiment) loadImage(role, path string) (*image.NRGBA, error) {
	var img *image.NRGBA
	var sum string
	var err error
	if strings.HasPrefix(path, builtinimg.Prefix) {
		if img, err = builtinimg.Load(path); err != nil {
			return nil, fmt.Errorf("%s: %w", role, err)
		}
		sum = record.SHA256Hex(img.Pix)
	} else {
		if img, err = imageio.Load(path, imageio.LoadOptions{MaxPixels: e.cfg.Limits.MaxPixels}); err != nil {
			if role != "" {
				// Say which config key named the file.
				err = fmt.Errorf("%s: %w", role, err)
			}
			return nil, err
		}
		if role != "" {
			if sum, err = record.FileSHA256(path); err != nil {
				return nil, fmt.Errorf("%s image: %w", role, err)
			}
		}
	}
	if role != "" {
		e.inputs = append(e.inputs, record.Input{Role: role, Path: path, SHA256: sum})
	}
	return img, nil
}

// costSpec turns the config's layers and weights into the losses spec, and
// lists the layers the backbone must return, in network order.
func (e *experiment) costSpec() (losses.Spec, []string, error) {
	spec := losses.Spec{Alpha: e.cfg.Weights.Content, Beta: e.cfg.Weights.Style, TV: e.cfg.Weights.TV}
	order := map[string]int{}
	for i, l := range e.backbone.Layers() {
		order[l.Name] = i
	}
	sorted := func(kind string, m map[string]float64) ([]losses.Layer, error) {
		var ls []losses.Layer
		for name, w := range m {
			if _, err := e.backbone.Lookup(name); err != nil {
				return nil, fmt.Errorf("layers.%s: %w", kind, err)
			}
			ls = append(ls, losses.Layer{Name: name, Weight: w})
		}
		slices.SortFunc(ls, func(a, b losses.Layer) int { return order[a.Name] - order[b.Name] })
		return ls, nil
	}
	var err error
	if spec.Content, err = sorted("content", e.cfg.Layers.Content); err != nil {
		return spec, nil, err
	}
	if spec.Style, err = sorted("style", e.cfg.Layers.Style); err != nil {
		return spec, nil, err
	}
	var layers []string
	for _, l := range slices.Concat(spec.Content, spec.Style) {
		if !slices.Contains(layers, l.Name) {
			layers = append(layers, l.Name)
		}
	}
	slices.SortFunc(layers, func(a, b string) int { return order[a] - order[b] })
	return spec, layers, nil
}

// Close releases the ONNX Runtime sessions and tensors.
func (e *experiment) Close() {
	if e == nil {
		return
	}
	if e.net != nil {
		e.net.Close()
	}
	if e.kernel != nil {
		e.kernel.Close()
	}
}

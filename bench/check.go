package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/nst-project/nst/builtinimg"
	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/internal/ortrt"
	"github.com/nst-project/nst/internal/sysmem"
	"github.com/nst-project/nst/pipeline"
)

// Bounds of what Check accepts before estimating memory: the config's
// largest size, and a MatMul whose three matrices stay within 12 GiB
// at most (32768² float32 each), whatever the machine.
const (
	MaxSize       = 16384
	MaxMatMulSize = 32768
)

// contentImageBytes is what bench holds per pixel of a size's content
// image before the run: the resized image and its PNG encoding (4 bytes a
// pixel each at most), read back by the run (4 more) and made a float32
// tensor (12), with room to spare.
const contentImageBytes = 32

// matMulCopies is how many n×n float32 matrices MeasureMatMul holds: its
// three operands in Go, and ONNX Runtime's output before it is copied.
const matMulCopies = 4

// Check refuses, before anything is allocated, options whose sizes or
// MatMul would not fit in memory (o.MaxMemory, or what the system has
// available). With --tile off, each size goes through the run's own
// estimate (pipeline.FootprintOf and pipeline.CheckMemory, for the same
// backbone, layers, style image and optimiser), and the refusal names the
// largest size that fits; with a tile side, through the tiled estimate.
// With tiling automatic (the default) the run itself chooses tiles or
// refuses, before its network exists: Check bounds only what bench makes
// before the run, the content image. The MatMul is checked by its
// matrices, naming the largest n that fits. Sizes above MaxSize and a
// MatMul above MaxMatMulSize are refused outright. Bench must never reach
// the Go runtime's out-of-memory crash.
func Check(ctx context.Context, o Options) error {
	sizes := o.Sizes
	if len(sizes) == 0 {
		sizes = DefaultSizes
	}
	for _, s := range sizes {
		if s < 16 || s > MaxSize {
			return fmt.Errorf("bench: --sizes %d: want 16 to %d pixels", s, MaxSize)
		}
	}
	if o.MatMulSize > MaxMatMulSize {
		return fmt.Errorf("bench: --matmul %d: want at most %d (or -1 to skip)", o.MatMulSize, MaxMatMulSize)
	}
	limit, from := o.MaxMemory, "set by --max-memory"
	if limit <= 0 {
		avail, err := sysmem.Available()
		if err != nil {
			return nil // nothing to check against
		}
		limit, from = avail.Bytes, "available ("+avail.Source+")"
	}
	if o.MatMulSize >= 0 {
		n := int64(cmp.Or(o.MatMulSize, 2048))
		if need := matMulCopies * 4 * n * n; need > limit {
			fit := int(math.Sqrt(float64(limit) / (matMulCopies * 4)))
			return fmt.Errorf("bench: --matmul %d needs about %s of memory, more than the %s %s; the largest that fits is --matmul %d",
				n, sysmem.Format(need), sysmem.Format(limit), from, fit)
		}
	}
	switch o.Tile {
	case "", "auto":
		for _, size := range sizes {
			if need := contentImageBytes * int64(size) * int64(size); need > limit {
				return fmt.Errorf("bench: --sizes %d: making its %dx%d content image needs about %s of memory, more than the %s %s",
					size, size, size, sysmem.Format(need), sysmem.Format(limit), from)
			}
		}
		return nil
	}
	cfg, err := checkConfig(o)
	if err != nil {
		return err
	}
	if err := ortrt.Init(o.Library); err != nil {
		return err
	}
	b, err := cfg.Model.OpenBackbone(ctx, io.Discard)
	if err != nil {
		return err
	}
	layers := slices.Sorted(maps.Keys(cfg.Layers.Style))
	for name := range cfg.Layers.Content {
		if !slices.Contains(layers, name) {
			layers = append(layers, name)
		}
	}
	swirls, err := builtinimg.Load(builtinimg.Prefix + "swirls")
	if err != nil {
		return err
	}
	// The style image shrinks with the output, so each size has its own
	// footprint.
	footprint := func(size int) (pipeline.Footprint, error) {
		sw, sh := imageio.LongSideSize(swirls.Bounds().Dx(), swirls.Bounds().Dy(), size)
		return pipeline.FootprintOf(b, layers, cfg, size, size, [][2]int{{sw, sh}})
	}
	if side, err := strconv.Atoi(o.Tile); err == nil && side > 0 {
		for _, size := range sizes {
			f, err := footprint(size)
			if err != nil {
				return err
			}
			if need := pipeline.EstimateTiledPeak(f, size, size, min(side, size)); need > limit {
				return fmt.Errorf("bench: --sizes %d --tile %d: the tiled run needs about %s of memory, more than the %s %s; try a smaller --tile or --sizes",
					size, side, sysmem.Format(need), sysmem.Format(limit), from)
			}
		}
		return nil
	}
	for _, size := range sizes {
		f, err := footprint(size)
		if err != nil {
			return err
		}
		// CheckMemory reads what is available itself when o.MaxMemory is 0,
		// and names where its limit comes from.
		_, err = pipeline.CheckMemory(f, size, size, o.MaxMemory)
		var me *pipeline.MemoryError
		if !errors.As(err, &me) {
			if err != nil {
				return fmt.Errorf("bench: --sizes %d: %w", size, err)
			}
			continue
		}
		fits := func(s int) bool {
			f, err := footprint(s)
			return err == nil && pipeline.EstimatePeak(f, s, s) <= me.Limit
		}
		msg := fmt.Sprintf("bench: --sizes %d: a %dx%d run needs about %s of memory, more than the %s %s",
			size, size, size, sysmem.Format(me.Estimate), sysmem.Format(me.Limit), me.LimitFrom)
		if !fits(16) {
			return errors.New(msg + "; no size fits")
		}
		lo, hi := 16, size-1 // fits(lo); the largest that fits is at most hi
		for lo < hi {
			mid := lo + (hi-lo+1)/2
			if fits(mid) {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		return fmt.Errorf("%s; the largest size that fits is --sizes %d", msg, lo)
	}
	return nil
}

// checkConfig is the config every size of o runs with, as benchConfig
// makes it, without its images: what the memory estimate reads.
func checkConfig(o Options) (*pipeline.Config, error) {
	cfg := o.runConfig("bench", "bench")
	if err := cfg.Complete(); err != nil {
		return nil, fmt.Errorf("bench config: %w", err)
	}
	return &cfg, nil
}

package video

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/pipeline"
	"github.com/nst-project/nst/video/flow"
)

// earlier is one earlier frame's contribution to the current frame's
// temporal cost: its stylised result warped into the current frame and the
// long-term weights saying where that warp counts.
type earlier struct {
	offset  int
	w, h    int
	warped  []float32 // 3 planes of h×w, RGB in [0,1]
	weights []float32 // one per pixel
	// reliable is the share of pixels whose short-term weight is 1.
	reliable float64
	// sized caches the target at another size or channel count (a coarse
	// scale, color: luminance), keyed by c, h and w.
	sized map[[3]int]target
}

// target is a warped frame and its weights at one size.
type target struct{ warped, weights []float32 }

// at returns the target for a variable of c planes of h×w values: the
// warped frame resized (bilinear) and reduced to luminance when c is 1, the
// weights resized by nearest neighbour so that they stay 0 or 1.
func (p *earlier) at(c, h, w int) (target, error) {
	if c == 3 && h == p.h && w == p.w {
		return target{p.warped, p.weights}, nil
	}
	key := [3]int{c, h, w}
	if t, ok := p.sized[key]; ok {
		return t, nil
	}
	warped := p.warped
	weights := p.weights
	if h != p.h || w != p.w {
		warped = make([]float32, 3*h*w)
		if err := imageio.ResizeBilinear(warped, p.warped, 3, p.h, p.w, h, w); err != nil {
			return target{}, fmt.Errorf("temporal target: %w", err)
		}
		weights = make([]float32, h*w)
		for y := range h {
			sy := min(y*p.h/h, p.h-1)
			for x := range w {
				weights[y*w+x] = p.weights[sy*p.w+min(x*p.w/w, p.w-1)]
			}
		}
	}
	switch c {
	case 3:
	case 1:
		y := make([]float32, h*w)
		imageio.Luminance(y, warped)
		warped = y
	default:
		return target{}, fmt.Errorf("temporal target: %d channels, want 1 or 3", c)
	}
	if p.sized == nil {
		p.sized = map[[3]int]target{}
	}
	t := target{warped, weights}
	p.sized[key] = t
	return t, nil
}

// terms returns the run's temporal cost terms, one per earlier frame with
// weight gamma, named temporal_<offset>.
func terms(prev []*earlier, gamma float64) []pipeline.Term {
	var out []pipeline.Term
	for _, p := range prev {
		p := p
		out = append(out, pipeline.Term{
			Name: fmt.Sprintf("temporal_%d", p.offset),
			Eval: func(x []float32, c, h, w int, grad []float32) (float64, error) {
				t, err := p.at(c, h, w)
				if err != nil {
					return 0, err
				}
				v, err := flow.Temporal(x, t.warped, t.weights, c, h, w, gamma, grad)
				return gamma * v, err
			},
		})
	}
	return out
}

// frameTensor loads the image at path at w×h as a 3-plane tensor in [0,1].
func frameTensor(path string, w, h int, maxPixels int64) ([]float32, error) {
	img, err := imageio.Load(path, imageio.LoadOptions{MaxPixels: maxPixels})
	if err != nil {
		return nil, err
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		if img, err = imageio.Resize(img, w, h); err != nil {
			return nil, fmt.Errorf("resize %s: %w", path, err)
		}
	}
	return imageio.ToTensor(img), nil
}

// flows returns the optical flows from content frame cur to the earlier
// frame prev and back: from the user's folder supplied (video.flow_dir)
// when set, else loaded from the .flo files in dir when an earlier attempt
// wrote them (so that a resumed run warps exactly as it did), else computed
// and saved there.
func flows(ctx context.Context, supplied, dir, curName, prevName string, cur, prev flow.Image) (fwd, back flow.Field, err error) {
	fwdPath := filepath.Join(dir, curName+"_to_"+prevName+".flo")
	backPath := filepath.Join(dir, prevName+"_to_"+curName+".flo")
	if supplied != "" {
		return suppliedFlows(supplied, curName, prevName, cur.W, cur.H)
	}
	fwd, err1 := flow.LoadFlo(fwdPath)
	back, err2 := flow.LoadFlo(backPath)
	if err1 == nil && err2 == nil && fwd.W == cur.W && fwd.H == cur.H && back.W == cur.W && back.H == cur.H {
		return fwd, back, nil
	}
	for _, e := range []error{err1, err2} {
		if e != nil && !errors.Is(e, fs.ErrNotExist) {
			// A damaged file is computed again and replaced.
			slog.Warn("recomputing a damaged flow file", "err", e)
		}
	}
	fwd, back, err = flow.Bidirectional(ctx, cur, prev, flow.Options{})
	if err != nil {
		return fwd, back, fmt.Errorf("flow %s to %s: %w", curName, prevName, err)
	}
	if err := flow.SaveFlo(fwdPath, fwd); err != nil {
		return fwd, back, err
	}
	return fwd, back, flow.SaveFlo(backPath, back)
}

// suppliedFlows reads the user's flows between frames cur and prev from
// dir, named CUR_to_PREV.flo and PREV_to_CUR.flo after the input frames
// without their extensions, and checks they are of the frame's size w×h.
func suppliedFlows(dir, curName, prevName string, w, h int) (fwd, back flow.Field, err error) {
	var out [2]flow.Field
	for i, name := range []string{curName + "_to_" + prevName, prevName + "_to_" + curName} {
		path := filepath.Join(dir, name+".flo")
		f, err := flow.LoadFlo(path)
		if err != nil {
			return fwd, back, fmt.Errorf("video.flow_dir: %w (give both directions of every pair of frames, or leave flow_dir empty to compute them)", err)
		}
		if f.W != w || f.H != h {
			return fwd, back, fmt.Errorf("video.flow_dir: %s is %dx%d, the frames are styled at %dx%d", path, f.W, f.H, w, h)
		}
		out[i] = f
	}
	return out[0], out[1], nil
}

// prepare makes the earlier frames' targets for frame i: for each offset j
// of offsets with i−j ≥ 0, the flow between content frames i and i−j (at
// the stylised frames' size w×h), frame i−j's stylised result warped along
// it, and Ruder et al.'s long-term weights over the set, closest first.
func prepare(ctx context.Context, r *videoRun, i int, offsets []int, w, h int) ([]*earlier, error) {
	cur, err := frameTensor(r.seq.Frames[i].Path, w, h, r.cfg.Limits.MaxPixels)
	if err != nil {
		return nil, err
	}
	curImg := flow.Image{C: 3, H: h, W: w, Pix: cur}
	var out []*earlier
	var short [][]float32
	for _, j := range offsets {
		if j > i {
			break
		}
		k := i - j
		prev, err := frameTensor(r.seq.Frames[k].Path, w, h, r.cfg.Limits.MaxPixels)
		if err != nil {
			return nil, err
		}
		styled, err := frameTensor(r.outputPath(k), w, h, r.cfg.Limits.MaxPixels)
		if err != nil {
			return nil, fmt.Errorf("stylised frame %d: %w", k, err)
		}
		fwd, back, err := flows(ctx, r.cfg.Video.FlowDir, r.flowDir(), r.stem(i), r.stem(k), curImg, flow.Image{C: 3, H: h, W: w, Pix: prev})
		if err != nil {
			return nil, err
		}
		warped := make([]float32, len(styled))
		if err := flow.Warp(warped, styled, 3, fwd); err != nil {
			return nil, fmt.Errorf("warp frame %d into frame %d: %w", k, i, err)
		}
		c, err := flow.Weights(fwd, back)
		if err != nil {
			return nil, fmt.Errorf("consistency of frames %d and %d: %w", i, k, err)
		}
		short = append(short, c)
		out = append(out, &earlier{offset: j, w: w, h: h, warped: warped, reliable: meanOf(c)})
	}
	long, err := flow.LongTermWeights(short)
	if err != nil {
		return nil, err
	}
	for n, p := range out {
		p.weights = long[n]
	}
	return out, nil
}

// meanOf returns the mean of v (0 for none).
func meanOf(v []float32) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += float64(x)
	}
	return s / float64(len(v))
}

// WarpError returns the mean, over pixels with weight 1 in c, of the
// squared difference between the stylised frame out and the previous
// stylised frame warped into it (both 3 planes of the same size, in
// [0,1]), averaged over the three channels; 0 when no pixel is reliable.
func WarpError(out, warped, c []float32) float64 {
	n := len(c)
	var sum float64
	var count int
	for p, cp := range c {
		if cp != 1 {
			continue
		}
		count++
		for k := range 3 {
			d := float64(out[k*n+p]) - float64(warped[k*n+p])
			sum += d * d
		}
	}
	if count == 0 {
		return 0
	}
	return sum / float64(3*count)
}

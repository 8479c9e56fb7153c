package pipeline

import (
	"errors"
	"fmt"
	"image"
	"path/filepath"
	"slices"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/record"
	"github.com/nst-project/nst/volume"
)

// Volume runs (content a .npy volume; see VolumeConfig). They go through
// the same loop, costs and records as image runs; what differs is what the
// optimiser's variable is and how it is saved:
//
//   - variable: the content volume (resampled to volume.size), C×D×H×W
//     values channel-major. To the loop it is C·D channel planes of H×W
//     (colour.bins); total variation, when weighted, smooths along all
//     three axes (losses.TotalVariation3D); init: content or noise,
//     noise_ratio as for images;
//   - network: a backbone of 3-D convolutions takes the variable as it is,
//     [1,C,D,H,W] (models.Options.Depth), and its styles are .npy volumes;
//     a 2-D backbone sees the volume's slices along every axis, stacked
//     into one image, and its styles are images (volumeslices.go);
//   - costs: the activations [1,C,d,h,w] of a 3-D backbone reach package
//     losses as C×(d·h)×w, every voxel a position of the Gram matrices and
//     the content cost;
//   - intermediate saves: a montage of slices along each axis (name.png);
//   - result: name.npy (float32 [D,H,W] or [D,H,W,3], the variable as it
//     is), with name_montage.png, content_montage.png and
//     style<N>_montage.png (a volume style) or style<N>.png (an image)
//     beside it.

// volumeInputs are a volume run's volumes.
type volumeInputs struct {
	content *volume.Volume // at the output's shape
	// styles are the .npy styles at their own shapes, with the content's
	// channels, and styleImgs the image styles, each nil where the other
	// is set.
	styles    []*volume.Volume
	styleImgs []*image.NRGBA
	// slices is the slice stack a 2-D backbone sees (volumeslices.go);
	// nil for a 3-D backbone.
	slices *sliceStack
}

// loadVolumes reads the content and style volumes, resamples the content
// to volume.size, gives every style the content's channel count, and
// records each file in the manifest's inputs.
func (e *experiment) loadVolumes() error {
	content, err := e.readVolume("content", e.cfg.Content)
	if err != nil {
		return err
	}
	if size := e.cfg.Volume.Size; size > 0 {
		d, h, w := volume.LongSideShape(content.D, content.H, content.W, size)
		if int64(d)*int64(h)*int64(w) > e.cfg.Limits.MaxVoxels {
			return fmt.Errorf("volume.size: %d makes the content %dx%dx%d, over limits.max_voxels (%d); lower volume.size or raise the limit", size, d, h, w, e.cfg.Limits.MaxVoxels)
		}
		if content, err = volume.Resize(content, d, h, w); err != nil {
			return fmt.Errorf("volume.size: %w", err)
		}
	}
	v := &volumeInputs{content: content, styles: make([]*volume.Volume, len(e.cfg.Style)), styleImgs: make([]*image.NRGBA, len(e.cfg.Style))}
	for i, s := range e.cfg.Style {
		role := fmt.Sprintf("style[%d]", i)
		if !isVolumePath(s.Path) {
			if v.styleImgs[i], err = e.loadImage(role, s.Path); err != nil {
				return err
			}
			continue
		}
		style, err := e.readVolume(role, s.Path)
		if err != nil {
			return err
		}
		switch {
		case style.C == content.C:
		case content.C == 1:
			style = style.ToGrey()
		default:
			style = style.ToRGB()
		}
		v.styles[i] = style
	}
	e.volume = v
	e.color.bins = content.C * content.D
	return nil
}

// readVolume reads the .npy volume at path; role names its config key in
// errors and the manifest.
func (e *experiment) readVolume(role, path string) (*volume.Volume, error) {
	v, _, err := volume.ReadNPY(path, volume.ReadOptions{MaxVoxels: e.cfg.Limits.MaxVoxels})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", role, err)
	}
	if max(v.D, v.H, v.W) > maxVolumeSide {
		return nil, fmt.Errorf("%s: %q is %dx%dx%d; volume runs take sides up to %d voxels", role, path, v.D, v.H, v.W, maxVolumeSide)
	}
	sum, err := record.FileSHA256(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", role, err)
	}
	e.inputs = append(e.inputs, record.Input{Role: role, Path: path, SHA256: sum})
	return v, nil
}

// checkVolumeBackbone checks, once the backbone is open, that the styles
// suit it (.npy volumes for a 3-D backbone, images for a 2-D one), that a
// 3-D backbone takes volumes of the content's channels, and that every
// volume and style is at least the deepest requested layer's stride
// along each axis. For a 2-D backbone it lays out the slice stack and
// the styles' masks.
func (e *experiment) checkVolumeBackbone() error {
	if !e.backbone.Volumetric() {
		return e.useSlices()
	}
	e.pre = models.Preprocess{} // volumes go into the network as they are
	for i, img := range e.volume.styleImgs {
		if img != nil {
			return fmt.Errorf("style[%d].path: %q is an image but model.path %q takes volumes; give a .npy style, or a 2-D backbone (builtin:vgg19) to style the volume's slices", i, e.cfg.Style[i].Path, e.cfg.Model.Path)
		}
	}
	if c := e.backbone.InputChannels(); c != e.volume.content.C {
		return fmt.Errorf("model.path: %q takes %d channels but content %q has %d; give a volume of %d channels", e.cfg.Model.Path, c, e.cfg.Content, e.volume.content.C, c)
	}
	stride, deepest := e.deepestStride()
	for i, v := range append([]*volume.Volume{e.volume.content}, e.volume.styles...) {
		if min(v.D, v.H, v.W) < stride {
			key := "content"
			if i > 0 {
				key = fmt.Sprintf("style[%d]", i-1)
			}
			return fmt.Errorf("%s is %dx%dx%d, too small for layer %s (stride %d): every side must be at least %d voxels (see volume.size)", key, v.D, v.H, v.W, deepest, stride, stride)
		}
	}
	return nil
}

// deepestStride is the largest stride of a requested layer, and its name.
func (e *experiment) deepestStride() (int, string) {
	stride, deepest := 1, ""
	for _, l := range e.backbone.Layers() {
		if slices.Contains(e.layers, l.Name) && l.Stride > stride {
			stride, deepest = l.Stride, l.Name
		}
	}
	return stride, deepest
}

// sizeLabel is the run's size for the log: WxH, or WxHxD for a volume.
func (e *experiment) sizeLabel() string {
	if e.volume != nil {
		c := e.volume.content
		return fmt.Sprintf("%dx%dx%d", c.W, c.H, c.D)
	}
	return fmt.Sprintf("%dx%d", e.width, e.height)
}

// volumeNetSize is the size the memory estimate takes for a d×h×w
// volume: W × D·H for a 3-D backbone, the slice stack for a 2-D one.
func (e *experiment) volumeNetSize(d, h, w int) (int, int) {
	if e.volume.slices != nil {
		return max(w, h), d*h + h*d + w*d
	}
	return w, d * h
}

// volumeMemoryError is checkMemory's refusal of a volume run whose
// estimated peak exceeds limit (from says who set it): it names the
// volume's size and the largest volume.size whose estimate fits.
func (e *experiment) volumeMemoryError(f Footprint, peak, limit int64, from string) error {
	c := e.volume.content
	fit := 0
	for side := max(c.D, c.H, c.W) - 1; side >= 4 && fit == 0; side-- {
		w, h := e.volumeNetSize(volume.LongSideShape(c.D, c.H, c.W, side))
		if EstimatePeak(f, w, h) <= limit {
			fit = side
		}
	}
	msg := fmt.Sprintf("a %dx%dx%d volume run needs about %d MB of memory, more than the %d MB %s", c.W, c.H, c.D, peak>>20, limit>>20, from)
	if fit == 0 {
		return errors.New(msg + "; no volume.size from 4 up fits")
	}
	return fmt.Errorf("%s; the largest volume.size that fits is %d", msg, fit)
}

// volumeSizes returns, for a volume run, the output's size as the memory
// estimate takes it (W × D·H for a 3-D backbone, which counts a strided
// layer's voxels generously; the slice stack for a 2-D one) and each
// style's.
func (e *experiment) volumeSizes() (w, h int, styles [][2]int) {
	if e.volume.slices != nil {
		for i := range e.volume.styleImgs {
			styles = append(styles, e.sliceStyleSize(i))
		}
		return e.volume.slices.width, e.volume.slices.height, styles
	}
	for _, s := range e.volume.styles {
		styles = append(styles, [2]int{s.W, s.D * s.H})
	}
	c := e.volume.content
	return c.W, c.D * c.H, styles
}

// volumeContent returns the size a volume run's one scale works at, H×W
// planes, and its content, [C,D,H,W].
func (e *experiment) volumeContent() (w, h int, content []float32) {
	c := e.volume.content
	return c.W, c.H, c.Planar()
}

// volumeStyle returns style i of a volume run as the network takes it,
// [C,D,H,W], and its size, W×H (its depth follows from its length: see
// netDepth).
func (e *experiment) volumeStyle(i int) ([]float32, [2]int, error) {
	if e.volume.slices != nil {
		return e.sliceStyle(i)
	}
	s := e.volume.styles[i]
	return s.Planar(), [2]int{s.W, s.H}, nil
}

// netSize is the size of the network's input: the slice stack's for a
// volume run on a 2-D backbone, else the run's.
func (e *experiment) netSize() (w, h int) {
	if e.volume != nil && e.volume.slices != nil {
		return e.volume.slices.width, e.volume.slices.height
	}
	return e.width, e.height
}

// netDepth is the depth of the network's input for x, values of a volume
// of size[0]×size[1] planes (0 for an image run and a 2-D backbone's).
func (e *experiment) netDepth(x []float32, size [2]int) int {
	if e.volume == nil || e.volume.slices != nil {
		return 0
	}
	return len(x) / (e.volume.content.C * size[0] * size[1])
}

// resultVolume views the variable x of a volume run as a volume.
func (e *experiment) resultVolume(x []float32) (*volume.Volume, error) {
	c := e.volume.content
	return volume.FromPlanar(x, c.D, c.H, c.W, c.C)
}

// saveVolumeMontage writes the variable x of a volume run as a montage of
// its slices, dir/name.png.
func (e *experiment) saveVolumeMontage(dir, name string, x []float32) (string, error) {
	v, err := e.resultVolume(x)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name+".png")
	if err := volume.SaveMontagePNG(path, v, volume.MontageOptions{}); err != nil {
		return "", err
	}
	return path, nil
}

// saveVolumeResult writes a volume run's result for the variable x as
// dir/name.npy with its montage and the content's and styles' (see the
// top of this file), and returns the .npy's path.
func (e *experiment) saveVolumeResult(dir, name string, x []float32) (string, error) {
	v, err := e.resultVolume(x)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name+".npy")
	if err := volume.WriteNPY(path, v); err != nil {
		return "", fmt.Errorf("result %s.npy: %w", name, err)
	}
	montages := map[string]*volume.Volume{name + "_montage": v, "content_montage": e.volume.content}
	var errs []error
	for i, s := range e.volume.styles {
		if s != nil {
			montages[fmt.Sprintf("style%d_montage", i+1)] = s
		} else {
			errs = append(errs, imageio.Save(filepath.Join(dir, fmt.Sprintf("style%d.png", i+1)), e.volume.styleImgs[i], "png", 0))
		}
	}
	for n, m := range montages {
		errs = append(errs, volume.SaveMontagePNG(filepath.Join(dir, n+".png"), m, volume.MontageOptions{}))
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	return path, nil
}

// volumeImage draws the variable x of a volume run as its montage, for
// events.
func (e *experiment) volumeImage(x []float32) *image.NRGBA {
	v, err := e.resultVolume(x)
	if err != nil {
		return nil
	}
	img, err := volume.Montage(v, volume.MontageOptions{})
	if err != nil {
		return nil
	}
	return img
}

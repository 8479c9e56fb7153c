package unitviz

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"math"
	"slices"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/models"
)

// TopOptions say which units Top ranks and on what.
type TopOptions struct {
	Network
	// Layer names the layer, as a config would (conv1_1, relu4_2, ...).
	Layer string
	// Units are the channels of Layer to rank patches for.
	Units []int
	// Top is how many patches to keep per unit.
	Top int
	// PerImage bounds the patches one image may give a unit, so that one
	// image full of the unit's favourite pattern does not fill the sheet;
	// 0 means as few as can still fill Top from the images given.
	PerImage int
	// Size is the longer side, in pixels, each image is resized to before
	// it goes through the network; 0 keeps every image's own size.
	Size int
	// MaxPixels bounds the images Load decodes; 0 means imageio's default.
	MaxPixels int64
	// Inside keeps only positions whose field lies wholly inside the
	// image. Units often fire most where their field meets the padding,
	// since the image's edge is a strong pattern the network never sees
	// elsewhere; Inside shows what they find in the pictures themselves.
	Inside bool
}

// Patch is one place where a unit fires.
type Patch struct {
	// Image is the image file's path.
	Image string
	// X and Y are the unit's position on the layer's activation grid.
	X, Y int
	// Activation is the unit's value there.
	Activation float64
	// Box is the unit's receptive field in the pixels of the image as the
	// network saw it (InputSize); it reaches beyond them where the unit
	// sees padding.
	Box image.Rectangle
	// InputSize is the image's size as the network saw it.
	InputSize image.Point
	// FileBox is Box in the pixels of the image file, clipped to it.
	FileBox image.Rectangle
	// Crop holds the pixels of Box, PaddingColor where Box leaves the
	// image, so that every crop of a layer has the same size and the unit
	// always sits at the same place in it.
	Crop *image.NRGBA
}

// PaddingColor fills the part of a crop that lies outside its image.
var PaddingColor = color.NRGBA{R: 128, G: 128, B: 128, A: 255}

// UnitPatches are one unit's best patches, highest activation first.
type UnitPatches struct {
	Unit    int
	Patches []Patch
}

// TopResult is what Top found.
type TopResult struct {
	Layer string
	// Model describes the backbone.
	Model string
	// Field is the layer's receptive field, the size of every crop.
	Field models.ReceptiveField
	// Images is how many images were searched.
	Images int
	// Top is how many patches were asked for per unit; a unit may have
	// fewer when the images offer fewer places.
	Top int
	// Units holds the patches of each unit, in TopOptions.Units order.
	Units []UnitPatches
}

// maxOpenNets is how many Nets (one per image size) Top keeps open: photos
// come in a few shapes, and each Net holds its activations' memory.
const maxOpenNets = 3

// Top runs every image through the backbone up to o.Layer and keeps, for
// each unit in o.Units, the o.Top positions where it fires most, at most
// o.PerImage of them from one image and never two whose fields overlap by
// more than half. Ties go to the earlier image, then the earlier position
// in row-major order, so the result is deterministic.
func Top(ctx context.Context, images []string, o TopOptions) (*TopResult, error) {
	if err := o.Check(len(images)); err != nil {
		return nil, err
	}
	field, err := o.Backbone.ReceptiveField(o.Layer)
	if err != nil {
		return nil, err
	}
	perImage := o.PerImage
	if perImage == 0 {
		perImage = (o.Top + len(images) - 1) / len(images)
	}
	res := &TopResult{Layer: o.Layer, Model: o.Backbone.Describe(), Field: field, Images: len(images), Top: o.Top}
	ranks := make([]ranking, len(o.Units))
	for i, u := range o.Units {
		ranks[i] = ranking{top: o.Top}
		res.Units = append(res.Units, UnitPatches{Unit: u})
	}
	nets := &netCache{network: o.Network, layer: o.Layer}
	defer func() {
		if err := nets.Close(); err != nil {
			slog.Warn("units top: release ONNX Runtime sessions", "error", err)
		}
	}()
	sep := separation{y: halfFieldInUnits(field.Height, field.StrideY), x: halfFieldInUnits(field.Width, field.StrideX)}
	var found []peak
	var taken []bool
	for i, path := range images {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("units top: %w after %d of %d images", err, i, len(images))
		}
		file, err := imageio.Load(path, imageio.LoadOptions{MaxPixels: o.MaxPixels})
		if err != nil {
			return nil, err
		}
		img := file
		if o.Size > 0 {
			if img, err = imageio.FitLongSide(file, o.Size); err != nil {
				return nil, fmt.Errorf("resize %q: %w", path, err)
			}
		}
		size := img.Bounds().Size()
		net, err := nets.get(size.X, size.Y)
		if err != nil {
			return nil, err
		}
		acts, err := net.Forward(imageio.ToTensor(img))
		if err != nil {
			return nil, fmt.Errorf("image %q: %w", path, err)
		}
		a := acts[0]
		plane := a.H * a.W
		allowed := image.Rect(0, 0, a.W, a.H)
		if o.Inside {
			allowed = allowed.Intersect(interior(field, size))
		}
		taken = slices.Grow(taken[:0], plane)[:plane]
		for k, u := range o.Units {
			if u >= a.C {
				return nil, fmt.Errorf("unit %d: layer %s has units 0 to %d", u, o.Layer, a.C-1)
			}
			found = findPeaks(found[:0], taken, a.Data[u*plane:(u+1)*plane], a.H, a.W, perImage, sep, allowed)
			for _, p := range found {
				if !ranks[k].admits(p.value) {
					break // peaks come best first
				}
				box := field.Box(p.y, p.x)
				ranks[k].insert(Patch{
					Image: path, X: p.x, Y: p.y, Activation: p.value,
					Box: box, InputSize: size, FileBox: fileBox(box, size, file.Bounds().Size()),
					Crop: crop(img, box),
				})
			}
		}
		slog.Debug("units top", "image", path, "done", i+1, "of", len(images))
	}
	for k := range res.Units {
		res.Units[k].Patches = ranks[k].patches
	}
	return res, nil
}

// Check validates the options for n images, as Top does first: callers
// that do more before Top (nst units top, the studio) check them first.
func (o *TopOptions) Check(n int) error {
	switch {
	case o.Backbone == nil:
		return errors.New("units top: no backbone")
	case n == 0:
		return errors.New("units top: no images")
	case len(o.Units) == 0:
		return errors.New("units top: no units")
	case o.Top < 1:
		return fmt.Errorf("units top: %d patches per unit; want at least 1", o.Top)
	case o.PerImage < 0:
		return fmt.Errorf("units top: %d patches per image; want 0 (automatic) or more", o.PerImage)
	case o.Size < 0 || o.Size > MaxSize:
		return fmt.Errorf("units top: size %d; want 0 (as the images are) or a long side of 1 to %d pixels", o.Size, MaxSize)
	}
	l, err := o.Backbone.Lookup(o.Layer)
	if err != nil {
		return err
	}
	for _, u := range o.Units {
		if u < 0 || (l.Channels > 0 && u >= l.Channels) {
			return fmt.Errorf("unit %d: layer %s has units 0 to %d", u, o.Layer, l.Channels-1)
		}
	}
	return nil
}

// interior is the rectangle of grid positions whose field lies wholly
// inside an image of the given size; it is empty when no field fits.
func interior(f models.ReceptiveField, size image.Point) image.Rectangle {
	first := func(start, stride int) int { return (max(-start, 0) + stride - 1) / stride }
	last := func(start, extent, stride, n int) int { return floorDiv(n-extent-start, stride) + 1 }
	x0, y0 := first(f.Left, f.StrideX), first(f.Top, f.StrideY)
	x1, y1 := last(f.Left, f.Width, f.StrideX, size.X), last(f.Top, f.Height, f.StrideY, size.Y)
	if x1 <= x0 || y1 <= y0 {
		return image.Rectangle{} // image.Rect would swap the corners
	}
	return image.Rectangle{Min: image.Pt(x0, y0), Max: image.Pt(x1, y1)}
}

// floorDiv is a/b rounded towards minus infinity, for b > 0.
func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// halfFieldInUnits is how many grid steps make half a field: peaks closer
// than that share more than half their fields.
func halfFieldInUnits(size, stride int) int {
	return max(1, (size+2*stride-1)/(2*stride))
}

// separation is the distance, in grid units along each axis, below which
// two peaks of one image count as the same place.
type separation struct{ y, x int }

// peak is a position on the activation grid and the unit's value there.
type peak struct {
	y, x  int
	value float64
}

// findPeaks appends to dst up to k positions of plane (h x w, row-major)
// inside allowed (in grid positions), in order of decreasing value, each
// at least sep away from those before along one axis. Values that are not finite are never chosen: they mean a
// broken network, not a place where the unit fires. taken is scratch of
// len h*w.
func findPeaks(dst []peak, taken []bool, plane []float32, h, w, k int, sep separation, allowed image.Rectangle) []peak {
	// Positions that can never be chosen are marked once, so that the
	// k scans below test a single flag per value: BenchmarkFindPeaks went
	// from 18 to 3.7 ms (nine peaks of a 512x384 plane) against testing
	// position and finiteness in every scan.
	for y := range h {
		row, vals := taken[y*w:(y+1)*w], plane[y*w:(y+1)*w]
		if y < allowed.Min.Y || y >= allowed.Max.Y {
			for x := range row {
				row[x] = true
			}
			continue
		}
		for x, v := range vals {
			row[x] = x < allowed.Min.X || x >= allowed.Max.X || v-v != 0 // v-v is NaN for NaN and ±Inf
		}
	}
	for range k {
		var best float32
		at := -1
		for i, v := range plane {
			if !taken[i] && (at < 0 || v > best) {
				best, at = v, i
			}
		}
		if at < 0 {
			break
		}
		y, x := at/w, at%w
		dst = append(dst, peak{y: y, x: x, value: float64(best)})
		for yy := max(0, y-sep.y+1); yy < min(h, y+sep.y); yy++ {
			row := taken[yy*w : (yy+1)*w]
			for xx := max(0, x-sep.x+1); xx < min(w, x+sep.x); xx++ {
				row[xx] = true
			}
		}
	}
	return dst
}

// ranking keeps the best patches seen so far, highest activation first.
type ranking struct {
	top     int
	patches []Patch
}

// admits reports whether a patch of activation a would enter the ranking:
// strictly better than the last one when it is full, so earlier patches
// win ties.
func (r *ranking) admits(a float64) bool {
	return len(r.patches) < r.top || a > r.patches[len(r.patches)-1].Activation
}

// insert places p after every patch at least as good, dropping the last
// one when the ranking overflows.
func (r *ranking) insert(p Patch) {
	i, _ := slices.BinarySearchFunc(r.patches, p.Activation, func(q Patch, a float64) int {
		if q.Activation >= a {
			return -1
		}
		return 1
	})
	r.patches = slices.Insert(r.patches, i, p)
	if len(r.patches) > r.top {
		r.patches[r.top] = Patch{} // release the crop
		r.patches = r.patches[:r.top]
	}
}

// crop copies the pixels of box out of img, PaddingColor outside it.
func crop(img *image.NRGBA, box image.Rectangle) *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, box.Dx(), box.Dy()))
	for i := 0; i < len(out.Pix); i += 4 {
		out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = PaddingColor.R, PaddingColor.G, PaddingColor.B, PaddingColor.A
	}
	in := box.Intersect(img.Bounds())
	for y := in.Min.Y; y < in.Max.Y; y++ {
		src := img.Pix[img.PixOffset(in.Min.X, y):img.PixOffset(in.Max.X, y)]
		copy(out.Pix[out.PixOffset(in.Min.X-box.Min.X, y-box.Min.Y):], src)
	}
	return out
}

// fileBox maps box from the network's input (in pixels) to the image
// file's pixels (file), rounding outwards, and clips it to the file.
func fileBox(box image.Rectangle, in, file image.Point) image.Rectangle {
	sx, sy := float64(file.X)/float64(in.X), float64(file.Y)/float64(in.Y)
	r := image.Rect(
		int(math.Floor(float64(box.Min.X)*sx)), int(math.Floor(float64(box.Min.Y)*sy)),
		int(math.Ceil(float64(box.Max.X)*sx)), int(math.Ceil(float64(box.Max.Y)*sy)))
	return r.Intersect(image.Rectangle{Max: file})
}

// netCache keeps the Nets of the last few image sizes open.
type netCache struct {
	network Network
	layer   string
	nets    []sizedNet // most recently used last
}

type sizedNet struct {
	size image.Point
	net  *models.Net
}

// get returns a forward-only Net for w x h images.
func (c *netCache) get(w, h int) (*models.Net, error) {
	size := image.Pt(w, h)
	for i, s := range c.nets {
		if s.size == size {
			c.nets = append(append(c.nets[:i:i], c.nets[i+1:]...), s)
			return s.net, nil
		}
	}
	net, err := c.network.prepare([]string{c.layer}, w, h, true)
	if err != nil {
		return nil, err
	}
	if len(c.nets) == maxOpenNets {
		if err := c.nets[0].net.Close(); err != nil {
			net.Close()
			return nil, err
		}
		c.nets = slices.Delete(c.nets, 0, 1)
	}
	c.nets = append(c.nets, sizedNet{size, net})
	return net, nil
}

// Close closes every open Net.
func (c *netCache) Close() error {
	var errs []error
	for _, s := range c.nets {
		errs = append(errs, s.net.Close())
	}
	c.nets = nil
	return errors.Join(errs...)
}

package losses

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Guided style (spatial control, Gatys et al., "Controlling Perceptual
// Factors in Neural Style Transfer", 2017). A style image i with a mask m
// (one H×W plane per style layer of the generated image, 1 where the style
// applies, 0 where it does not) is matched only where m is positive: its
// term at a layer compares the guided Gram of the generated activations A,
//
//	G̃ = (A⊙m)(A⊙m)ᵀ / N,   N = Σ_p m_p²,
//
// with the style image's own whole-image Gram G_S/M_S. Dividing by Σ m²
// makes G̃ the m²-weighted mean of a·aᵀ over the region, comparable with
// G_S/M_S whatever the region's size (for a binary mask N is the region's
// area), and makes a mask of all ones give exactly the unmasked cost.
//
// The layer's raw style cost is the weighted sum of its guided terms,
//
//	J_style = Σ_k w_k · 1/(4·nC²) · Σ (G̃_k − Ĝ_S,k)²
//
// where the blend weights are normalised to sum 1 over all style images;
// styles without a mask form one term together, over the whole image, with
// their blended target (exactly the target without masks) and the sum of
// their weights. The gradient of one term is
//
//	dJ/dA = m ⊙ (w/(nC²·N) · (G̃ − Ĝ_S) · (A⊙m)),
//
// twice dJ/dG̃ times A⊙m, masked again. Positions that no mask covers get no
// style gradient and follow the content cost alone. A region that vanishes
// at a layer (N = 0) contributes nothing there.
//
// A masked term computes its products on the positions its mask covers
// only, gathered into a compact c×n matrix (n positions with m > 0), and
// scatters the gradient back: styles whose masks split the image cost, in
// Gram products, what one unmasked style does, instead of once per style.
// Positions are gathered by stretches, copied where the mask is 1, the
// fastest of the layouts measured (BenchmarkEvalGuided; docs/performance.md).

// Mask weighs the positions of one layer of the generated image for a guided
// style term: H×W values, row-major, each finite and ≥ 0; 1 where the style
// applies fully, 0 where it does not apply.
type Mask struct {
	Name string
	H, W int
	Data []float32
}

// guide is one style target matched over one region of one layer.
type guide struct {
	// weight is the style image's normalised blend weight; for the group
	// of unmasked styles, the sum of theirs.
	weight float64
	target []float64 // c×c, the size-normalised Gram of the style
	// masked says whether the guide has a mask; spans then list the
	// stretches of consecutive positions of the generated layer where the
	// mask is positive, n is their total length, and values holds the mask
	// at those positions, in order.
	masked bool
	spans  []span
	n      int
	values []float32
	h, w   int       // the generated layer's size the guide was set for
	norm   float64   // N = Σ m², or h·w without a mask
	gram   []float32 // c×c: the generated image's guided Gram
	diff   []float32 // c×c: the gradient's left factor β·λ·w·(G̃ − target)/(c²·N)
	// plane is a masked guide's whole mask (h×w), which a tiled evaluation
	// reads at each tile's positions, and acc the guided Gram it sums
	// over the tiles (tiled.go).
	plane []float32
	acc   []float64
}

// SetGuidedStyleTargets computes each style layer's target Gram from the
// activations of one or more style images, styles[i] holding image i's.
// blend weighs the images; it is normalised to sum 1, and nil means equal
// weights. The images may differ in size from each other and from the
// generated image (see the package doc); they must agree in channels.
//
// masks gives spatial control: masks[i] lists style image i's masks, one
// per style layer, at the size of the generated image's activations there,
// or is nil for a style that applies everywhere; a nil masks applies every
// style everywhere. Masks of layers without a style cost are ignored; all
// masks of one layer must have the same size, which Eval then checks
// against the generated activations. The masks are copied.
//
// Each masked image is one term of its layer's cost, weighted by its
// normalised weight; the unmasked images form one term over the whole
// image, weighted by the sum of theirs. Costs.Style of a layer is then the
// weighted sum of its terms' raw costs.
func (o *Objective) SetGuidedStyleTargets(styles [][]Activation, blend []float64, masks [][]Mask) error {
	if len(o.style) == 0 {
		return nil
	}
	defer func() {
		for _, acts := range styles {
			for _, t := range o.style {
				if i := indexOf(acts, t.Name); i >= 0 {
					o.forget(acts[i].Data)
				}
			}
		}
	}()
	grams := make([]*StyleGrams, len(styles))
	for i, acts := range styles {
		grams[i] = o.NewStyleGrams()
		if err := o.AddStyleTile(grams[i], acts, nil); err != nil {
			return fmt.Errorf("style image %d: %w", i, err)
		}
	}
	return o.SetStyleTargetGrams(grams, blend, masks)
}

// SetStyleTargetGrams is SetGuidedStyleTargets with each style image given
// by its Grams (StyleGrams, summed over the image whole or over its
// tiles) instead of its activations.
func (o *Objective) SetStyleTargetGrams(styles []*StyleGrams, blend []float64, masks [][]Mask) error {
	if len(o.style) == 0 {
		return nil
	}
	if len(styles) == 0 {
		return errors.New("style targets: no style image")
	}
	if len(masks) != 0 && len(masks) != len(styles) {
		return fmt.Errorf("style targets: masks for %d style images, %d images given", len(masks), len(styles))
	}
	weights, err := normaliseBlend(blend, len(styles))
	if err != nil {
		return err
	}
	for i, g := range styles {
		if len(g.layers) != len(o.style) {
			return fmt.Errorf("style image %d: Grams of %d layers for %d style layers", i, len(g.layers), len(o.style))
		}
		for ti, l := range g.layers {
			if l.name != o.style[ti].Name || l.m == 0 {
				return fmt.Errorf("style image %d: no activations of layer %q", i, o.style[ti].Name)
			}
		}
		o.forget(g.scratch)
	}
	guided := slices.ContainsFunc(masks, func(m []Mask) bool { return m != nil })
	// Each layer's masks, found and checked before any target changes.
	var layerMasks [][]*Mask // [term][style image]
	if guided {
		if layerMasks, err = o.findMasks(masks); err != nil {
			return err
		}
	}
	// Targets are built aside and committed together, so that an error
	// leaves the previous targets in place.
	built := make([]styleTerm, len(o.style))
	committed := false
	defer func() {
		if !committed {
			for _, b := range built {
				o.forgetTerm(b)
			}
		}
	}()
	var scratch int
	for ti, t := range o.style {
		c := styles[0].layers[ti].c
		for si, g := range styles {
			if g.layers[ti].c != c {
				return fmt.Errorf("style layer %q: image %d has %d channels, image 0 has %d", t.Name, si, g.layers[ti].c, c)
			}
		}
		b := &built[ti]
		*b = styleTerm{Layer: t.Layer, c: c}
		if !guided {
			b.target, b.gram, b.diff = make([]float64, c*c), make([]float32, c*c), make([]float32, c*c)
			blendGrams(b.target, styles, ti, weights, nil)
			continue
		}
		var h, w int
		for _, m := range layerMasks[ti] {
			if m != nil {
				h, w = m.H, m.W
			}
		}
		var unmasked []int
		var unmaskedWeight float64
		for si := range styles {
			if layerMasks[ti][si] == nil {
				unmasked = append(unmasked, si)
				unmaskedWeight += weights[si]
			}
		}
		// The unmasked term comes first: evalGuided writes its gradient
		// straight into the layer's gradient buffer.
		if len(unmasked) > 0 {
			g := newGuide(c, unmaskedWeight, h, w)
			g.norm = float64(h * w)
			b.guides = append(b.guides, g)
			blendGrams(g.target, styles, ti, weights, unmasked)
		}
		for si := range styles {
			m := layerMasks[ti][si]
			if m == nil {
				continue
			}
			g := newGuide(c, weights[si], h, w)
			g.masked = true
			g.spans, g.values = regionSpans(m.Data)
			g.plane = slices.Clone(m.Data)
			g.n = len(g.values)
			for _, v := range g.values {
				g.norm += float64(v) * float64(v)
			}
			scratch = max(scratch, c*g.n)
			b.guides = append(b.guides, g)
			blendGrams(g.target, styles, ti, weights, []int{si})
		}
	}
	for _, t := range o.style {
		o.forgetTerm(t)
	}
	o.forget(o.masked, o.product)
	o.masked, o.product = nil, nil
	if scratch > 0 {
		o.masked, o.product = make([]float32, scratch), make([]float32, scratch)
	}
	copy(o.style, built)
	committed = true
	return nil
}

func newGuide(c int, weight float64, h, w int) guide {
	return guide{weight: weight, h: h, w: w, target: make([]float64, c*c), gram: make([]float32, c*c), diff: make([]float32, c*c)}
}

// blendGrams sets target to the blend of the size-normalised Grams of style
// term ti of the style images listed in which, with weights renormalised
// to sum 1 over those images, or of all images with weights as given when
// which is nil.
func blendGrams(target []float64, styles []*StyleGrams, ti int, weights []float64, which []int) {
	share := weights
	if which == nil {
		which = make([]int, len(styles))
		for i := range which {
			which[i] = i
		}
	} else {
		share = make([]float64, len(weights))
		var total float64
		for _, si := range which {
			total += weights[si]
		}
		for _, si := range which {
			if total > 0 {
				share[si] = weights[si] / total
			} else {
				// Only zero-weight images: the term weighs nothing, and
				// equal shares keep its target defined.
				share[si] = 1 / float64(len(which))
			}
		}
	}
	clear(target)
	for _, si := range which {
		l := styles[si].layers[ti]
		wm := share[si] / float64(l.m)
		for j, g := range l.sum {
			target[j] += wm * g
		}
	}
}

// findMasks returns, per style term and style image, the image's mask at the
// term's layer (nil for an unmasked image), after checking every mask.
func (o *Objective) findMasks(masks [][]Mask) ([][]*Mask, error) {
	out := make([][]*Mask, len(o.style))
	for ti, t := range o.style {
		out[ti] = make([]*Mask, len(masks))
		var size *Mask
		for si, ms := range masks {
			if ms == nil {
				continue
			}
			var found *Mask
			for mi := range ms {
				m := &ms[mi]
				if m.Name != t.Name {
					continue
				}
				if found != nil {
					return nil, fmt.Errorf("style image %d: two masks for layer %q", si, t.Name)
				}
				found = m
			}
			if found == nil {
				return nil, fmt.Errorf("style image %d: no mask for style layer %q", si, t.Name)
			}
			if err := checkMask(*found); err != nil {
				return nil, fmt.Errorf("style image %d: %w", si, err)
			}
			if size != nil && (found.H != size.H || found.W != size.W) {
				return nil, fmt.Errorf("style layer %q: masks of %d×%d and %d×%d; all masks of a layer describe the same activations", t.Name, size.H, size.W, found.H, found.W)
			}
			size = found
			out[ti][si] = found
		}
	}
	return out, nil
}

// checkMask checks a mask's shape and values.
func checkMask(m Mask) error {
	if m.H <= 0 || m.W <= 0 || m.H > math.MaxInt32 || m.W > math.MaxInt32 || m.H > math.MaxInt/m.W {
		return fmt.Errorf("mask of layer %q: shape %d×%d, want positive", m.Name, m.H, m.W)
	}
	if len(m.Data) != m.H*m.W {
		return fmt.Errorf("mask of layer %q: %d values for %d×%d", m.Name, len(m.Data), m.H, m.W)
	}
	for i, v := range m.Data {
		if !(v >= 0) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("mask of layer %q: value %v at %d, want finite and ≥ 0", m.Name, v, i)
		}
	}
	return nil
}

// forgetTerm tells the kernel about a term's buffers that will not be
// passed again.
func (o *Objective) forgetTerm(t styleTerm) {
	o.forget(t.gram, t.diff)
	for _, g := range t.guides {
		o.forget(g.gram, g.diff)
	}
}

// evalGuided is eval for a term with guides: it returns the layer's raw
// style cost, Σ_k w_k·J_k, and writes β·λ·dJ_style/dA into grad. masked and
// product are scratch of at least c·n values for the largest region n.
func (t *styleTerm) evalGuided(k Kernel, a Activation, grad []float32, beta float64, masked, product []float32) (float64, error) {
	m := a.H * a.W
	grad = grad[:t.c*m]
	c2 := float64(t.c) * float64(t.c)
	var cost float64
	written := false
	for gi := range t.guides {
		g := &t.guides[gi]
		if g.norm == 0 || g.weight == 0 {
			continue
		}
		// src is the term's c×n matrix: the activations, or the masked
		// activations at the region's positions.
		src, n := a.Data, m
		if g.masked {
			n = g.n
			src = masked[:t.c*n]
			g.gather(src, a.Data, m)
		}
		if err := k.Gram(g.gram, src, t.c, n); err != nil {
			return 0, fmt.Errorf("style layer %q: %w", t.Name, err)
		}
		inv := 1 / g.norm
		scale := beta * t.Weight * g.weight / (c2 * g.norm)
		var sum float64
		for i, v := range g.gram {
			d := float64(v)*inv - g.target[i]
			sum += d * d
			g.diff[i] = float32(scale * d)
		}
		cost += g.weight * sum / (4 * c2)
		if scale == 0 {
			continue
		}
		// The unmasked term, which comes first, writes the gradient
		// directly; the masked ones go through product.
		dst := grad
		if g.masked {
			dst = product[:t.c*n]
		}
		if err := k.MatMul(dst, g.diff, src, t.c, t.c, n); err != nil {
			return 0, fmt.Errorf("style layer %q gradient: %w", t.Name, err)
		}
		if g.masked {
			if !written {
				clear(grad)
			}
			g.scatter(grad, dst, m)
		}
		written = true
	}
	if !written {
		clear(grad)
	}
	return cost, nil
}

// span is a stretch of consecutive positions of a mask's region: n
// positions from start, whose mask values are all 1 when ones is set.
type span struct {
	start, n int
	ones     bool
}

// regionSpans returns the stretches of positions where mask is positive and
// the mask values there, in order.
func regionSpans(mask []float32) ([]span, []float32) {
	var spans []span
	var values []float32
	for p := 0; p < len(mask); {
		if !(mask[p] > 0) {
			p++
			continue
		}
		s := span{start: p, ones: true}
		for ; p < len(mask) && mask[p] > 0; p++ {
			s.ones = s.ones && mask[p] == 1
			values = append(values, mask[p])
		}
		s.n = p - s.start
		spans = append(spans, s)
	}
	return spans, values
}

// gather sets dst, c×n, to the region's positions of src, c×m, each times
// its mask value. Stretches where the mask is 1 are copied: most of a
// region, for masks painted in black and white.
func (g *guide) gather(dst, src []float32, m int) {
	n := g.n
	for p, q := 0, 0; q+n <= len(dst); p, q = p+m, q+n {
		s, d := src[p:p+m:p+m], dst[q:q+n:q+n]
		k := 0
		for _, sp := range g.spans {
			ds, ss := d[k:k+sp.n:k+sp.n], s[sp.start:sp.start+sp.n:sp.start+sp.n]
			if sp.ones {
				copy(ds, ss)
			} else {
				vs := g.values[k : k+sp.n : k+sp.n]
				for i := range ds {
					ds[i] = ss[i] * vs[i]
				}
			}
			k += sp.n
		}
	}
}

// scatter adds src, c×n, times the mask values to the region's positions
// of dst, c×m.
func (g *guide) scatter(dst, src []float32, m int) {
	n := g.n
	for p, q := 0, 0; q+n <= len(src); p, q = p+m, q+n {
		d, s := dst[p:p+m:p+m], src[q:q+n:q+n]
		k := 0
		for _, sp := range g.spans {
			ds, ss := d[sp.start:sp.start+sp.n:sp.start+sp.n], s[k:k+sp.n:k+sp.n]
			if sp.ones {
				for i, v := range ss {
					ds[i] += v
				}
			} else {
				vs := g.values[k : k+sp.n : k+sp.n]
				for i, v := range ss {
					ds[i] += v * vs[i]
				}
			}
			k += sp.n
		}
	}
}

// checkGuides checks that the term's masks fit the generated activations a.
func (t *styleTerm) checkGuides(a Activation) error {
	if len(t.guides) > 0 && (t.guides[0].h != a.H || t.guides[0].w != a.W) {
		return fmt.Errorf("style layer %q: masks of %d×%d, activations of %d×%d (masks must have the generated image's layer size)", t.Name, t.guides[0].h, t.guides[0].w, a.H, a.W)
	}
	return nil
}

package losses

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Objective evaluates J and its gradients for one style-transfer run.
//
// The pipeline calls New, then SetContentTargets with the content image's
// activations and SetGuidedStyleTargets with each style image's, then Eval or
// EvalInPlace (and AddTV) once per iteration. An Objective is not safe for
// concurrent use.
type Objective struct {
	spec    Spec
	kernel  Kernel
	content []contentTerm
	style   []styleTerm
	// masked and product are the guided terms' scratch: the masked
	// activations and the gradient's product of one layer at a time.
	masked, product []float32
	// EvalInPlace's scratch (see inplace.go): blockFloats bounds the
	// column blocks of a plain style gradient, blockIn and blockOut hold
	// one block's activations and product, and layerGrad holds a guided
	// style layer's whole gradient.
	blockFloats       int
	blockIn, blockOut []float32
	layerGrad         []float32
	// The tiled evaluation's scratch (tiled.go), for one tile's owned
	// positions of one layer: the activations gathered (c×n), the
	// gradient's sum and one product, a masked guide's source and its
	// mask values (n).
	tileIn, tileOut, tileProduct, tileMasked, tileMask []float32
}

// contentTerm is one content layer: its target activations and, during Eval,
// where its layer sits in the caller's activations.
type contentTerm struct {
	Layer
	c, h, w int
	target  []float32 // the content image's activations; nil until set
	// sharesStyle marks a layer that is also a style layer: the style term
	// writes the gradient buffer first and this term adds to it.
	sharesStyle bool
	act         int
}

// styleTerm is one style layer. Without masks it has one target over the
// whole image (target, gram, diff); with masks (SetGuidedStyleTargets) its
// guides replace them, and eval hands over to evalGuided.
type styleTerm struct {
	Layer
	c      int
	target []float64 // Σ_i blend_i·G_Si/M_Si, c×c; nil until set
	gram   []float32 // c×c: the generated image's Gram
	// diff is the gradient's left factor β·λ·(G_G/M − target)/(c²·M), c×c.
	diff   []float32
	guides []guide
	act    int
	// tiled is the one unmasked guide a tiled evaluation of a term
	// without masks sums over (tiledGuides), and accumulated says that
	// AccumulateTile has seen the term since BeginTiles.
	tiled       []guide
	accumulated bool
}

// New checks spec and returns an Objective whose style products run on
// kernel. kernel may be nil when spec has no style layers.
func New(spec Spec, kernel Kernel) (*Objective, error) {
	for _, w := range []struct {
		name string
		v    float64
	}{{"alpha", spec.Alpha}, {"beta", spec.Beta}, {"tv", spec.TV}} {
		if err := checkWeight(w.v); err != nil {
			return nil, fmt.Errorf("%s: %w", w.name, err)
		}
	}
	if err := checkLayers("content", spec.Content); err != nil {
		return nil, err
	}
	if err := checkLayers("style", spec.Style); err != nil {
		return nil, err
	}
	if len(spec.Style) > 0 && kernel == nil {
		return nil, errors.New("style layers need a matrix kernel, got nil")
	}
	spec.Content = slices.Clone(spec.Content)
	spec.Style = slices.Clone(spec.Style)
	o := &Objective{spec: spec, kernel: kernel, blockFloats: defaultBlockFloats}
	for _, l := range spec.Content {
		shares := slices.ContainsFunc(spec.Style, func(s Layer) bool { return s.Name == l.Name })
		o.content = append(o.content, contentTerm{Layer: l, sharesStyle: shares})
	}
	for _, l := range spec.Style {
		o.style = append(o.style, styleTerm{Layer: l})
	}
	return o, nil
}

func checkWeight(v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("weight %v, want a finite number ≥ 0", v)
	}
	return nil
}

func checkLayers(kind string, layers []Layer) error {
	for i, l := range layers {
		if l.Name == "" {
			return fmt.Errorf("%s layer %d: empty name", kind, i)
		}
		if err := checkWeight(l.Weight); err != nil {
			return fmt.Errorf("%s layer %q: %w", kind, l.Name, err)
		}
		if slices.ContainsFunc(layers[:i], func(p Layer) bool { return p.Name == l.Name }) {
			return fmt.Errorf("%s layer %q listed twice", kind, l.Name)
		}
	}
	return nil
}

// Spec returns the objective's spec.
func (o *Objective) Spec() Spec {
	s := o.spec
	s.Content = slices.Clone(s.Content)
	s.Style = slices.Clone(s.Style)
	return s
}

// NewCosts returns a Costs sized for this objective, for Eval to fill.
func (o *Objective) NewCosts() *Costs {
	return &Costs{Content: make([]float64, len(o.content)), Style: make([]float64, len(o.style))}
}

// SetContentTargets copies the content layers' activations of the content
// image; the caller may reuse acts' buffers afterwards. Eval then expects the
// same shapes at those layers.
func (o *Objective) SetContentTargets(acts []Activation) error {
	if err := checkActivations(acts); err != nil {
		return fmt.Errorf("content image: %w", err)
	}
	// Every layer is found before any target changes, so that an error
	// leaves the previous targets in place.
	found := make([]Activation, len(o.content))
	for i, t := range o.content {
		j, err := layerIndex(acts, t.Name)
		if err != nil {
			return fmt.Errorf("content image: %w", err)
		}
		found[i] = acts[j]
	}
	for i, a := range found {
		t := &o.content[i]
		t.c, t.h, t.w, t.target = a.C, a.H, a.W, slices.Clone(a.Data)
	}
	return nil
}

// forget tells a kernel that keeps per-buffer state that bufs will not be
// passed again.
func (o *Objective) forget(bufs ...[]float32) {
	f, ok := o.kernel.(forgetter)
	if !ok {
		return
	}
	for _, b := range bufs {
		if b != nil {
			f.Forget(b)
		}
	}
}

// normaliseBlend returns blend scaled to sum 1, or n equal weights for nil.
func normaliseBlend(blend []float64, n int) ([]float64, error) {
	if len(blend) == 0 {
		w := make([]float64, n)
		for i := range w {
			w[i] = 1 / float64(n)
		}
		return w, nil
	}
	if len(blend) != n {
		return nil, fmt.Errorf("style blend: %d weights for %d style images", len(blend), n)
	}
	sum := 0.0
	for i, v := range blend {
		if err := checkWeight(v); err != nil {
			return nil, fmt.Errorf("style blend weight %d: %w", i, err)
		}
		sum += v
	}
	if sum == 0 || math.IsInf(sum, 0) {
		return nil, fmt.Errorf("style blend weights %v: want a positive, finite sum", blend)
	}
	w := make([]float64, n)
	for i, v := range blend {
		w[i] = v / sum
	}
	return w, nil
}

// Eval computes the content and style costs of the generated image's
// activations acts into costs, and dJ/d(acts[i]) into grads[i], which must
// have acts[i]'s length. Every grads[i] is overwritten: with the sum of the
// content and style gradients of its layer (α, β and layer weights
// included), or with zeros for a layer no cost uses. costs.TV is reset to
// zero; AddTV completes the iteration's costs.
//
// Eval allocates nothing once costs has been sized (see NewCosts) and the
// kernel has seen the buffers.
func (o *Objective) Eval(costs *Costs, acts []Activation, grads [][]float32) error {
	if err := o.resolve(acts, grads); err != nil {
		return err
	}
	for i := range grads {
		if !o.uses(acts[i].Name) {
			clear(grads[i])
		}
	}
	costs.Content = resize(costs.Content, len(o.content))
	costs.Style = resize(costs.Style, len(o.style))
	costs.ContentTotal, costs.StyleTotal, costs.TV = 0, 0, 0
	// Style gradients overwrite their buffers first, so that a content term
	// of the same layer can add to them.
	for i := range o.style {
		t := &o.style[i]
		var raw float64
		var err error
		if t.guides != nil {
			raw, err = t.evalGuided(o.kernel, acts[t.act], grads[t.act], o.spec.Beta, o.masked, o.product)
		} else {
			raw, err = t.eval(o.kernel, acts[t.act], grads[t.act], o.spec.Beta)
		}
		if err != nil {
			return err
		}
		costs.Style[i] = raw
		costs.StyleTotal += t.Weight * raw
	}
	for i := range o.content {
		t := &o.content[i]
		raw := t.eval(acts[t.act].Data, grads[t.act], o.spec.Alpha, t.sharesStyle)
		costs.Content[i] = raw
		costs.ContentTotal += t.Weight * raw
	}
	costs.Total = o.spec.Alpha*costs.ContentTotal + o.spec.Beta*costs.StyleTotal
	return nil
}

// resolve checks Eval's arguments against the targets and records where
// each term's layer is in acts.
func (o *Objective) resolve(acts []Activation, grads [][]float32) error {
	if len(grads) != len(acts) {
		return fmt.Errorf("%d gradient buffers for %d activations", len(grads), len(acts))
	}
	if err := checkActivations(acts); err != nil {
		return err
	}
	for i, a := range acts {
		if len(grads[i]) != len(a.Data) {
			return fmt.Errorf("gradient buffer of %q: %d values for %d activations", a.Name, len(grads[i]), len(a.Data))
		}
	}
	return o.resolveTerms(acts)
}

// resolveTerms checks acts, already checked by checkActivations, against
// the targets and records where each term's layer is in acts.
func (o *Objective) resolveTerms(acts []Activation) error {
	for i := range o.content {
		t := &o.content[i]
		if t.target == nil {
			return errors.New("content targets not set (SetContentTargets)")
		}
		j, err := layerIndex(acts, t.Name)
		if err != nil {
			return err
		}
		if a := acts[j]; a.C != t.c || a.H != t.h || a.W != t.w {
			return fmt.Errorf("content layer %q: activations %d×%d×%d, content image's %d×%d×%d (the generated image must have the content image's size)", t.Name, a.C, a.H, a.W, t.c, t.h, t.w)
		}
		t.act = j
	}
	for i := range o.style {
		t := &o.style[i]
		if t.target == nil && t.guides == nil {
			return errors.New("style targets not set (SetGuidedStyleTargets)")
		}
		j, err := layerIndex(acts, t.Name)
		if err != nil {
			return err
		}
		if acts[j].C != t.c {
			return fmt.Errorf("style layer %q: %d channels, style images have %d", t.Name, acts[j].C, t.c)
		}
		if err := t.checkGuides(acts[j]); err != nil {
			return err
		}
		t.act = j
	}
	return nil
}

func (o *Objective) uses(name string) bool {
	for _, t := range o.content {
		if t.Name == name {
			return true
		}
	}
	for _, t := range o.style {
		if t.Name == name {
			return true
		}
	}
	return false
}

// eval returns the layer's raw style cost and writes β·λ·dJ_style/dA into
// grad: with D = G_G/M − target, J = Σ D²/(4c²) and dJ/dA = D·A/(c²·M)
// (twice dJ/dG·A, as G = A·Aᵀ and D is symmetric).
func (t *styleTerm) eval(k Kernel, a Activation, grad []float32, beta float64) (float64, error) {
	raw, scale, err := t.costDiff(k, a, beta)
	if err != nil {
		return 0, err
	}
	if scale == 0 {
		clear(grad)
	} else if err := k.MatMul(grad, t.diff, a.Data, t.c, t.c, a.H*a.W); err != nil {
		return 0, fmt.Errorf("style layer %q gradient: %w", t.Name, err)
	}
	return raw, nil
}

// costDiff computes the Gram of a into t.gram and the gradient's left
// factor into t.diff, and returns the layer's raw style cost and the scale
// β·λ/(c²·M) of diff; a zero scale means that the layer has no style
// gradient, and the product can be skipped.
func (t *styleTerm) costDiff(k Kernel, a Activation, beta float64) (raw, scale float64, err error) {
	m := a.H * a.W
	if err := k.Gram(t.gram, a.Data, t.c, m); err != nil {
		return 0, 0, fmt.Errorf("style layer %q: %w", t.Name, err)
	}
	c2 := float64(t.c) * float64(t.c)
	invM := 1 / float64(m)
	scale = beta * t.Weight / (c2 * float64(m))
	var sum float64
	for i, g := range t.gram {
		d := float64(g)*invM - t.target[i]
		sum += d * d
		t.diff[i] = float32(scale * d)
	}
	return sum / (4 * c2), scale, nil
}

// eval returns the layer's raw content cost Σ (g − c)²/(4N) and writes
// α·w·(g − c)/(2N) into grad, or adds it when add is set (to the style
// gradient of a shared layer). grad may be g itself when add is not set:
// each value is read before its gradient overwrites it.
func (t *contentTerm) eval(g, grad []float32, alpha float64, add bool) float64 {
	scale := t.scale(alpha, len(g))
	target := t.target[:len(g)]
	grad = grad[:len(g)]
	var sum float64
	if add {
		for i, v := range g {
			d := float64(v) - float64(target[i])
			sum += d * d
			grad[i] += float32(scale * d)
		}
	} else {
		for i, v := range g {
			d := float64(v) - float64(target[i])
			sum += d * d
			grad[i] = float32(scale * d)
		}
	}
	return sum / (4 * float64(len(g)))
}

// scale returns α·w/(2N), the factor of (g − c) in the gradient of a layer
// of n values.
func (t *contentTerm) scale(alpha float64, n int) float64 {
	return alpha * t.Weight / (2 * float64(n))
}

// cost returns the raw content cost of g, summed in eval's order so that
// both give the same value.
func (t *contentTerm) cost(g []float32) float64 {
	target := t.target[:len(g)]
	var sum float64
	for i, v := range g {
		d := float64(v) - float64(target[i])
		sum += d * d
	}
	return sum / (4 * float64(len(g)))
}

// AddTV computes the total variation of the generated image img (c×h×w,
// channel-major) into costs, completing costs.Total, and adds
// tv·dJ_tv/d(img) to grad, the image gradient the backbone returned. See
// TotalVariation for the normalisation. Call it after Eval.
func (o *Objective) AddTV(costs *Costs, img []float32, c, h, w int, grad []float32) error {
	return o.AddTV3D(costs, img, c, 1, h, w, grad)
}

// AddTV3D is AddTV for a generated volume of c channels of d×h×w values
// (TotalVariation3D).
func (o *Objective) AddTV3D(costs *Costs, vol []float32, c, d, h, w int, grad []float32) error {
	raw, err := TotalVariation3D(vol, c, d, h, w, o.spec.TV, grad)
	if err != nil {
		return err
	}
	costs.TV = raw
	costs.Total = o.spec.Alpha*costs.ContentTotal + o.spec.Beta*costs.StyleTotal + o.spec.TV*raw
	return nil
}

// checkActivations checks shapes against data lengths and that no name
// repeats, so that a layer's activations are unambiguous.
func checkActivations(acts []Activation) error {
	for i, a := range acts {
		if a.C <= 0 || a.H <= 0 || a.W <= 0 {
			return fmt.Errorf("activation %q: shape %d×%d×%d, want positive", a.Name, a.C, a.H, a.W)
		}
		if a.C > math.MaxInt32 || a.H > math.MaxInt32 || a.W > math.MaxInt32 || a.C*a.H > math.MaxInt/a.W {
			return fmt.Errorf("activation %q: shape %d×%d×%d too large", a.Name, a.C, a.H, a.W)
		}
		if len(a.Data) != a.C*a.H*a.W {
			return fmt.Errorf("activation %q: %d values for %d×%d×%d", a.Name, len(a.Data), a.C, a.H, a.W)
		}
		for _, p := range acts[:i] {
			if p.Name == a.Name {
				return fmt.Errorf("activation %q given twice", a.Name)
			}
		}
	}
	return nil
}

// layerIndex returns the index of name in acts, or an error naming the
// missing layer.
func layerIndex(acts []Activation, name string) (int, error) {
	if i := indexOf(acts, name); i >= 0 {
		return i, nil
	}
	return -1, fmt.Errorf("no activations of layer %q", name)
}

// indexOf returns the index of name in acts, or -1.
func indexOf(acts []Activation, name string) int {
	for i, a := range acts {
		if a.Name == name {
			return i
		}
	}
	return -1
}

// resize returns s with length n, reusing its memory when it is large enough.
func resize(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	s = s[:n]
	clear(s)
	return s
}

package losses

import (
	"errors"
	"fmt"
	"slices"
)

// Tiled evaluation (Galerne, Raad, Lezama and Morel, "Scaling Painting
// Style Transfer", Computer Graphics Forum 2024). An image too large for
// one pass of the network is evaluated in tiles: crops whose activations,
// at the positions the tile owns, equal the whole image's (the caller
// sizes the crops' margins by the receptive field), the tiles' own
// positions partitioning every layer. Costs and gradients are then those
// of the whole image:
//
//   - pass 1, AccumulateTile: each style layer's Gram is summed over the
//     tiles' own positions, G = Σ_T A_T·A_Tᵀ, the whole layer's Gram
//     (guided Grams likewise, with the mask at the same positions);
//   - FinishTiles: the style costs and the gradients' left factors D from
//     the whole Grams;
//   - pass 2, EvalTile: each tile's activation gradient, D·A at the
//     positions it owns plus the content gradient there, zero elsewhere,
//     and the tile's share of the content costs. Back-propagated through
//     the tile's crop, it gives the owned positions' share of the image
//     gradient, nonzero inside the crop only; the caller adds the crops'.
//
// Style images too large for one pass give their Grams the same way
// (StyleGrams), and content targets are set tile by tile
// (SetContentTargetTile).

// Window places a tile's activations of one layer in the whole image's
// layer.
type Window struct {
	// Y0, Y1, X0, X1 bound the positions the tile owns: its own rows
	// [Y0, Y1) and columns [X0, X1). The range may be empty.
	Y0, Y1, X0, X1 int
	// OffY and OffX are the whole layer's row and column of the tile's
	// row 0, column 0.
	OffY, OffX int
	// H and W are the whole layer's size.
	H, W int
}

// n is the number of positions the window owns.
func (w Window) n() int { return (w.Y1 - w.Y0) * (w.X1 - w.X0) }

// check checks the window against the tile's activations a.
func (w Window) check(a Activation) error {
	if w.Y0 < 0 || w.Y0 > w.Y1 || w.Y1 > a.H || w.X0 < 0 || w.X0 > w.X1 || w.X1 > a.W {
		return fmt.Errorf("layer %q: window rows [%d,%d) columns [%d,%d) outside the tile's %d×%d", a.Name, w.Y0, w.Y1, w.X0, w.X1, a.H, a.W)
	}
	if w.OffY < 0 || w.OffX < 0 || w.OffY+w.Y1 > w.H || w.OffX+w.X1 > w.W {
		return fmt.Errorf("layer %q: window at (%d, %d) outside the whole layer's %d×%d", a.Name, w.OffY+w.Y0, w.OffX+w.X0, w.H, w.W)
	}
	return nil
}

// gather copies the positions w owns of a into dst, c×n row-major, and
// returns n.
func (w Window) gather(dst []float32, a Activation) int {
	n, cols := w.n(), w.X1-w.X0
	plane := a.H * a.W
	q := 0
	for c := range a.C {
		src := a.Data[c*plane : (c+1)*plane]
		for y := w.Y0; y < w.Y1; y++ {
			q += copy(dst[q:q+cols], src[y*a.W+w.X0:y*a.W+w.X1])
		}
	}
	return n
}

// scatter writes src, c×n, to the positions w owns of dst, a tile's c×H×W
// layer.
func (w Window) scatter(dst, src []float32, c, h, wd int) {
	cols := w.X1 - w.X0
	plane := h * wd
	q := 0
	for ch := range c {
		d := dst[ch*plane : (ch+1)*plane]
		for y := w.Y0; y < w.Y1; y++ {
			q += copy(d[y*wd+w.X0:y*wd+w.X1], src[q:q+cols])
		}
	}
}

// maskValues copies the whole layer's mask plane at the positions w owns
// into dst, n values, and returns them.
func (w Window) maskValues(dst, plane []float32) []float32 {
	dst = dst[:w.n()]
	cols := w.X1 - w.X0
	q := 0
	for y := w.Y0; y < w.Y1; y++ {
		row := (y + w.OffY) * w.W
		q += copy(dst[q:q+cols], plane[row+w.X0+w.OffX:row+w.X1+w.OffX])
	}
	return dst
}

// StyleGrams accumulates one style image's Gram matrices at the
// objective's style layers, over the image whole (AddStyleTile with nil
// windows) or over its tiles.
type StyleGrams struct {
	layers []gramSum
	// scratch holds one tile's Gram, for the largest layer.
	scratch []float32
}

// gramSum is one layer's Gram summed over positions.
type gramSum struct {
	name string
	c    int       // channels; 0 until the first tile
	sum  []float64 // c×c
	m    int64     // positions summed
}

// NewStyleGrams returns an empty accumulator for one style image.
func (o *Objective) NewStyleGrams() *StyleGrams {
	g := &StyleGrams{layers: make([]gramSum, len(o.style))}
	for i, t := range o.style {
		g.layers[i].name = t.Name
	}
	return g
}

// AddStyleTile adds a style image's tile to g: the Grams of the positions
// wins[i] owns of each style layer's activations acts[i], or of all
// positions with nil wins. Every tile of an image must be added once.
func (o *Objective) AddStyleTile(g *StyleGrams, acts []Activation, wins []Window) error {
	if err := checkTile(acts, wins); err != nil {
		return err
	}
	for i := range g.layers {
		l := &g.layers[i]
		j, err := layerIndex(acts, l.name)
		if err != nil {
			return err
		}
		a := acts[j]
		if l.c == 0 {
			l.c, l.sum = a.C, make([]float64, a.C*a.C)
		} else if a.C != l.c {
			return fmt.Errorf("style layer %q: tile of %d channels, earlier tiles %d", l.name, a.C, l.c)
		}
		src, n := a.Data, a.H*a.W
		if wins != nil {
			n = wins[j].n()
			o.tileIn = o.grow(o.tileIn, a.C*n)
			src = o.tileIn[:a.C*n]
			wins[j].gather(src, a)
		}
		if n == 0 {
			continue
		}
		if len(g.scratch) < a.C*a.C {
			o.forget(g.scratch)
			g.scratch = make([]float32, a.C*a.C)
		}
		gram := g.scratch[:a.C*a.C]
		if err := o.kernel.Gram(gram, src, a.C, n); err != nil {
			return fmt.Errorf("style layer %q: %w", l.name, err)
		}
		for k, v := range gram {
			l.sum[k] += float64(v)
		}
		l.m += int64(n)
	}
	return nil
}

// checkTile checks a tile's activations and, when given, their windows.
func checkTile(acts []Activation, wins []Window) error {
	if err := checkActivations(acts); err != nil {
		return err
	}
	if wins == nil {
		return nil
	}
	if len(wins) != len(acts) {
		return fmt.Errorf("%d windows for %d activations", len(wins), len(acts))
	}
	for i, a := range acts {
		if err := wins[i].check(a); err != nil {
			return err
		}
	}
	return nil
}

// grow returns buf with room for n values, replacing (and forgetting) it
// when it is too small.
func (o *Objective) grow(buf []float32, n int) []float32 {
	if cap(buf) >= n {
		return buf[:cap(buf)]
	}
	o.forget(buf)
	return make([]float32, n)
}

// SetContentTargetTile copies the positions each window owns of the
// content layers' activations into their targets, which it sizes to the
// whole layer (Window.H × Window.W) on first use. Call it once for each
// tile of the content image; Eval and EvalTile then use the targets as
// SetContentTargets would have set them.
func (o *Objective) SetContentTargetTile(acts []Activation, wins []Window) error {
	if wins == nil {
		return errors.New("content tile: no windows")
	}
	if err := checkTile(acts, wins); err != nil {
		return fmt.Errorf("content tile: %w", err)
	}
	for i := range o.content {
		t := &o.content[i]
		j, err := layerIndex(acts, t.Name)
		if err != nil {
			return fmt.Errorf("content tile: %w", err)
		}
		a, w := acts[j], wins[j]
		if t.target == nil || t.c != a.C || t.h != w.H || t.w != w.W {
			t.c, t.h, t.w = a.C, w.H, w.W
			t.target = make([]float32, a.C*w.H*w.W)
		}
		cols := w.X1 - w.X0
		for c := range a.C {
			src := a.Data[c*a.H*a.W:]
			dst := t.target[c*w.H*w.W:]
			for y := w.Y0; y < w.Y1; y++ {
				d := (y+w.OffY)*w.W + w.X0 + w.OffX
				copy(dst[d:d+cols], src[y*a.W+w.X0:y*a.W+w.X1])
			}
		}
	}
	return nil
}

// tiledGuides returns the guides a tiled evaluation of t sums over: its
// guides, or for a term without masks one unmasked guide of weight 1 over
// the whole layer of h×w positions, which gives the same cost and
// gradient.
func (t *styleTerm) tiledGuides(h, w int) []guide {
	if t.guides != nil {
		return t.guides
	}
	if len(t.tiled) == 0 || t.tiled[0].h != h || t.tiled[0].w != w {
		t.tiled = []guide{{weight: 1, target: t.target, gram: t.gram, diff: t.diff, h: h, w: w, norm: float64(h) * float64(w)}}
	}
	return t.tiled
}

// BeginTiles starts a tiled evaluation of the generated image: it clears
// the Grams AccumulateTile sums. Call AccumulateTile for every tile, then
// FinishTiles, then EvalTile for every tile.
func (o *Objective) BeginTiles() {
	for i := range o.style {
		t := &o.style[i]
		for gi := range t.guides {
			clear(t.guides[gi].acc)
		}
		for gi := range t.tiled {
			clear(t.tiled[gi].acc)
		}
		t.accumulated = false
	}
}

// AccumulateTile is pass 1 of a tiled evaluation: it adds the Grams (plain
// and guided) of the positions each window owns of the style layers'
// activations to the whole image's.
func (o *Objective) AccumulateTile(acts []Activation, wins []Window) error {
	if wins == nil {
		return errors.New("accumulate tile: no windows")
	}
	if err := checkTile(acts, wins); err != nil {
		return err
	}
	for i := range o.style {
		t := &o.style[i]
		j, err := o.styleLayer(t, acts, wins)
		if err != nil {
			return err
		}
		a, w := acts[j], wins[j]
		n := w.n()
		t.accumulated = true
		if n == 0 {
			continue
		}
		o.tileIn = o.grow(o.tileIn, t.c*n)
		plain := o.tileIn[:t.c*n]
		w.gather(plain, a)
		gs := t.tiledGuides(w.H, w.W)
		for gi := range gs {
			g := &gs[gi]
			if g.acc == nil {
				g.acc = make([]float64, t.c*t.c)
			}
			src := o.guideSource(g, plain, w, t.c, n)
			if err := o.kernel.Gram(g.gram, src, t.c, n); err != nil {
				return fmt.Errorf("style layer %q: %w", t.Name, err)
			}
			for k, v := range g.gram {
				g.acc[k] += float64(v)
			}
		}
	}
	return nil
}

// styleLayer finds t's layer in a tile's activations and checks it against
// the targets.
func (o *Objective) styleLayer(t *styleTerm, acts []Activation, wins []Window) (int, error) {
	if t.target == nil && t.guides == nil {
		return 0, errors.New("style targets not set (SetGuidedStyleTargets)")
	}
	j, err := layerIndex(acts, t.Name)
	if err != nil {
		return 0, err
	}
	if acts[j].C != t.c {
		return 0, fmt.Errorf("style layer %q: %d channels, style images have %d", t.Name, acts[j].C, t.c)
	}
	w := wins[j]
	if len(t.guides) > 0 && (t.guides[0].h != w.H || t.guides[0].w != w.W) {
		return 0, fmt.Errorf("style layer %q: masks of %d×%d, whole layer of %d×%d", t.Name, t.guides[0].h, t.guides[0].w, w.H, w.W)
	}
	return j, nil
}

// guideSource returns the guide's c×n matrix for a tile: plain, the
// positions the window owns, or for a masked guide plain times the mask
// there, in o.tileMasked.
func (o *Objective) guideSource(g *guide, plain []float32, w Window, c, n int) []float32 {
	if g.plane == nil {
		return plain
	}
	o.tileMask = o.grow(o.tileMask, n)
	m := w.maskValues(o.tileMask, g.plane)
	o.tileMasked = o.grow(o.tileMasked, c*n)
	dst := o.tileMasked[:c*n]
	for ch := range c {
		d, s := dst[ch*n:(ch+1)*n], plain[ch*n:(ch+1)*n]
		for k, v := range s {
			d[k] = v * m[k]
		}
	}
	return dst
}

// FinishTiles ends pass 1: from the whole Grams it computes the style
// costs into costs and the gradients' left factors EvalTile uses, and
// resets the content costs, which EvalTile adds up.
func (o *Objective) FinishTiles(costs *Costs) error {
	costs.Content = resize(costs.Content, len(o.content))
	costs.Style = resize(costs.Style, len(o.style))
	costs.ContentTotal, costs.StyleTotal, costs.TV = 0, 0, 0
	for i := range o.style {
		t := &o.style[i]
		if !t.accumulated {
			return fmt.Errorf("style layer %q: no tile accumulated (AccumulateTile)", t.Name)
		}
		c2 := float64(t.c) * float64(t.c)
		gs := t.guides
		if gs == nil {
			gs = t.tiled
		}
		var cost float64
		for gi := range gs {
			g := &gs[gi]
			if g.norm == 0 || g.acc == nil {
				clear(g.diff)
				continue
			}
			inv := 1 / g.norm
			scale := o.spec.Beta * t.Weight * g.weight / (c2 * g.norm)
			var sum float64
			for k, v := range g.acc {
				d := v*inv - g.target[k]
				sum += d * d
				g.diff[k] = float32(scale * d)
			}
			cost += g.weight * sum / (4 * c2)
		}
		costs.Style[i] = cost
		costs.StyleTotal += t.Weight * cost
	}
	costs.Total = o.spec.Beta * costs.StyleTotal
	return nil
}

// EvalTile is pass 2 of a tiled evaluation, after FinishTiles: it writes
// into grads[i] the gradient of J with respect to the tile's activations
// acts[i] (style and content at the positions wins[i] owns, zero
// elsewhere and for layers no cost uses) and adds the tile's share of the
// content costs to costs. grads[i] may be acts[i].Data itself: each
// layer's values are read before its gradient is written.
func (o *Objective) EvalTile(costs *Costs, acts []Activation, wins []Window, grads [][]float32) error {
	if wins == nil {
		return errors.New("eval tile: no windows")
	}
	if err := checkTile(acts, wins); err != nil {
		return err
	}
	if len(grads) != len(acts) {
		return fmt.Errorf("%d gradient buffers for %d activations", len(grads), len(acts))
	}
	for i, a := range acts {
		if len(grads[i]) != len(a.Data) {
			return fmt.Errorf("gradient buffer of %q: %d values for %d activations", a.Name, len(grads[i]), len(a.Data))
		}
	}
	for j, a := range acts {
		w := wins[j]
		si := slices.IndexFunc(o.style, func(t styleTerm) bool { return t.Name == a.Name })
		ci := o.contentIndex(a.Name)
		if si < 0 && ci < 0 {
			clear(grads[j])
			continue
		}
		n := w.n()
		o.tileIn = o.grow(o.tileIn, a.C*n)
		o.tileOut = o.grow(o.tileOut, a.C*n)
		plain, total := o.tileIn[:a.C*n], o.tileOut[:a.C*n]
		w.gather(plain, a)
		clear(total)
		if si >= 0 && n > 0 {
			if err := o.styleTileGrad(&o.style[si], acts, wins, plain, total); err != nil {
				return err
			}
		}
		if ci >= 0 {
			raw, err := o.content[ci].tile(plain, total, a.C, w, o.spec.Alpha)
			if err != nil {
				return err
			}
			costs.Content[ci] += raw
		}
		clear(grads[j])
		w.scatter(grads[j], total, a.C, a.H, a.W)
	}
	costs.ContentTotal = 0
	for i, t := range o.content {
		costs.ContentTotal += t.Weight * costs.Content[i]
	}
	costs.Total = o.spec.Alpha*costs.ContentTotal + o.spec.Beta*costs.StyleTotal
	return nil
}

// styleTileGrad adds β·λ·dJ_style/dA at a tile's owned positions, plain
// (c×n), to total: Σ_k m_k ⊙ (D_k·(plain ⊙ m_k)) over the term's guides.
func (o *Objective) styleTileGrad(t *styleTerm, acts []Activation, wins []Window, plain, total []float32) error {
	j, err := o.styleLayer(t, acts, wins)
	if err != nil {
		return err
	}
	w := wins[j]
	n := w.n()
	gs := t.tiledGuides(w.H, w.W)
	o.tileProduct = o.grow(o.tileProduct, t.c*n)
	product := o.tileProduct[:t.c*n]
	for gi := range gs {
		g := &gs[gi]
		if g.norm == 0 || g.weight == 0 || g.acc == nil {
			continue
		}
		src := o.guideSource(g, plain, w, t.c, n)
		if err := o.kernel.MatMul(product, g.diff, src, t.c, t.c, n); err != nil {
			return fmt.Errorf("style layer %q gradient: %w", t.Name, err)
		}
		if g.plane == nil {
			for k, v := range product {
				total[k] += v
			}
			continue
		}
		// guideSource left the mask's values at the owned positions in
		// o.tileMask.
		m := o.tileMask[:n]
		for ch := range t.c {
			d, s := total[ch*n:(ch+1)*n], product[ch*n:(ch+1)*n]
			for k, v := range s {
				d[k] += v * m[k]
			}
		}
	}
	return nil
}

// tile returns the raw content cost of a tile's owned positions, g (c×n,
// gathered by w), and adds their gradient α·w·(g − c)/(2N) to total; N is
// the whole layer's value count, so the tiles' costs add up to the whole
// image's.
func (t *contentTerm) tile(g, total []float32, c int, w Window, alpha float64) (float64, error) {
	if t.target == nil {
		return 0, errors.New("content targets not set (SetContentTargets or SetContentTargetTile)")
	}
	if c != t.c || w.H != t.h || w.W != t.w {
		return 0, fmt.Errorf("content layer %q: whole layer %d×%d×%d, content image's %d×%d×%d (the generated image must have the content image's size)", t.Name, c, w.H, w.W, t.c, t.h, t.w)
	}
	whole := t.c * t.h * t.w
	scale := t.scale(alpha, whole)
	cols := w.X1 - w.X0
	var sum float64
	q := 0
	for ch := range c {
		target := t.target[ch*t.h*t.w:]
		for y := w.Y0; y < w.Y1; y++ {
			row := target[(y+w.OffY)*t.w+w.X0+w.OffX:][:cols]
			gs, ts := g[q:q+cols], total[q:q+cols]
			for k, v := range gs {
				d := float64(v) - float64(row[k])
				sum += d * d
				ts[k] += float32(scale * d)
			}
			q += cols
		}
	}
	return sum / (4 * float64(whole)), nil
}

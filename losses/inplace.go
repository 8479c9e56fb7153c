package losses

import "fmt"

// defaultBlockFloats bounds EvalInPlace's column blocks: each of the two
// block buffers holds about this many float32 values (1 MiB), small beside
// the activations, and the fastest block size measured: smaller blocks
// leave products too narrow, larger ones leave the caches
// (BenchmarkEvalInPlace; docs/performance.md).
const defaultBlockFloats = 1 << 18

// EvalInPlace is Eval with each activation's data overwritten by its
// gradient (zeros for a layer no cost uses) instead of written into separate
// buffers: a caller that needs the activations only to compute the
// gradients saves their size. The costs and the gradients are those Eval
// computes, value for value where the products do not depend on how their
// columns are split.
//
// A layer's costs are computed before its data is overwritten. The gradient
// D·A of a plain style term is computed a block of columns at a time, as
// column j of the product depends on column j of A only: each block is
// copied out, multiplied and written back with the content gradient of the
// same layer added, so that the extra memory is two block buffers of about
// 1 MiB. A masked style term (SetGuidedStyleTargets) sums products over
// several regions, so its gradient goes through a buffer of the layer's
// full size, kept for later calls: masked styles cost that extra memory.
//
// The memory costs time: the copies and the many smaller products make
// EvalInPlace slower than Eval, a few percent of an iteration
// (BenchmarkEvalInPlace; docs/performance.md).
//
// On an error some activations may already hold gradients. EvalInPlace
// allocates nothing once costs has been sized, its scratch buffers have
// grown to the largest layer and the kernel has seen them.
func (o *Objective) EvalInPlace(costs *Costs, acts []Activation) error {
	if err := checkActivations(acts); err != nil {
		return err
	}
	if err := o.resolveTerms(acts); err != nil {
		return err
	}
	o.growScratch(acts)
	costs.Content = resize(costs.Content, len(o.content))
	costs.Style = resize(costs.Style, len(o.style))
	costs.ContentTotal, costs.StyleTotal, costs.TV = 0, 0, 0
	for i := range o.style {
		t := &o.style[i]
		var ct *contentTerm
		ci := o.contentIndex(t.Name)
		if ci >= 0 {
			ct = &o.content[ci]
		}
		var raw, content float64
		var err error
		if t.guides != nil {
			raw, content, err = o.guidedInPlace(t, acts[t.act], ct)
		} else {
			raw, content, err = o.styleInPlace(t, acts[t.act], ct)
		}
		if err != nil {
			return err
		}
		costs.Style[i] = raw
		if ct != nil {
			costs.Content[ci] = content
		}
	}
	for i := range o.content {
		t := &o.content[i]
		if !t.sharesStyle {
			g := acts[t.act].Data
			costs.Content[i] = t.eval(g, g, o.spec.Alpha, false)
		}
	}
	for _, a := range acts {
		if !o.uses(a.Name) {
			clear(a.Data)
		}
	}
	// The totals are summed in Eval's order, so that they are Eval's.
	for i, t := range o.style {
		costs.StyleTotal += t.Weight * costs.Style[i]
	}
	for i, t := range o.content {
		costs.ContentTotal += t.Weight * costs.Content[i]
	}
	costs.Total = o.spec.Alpha*costs.ContentTotal + o.spec.Beta*costs.StyleTotal
	return nil
}

// contentIndex returns the index of the content term of layer name, or -1.
func (o *Objective) contentIndex(name string) int {
	for i, t := range o.content {
		if t.Name == name {
			return i
		}
	}
	return -1
}

// blockWidth returns the columns of one block of a c×m layer: about
// blockFloats values, at least one column, at most all m.
func (o *Objective) blockWidth(c, m int) int {
	return min(m, max(1, o.blockFloats/c))
}

// growScratch makes the block buffers hold a block of every plain style
// layer in acts, and layerGrad the largest guided one, replacing a buffer
// only when it is too small so that the kernel's wrappers stay valid.
func (o *Objective) growScratch(acts []Activation) {
	var block, layer int
	for _, t := range o.style {
		a := acts[t.act]
		if t.guides != nil {
			layer = max(layer, len(a.Data))
		} else {
			block = max(block, t.c*o.blockWidth(t.c, a.H*a.W))
		}
	}
	if block > len(o.blockIn) {
		o.forget(o.blockIn, o.blockOut)
		o.blockIn, o.blockOut = make([]float32, block), make([]float32, block)
	}
	if layer > len(o.layerGrad) {
		o.forget(o.layerGrad)
		o.layerGrad = make([]float32, layer)
	}
}

// styleInPlace computes a plain style term's raw cost and, when ct is not
// nil, the raw cost of the content term of the same layer, then overwrites
// a with the sum of both gradients.
func (o *Objective) styleInPlace(t *styleTerm, a Activation, ct *contentTerm) (raw, content float64, err error) {
	raw, scale, err := t.costDiff(o.kernel, a, o.spec.Beta)
	if err != nil {
		return 0, 0, err
	}
	if scale == 0 {
		// No style gradient: the layer's gradient is the content's, or zero.
		if ct == nil {
			clear(a.Data)
			return raw, 0, nil
		}
		return raw, ct.eval(a.Data, a.Data, o.spec.Alpha, false), nil
	}
	if ct != nil {
		// Before the blocks overwrite a: its cost needs the whole layer.
		content = ct.cost(a.Data)
	}
	c, m := t.c, a.H*a.W
	w := o.blockWidth(c, m)
	for j0 := 0; j0 < m; j0 += w {
		n := min(w, m-j0)
		in, out := o.blockIn[:c*n], o.blockOut[:c*n]
		gatherColumns(in, a.Data, c, m, j0, n)
		if err := o.kernel.MatMul(out, t.diff, in, c, c, n); err != nil {
			return 0, 0, fmt.Errorf("style layer %q gradient, columns %d-%d: %w", t.Name, j0, j0+n-1, err)
		}
		if ct == nil {
			scatterColumns(a.Data, out, c, m, j0, n)
		} else {
			ct.scatterColumns(a.Data, out, c, m, j0, n, ct.scale(o.spec.Alpha, len(a.Data)))
		}
	}
	return raw, content, nil
}

// guidedInPlace is styleInPlace for a term with guides: the gradient is
// computed into layerGrad, which then replaces a.
func (o *Objective) guidedInPlace(t *styleTerm, a Activation, ct *contentTerm) (raw, content float64, err error) {
	grad := o.layerGrad[:len(a.Data)]
	raw, err = t.evalGuided(o.kernel, a, grad, o.spec.Beta, o.masked, o.product)
	if err != nil {
		return 0, 0, err
	}
	if ct != nil {
		content = ct.eval(a.Data, grad, o.spec.Alpha, true)
	}
	copy(a.Data, grad)
	return raw, content, nil
}

// gatherColumns copies columns j0:j0+n of src, c×m, into dst, c×n.
func gatherColumns(dst, src []float32, c, m, j0, n int) {
	for r := range c {
		copy(dst[r*n:(r+1)*n], src[r*m+j0:r*m+j0+n])
	}
}

// scatterColumns copies src, c×n, over columns j0:j0+n of dst, c×m.
func scatterColumns(dst, src []float32, c, m, j0, n int) {
	for r := range c {
		copy(dst[r*m+j0:r*m+j0+n], src[r*n:(r+1)*n])
	}
}

// scatterColumns writes src, c×n, plus the content gradient scale·(g − c)
// over columns j0:j0+n of g, c×m, reading each value of g before
// overwriting it. The sum rounds as eval's does when it adds to a style
// gradient, so that the result is Eval's.
func (t *contentTerm) scatterColumns(g, src []float32, c, m, j0, n int, scale float64) {
	for r := range c {
		off := r*m + j0
		gs := g[off : off+n : off+n]
		ts := t.target[off : off+n : off+n]
		ss := src[r*n : (r+1)*n : (r+1)*n]
		for i, v := range gs {
			d := float64(v) - float64(ts[i])
			gs[i] = ss[i] + float32(scale*d)
		}
	}
}

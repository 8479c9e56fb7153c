package models

// WeightBytes is the size in bytes of the weights (initializers) the
// network reads up to layer, or of all the backbone's weights when layer
// is "" or unknown: what an ONNX Runtime session of a Net holds, and what
// the Backbone itself keeps, for memory estimates.
func (b *Backbone) WeightBytes(layer string) int64 {
	c := b.canon
	if l, err := b.Lookup(layer); err == nil {
		if cut, err := b.canon.cut([]string{l.Tensor}, PoolingMax); err == nil {
			c = cut
		}
	}
	var total int64
	for _, t := range c.graph.GetInitializer() {
		if n, err := tensorBytes(t); err == nil {
			total += n
		}
	}
	return total
}

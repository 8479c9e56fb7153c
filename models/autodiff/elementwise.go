package autodiff

import (
	"slices"
)

// reduceTo sums a gradient of shape from over the axes numpy broadcasting
// expanded, giving a gradient of shape to.
func (b *builder) reduceTo(g string, from, to []int64) string {
	if slices.Equal(from, to) {
		return g
	}
	lead := len(from) - len(to)
	var axes []int64
	for i, d := range from {
		if d == 1 {
			continue
		}
		if i < lead || to[i-lead] == 1 {
			axes = append(axes, int64(i))
		}
	}
	if len(axes) > 0 {
		g = b.op("ReduceSum", []string{g, b.ints(axes...)})
	}
	if lead != 0 || len(axes) == 0 {
		g = b.op("Reshape", []string{g, b.ints(to...)})
	}
	return g
}

// operandShapes returns the shapes of b.node's first two inputs and its
// output.
func operandShapes(b *builder) (a, c, y []int64, err error) {
	if a, err = b.shape(input(b.node, 0)); err != nil {
		return
	}
	if c, err = b.shape(input(b.node, 1)); err != nil {
		return
	}
	y, err = b.shape(output(b.node, 0))
	return
}

func addSubGrad(b *builder, dy string, needs []bool) ([]string, error) {
	a, c, y, err := operandShapes(b)
	if err != nil {
		return nil, err
	}
	out := make([]string, 2)
	if needs[0] {
		out[0] = b.reduceTo(dy, y, a)
	}
	if needs[1] {
		out[1] = b.reduceTo(dy, y, c)
		if b.node.GetOpType() == "Sub" {
			out[1] = b.op("Neg", []string{out[1]})
		}
	}
	return out, nil
}

func mulGrad(b *builder, dy string, needs []bool) ([]string, error) {
	a, c, y, err := operandShapes(b)
	if err != nil {
		return nil, err
	}
	shapes := [][]int64{a, c}
	out := make([]string, 2)
	for j := range 2 {
		if !needs[j] {
			continue
		}
		other, err := b.read(input(b.node, 1-j))
		if err != nil {
			return nil, err
		}
		out[j] = b.reduceTo(b.op("Mul", []string{dy, other}), y, shapes[j])
	}
	return out, nil
}

// divGrad uses y = a/c for the divisor's gradient, -dy*a/c² = -(dy/c)*y,
// which shares dy/c with the dividend's gradient.
func divGrad(b *builder, dy string, needs []bool) ([]string, error) {
	a, c, y, err := operandShapes(b)
	if err != nil {
		return nil, err
	}
	divisor, err := b.read(input(b.node, 1))
	if err != nil {
		return nil, err
	}
	t := b.op("Div", []string{dy, divisor})
	out := make([]string, 2)
	if needs[0] {
		out[0] = b.reduceTo(t, y, a)
	}
	if needs[1] {
		q, err := b.read(output(b.node, 0))
		if err != nil {
			return nil, err
		}
		out[1] = b.op("Neg", []string{b.reduceTo(b.op("Mul", []string{t, q}), y, c)})
	}
	return out, nil
}

func sumGrad(b *builder, dy string, needs []bool) ([]string, error) {
	y, err := b.shape(output(b.node, 0))
	if err != nil {
		return nil, err
	}
	out := make([]string, len(needs))
	for j, need := range needs {
		if !need {
			continue
		}
		s, err := b.shape(input(b.node, j))
		if err != nil {
			return nil, err
		}
		out[j] = b.reduceTo(dy, y, s)
	}
	return out, nil
}

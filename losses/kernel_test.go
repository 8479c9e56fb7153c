package losses_test

import "fmt"

// refKernel computes the products with plain loops, accumulating every dot
// product in float64 and rounding once to float32: the kernel the cost
// tests trust. It allocates nothing.
type refKernel struct{}

func (refKernel) Gram(dst, a []float32, rows, cols int) error {
	if len(dst) != rows*rows || len(a) != rows*cols {
		return fmt.Errorf("gram %d×%d: dst has %d values, a %d", rows, cols, len(dst), len(a))
	}
	for i := range rows {
		for j := range rows {
			var s float64
			for p := range cols {
				s += float64(a[i*cols+p]) * float64(a[j*cols+p])
			}
			dst[i*rows+j] = float32(s)
		}
	}
	return nil
}

func (refKernel) MatMul(dst, a, b []float32, m, k, n int) error {
	if len(dst) != m*n || len(a) != m*k || len(b) != k*n {
		return fmt.Errorf("matmul %d×%d·%d×%d: dst has %d values, a %d, b %d", m, k, k, n, len(dst), len(a), len(b))
	}
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				s += float64(a[i*k+p]) * float64(b[p*n+j])
			}
			dst[i*n+j] = float32(s)
		}
	}
	return nil
}

// holdingKernel is refKernel holding on to every buffer it is passed, by
// address and shape, until told to Forget it, as the ORT kernel's cache of
// tensor wrappers does: what it holds is what such a kernel keeps alive.
type holdingKernel struct {
	refKernel
	held map[heldKey]bool
}

type heldKey struct {
	data       *float32
	rows, cols int
}

func (k *holdingKernel) hold(data []float32, rows, cols int) {
	if k.held == nil {
		k.held = make(map[heldKey]bool)
	}
	k.held[heldKey{&data[0], rows, cols}] = true
}

func (k *holdingKernel) Gram(dst, a []float32, rows, cols int) error {
	if err := k.refKernel.Gram(dst, a, rows, cols); err != nil {
		return err
	}
	k.hold(a, rows, cols)
	k.hold(dst, rows, rows)
	return nil
}

func (k *holdingKernel) MatMul(dst, a, b []float32, m, kk, n int) error {
	if err := k.refKernel.MatMul(dst, a, b, m, kk, n); err != nil {
		return err
	}
	k.hold(a, m, kk)
	k.hold(b, kk, n)
	k.hold(dst, m, n)
	return nil
}

// Forget lets go of data, whatever the shapes it was seen with.
func (k *holdingKernel) Forget(data []float32) {
	if len(data) == 0 {
		return
	}
	for key := range k.held {
		if key.data == &data[0] {
			delete(k.held, key)
		}
	}
}

// holding returns how many buffers k holds and their bytes.
func (k *holdingKernel) holding() (n, bytes int) {
	for key := range k.held {
		n++
		bytes += 4 * key.rows * key.cols
	}
	return n, bytes
}

// Package gemm holds the dense float32 matrix products of the style cost:
// the Gram matrix a·aᵀ of a row-major [rows, cols] matrix and the plain
// product a·b.
//
// ORT runs the products through ONNX Runtime's MLAS Gemm, the fastest kernel
// measured on nst's target machines (see ORT); the tests check it
// against plain Go that accumulates in float64.
//
// Matrices are row-major float32 slices whose lengths must equal the product
// of their dimensions; dst must not overlap the inputs.
package gemm

import "fmt"

// maxElements bounds one operand's element count (16 GiB of float32), so a
// corrupt dimension is an error rather than an overflowing product.
const maxElements = 1 << 32

// checkMatrix reports whether m holds exactly rows×cols elements.
func checkMatrix(what string, m []float32, rows, cols int) error {
	if rows <= 0 || cols <= 0 {
		return fmt.Errorf("%s: dimensions %d×%d, want positive", what, rows, cols)
	}
	if rows > maxElements/cols {
		return fmt.Errorf("%s: %d×%d exceeds %d elements", what, rows, cols, int64(maxElements))
	}
	if len(m) != rows*cols {
		return fmt.Errorf("%s: %d elements for %d×%d", what, len(m), rows, cols)
	}
	return nil
}

// checkGram validates the operands of dst = a·aᵀ.
func checkGram(dst, a []float32, rows, cols int) error {
	if err := checkMatrix("gram input", a, rows, cols); err != nil {
		return err
	}
	return checkMatrix("gram output", dst, rows, rows)
}

// checkMatMul validates the operands of dst[m×n] = a[m×k]·b[k×n].
func checkMatMul(dst, a, b []float32, m, k, n int) error {
	if err := checkMatrix("matmul left operand", a, m, k); err != nil {
		return err
	}
	if err := checkMatrix("matmul right operand", b, k, n); err != nil {
		return err
	}
	return checkMatrix("matmul output", dst, m, n)
}

package gemm

// reference computes the products in plain Go, accumulating every dot product
// in float64 and rounding once to float32: the kernel the tests compare ORT
// against, and the baseline of the benchmarks.
//
// The zero value is ready to use. A reference keeps a scratch row between
// calls so that repeated products do not allocate; it is not safe for
// concurrent use.
type reference struct {
	row []float64
}

// Gram sets dst[rows×rows] = a·aᵀ for a row-major a[rows×cols].
func (r *reference) Gram(dst, a []float32, rows, cols int) error {
	if err := checkGram(dst, a, rows, cols); err != nil {
		return err
	}
	// The result is symmetric: each off-diagonal dot product is computed once.
	for i := range rows {
		ai := a[i*cols : (i+1)*cols]
		for j := i; j < rows; j++ {
			v := float32(dot64(ai, a[j*cols:(j+1)*cols]))
			dst[i*rows+j] = v
			dst[j*rows+i] = v
		}
	}
	return nil
}

// MatMul sets dst[m×n] = a[m×k]·b[k×n], all row-major.
func (r *reference) MatMul(dst, a, b []float32, m, k, n int) error {
	if err := checkMatMul(dst, a, b, m, k, n); err != nil {
		return err
	}
	if cap(r.row) < n {
		r.row = make([]float64, n)
	}
	row := r.row[:n]
	// Row i of the result is a combination of the rows of b, so the inner
	// loop runs over contiguous memory in both b and the accumulator.
	for i := range m {
		clear(row)
		for p, av := range a[i*k : (i+1)*k] {
			if av == 0 {
				continue
			}
			w := float64(av)
			bp := b[p*n : (p+1)*n]
			for j, bv := range bp {
				row[j] += w * float64(bv)
			}
		}
		out := dst[i*n : (i+1)*n]
		for j, v := range row {
			out[j] = float32(v)
		}
	}
	return nil
}

// dot64 returns Σ x[i]·y[i] accumulated in float64; len(y) must be len(x).
func dot64(x, y []float32) float64 {
	y = y[:len(x)]
	// Four independent sums let the CPU overlap the additions' latency.
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i]) * float64(y[i])
		s1 += float64(x[i+1]) * float64(y[i+1])
		s2 += float64(x[i+2]) * float64(y[i+2])
		s3 += float64(x[i+3]) * float64(y[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i]) * float64(y[i])
	}
	return (s0 + s1) + (s2 + s3)
}

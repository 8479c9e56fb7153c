package flow

import "sync"

// minBandRows is the fewest rows a goroutine is given: below it the cost of
// starting and joining goroutines outweighs the work of a band.
const minBandRows = 16

// rows splits row ranges of a plane across a fixed number of goroutines.
type rows struct {
	workers int
}

// do calls fn on consecutive bands [y0, y1) covering [0, h) and waits for
// all of them; the last band runs on the calling goroutine. It returns the
// sum of fn's results, for reductions such as the mean update.
func (r rows) do(h int, fn func(y0, y1 int) float64) float64 {
	n := r.workers
	if m := h / minBandRows; n > m {
		n = m
	}
	if n <= 1 {
		return fn(0, h)
	}
	sums := make([]float64, n)
	var wg sync.WaitGroup
	for i := 0; i < n-1; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sums[i] = fn(i*h/n, (i+1)*h/n)
		}(i)
	}
	sums[n-1] = fn((n-1)*h/n, h)
	wg.Wait()
	var s float64
	for _, v := range sums {
		s += v
	}
	return s
}

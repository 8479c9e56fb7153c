package optim

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// optimizerCase builds an optimiser for the state tests; other builds a
// differently configured one, which restoring must overwrite.
type optimizerCase struct {
	name         string
	build, other func() Optimizer
}

func optimizerCases() []optimizerCase {
	adam := func(lr float64) func() Optimizer {
		return func() Optimizer {
			cfg := DefaultAdamConfig()
			cfg.LR = lr
			o, _ := NewAdam(cfg)
			return o
		}
	}
	lbfgs := func(m int) func() Optimizer {
		return func() Optimizer {
			cfg := DefaultLBFGSConfig()
			cfg.History = m
			o, _ := NewLBFGS(cfg)
			return o
		}
	}
	return []optimizerCase{
		{"adam", adam(0.02), adam(0.5)},
		{"lbfgs", lbfgs(4), lbfgs(7)},
	}
}

func TestStateRoundTripContinuesIdentically(t *testing.T) {
	p := newGramProblem(8, 8, 8, 21)
	const steps = 12
	for _, tc := range optimizerCases() {
		t.Run(tc.name, func(t *testing.T) {
			run := func(opt Optimizer, x []float32, n int) {
				for range n {
					if _, err := opt.Step(context.Background(), x, p.objective); err != nil {
						t.Fatal(err)
					}
				}
			}
			straight := tc.build()
			wantX := append([]float32(nil), p.startX...)
			run(straight, wantX, steps)
			wantState, err := straight.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}

			// k = 0 saves a state taken before the first Step.
			for _, k := range []int{0, 1, 5, steps - 1} {
				first := tc.build()
				x := append([]float32(nil), p.startX...)
				run(first, x, k)
				saved, err := first.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				resumed := tc.other()
				if err := resumed.UnmarshalBinary(saved); err != nil {
					t.Fatalf("restore after %d steps: %v", k, err)
				}
				again, _ := resumed.MarshalBinary()
				if !bytes.Equal(again, saved) {
					t.Fatalf("restore after %d steps: re-encoded state differs", k)
				}
				run(resumed, x, steps-k)
				gotState, _ := resumed.MarshalBinary()
				if !equalBits(x, wantX) {
					t.Errorf("interrupted after %d steps: x differs from the uninterrupted run", k)
				}
				if !bytes.Equal(gotState, wantState) {
					t.Errorf("interrupted after %d steps: final state differs from the uninterrupted run", k)
				}
			}
		})
	}
}

func TestUnmarshalRejectsCorruptState(t *testing.T) {
	q := quadratic{a: []float64{1, 2, 3}, c: []float64{0.1, 0.2, 0.3}}
	for _, tc := range optimizerCases() {
		t.Run(tc.name, func(t *testing.T) {
			opt := tc.build()
			x := []float32{0.9, 0.8, 0.7}
			for range 3 {
				if _, err := opt.Step(context.Background(), x, q.objective); err != nil {
					t.Fatal(err)
				}
			}
			good, _ := opt.MarshalBinary()
			target := tc.other()
			pristine, _ := target.MarshalBinary()
			check := func(what string, data []byte) {
				t.Helper()
				if err := target.UnmarshalBinary(data); err == nil {
					t.Errorf("%s: accepted", what)
				}
				if now, _ := target.MarshalBinary(); !bytes.Equal(now, pristine) {
					t.Fatalf("%s: a failed restore changed the optimiser", what)
				}
			}
			for n := 0; n < len(good); n++ {
				check("truncated", good[:n])
			}
			check("trailing byte", append(append([]byte(nil), good...), 0))
			var wrongMethod []byte
			for _, other := range optimizerCases() {
				if other.name != tc.name {
					wrongMethod, _ = other.build().MarshalBinary()
				}
			}
			check("other method", wrongMethod)
			check("not a state", []byte("PNG\x89 definitely not"))
		})
	}
}

func FuzzUnmarshalNeverPanics(f *testing.F) {
	q := quadratic{a: []float64{1, 2}, c: []float64{0.1, 0.2}}
	for _, tc := range optimizerCases() {
		opt := tc.build()
		x := []float32{0.9, 0.8}
		for range 3 {
			if _, err := opt.Step(context.Background(), x, q.objective); err != nil {
				f.Fatal(err)
			}
		}
		good, _ := opt.MarshalBinary()
		f.Add(good)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tc := range optimizerCases() {
			opt := tc.build()
			if err := opt.UnmarshalBinary(data); err != nil {
				continue
			}
			// A state that decodes must be usable.
			x := []float32{0.5, 0.5}
			if _, err := opt.Step(context.Background(), x, q.objective); err != nil && !errors.Is(err, ErrConverged) {
				t.Logf("restored state steps with error: %v", err)
			}
		}
	})
}

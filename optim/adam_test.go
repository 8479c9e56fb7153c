package optim

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

// ulps32 is the distance between a and b in float32 units in the last place.
func ulps32(a, b float32) int64 {
	ia, ib := int64(math.Float32bits(a)), int64(math.Float32bits(b))
	if ia < 0 != (ib < 0) {
		return math.MaxInt64
	}
	d := ia - ib
	if d < 0 {
		d = -d
	}
	return d
}

func TestAdamMatchesHandComputedSteps(t *testing.T) {
	// f = ½ (x0-0)² + ½·4 (x1-1)² from (0.5, 0.5), lr 0.1. Step 1: g =
	// (0.5, -2), m̂ = g and v̂ = g², so each value moves by lr·g/(|g|+ε),
	// 0.1 towards its target: (0.4, 0.6). Step 2: g = (0.4, -1.6),
	// m = (0.085, -0.34), v = (0.00040975, 0.006556), m̂ = m/0.19,
	// v̂ = v/0.001999, x -= 0.1·m̂/(√v̂+ε). Step 3 likewise; the numbers were
	// worked through with every float32 rounding of the moments applied.
	cfg := DefaultAdamConfig()
	cfg.LR = 0.1
	cfg.Lo, cfg.Hi = float32(math.Inf(-1)), float32(math.Inf(1))
	opt, err := NewAdam(cfg)
	if err != nil {
		t.Fatal(err)
	}
	q := quadratic{a: []float64{1, 4}, c: []float64{0, 1}}
	x := []float32{0.5, 0.5}
	want := []struct {
		cost   float64
		x      [2]float32
		m, v   [2]float32
		stepLR float64
	}{
		{0.625, [2]float32{0.4, 0.6}, [2]float32{0.05, -0.2}, [2]float32{0.00025, 0.004}, 0.1 * math.Sqrt(0.001) / 0.1},
		{0.4, [2]float32{0.30118743, 0.6988126}, [2]float32{0.085, -0.34}, [2]float32{0.00040975, 0.006556}, 0.1 * math.Sqrt(0.001999) / 0.19},
		{0.22678463, [2]float32{0.20487127, 0.79512876}, [2]float32{0.10661874, -0.42647493}, [2]float32{0.00050005416, 0.008000866}, 0.1 * math.Sqrt(1-math.Pow(0.999, 3)) / (1 - math.Pow(0.9, 3))},
	}
	for k, w := range want {
		res, err := opt.Step(context.Background(), x, q.objective)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(res.Cost-w.cost) > 1e-7*w.cost {
			t.Errorf("step %d: cost %.9g, want %.9g (the cost before the update)", k+1, res.Cost, w.cost)
		}
		if res.Evals != 1 || res.Iter != k+1 || res.TotalEvals != k+1 {
			t.Errorf("step %d: evals %d, iter %d, total %d", k+1, res.Evals, res.Iter, res.TotalEvals)
		}
		if math.Abs(res.StepSize-w.stepLR) > 1e-12 {
			t.Errorf("step %d: step size %g, want %g", k+1, res.StepSize, w.stepLR)
		}
		for i := range 2 {
			if u := ulps32(x[i], w.x[i]); u > 1 {
				t.Errorf("step %d: x[%d] = %.9g, want %.9g (%d ulps)", k+1, i, x[i], w.x[i], u)
			}
			if u := ulps32(opt.m[i], w.m[i]); u > 1 {
				t.Errorf("step %d: m[%d] = %.9g, want %.9g", k+1, i, opt.m[i], w.m[i])
			}
			if u := ulps32(opt.v[i], w.v[i]); u > 1 {
				t.Errorf("step %d: v[%d] = %.9g, want %.9g", k+1, i, opt.v[i], w.v[i])
			}
		}
	}
}

func TestAdamProjectsOntoBounds(t *testing.T) {
	// The linear cost Σ sᵢ·xᵢ pushes each value towards one bound forever.
	tests := []struct {
		name   string
		lo, hi float32
		lr     float64
	}{
		{"pixels", 0, 1, 0.3},
		{"wide", -1, 2, 0.7},
		{"narrow", 0.25, 0.5, 0.05},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultAdamConfig()
			cfg.LR, cfg.Lo, cfg.Hi = tc.lr, tc.lo, tc.hi
			opt, err := NewAdam(cfg)
			if err != nil {
				t.Fatal(err)
			}
			sign := []float32{1, -1, 1, -1, 0.001, -0.001}
			linear := func(_ context.Context, x, g []float32) (float64, error) {
				var f float64
				for i := range x {
					g[i] = sign[i]
					f += float64(sign[i] * x[i])
				}
				return f, nil
			}
			mid := (tc.lo + tc.hi) / 2
			x := []float32{mid, mid, tc.lo, tc.hi, mid, mid}
			for step := range 20 {
				if _, err := opt.Step(context.Background(), x, linear); err != nil {
					t.Fatal(err)
				}
				for i, v := range x {
					if v < tc.lo || v > tc.hi {
						t.Fatalf("step %d: x[%d] = %g outside [%g, %g]", step, i, v, tc.lo, tc.hi)
					}
				}
			}
			// Every value has been driven into its bound and held exactly there.
			for i, v := range x {
				want := tc.hi
				if sign[i] > 0 {
					want = tc.lo
				}
				if v != want {
					t.Errorf("x[%d] = %g, want the bound %g", i, v, want)
				}
			}
		})
	}
}

func TestAdamRejectsBadInput(t *testing.T) {
	bad := []struct {
		name string
		edit func(*AdamConfig)
	}{
		{"zero lr", func(c *AdamConfig) { c.LR = 0 }},
		{"nan lr", func(c *AdamConfig) { c.LR = math.NaN() }},
		{"beta1 one", func(c *AdamConfig) { c.Beta1 = 1 }},
		{"beta2 negative", func(c *AdamConfig) { c.Beta2 = -0.1 }},
		{"zero eps", func(c *AdamConfig) { c.Eps = 0 }},
		{"empty range", func(c *AdamConfig) { c.Lo, c.Hi = 1, 1 }},
	}
	for _, tc := range bad {
		cfg := DefaultAdamConfig()
		tc.edit(&cfg)
		if _, err := NewAdam(cfg); err == nil {
			t.Errorf("%s: NewAdam accepted %+v", tc.name, cfg)
		}
	}

	opt, _ := NewAdam(DefaultAdamConfig())
	x := []float32{0.5, 0.5}
	nan := func(_ context.Context, x, g []float32) (float64, error) {
		g[0], g[1] = float32(math.NaN()), 1
		return 1, nil
	}
	if _, err := opt.Step(context.Background(), x, nan); err == nil || !strings.Contains(err.Error(), "gradient norm NaN") {
		t.Errorf("NaN gradient: err = %v", err)
	}
	if x[0] != 0.5 || x[1] != 0.5 || opt.t != 0 || opt.m[1] != 0 {
		t.Errorf("a rejected step changed x %v or the state (t %d, m %v)", x, opt.t, opt.m)
	}
	if _, err := opt.Step(context.Background(), []float32{1, 2, 3}, nan); err == nil {
		t.Error("a Step with a different length was accepted")
	}
	boom := errors.New("boom")
	failing := func(context.Context, []float32, []float32) (float64, error) { return 0, boom }
	if _, err := opt.Step(context.Background(), x, failing); !errors.Is(err, boom) {
		t.Errorf("objective error not wrapped: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := opt.Step(ctx, x, failing); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}
	if x[0] != 0.5 || opt.t != 0 {
		t.Errorf("failed steps changed x %v or t %d", x, opt.t)
	}
}

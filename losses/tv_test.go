package losses_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nst-project/nst/losses"
)

func TestTotalVariationHandComputed(t *testing.T) {
	// One 2×3 plane [0 1 3 | 2 2 2]: horizontal differences 1, 2, 0, 0;
	// vertical 2, 1, −1; squares sum to 11, over 6 values.
	// dJ/dv = (2/6)·Σ_neighbours (v − neighbour):
	//   (0,0): (0−1)+(0−2) = −3   (0,1): (1−0)+(1−3)+(1−2) = −2   (0,2): (3−1)+(3−2) = 3
	//   (1,0): (2−2)+(2−0) = 2    (1,1): 0+0+(2−1) = 1            (1,2): 0+(2−3) = −1
	plane := []float32{0, 1, 3, 2, 2, 2}
	planeGrad := []float64{-1, -2.0 / 3, 1, 2.0 / 3, 1.0 / 3, -1.0 / 3}
	cases := []struct {
		name    string
		img     []float32
		c, h, w int
		weight  float64
		want    float64
		grad    []float64 // weight·dJ_tv/dv
	}{
		{"one channel", plane, 1, 2, 3, 1, 11.0 / 6, planeGrad},
		// A flat second channel adds no variation but doubles the count,
		// halving both J_tv and its gradient; weight 2 restores the latter.
		{"two channels", append(append([]float32{}, plane...), 5, 5, 5, 5, 5, 5), 2, 2, 3, 2, 11.0 / 12,
			append(append([]float64{}, planeGrad...), 0, 0, 0, 0, 0, 0)},
		{"transposed", []float32{0, 2, 1, 2, 3, 2}, 1, 3, 2, 1, 11.0 / 6, []float64{-1, 2.0 / 3, -2.0 / 3, 1.0 / 3, 1, -1.0 / 3}},
		{"weighted", plane, 1, 2, 3, -0.5, 11.0 / 6, []float64{0.5, 1.0 / 3, -0.5, -1.0 / 3, -1.0 / 6, 1.0 / 6}},
		{"single pixel", []float32{0.5}, 1, 1, 1, 1, 0, []float64{0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			grad := make([]float32, len(c.img))
			for i := range grad {
				grad[i] = 1 // TotalVariation adds to what is there
			}
			got, err := losses.TotalVariation(c.img, c.c, c.h, c.w, c.weight, grad)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-c.want) > 1e-9 {
				t.Errorf("J_tv = %.12g, want %.12g", got, c.want)
			}
			for i, g := range grad {
				want := 1 + c.grad[i]
				if math.Abs(float64(g)-want) > 1e-9+math.Abs(want)*0x1p-22 {
					t.Errorf("grad[%d] = %.9g, want %.9g", i, g, want)
				}
			}
		})
	}
}

func TestTotalVariationMatchesFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	img := randTensor(rng, 3, 4, 5)
	data := act("img", img).Data
	const weight = 0.37
	grad := make([]float32, len(data))
	got, err := losses.TotalVariation(data, 3, 4, 5, weight, grad)
	if err != nil {
		t.Fatal(err)
	}
	if want := tv64(img); !closeTo(got, want, 1e-12, 0) {
		t.Errorf("J_tv = %.12g, float64 reference %.12g", got, want)
	}
	const h = 1e-6
	for i, v := range img.v {
		img.v[i] = v + h
		plus := tv64(img)
		img.v[i] = v - h
		minus := tv64(img)
		img.v[i] = v
		want := weight * (plus - minus) / (2 * h)
		if math.Abs(float64(grad[i])-want) > 1e-6 {
			t.Fatalf("grad[%d] = %.8g, finite differences %.8g", i, grad[i], want)
		}
	}
}

func TestTotalVariationErrors(t *testing.T) {
	img := make([]float32, 12)
	cases := []struct {
		name    string
		img     []float32
		c, h, w int
		weight  float64
		grad    []float32
		want    string
	}{
		{"short image", img[:11], 1, 3, 4, 1, nil, "11 values for a 1×3×4 image"},
		{"short gradient", img, 1, 3, 4, 1, make([]float32, 11), "gradient has 11 values"},
		{"zero width", img, 1, 3, 0, 1, nil, "want positive"},
		{"NaN weight", img, 1, 3, 4, math.NaN(), nil, "weight NaN"},
	}
	for _, c := range cases {
		if _, err := losses.TotalVariation(c.img, c.c, c.h, c.w, c.weight, c.grad); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

func TestAddTVCompletesCosts(t *testing.T) {
	o, err := losses.New(losses.Spec{Content: []losses.Layer{{Name: "l", Weight: 1}}, Alpha: 2, TV: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	target := []losses.Activation{{Name: "l", C: 2, H: 2, W: 3, Data: handS}}
	if err := o.SetContentTargets(target); err != nil {
		t.Fatal(err)
	}
	costs := o.NewCosts()
	if err := o.Eval(costs, []losses.Activation{{Name: "l", C: 2, H: 2, W: 3, Data: handA}}, [][]float32{make([]float32, 12)}); err != nil {
		t.Fatal(err)
	}
	img := []float32{0, 1, 3, 2, 2, 2}
	grad := make([]float32, 6)
	for range 2 { // repeating AddTV must not count TV twice in Total
		if err := o.AddTV(costs, img, 1, 2, 3, grad); err != nil {
			t.Fatal(err)
		}
	}
	if want := 2*19.0/6 + 3*11.0/6; math.Abs(costs.Total-want) > 1e-9 || math.Abs(costs.TV-11.0/6) > 1e-9 {
		t.Errorf("total %.12g, TV %.12g; want %.12g, %.12g", costs.Total, costs.TV, want, 11.0/6)
	}
	// Two calls added the gradient twice: 2·3·(−1) at (0,0).
	if math.Abs(float64(grad[0])+6) > 1e-6 {
		t.Errorf("grad[0] = %v after two AddTV, want -6", grad[0])
	}
	// The next Eval starts the iteration's costs afresh.
	if err := o.Eval(costs, []losses.Activation{{Name: "l", C: 2, H: 2, W: 3, Data: handA}}, [][]float32{make([]float32, 12)}); err != nil {
		t.Fatal(err)
	}
	if costs.TV != 0 || math.Abs(costs.Total-2*19.0/6) > 1e-9 {
		t.Errorf("after Eval: TV %v, total %v", costs.TV, costs.Total)
	}
}

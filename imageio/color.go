package imageio

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// ColorStats are the colour statistics of an RGB image: the mean of each
// channel and the 3×3 covariance of the channels over the pixels.
type ColorStats struct {
	Mean [3]float64
	Cov  [3][3]float64
}

// MeasureColor returns the colour statistics of a [1, 3, H, W] NCHW tensor,
// accumulated in float64. The covariance is the population one (divided by
// the pixel count).
func MeasureColor(t []float32) (ColorStats, error) {
	var s ColorStats
	if len(t) == 0 || len(t)%3 != 0 {
		return s, fmt.Errorf("colour statistics: %d values, want a positive multiple of 3", len(t))
	}
	n := len(t) / 3
	planes := [3][]float32{t[:n:n], t[n : 2*n : 2*n], t[2*n:]}
	for c, p := range planes {
		var sum float64
		for _, v := range p {
			sum += float64(v)
		}
		s.Mean[c] = sum / float64(n)
	}
	for i := range 3 {
		for j := i; j < 3; j++ {
			var sum float64
			a, b := planes[i], planes[j]
			mi, mj := s.Mean[i], s.Mean[j]
			for k := range a {
				sum += (float64(a[k]) - mi) * (float64(b[k]) - mj)
			}
			s.Cov[i][j] = sum / float64(n)
			s.Cov[j][i] = s.Cov[i][j]
		}
	}
	return s, nil
}

// quantisationVariance is the variance of rounding a uniform value to 8
// bits, (1/255)²/12. A colour direction whose variance is below it holds no
// information an 8-bit image can show, so MatchColor does not stretch it
// further than this floor allows.
const quantisationVariance = 1.0 / (255 * 255 * 12)

// MatchColor writes into dst the [1, 3, H, W] tensor src with its colours
// transformed so that their mean and covariance are target's (Gatys et al.
// 2017, colour histogram matching): every pixel x becomes
//
//	x' = A·(x − μ_src) + μ_target,   A = Σ_target^½ · Σ_src^−½
//
// so that A·Σ_src·Aᵀ = Σ_target. The square roots are the symmetric ones,
// from the eigen-decomposition of each covariance (gonum's EigenSym): unlike
// the Cholesky variant (A = L_target·L_src⁻¹), the result does not depend
// on the order of the colour channels. Eigenvalues of Σ_src below 8-bit
// quantisation noise are raised to it, so a flat or nearly grey image is
// not stretched without bound; only for such an image do the statistics of
// the result fall short of target's.
//
// The result is not clamped to [0, 1]: clamping would undo the match, and
// the network takes any value. dst and src must have the same length, a
// positive multiple of 3; they may be the same slice.
func MatchColor(dst, src []float32, target ColorStats) error {
	if len(dst) != len(src) {
		return fmt.Errorf("match colours: dst has %d values, src %d", len(dst), len(src))
	}
	source, err := MeasureColor(src)
	if err != nil {
		return fmt.Errorf("match colours: %w", err)
	}
	targetRoot, err := symmetricPower(target.Cov, 0.5, 0)
	if err != nil {
		return fmt.Errorf("match colours: target covariance: %w", err)
	}
	sourceInvRoot, err := symmetricPower(source.Cov, -0.5, quantisationVariance)
	if err != nil {
		return fmt.Errorf("match colours: source covariance: %w", err)
	}
	var a mat.Dense
	a.Mul(targetRoot, sourceInvRoot)
	var m [3][3]float64
	for i := range 3 {
		for j := range 3 {
			m[i][j] = a.At(i, j)
		}
	}
	n := len(src) / 3
	s0, s1, s2 := src[:n:n], src[n:2*n:2*n], src[2*n:]
	d0, d1, d2 := dst[:n:n], dst[n:2*n:2*n], dst[2*n:]
	for i := range n {
		x := [3]float64{float64(s0[i]) - source.Mean[0], float64(s1[i]) - source.Mean[1], float64(s2[i]) - source.Mean[2]}
		d0[i] = float32(m[0][0]*x[0] + m[0][1]*x[1] + m[0][2]*x[2] + target.Mean[0])
		d1[i] = float32(m[1][0]*x[0] + m[1][1]*x[1] + m[1][2]*x[2] + target.Mean[1])
		d2[i] = float32(m[2][0]*x[0] + m[2][1]*x[1] + m[2][2]*x[2] + target.Mean[2])
	}
	return nil
}

// symmetricPower returns S^p for a symmetric positive semi-definite 3×3 S,
// as V·diag(λ^p)·Vᵀ, with each eigenvalue raised to at least floor first;
// a negative p needs a positive floor.
func symmetricPower(s [3][3]float64, p, floor float64) (*mat.Dense, error) {
	if p < 0 && !(floor > 0) {
		return nil, fmt.Errorf("power %v of a covariance needs a positive eigenvalue floor, got %v", p, floor)
	}
	sym := mat.NewSymDense(3, nil)
	for i := range 3 {
		for j := i; j < 3; j++ {
			if math.IsNaN(s[i][j]) || math.IsInf(s[i][j], 0) {
				return nil, fmt.Errorf("covariance entry %v", s[i][j])
			}
			sym.SetSym(i, j, s[i][j])
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, true) {
		return nil, errors.New("eigen-decomposition did not converge")
	}
	var v mat.Dense
	eig.VectorsTo(&v)
	values := eig.Values(nil)
	d := mat.NewDiagDense(3, nil)
	for i, l := range values {
		// Rounding can leave a zero eigenvalue slightly negative.
		d.SetDiag(i, math.Pow(math.Max(l, floor), p))
	}
	var out mat.Dense
	out.Mul(&v, d)
	out.Mul(&out, v.T())
	return &out, nil
}

// Luminance writes into y (H×W values) the luminance Y of the [1, 3, H, W]
// RGB tensor rgb, the first row of the YIQ transform (see RGBToYIQ).
func Luminance(y, rgb []float32) {
	n := len(y)
	if len(rgb) != 3*n {
		panic(fmt.Sprintf("imageio.Luminance: %d values for %d pixels; want 3 per pixel", len(rgb), n))
	}
	r, g, b := rgb[:n:n], rgb[n:2*n:2*n], rgb[2*n:]
	m := rgbToYIQ[0]
	for i := range y {
		y[i] = float32(m[0]*float64(r[i]) + m[1]*float64(g[i]) + m[2]*float64(b[i]))
	}
}

// MeanStd returns the mean and the (population) standard deviation of v.
func MeanStd(v []float32) (mean, std float64) {
	if len(v) == 0 {
		return 0, 0
	}
	for _, x := range v {
		mean += float64(x)
	}
	mean /= float64(len(v))
	for _, x := range v {
		d := float64(x) - mean
		std += d * d
	}
	return mean, math.Sqrt(std / float64(len(v)))
}

// MatchMoments shifts and scales v in place so that its mean and standard
// deviation become mean and std: v' = (v − μ)·std/σ + mean (Gatys et al.
// 2017, luminance-only transfer: the style's luminance is matched to the
// content's). A constant v (σ = 0) becomes the constant mean.
func MatchMoments(v []float32, mean, std float64) {
	mu, sigma := MeanStd(v)
	scale := 0.0
	if sigma > 0 {
		scale = std / sigma
	}
	for i, x := range v {
		v[i] = float32((float64(x)-mu)*scale + mean)
	}
}

// WithChroma writes into dst, a [1, 3, H, W] RGB tensor, the image whose
// luminance is y (H×W) and whose chrominance (YIQ's I and Q) is that of ref,
// an RGB tensor of the same size with values in [0, 1].
//
// As YIQ's I and Q rows each sum to zero, adding grey to a colour changes
// its Y alone: dst = ref + (y − Y_ref) in every channel, exactly. To keep
// dst in [0, 1] without touching the chroma, y is clamped per pixel to the
// range where ref's chroma stays in gamut, [Y_ref − min(ref), Y_ref + 1 −
// max(ref)], which holds Y_ref itself; NaN keeps ref's pixel. Clamping dst
// per channel instead would change its chroma wherever it bites.
func WithChroma(dst, y, ref []float32) {
	n := len(y)
	if len(dst) != 3*n || len(ref) != 3*n {
		panic(fmt.Sprintf("imageio.WithChroma: dst %d, ref %d values for %d pixels; want 3 per pixel", len(dst), len(ref), n))
	}
	r, g, b := ref[:n:n], ref[n:2*n:2*n], ref[2*n:]
	d0, d1, d2 := dst[:n:n], dst[n:2*n:2*n], dst[2*n:]
	m := rgbToYIQ[0]
	for i, v := range y {
		c := [3]float64{float64(r[i]), float64(g[i]), float64(b[i])}
		luma := m[0]*c[0] + m[1]*c[1] + m[2]*c[2]
		lo := luma - min(c[0], c[1], c[2])
		hi := luma + 1 - max(c[0], c[1], c[2])
		target := float64(v)
		switch {
		case math.IsNaN(target):
			target = luma
		case target < lo:
			target = lo
		case target > hi:
			target = hi
		}
		shift := target - luma
		d0[i] = float32(c[0] + shift)
		d1[i] = float32(c[1] + shift)
		d2[i] = float32(c[2] + shift)
	}
}

package imageio

import "fmt"

// rgbToYIQ is the FCC NTSC (1953) RGB to YIQ matrix: Y is luminance, I and Q
// carry chrominance, each of whose rows sums to zero so that greys have no
// chroma. Colour preservation (Gatys et al. 2016) transfers style on Y only
// and keeps I and Q from the content image.
var rgbToYIQ = [3][3]float64{
	{0.299, 0.587, 0.114},
	{0.5959, -0.2746, -0.3213},
	{0.2115, -0.5227, 0.3112},
}

// yiqToRGB is the inverse of rgbToYIQ, computed in float64 rather than taken
// from the commonly printed rounded coefficients, so that converting there
// and back returns the input to within float32 rounding.
var yiqToRGB = invert3(rgbToYIQ)

// RGBToYIQ converts a [1, 3, H, W] NCHW RGB tensor to YIQ (planes Y, I, Q).
// dst and src must have the same length, a multiple of 3; they may be the
// same slice. Y lies in [0, 1] for RGB in [0, 1]; I and Q may be negative.
func RGBToYIQ(dst, src []float32) {
	transform(&rgbToYIQ, dst, src, "RGBToYIQ")
}

// YIQToRGB converts a [1, 3, H, W] NCHW YIQ tensor back to RGB; it is the
// exact inverse of RGBToYIQ. dst and src must have the same length, a
// multiple of 3; they may be the same slice. Values are not clamped.
func YIQToRGB(dst, src []float32) {
	transform(&yiqToRGB, dst, src, "YIQToRGB")
}

// transform applies m to every pixel's three channel values.
func transform(m *[3][3]float64, dst, src []float32, name string) {
	if len(dst) != len(src) || len(src)%3 != 0 {
		panic(fmt.Sprintf("imageio.%s: dst has %d values, src %d; want equal lengths, a multiple of 3", name, len(dst), len(src)))
	}
	n := len(src) / 3
	s0, s1, s2 := src[:n:n], src[n:2*n:2*n], src[2*n:]
	d0, d1, d2 := dst[:n:n], dst[n:2*n:2*n], dst[2*n:]
	for i := range n {
		a, b, c := float64(s0[i]), float64(s1[i]), float64(s2[i])
		d0[i] = float32(m[0][0]*a + m[0][1]*b + m[0][2]*c)
		d1[i] = float32(m[1][0]*a + m[1][1]*b + m[1][2]*c)
		d2[i] = float32(m[2][0]*a + m[2][1]*b + m[2][2]*c)
	}
}

// invert3 inverts a 3x3 matrix by its adjugate. The YIQ matrix is far from
// singular (determinant about -0.3), so no pivoting is needed.
func invert3(m [3][3]float64) [3][3]float64 {
	var inv [3][3]float64
	for i := range 3 {
		for j := range 3 {
			// Cofactor of m[j][i], which lands at inv[i][j] (transposed).
			r0, r1 := (j+1)%3, (j+2)%3
			c0, c1 := (i+1)%3, (i+2)%3
			inv[i][j] = m[r0][c0]*m[r1][c1] - m[r0][c1]*m[r1][c0]
		}
	}
	det := m[0][0]*inv[0][0] + m[0][1]*inv[1][0] + m[0][2]*inv[2][0]
	for i := range 3 {
		for j := range 3 {
			inv[i][j] /= det
		}
	}
	return inv
}

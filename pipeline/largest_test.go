package pipeline

import "testing"

// TestLargestFittingShrinksTheStyles checks that the largest size that
// fits counts the style images at that size: they follow the output's
// (style[].scale), so a run whose 4096 px style image does not fit may
// still fit at a smaller size, where the style image is smaller too. (It
// used to keep the style images at the requested size and say that no
// size fits.)
func TestLargestFittingShrinksTheStyles(t *testing.T) {
	f := smallFootprint()
	f.StyleSizes = [][2]int{{4096, 4096}}
	// The limit is what 2048 px takes with its 2048 px style image.
	half := f
	half.StyleSizes = [][2]int{{2048, 2048}}
	limit := EstimatePeak(half, 2048, 2048)
	w, h := LargestFitting(f, 4096, 4096, limit)
	if w < 2000 || w != h {
		t.Fatalf("largest fitting %dx%d, want about 2048x2048 (the style image shrinks with the output)", w, h)
	}
	if got := EstimatePeak(f.scaled(w, 4096), w, h); got > limit {
		t.Errorf("%dx%d with its style image scaled: %d bytes, over the limit %d", w, h, got, limit)
	}
}

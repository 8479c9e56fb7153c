package pipeline

import (
	"context"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"testing"
)

// TestStyleOrderDoesNotChangeTheTargets: each style image's activations
// stay in the network that computed them until the targets are set, and
// are copied only when a later image of the output's size would overwrite
// them. With images of the output's size first and last and one of
// another size between, an activation overwritten too early would make
// the blended targets, and so the cost, depend on the images' order.
func TestStyleOrderDoesNotChangeTheTargets(t *testing.T) {
	// builtin:village is 3:2, the output's aspect (32x21 at size 32), as
	// is this 48x32 checkerboard; builtin:swirls (4:3) gets a network of
	// its own.
	checks := filepath.Join(t.TempDir(), "checks.png")
	writeImage(t, checks, 48, 32, func(x, y int) color.NRGBA {
		if (x/4+y/4)%2 == 0 {
			return color.NRGBA{200, 180, 40, 255}
		}
		return color.NRGBA{30, 90, 160, 255}
	})
	cost := func(order ...string) float64 {
		styles := "style=["
		for i, p := range order {
			if i > 0 {
				styles += ", "
			}
			styles += fmt.Sprintf("{path: %s, weight: 1}", p)
		}
		e := tinyExperiment(t, tinyConfig(t, "", styles+"]", "weights.content=0", "weights.tv=0"))
		x, err := e.initImage()
		if err != nil {
			t.Fatal(err)
		}
		j, err := e.evaluate(context.Background(), x, make([]float32, len(x)))
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	forward := cost("builtin:village", "builtin:swirls", checks)
	backward := cost(checks, "builtin:swirls", "builtin:village")
	if forward <= 0 || math.Abs(forward-backward) > 1e-5*forward {
		t.Errorf("style cost %g with the images in one order, %g in the other", forward, backward)
	}
	// The test can fail: two images of the output's size with another
	// between them give other targets than the first image alone.
	if alone := cost("builtin:village", "builtin:swirls", "builtin:village"); math.Abs(alone-forward) < 1e-3*forward {
		t.Errorf("style cost %g does not depend on which images are blended (%g)", alone, forward)
	}
}

package pipeline_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/nst-project/nst/builtinimg"
	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/pipeline"
	"github.com/nst-project/nst/record"
)

// TestAdamAloneWorks: a config that only switches to Adam (no lr) gets
// Adam's own step size, lowers the cost over 50 iterations at 256 px from
// the content image, and keeps the content recognisable. With the step
// size of 1 the config used to give every method, the first steps threw
// the pixels to 0 and 1.
func TestAdamAloneWorks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "adam.yaml")
	yaml := "content: builtin:village\nstyle: [{path: builtin:swirls}]\nsize: 256\noptimizer: {name: adam, iterations: 50}\n"
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := pipeline.LoadConfig(path, []string{"output.dir=" + filepath.Join(dir, "run"), "output.save_every=0", "runtime.graph_cache=false"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := pipeline.Run(context.Background(), cfg, pipeline.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	table, err := record.ReadCosts(filepath.Join(res.Dir, record.CostsCSVName))
	if err != nil {
		t.Fatal(err)
	}
	total, _ := table.Column("total")
	if len(total) != 50 || !(total[49] < 0.5*total[0]) {
		t.Errorf("total cost %v after the first step, %v after the last (%d steps): want it at least halved", total[0], total[len(total)-1], len(total))
	}
	out, err := imageio.Load(res.Image, imageio.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	village, err := builtinimg.Load("builtin:village")
	if err != nil {
		t.Fatal(err)
	}
	content, err := imageio.Resize(village, out.Bounds().Dx(), out.Bounds().Dy())
	if err != nil {
		t.Fatal(err)
	}
	if r := lumaCorrelation(content.Pix, out.Pix); r < 0.8 {
		t.Errorf("result's luminance correlates %.3f with the content's, want >= 0.8 (a recognisable image)", r)
	}
}

// lumaCorrelation is the Pearson correlation of two RGBA images' luminance.
func lumaCorrelation(a, b []uint8) float64 {
	var sa, sb, saa, sbb, sab, n float64
	for i := 0; i+3 < len(a) && i+3 < len(b); i += 4 {
		ya := 0.299*float64(a[i]) + 0.587*float64(a[i+1]) + 0.114*float64(a[i+2])
		yb := 0.299*float64(b[i]) + 0.587*float64(b[i+1]) + 0.114*float64(b[i+2])
		sa, sb, saa, sbb, sab, n = sa+ya, sb+yb, saa+ya*ya, sbb+yb*yb, sab+ya*yb, n+1
	}
	cov := sab/n - sa/n*sb/n
	return cov / math.Sqrt((saa/n-sa*sa/n/n)*(sbb/n-sb*sb/n/n))
}

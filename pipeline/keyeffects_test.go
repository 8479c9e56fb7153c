package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nst-project/nst/record"
)

// The tests in this file check that a config key does what
// configs/README.md says it does to a run, not only that its value is
// accepted.

// runTiny runs the tiny config with extra YAML and sets, with the graph
// cache off unless sets say otherwise, and returns the run's result.
func runTiny(t *testing.T, extra string, sets ...string) *Result {
	t.Helper()
	cfg := tinyConfig(t, extra, append([]string{"runtime.graph_cache=false", "output.save_every=0"}, sets...)...)
	res, err := Run(context.Background(), cfg, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// finalAndCosts returns a finished run's final.png bytes and its cost rows.
func finalAndCosts(t *testing.T, res *Result) ([]byte, [][]float64) {
	t.Helper()
	img := readFile(t, filepath.Join(res.Dir, "final.png"))
	table, err := record.ReadCosts(filepath.Join(res.Dir, record.CostsCSVName))
	if err != nil {
		t.Fatal(err)
	}
	return img, table.Values
}

// lbfgsStateHistory reads the History setting out of an L-BFGS state as
// optim.LBFGS.MarshalBinary writes it: the method's name (length-prefixed),
// the format version, then History, each integer as 8 little-endian bytes.
func lbfgsStateHistory(t *testing.T, state []byte) int {
	t.Helper()
	i := bytes.Index(state, []byte("lbfgs"))
	if i < 0 || len(state) < i+5+16 {
		t.Fatalf("optimiser state of %d bytes names no lbfgs method", len(state))
	}
	return int(int64(binary.LittleEndian.Uint64(state[i+5+8:])))
}

// TestOptimizerHistoryReachesTheOptimiser: optimizer.history is the
// number of curvature pairs the run's L-BFGS keeps. A run stopped after 6
// steps leaves a checkpoint whose optimiser state records the history it
// was built with and holds at most that many pairs (each pair is the 2·n
// float32 of s and y plus ρ), and a different history takes a different
// path to a different image.
func TestOptimizerHistoryReachesTheOptimiser(t *testing.T) {
	stopAfter := errors.New("stop after iteration 6")
	type stopped struct {
		history int
		state   []byte
		costs   [][]float64
		pixels  int
	}
	stop := func(history string) stopped {
		cfg := tinyConfig(t, "", "runtime.graph_cache=false", "output.save_every=0", "optimizer.history="+history)
		obs := ObserverFunc(func(ev *Event) error {
			if ev.Kind == EventIteration && ev.Iteration == 6 {
				return stopAfter
			}
			return nil
		})
		_, err := Run(context.Background(), cfg, RunOptions{Observers: []Observer{obs}})
		if !errors.Is(err, stopAfter) {
			t.Fatalf("history %s: run ended with %v, want the observer's error", history, err)
		}
		c, err := loadCheckpoint(cfg.Output.Dir)
		if err != nil {
			t.Fatal(err)
		}
		table, err := record.ReadCosts(filepath.Join(cfg.Output.Dir, record.CostsCSVName))
		if err != nil {
			t.Fatal(err)
		}
		return stopped{cfg.Optimizer.History, c.state, table.Values, len(c.x)}
	}
	one, two, ten := stop("1"), stop("2"), stop("10")
	for _, s := range []stopped{one, two, ten} {
		if got := lbfgsStateHistory(t, s.state); got != s.history {
			t.Errorf("optimizer.history %d: the optimiser's state says history %d", s.history, got)
		}
	}
	// The states differ only in how many pairs they hold: with the ring
	// full at 1 and 2 pairs, one more pair is one pair's bytes more, and
	// 6 steps leave more than 2 pairs in a history of 10.
	pair := 2*4*one.pixels + 8 + 16 // s and y (each length-prefixed) and ρ
	if got := len(two.state) - len(one.state); got != pair {
		t.Errorf("history 2 keeps %d bytes more state than history 1, want one pair's %d", got, pair)
	}
	if extra := len(ten.state) - len(two.state); extra < pair || extra%pair != 0 {
		t.Errorf("history 10 keeps %d bytes more state than history 2 after 6 steps, want a positive number of pairs of %d bytes", extra, pair)
	}
	// The first step is steepest descent whatever the history; after it
	// the directions, and so the costs, depend on the pairs kept.
	if !slices.Equal(one.costs[0], ten.costs[0]) {
		t.Errorf("first step's costs differ between history 1 and 10: %v and %v", one.costs[0], ten.costs[0])
	}
	if slices.Equal(one.costs[5], ten.costs[5]) || slices.Equal(two.costs[5], ten.costs[5]) {
		t.Errorf("costs after 6 steps are the same with history 1, 2 and 10 (%v, %v, %v): the history has no effect", one.costs[5], two.costs[5], ten.costs[5])
	}
}

// TestOptimizerHistoryChangesTheResult: two finished runs that differ only
// in optimizer.history give different images, and each is reproducible.
func TestOptimizerHistoryChangesTheResult(t *testing.T) {
	a, _ := finalAndCosts(t, runTiny(t, "", "optimizer.history=1"))
	b, _ := finalAndCosts(t, runTiny(t, "", "optimizer.history=10"))
	again, _ := finalAndCosts(t, runTiny(t, "", "optimizer.history=1"))
	if bytes.Equal(a, b) {
		t.Error("history 1 and history 10 give the same final.png")
	}
	if !bytes.Equal(a, again) {
		t.Error("two runs with history 1 give different final.png files")
	}
}

// TestModelSeedChangesTheBuiltinWeights: model.seed seeds the built-in
// backbone's random weights. The same seed gives the same weights (the
// manifest's digest) and a byte-identical image; another seed other
// weights and another image.
func TestModelSeedChangesTheBuiltinWeights(t *testing.T) {
	const builtin = `model: {path: builtin:vgg19, arch: vgg19, pooling: avg}
layers:
  content: {relu2_1: 1}
  style: {relu1_1: 0.5, relu2_1: 0.5}
`
	type run struct {
		image []byte
		model record.Model
		first []float64
	}
	runSeed := func(seed string) run {
		t.Helper()
		cfg, err := LoadConfig(writeConfig(t, "content: builtin:village\nstyle:\n  - {path: builtin:swirls}\n"+builtin), []string{
			"size=32", "runtime.threads=1", "runtime.graph_cache=false", "output.save_every=0", "optimizer.iterations=3",
			"output.dir=" + filepath.Join(t.TempDir(), "run"), "model.seed=" + seed,
		})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), cfg, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		img, costs := finalAndCosts(t, res)
		m, err := record.ReadManifest(filepath.Join(res.Dir, record.ManifestName))
		if err != nil {
			t.Fatal(err)
		}
		return run{img, m.Model, costs[0]}
	}
	one, oneAgain, two := runSeed("1"), runSeed("1"), runSeed("2")
	if one.model.SHA256 == "" || one.model.SHA256 != oneAgain.model.SHA256 {
		t.Errorf("model.seed 1 twice: weight digests %q and %q, want the same", one.model.SHA256, oneAgain.model.SHA256)
	}
	if one.model.SHA256 == two.model.SHA256 {
		t.Errorf("model.seed 1 and 2: the same weight digest %q", one.model.SHA256)
	}
	if !bytes.Equal(one.image, oneAgain.image) {
		t.Error("model.seed 1 twice: final.png differs")
	}
	if bytes.Equal(one.image, two.image) {
		t.Error("model.seed 1 and 2: the same final.png; the seed does not reach the weights")
	}
	// The first iteration's costs are computed by the network alone from
	// the same starting image: other weights, other costs.
	if slices.Equal(one.first, two.first) {
		t.Errorf("model.seed 1 and 2: the same first costs %v", one.first)
	}
}

// TestThreadsZeroIsReproducible: runtime.threads 0 (one thread per core)
// still gives byte-identical images and costs from run to run, and the
// manifest records the thread count it resolved to.
func TestThreadsZeroIsReproducible(t *testing.T) {
	var images [][]byte
	var costs [][][]float64
	for range 2 {
		res := runTiny(t, "", "runtime.threads=0")
		img, c := finalAndCosts(t, res)
		images, costs = append(images, img), append(costs, c)
		m, err := record.ReadManifest(filepath.Join(res.Dir, record.ManifestName))
		if err != nil {
			t.Fatal(err)
		}
		if m.Threads < 1 {
			t.Errorf("manifest threads %d with runtime.threads 0, want the resolved count (one per core)", m.Threads)
		}
	}
	if !bytes.Equal(images[0], images[1]) {
		t.Error("two runs with runtime.threads 0 wrote different final.png files")
	}
	for i := range costs[0] {
		if !slices.Equal(costs[0][i], costs[1][i]) {
			t.Errorf("costs.csv row %d: %v and %v", i+1, costs[0][i], costs[1][i])
		}
	}
}

// TestGraphCacheOffWritesNothing: with runtime.graph_cache false a run
// writes nothing under the user's cache folder and gives the same image as
// a run with the cache on, which does write its graphs there (so the check
// is not vacuous).
func TestGraphCacheOffWritesNothing(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, ".cache"))
	files := func() []string {
		var names []string
		err := filepath.WalkDir(home, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				names = append(names, path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return names
	}

	off := runTiny(t, "", "runtime.graph_cache=false")
	if got := files(); len(got) != 0 {
		t.Errorf("with runtime.graph_cache false the run wrote %v under the home folder", got)
	}
	offImage, offCosts := finalAndCosts(t, off)

	on := runTiny(t, "", "runtime.graph_cache=true")
	written := files()
	if len(written) == 0 {
		t.Fatal("with runtime.graph_cache true nothing was written under the home folder: the check above proves nothing")
	}
	for _, f := range written {
		if rel, _ := filepath.Rel(filepath.Join(home, ".cache", "nst", "graphs"), f); !filepath.IsLocal(rel) {
			t.Errorf("the graph cache wrote %s, outside ~/.cache/nst/graphs", f)
		}
	}
	onImage, onCosts := finalAndCosts(t, on)
	if !bytes.Equal(offImage, onImage) {
		t.Error("final.png differs between graph_cache false and true")
	}
	for i := range offCosts {
		if !slices.Equal(offCosts[i], onCosts[i]) {
			t.Errorf("costs.csv row %d: %v without the cache, %v with it", i+1, offCosts[i], onCosts[i])
		}
	}
}

// TestKeysReachTheRun changes one key at a time from the tiny config and
// checks that the run changes: the key's value reaches the network, the
// costs or the optimiser. Keys whose effect has its own test elsewhere
// (see docs/coverage.md) are not repeated here.
func TestKeysReachTheRun(t *testing.T) {
	const iters = "optimizer.iterations=3"
	_, base := finalAndCosts(t, runTiny(t, "", iters))
	for _, tc := range []struct {
		key string
		set string
	}{
		{"model.pooling", "model.pooling=max"},
		{"model.preprocess.mean", "model.preprocess.mean=[0, 0, 0]"},
		{"model.preprocess.std", "model.preprocess.std=[1, 1, 1]"},
		{"model.preprocess.scale", "model.preprocess.scale=255"},
		{"model.preprocess.channels", "model.preprocess.channels=bgr"},
		{"optimizer.lr", "optimizer.lr=0.5"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			_, costs := finalAndCosts(t, runTiny(t, "", iters, tc.set))
			if slices.Equal(costs[0], base[0]) {
				t.Errorf("%s: the first iteration's costs %v are the default's", tc.set, costs[0])
			}
		})
	}
}

// TestStyleWeightsAreShares: style[].weight values are shares of the style
// cost, normalised to sum 1: weights 3 and 1 run exactly as 0.75 and 0.25,
// and differently from 1 and 3.
func TestStyleWeightsAreShares(t *testing.T) {
	styles := func(a, b string) string {
		return "style=[{path: builtin:swirls, weight: " + a + "}, {path: builtin:mosaic, weight: " + b + "}]"
	}
	run := func(a, b string) ([]byte, [][]float64) {
		return finalAndCosts(t, runTiny(t, "", "optimizer.iterations=3", styles(a, b)))
	}
	img31, costs31 := run("3", "1")
	imgQuarter, costsQuarter := run("0.75", "0.25")
	img13, _ := run("1", "3")
	if !bytes.Equal(img31, imgQuarter) {
		t.Error("style weights 3 and 1 give another image than 0.75 and 0.25")
	}
	for i := range costs31 {
		if !slices.Equal(costs31[i], costsQuarter[i]) {
			t.Errorf("costs.csv row %d: %v with weights 3 and 1, %v with 0.75 and 0.25", i+1, costs31[i], costsQuarter[i])
		}
	}
	if bytes.Equal(img31, img13) {
		t.Error("style weights 3 and 1 give the same image as 1 and 3")
	}
}

// TestJPEGQualityReachesTheFile: output.jpeg_quality is the encoder's
// quality: the same image at 20 is a smaller file than at 95.
func TestJPEGQualityReachesTheFile(t *testing.T) {
	size := func(quality string) int {
		res := runTiny(t, "", "optimizer.iterations=2", "output.format=jpeg", "output.jpeg_quality="+quality)
		if filepath.Ext(res.Image) != ".jpg" {
			t.Fatalf("final image %s, want a .jpg", res.Image)
		}
		return len(readFile(t, res.Image))
	}
	if low, high := size("20"), size("95"); !(low < high) {
		t.Errorf("final image is %d bytes at quality 20 and %d at 95, want fewer at 20", low, high)
	}
}

// TestInitNoiseAndNoiseRatio: init: noise starts from uniform noise in
// [0, 1) drawn from seed (the same seed, the same noise; another seed,
// other noise), and noise_ratio r mixes that noise into the starting
// image as x = (1-r)·content + r·noise.
func TestInitNoiseAndNoiseRatio(t *testing.T) {
	start := func(sets ...string) []float32 {
		e := tinyExperiment(t, tinyConfig(t, "", append([]string{"runtime.graph_cache=false"}, sets...)...))
		x, err := e.initImage()
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	noise := start("init=noise", "seed=3")
	var sum, sumSq float64
	for i, v := range noise {
		if !(v >= 0 && v < 1) {
			t.Fatalf("noise value %d = %v, outside [0, 1)", i, v)
		}
		sum += float64(v)
		sumSq += float64(v) * float64(v)
	}
	n := float64(len(noise))
	mean, variance := sum/n, sumSq/n-(sum/n)*(sum/n)
	// Uniform on [0, 1): mean 1/2, variance 1/12; with 2016 values the
	// sample mean's standard deviation is 0.0064.
	if math.Abs(mean-0.5) > 0.03 || math.Abs(variance-1.0/12) > 0.01 {
		t.Errorf("noise has mean %.4f and variance %.4f, want about 0.5 and %.4f (uniform)", mean, variance, 1.0/12)
	}
	if !slices.Equal(start("init=noise", "seed=3"), noise) {
		t.Error("init: noise with seed 3 twice gave different starting images")
	}
	if slices.Equal(start("init=noise", "seed=4"), noise) {
		t.Error("init: noise with seeds 3 and 4 gave the same starting image")
	}

	content := start("init=content")
	const r = 0.25
	mixed := start("init=content", "noise_ratio=0.25", "seed=3")
	for i := range mixed {
		want := (1-float32(r))*content[i] + float32(r)*noise[i]
		if math.Abs(float64(mixed[i]-want)) > 1e-6 {
			t.Fatalf("value %d = %v with noise_ratio %g, want (1-r)·%v + r·%v = %v", i, mixed[i], r, content[i], noise[i], want)
		}
	}
}

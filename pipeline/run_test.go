package pipeline

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nst-project/nst/builtinimg"
	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/internal/testimg"
	"github.com/nst-project/nst/record"
)

// tinyTerms are the costs.csv columns of tinyYAML's layers.
var tinyTerms = []string{"content:relu2_1", "style:relu1_1", "style:relu2_1", "style:relu3_1", "tv", "content", "style", "total"}

func TestRunRecordsEverything(t *testing.T) {
	cfg := tinyConfig(t, "")
	var progress bytes.Buffer
	res, err := Run(context.Background(), cfg, RunOptions{Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if res.Dir != cfg.Output.Dir {
		t.Errorf("run folder %s, want %s (free, so used as it is)", res.Dir, cfg.Output.Dir)
	}
	if res.Iterations != 8 {
		t.Errorf("iterations = %d, want 8", res.Iterations)
	}

	// The village is 768x512: its longer side becomes size.
	const w, h = 32, 21
	if want := filepath.Join(res.Dir, "final.png"); res.Image != want {
		t.Errorf("image %s, want %s", res.Image, want)
	}
	for _, name := range []string{"final.png", "iter_00003.png", "iter_00006.png"} {
		if b := testimg.ReadPNG(t, filepath.Join(res.Dir, name)).Bounds(); b.Dx() != w || b.Dy() != h {
			t.Errorf("%s is %dx%d, want %dx%d", name, b.Dx(), b.Dy(), w, h)
		}
	}
	entries, err := os.ReadDir(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// save_every 3 over 8 iterations: 3 and 6; the last one is final.png.
	wantNames := []string{"config.yaml", "costs.csv", "costs.png", "final.png", "iter_00003.png", "iter_00006.png", "manifest.json"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("run folder holds %v, want %v", names, wantNames)
	}
	if img := testimg.ReadPNG(t, filepath.Join(res.Dir, record.CostsPNGName)); img.Bounds().Dx() < 100 || img.Bounds().Dy() < 100 {
		t.Errorf("costs.png is %v, too small to be a plot", img.Bounds())
	}

	table, err := record.ReadCosts(filepath.Join(res.Dir, record.CostsCSVName))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(table.Terms, tinyTerms) {
		t.Errorf("costs.csv terms %v, want %v", table.Terms, tinyTerms)
	}
	if want := []int{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(table.Iterations, want) {
		t.Fatalf("costs.csv iterations %v, want %v", table.Iterations, want)
	}
	total, _ := table.Column("total")
	if !(total[7] < 0.8*total[0]) {
		t.Errorf("total cost went from %v to %v, want a clear decrease", total[0], total[7])
	}
	for i := 1; i < len(total); i++ {
		if total[i] > total[i-1] {
			t.Errorf("L-BFGS cost rose at iteration %d: %v -> %v", i+1, total[i-1], total[i])
		}
	}
	if total[7] != res.Total {
		t.Errorf("last logged total %v, Result.Total %v: the log must describe the final image", total[7], res.Total)
	}
	// Every row's columns must agree with J = α·Σw·c + β·Σλ·s + tv·t.
	for i, row := range table.Values {
		content := row[0]
		style := 0.5*row[1] + 0.3*row[2] + 0.2*row[3]
		j := 10*content + 40*style + 0.5*row[4]
		for _, c := range []struct {
			name      string
			got, want float64
		}{{"content", row[5], content}, {"style", row[6], style}, {"total", row[7], j}} {
			if !closeRel(c.got, c.want, 1e-12) {
				t.Errorf("row %d: %s = %v, the terms give %v", i+1, c.name, c.got, c.want)
			}
		}
	}

	m, err := record.ReadManifest(filepath.Join(res.Dir, record.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != record.StatusCompleted || m.Iterations != 8 || m.Threads != 1 {
		t.Errorf("manifest status %q iterations %d threads %d, want completed, 8, 1", m.Status, m.Iterations, m.Threads)
	}
	village, _ := builtinimg.Load("builtin:village")
	swirls, _ := builtinimg.Load("builtin:swirls")
	wantInputs := []record.Input{
		{Role: "content", Path: "builtin:village", SHA256: record.SHA256Hex(village.Pix)},
		{Role: "style[0]", Path: "builtin:swirls", SHA256: record.SHA256Hex(swirls.Pix)},
	}
	if !reflect.DeepEqual(m.Inputs, wantInputs) {
		t.Errorf("manifest inputs %+v, want %+v", m.Inputs, wantInputs)
	}
	modelSum, err := record.FileSHA256(cfg.Model.Path)
	if err != nil {
		t.Fatal(err)
	}
	if m.Model.SHA256 != modelSum || m.Model.Path != cfg.Model.Path {
		t.Errorf("manifest model %+v, want path %s sha256 %s", m.Model, cfg.Model.Path, modelSum)
	}
	var phases []string
	for _, p := range m.Phases {
		phases = append(phases, p.Name)
		if !(p.Seconds >= 0) {
			t.Errorf("phase %s took %v s", p.Name, p.Seconds)
		}
	}
	if want := []string{"prepare", "inputs", "backbone", "sessions", "targets", "optimize", "forward", "costs", "backward", "write"}; !slices.Equal(phases, want) {
		t.Errorf("manifest phases %v, want %v", phases, want)
	}
	if len(m.FinalCosts) != len(tinyTerms) {
		t.Fatalf("manifest final costs %v, want one per term", m.FinalCosts)
	}
	for i, c := range m.FinalCosts {
		if c.Name != tinyTerms[i] || c.Value != table.Values[7][i] {
			t.Errorf("final cost %d = %+v, want %s = %v (the last costs.csv row)", i, c, tinyTerms[i], table.Values[7][i])
		}
	}
	if m.End.Before(m.Start) {
		t.Errorf("manifest ends %v before it starts %v", m.End, m.Start)
	}

	again, err := LoadConfig(filepath.Join(res.Dir, "config.yaml"), nil)
	if err != nil {
		t.Fatalf("resolved config does not load: %v", err)
	}
	if !reflect.DeepEqual(again, cfg) {
		t.Errorf("resolved config loads as\n%+v\nwant\n%+v", again, cfg)
	}

	// Progress goes to a buffer, not a terminal: log lines, not a bar.
	log := progress.String()
	for _, want := range []string{"iteration=1 ", "iteration=8 ", "total=8", "progress finished"} {
		if !strings.Contains(log, want) {
			t.Errorf("progress log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "\r") {
		t.Errorf("progress log holds carriage returns, as a bar would:\n%q", log)
	}
}

func TestRunIsReproducible(t *testing.T) {
	cfg := tinyConfig(t, "init: content\nnoise_ratio: 0.3\nseed: 5\n")
	first := runOK(t, cfg)
	second := runOK(t, cfg)
	if first.Dir == second.Dir {
		t.Fatalf("second run reused folder %s", first.Dir)
	}
	resolved, err := LoadConfig(filepath.Join(first.Dir, "config.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	third := runOK(t, resolved)
	want := readFile(t, first.Image)
	for _, r := range []*Result{second, third} {
		if !bytes.Equal(readFile(t, r.Image), want) {
			t.Errorf("%s differs from %s: the same config and thread count must give the same bytes", r.Image, first.Image)
		}
		if !bytes.Equal(readFile(t, filepath.Join(r.Dir, "iter_00006.png")), readFile(t, filepath.Join(first.Dir, "iter_00006.png"))) {
			t.Errorf("%s/iter_00006.png differs from the first run's", r.Dir)
		}
		if r.Total != first.Total {
			t.Errorf("final cost %v, first run %v", r.Total, first.Total)
		}
	}

	// The seed must matter, or the comparison above proves nothing about it.
	other := *cfg
	other.Seed = 6
	if bytes.Equal(readFile(t, runOK(t, &other).Image), want) {
		t.Errorf("seed 6 gave the same image as seed 5")
	}
}

func TestRunResolvedConfigRerunsFromAnotherFolder(t *testing.T) {
	work := t.TempDir()
	t.Chdir(work)
	writePNG(t, "photo.png", 30, 40)
	writePNG(t, "art.png", 24, 24)
	body := strings.Replace(tinyYAML(t, t.TempDir(), ""), "content: builtin:village", "content: photo.png", 1)
	body = strings.Replace(body, "path: builtin:swirls", "path: art.png", 1)
	if err := os.WriteFile("exp.yaml", []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig("exp.yaml", []string{"optimizer.iterations=4"})
	if err != nil {
		t.Fatal(err)
	}
	first := runOK(t, cfg)
	if b := testimg.ReadPNG(t, first.Image).Bounds(); b.Dx() != 24 || b.Dy() != 32 {
		t.Errorf("final image is %dx%d, want 24x32 (photo.png 30x40 at size 32)", b.Dx(), b.Dy())
	}
	m, err := record.ReadManifest(filepath.Join(first.Dir, record.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"photo.png", "art.png"} {
		sum, err := record.FileSHA256(name)
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(m.Inputs) || m.Inputs[i].SHA256 != sum || m.Inputs[i].Path != name {
			t.Errorf("manifest inputs %+v, want %s with sha256 %s at %d", m.Inputs, name, sum, i)
		}
	}

	t.Chdir(t.TempDir())
	resolved, err := LoadConfig(filepath.Join(first.Dir, "config.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	second := runOK(t, resolved)
	if !bytes.Equal(readFile(t, second.Image), readFile(t, first.Image)) {
		t.Errorf("the resolved config re-run from another folder gave other bytes")
	}
}

func TestRunWithoutIterationsWritesTheStartingImage(t *testing.T) {
	cfg := tinyConfig(t, "", "optimizer.iterations=0")
	res := runOK(t, cfg)
	village, _ := builtinimg.Load("builtin:village")
	want, err := imageio.FitLongSide(village, 32)
	if err != nil {
		t.Fatal(err)
	}
	got := testimg.ReadPNG(t, res.Image)
	for y := range want.Bounds().Dy() {
		for x := range want.Bounds().Dx() {
			if g, w := rgba8(got.At(x, y).RGBA()), rgba8(want.At(x, y).RGBA()); g != w {
				t.Fatalf("pixel (%d,%d) = %v, want the content's %v", x, y, g, w)
			}
		}
	}
	m, err := record.ReadManifest(filepath.Join(res.Dir, record.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != record.StatusCompleted || m.Iterations != 0 || len(m.FinalCosts) != 0 {
		t.Errorf("manifest status %q iterations %d final costs %v, want completed, 0, none", m.Status, m.Iterations, m.FinalCosts)
	}
	table, err := record.ReadCosts(filepath.Join(res.Dir, record.CostsCSVName))
	if err != nil || len(table.Iterations) != 0 || !slices.Equal(table.Terms, tinyTerms) {
		t.Errorf("costs.csv: %+v, %v; want the header and no rows", table, err)
	}
}

func rgba8(r, g, b, a uint32) [4]uint32 { return [4]uint32{r >> 8, g >> 8, b >> 8, a >> 8} }

// cancelWriter cancels a context when the progress log first reports the
// given iteration, so a run is interrupted at a known point without timing.
type cancelWriter struct {
	cancel func()
	mark   string
	hit    atomic.Bool
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(w.mark)) && !w.hit.Swap(true) {
		w.cancel()
	}
	return len(p), nil
}

// deadlineCtx reports context.DeadlineExceeded once expire is called, as a
// context whose deadline passed mid-run does.
type deadlineCtx struct {
	context.Context
	done    chan struct{}
	expired atomic.Bool
}

func newDeadlineCtx() *deadlineCtx {
	return &deadlineCtx{Context: context.Background(), done: make(chan struct{})}
}

func (c *deadlineCtx) expire() {
	if !c.expired.Swap(true) {
		close(c.done)
	}
}
func (c *deadlineCtx) Done() <-chan struct{} { return c.done }
func (c *deadlineCtx) Err() error {
	if c.expired.Load() {
		return context.DeadlineExceeded
	}
	return nil
}

func TestRunInterrupted(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, func())
	}{
		{"cancelled", func() (context.Context, func()) { return context.WithCancel(context.Background()) }},
		{"deadline", func() (context.Context, func()) { c := newDeadlineCtx(); return c, c.expire }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tinyConfig(t, "", "optimizer.iterations=50", "output.save_every=0")
			ctx, stop := tt.ctx()
			defer stop()
			// The log always reports the first iteration; the cancel
			// then lands before the second step's first evaluation.
			res, err := Run(ctx, cfg, RunOptions{Progress: &cancelWriter{cancel: stop, mark: "iteration=1 "}})
			if !errors.Is(err, ErrInterrupted) {
				t.Fatalf("err = %v, want ErrInterrupted", err)
			}
			if res == nil || res.Iterations != 1 || filepath.Base(res.Image) != "last.png" {
				t.Fatalf("result %+v, want 1 iteration and last.png", res)
			}
			if !strings.Contains(err.Error(), res.Image) {
				t.Errorf("error %q does not name the saved image", err)
			}
			testimg.ReadPNG(t, res.Image)
			if _, err := os.Stat(filepath.Join(res.Dir, "final.png")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("an interrupted run wrote final.png (stat: %v)", err)
			}
			m, err := record.ReadManifest(filepath.Join(res.Dir, record.ManifestName))
			if err != nil {
				t.Fatal(err)
			}
			if m.Status != record.StatusInterrupted || m.Iterations != 1 {
				t.Errorf("manifest status %q iterations %d, want interrupted after 1", m.Status, m.Iterations)
			}
			table, err := record.ReadCosts(filepath.Join(res.Dir, record.CostsCSVName))
			if err != nil || !slices.Equal(table.Iterations, []int{1}) {
				t.Errorf("costs.csv iterations %v (%v), want [1]", table, err)
			}
		})
	}
}

func TestRunInterruptedBeforeStartCreatesNoFolder(t *testing.T) {
	cfg := tinyConfig(t, "")
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	res, err := Run(ctx, cfg, RunOptions{})
	if !errors.Is(err, ErrInterrupted) || res != nil {
		t.Fatalf("Run = %+v, %v; want nil, ErrInterrupted", res, err)
	}
	if _, err := os.Stat(cfg.Output.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output folder exists after an interrupted start (stat: %v)", err)
	}
}

func TestRunDivergedKeepsLastGoodImage(t *testing.T) {
	// Weights at the edge of float64 make J overflow to +Inf on the first
	// evaluation, as a runaway optimisation would.
	cfg := tinyConfig(t, "", "weights.style=1e308", "layers.style.relu1_1=1e308")
	res, err := Run(context.Background(), cfg, RunOptions{})
	if !errors.Is(err, ErrDiverged) {
		t.Fatalf("err = %v, want ErrDiverged", err)
	}
	if res == nil || res.Iterations != 0 || filepath.Base(res.Image) != "last.png" {
		t.Fatalf("result %+v, want no iteration and last.png", res)
	}
	if b := testimg.ReadPNG(t, res.Image).Bounds(); b.Dx() != 32 || b.Dy() != 21 {
		t.Errorf("last.png is %v, want 32x21", b)
	}
	m, err := record.ReadManifest(filepath.Join(res.Dir, record.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.Status, "failed: ") || !strings.Contains(m.Status, ErrDiverged.Error()) {
		t.Errorf("manifest status %q, want failed: ... %s", m.Status, ErrDiverged)
	}
}

func TestRunRejectsBadInputsBeforeWriting(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-photo.png")
	tests := []struct {
		name string
		sets []string
		want []string
	}{
		{"missing content", []string{"content=" + missing}, []string{missing}},
		{"missing style", []string{"style=[{path: " + missing + ", weight: 1}]"}, []string{missing}},
		{"wrong style layer", []string{"layers.style.relu3_2=1"}, []string{`layers.style: unknown layer "relu3_2"`, `did you mean "relu3_1"?`}},
		{"wrong content layer", []string{"layers.content.conv2_2=1"}, []string{`layers.content: unknown layer "conv2_2"`, `did you mean "conv2_1"?`}},
		{"unknown built-in image", []string{"content=builtin:vilage"}, []string{`"builtin:vilage"`, "builtin:village"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tinyConfig(t, "", tt.sets...)
			res, err := Run(context.Background(), cfg, RunOptions{})
			if err == nil {
				t.Fatalf("Run succeeded: %+v", res)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if _, err := os.Stat(cfg.Output.Dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a rejected run created its folder (stat: %v)", err)
			}
		})
	}
}

// TestCostsAtDescribesTheAcceptedPoint covers the case where an L-BFGS line
// search ends on a rejected trial point: the logged terms must still be
// those of the image the run keeps.
func TestCostsAtDescribesTheAcceptedPoint(t *testing.T) {
	e := tinyExperiment(t, tinyConfig(t, ""))
	x, err := e.initImage()
	if err != nil {
		t.Fatal(err)
	}
	grad := make([]float32, len(x))
	ctx := context.Background()
	accepted, err := e.evaluate(ctx, x, grad)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(e.costRow(nil))
	rejected := slices.Clone(x)
	for i := range rejected {
		rejected[i] = 1 - rejected[i]
	}
	if _, err := e.evaluate(ctx, rejected, grad); err != nil {
		t.Fatal(err)
	}
	if e.costs.Total == accepted {
		t.Fatal("the inverted image costs the same as the original; the test needs another trial point")
	}
	if err := e.costsAt(ctx, x, accepted); err != nil {
		t.Fatal(err)
	}
	if got := e.costRow(nil); !slices.Equal(got, want) {
		t.Errorf("after costsAt the terms are %v, want the accepted point's %v", got, want)
	}
	evals := e.timing.Evaluations
	if err := e.costsAt(ctx, x, accepted); err != nil || e.timing.Evaluations != evals {
		t.Errorf("costsAt re-evaluated (%d -> %d evaluations, err %v) although the terms were current", evals, e.timing.Evaluations, err)
	}
}

// tinyExperiment prepares cfg's experiment and closes it with the test.
func tinyExperiment(t *testing.T, cfg *Config) *experiment {
	t.Helper()
	e, err := newExperiment(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func runOK(t *testing.T, cfg *Config) *Result {
	t.Helper()
	res, err := Run(context.Background(), cfg, RunOptions{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func closeRel(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(math.Abs(want), math.SmallestNonzeroFloat64)
}

// BenchmarkRunTiny measures a whole run on the tiny backbone at 32 px, 8
// L-BFGS iterations: the fixed cost of a run (images, sessions, records).
func BenchmarkRunTiny(b *testing.B) {
	cfg := tinyConfig(b, "", "optimizer.iterations=8", "output.save_every=0")
	for b.Loop() {
		if _, err := Run(context.Background(), cfg, RunOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluateTiny measures one evaluation (forward, costs, backward,
// TV) on the tiny backbone at 64 px; run with -benchmem to see its
// allocations.
func BenchmarkEvaluateTiny(b *testing.B) {
	benchEvaluate(b, "size=64")
}

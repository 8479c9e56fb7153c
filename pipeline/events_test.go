package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/pipeline"
	"github.com/nst-project/nst/record"
)

// tinyExternalConfig is the tiny three-block VGG of the package's own
// tests, written by a caller that sees only the public API.
func tinyExternalConfig(t *testing.T, sets ...string) *pipeline.Config {
	t.Helper()
	dir := t.TempDir()
	model := filepath.Join(dir, "tiny.onnx")
	f, err := os.Create(model)
	if err != nil {
		t.Fatal(err)
	}
	if err := models.WriteSynthFrom(f, models.SynthSpec{Blocks: [][]int{{4}, {8}, {8}}}, 7); err != nil {
		t.Fatal(err)
	}
	f.Close()
	yaml := fmt.Sprintf(`content: builtin:village
style: [{path: builtin:swirls}]
size: 32
model: {path: %q, arch: auto}
layers:
  content: {relu2_1: 1}
  style: {relu1_1: 0.5, relu2_1: 0.5}
optimizer: {iterations: 6}
output: {dir: %q, save_every: 0}
runtime: {threads: 1, graph_cache: false}
`, model, filepath.Join(dir, "runs", "run"))
	path := filepath.Join(dir, "exp.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := pipeline.LoadConfig(path, sets)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// seen is what an observer kept of one event.
type seen struct {
	kind                   pipeline.EventKind
	iter, scale, scaleIter int
	w, h                   int
	costs                  []float64
	cost                   float64
	err                    error
}

func record1(events *[]seen, lastImage **image.NRGBA) pipeline.Observer {
	return pipeline.ObserverFunc(func(ev *pipeline.Event) error {
		*events = append(*events, seen{ev.Kind, ev.Iteration, ev.Scale, ev.ScaleIteration, ev.Width, ev.Height, slices.Clone(ev.Costs), ev.Cost, ev.Err})
		if ev.Kind == pipeline.EventFinish {
			*lastImage = ev.Image()
		}
		return nil
	})
}

// TestRunReportsEvents drives runs through the public API with a callback:
// one start, one event per step with the costs costs.csv records, a scale
// event where a coarse-to-fine run changes size, one finish whose image is
// the final image.
func TestRunReportsEvents(t *testing.T) {
	tests := []struct {
		name       string
		sets       []string
		wantKinds  []pipeline.EventKind
		wantSizes  [][2]int // width, height at each event
		wantScales []int
	}{
		{
			name:      "one scale",
			wantKinds: kinds("S", "IIIIII", "F"),
			wantSizes: repeat([2]int{32, 21}, 8),
		},
		{
			name:      "two scales",
			sets:      []string{"scales=[{size: 16, iterations: 3}, {size: 32, iterations: 2}]"},
			wantKinds: kinds("S", "III", "C", "II", "F"),
			wantSizes: append(repeat([2]int{16, 11}, 4), repeat([2]int{32, 21}, 4)...),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var events []seen
			var img *image.NRGBA
			res, err := pipeline.Run(context.Background(), tinyExternalConfig(t, tt.sets...), pipeline.RunOptions{Observers: []pipeline.Observer{record1(&events, &img)}})
			if err != nil {
				t.Fatal(err)
			}
			var got []pipeline.EventKind
			for i, ev := range events {
				got = append(got, ev.kind)
				if i < len(tt.wantSizes) && (ev.w != tt.wantSizes[i][0] || ev.h != tt.wantSizes[i][1]) {
					t.Errorf("event %d (%v) at %dx%d, want %v", i, ev.kind, ev.w, ev.h, tt.wantSizes[i])
				}
			}
			if !slices.Equal(got, tt.wantKinds) {
				t.Fatalf("events %v, want %v", got, tt.wantKinds)
			}
			table, err := record.ReadCosts(filepath.Join(res.Dir, record.CostsCSVName))
			if err != nil {
				t.Fatal(err)
			}
			step := 0
			for _, ev := range events {
				if ev.kind != pipeline.EventIteration {
					continue
				}
				step++
				if ev.iter != step || table.Iterations[step-1] != step {
					t.Errorf("iteration event %d says %d, costs.csv row says %d", step, ev.iter, table.Iterations[step-1])
				}
				for j, term := range table.Terms {
					if col, _ := table.Column(term); col[step-1] != ev.costs[j] {
						t.Errorf("step %d: %s = %v in the event, %v in costs.csv", step, term, ev.costs[j], col[step-1])
					}
				}
				if ev.cost != ev.costs[len(ev.costs)-1] || !(ev.cost > 0) || math.IsInf(ev.cost, 0) {
					t.Errorf("step %d: cost %v, total term %v", step, ev.cost, ev.costs[len(ev.costs)-1])
				}
			}
			last := events[len(events)-1]
			if last.err != nil || last.iter != res.Iterations || last.cost != res.Total {
				t.Errorf("finish event %+v, result %+v", last, res)
			}
			final, err := imageio.Load(res.Image, imageio.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if img == nil || !slices.Equal(img.Pix, final.Pix) {
				t.Error("the finish event's image is not the final image")
			}
		})
	}
}

// TestObserverErrorStopsTheRun: an observer's error stops the run after
// that step, as a failed write would, with a checkpoint to resume from.
func TestObserverErrorStopsTheRun(t *testing.T) {
	stop := errors.New("enough")
	var kinds []pipeline.EventKind
	res, err := pipeline.Run(context.Background(), tinyExternalConfig(t), pipeline.RunOptions{Observers: []pipeline.Observer{
		pipeline.ObserverFunc(func(ev *pipeline.Event) error {
			kinds = append(kinds, ev.Kind)
			if ev.Kind == pipeline.EventIteration && ev.Iteration == 2 {
				return stop
			}
			return nil
		}),
	}})
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the observer's", err)
	}
	if res.Iterations != 2 || filepath.Base(res.Image) != "last.png" {
		t.Errorf("result %+v, want 2 iterations and last.png", res)
	}
	if _, err := os.Stat(filepath.Join(res.Dir, pipeline.CheckpointDir)); err != nil {
		t.Errorf("no checkpoint: %v", err)
	}
	resumed, err := pipeline.Resume(context.Background(), res.Dir, pipeline.RunOptions{})
	if err != nil || resumed.Iterations != 6 {
		t.Fatalf("resume: %+v, %v", resumed, err)
	}
}

func kinds(groups ...string) []pipeline.EventKind {
	m := map[rune]pipeline.EventKind{'S': pipeline.EventStart, 'I': pipeline.EventIteration, 'C': pipeline.EventScale, 'F': pipeline.EventFinish}
	var out []pipeline.EventKind
	for _, g := range groups {
		for _, r := range g {
			out = append(out, m[r])
		}
	}
	return out
}

func repeat(v [2]int, n int) [][2]int {
	out := make([][2]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

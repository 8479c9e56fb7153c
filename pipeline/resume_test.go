package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/optim"
	"github.com/nst-project/nst/record"
)

// withSaveHook makes every image write of the rest of the test call hook
// with the image's path first (replacing an earlier hook); an error from
// hook replaces the write, as a full disk would fail it.
func withSaveHook(t *testing.T, hook func(path string) error) {
	t.Helper()
	prev := saveImageFile
	saveImageFile = func(path string, img image.Image, format string, quality int) error {
		if err := hook(path); err != nil {
			return err
		}
		return imageio.Save(path, img, format, quality)
	}
	t.Cleanup(func() { saveImageFile = prev })
}

// cancelAtImage cancels when the image called name is written: with
// output.save_every 1 the run writes iter_<k> after logging iteration k, so
// the interrupt lands exactly after iteration k, before the next step.
func cancelAtImage(name string, cancel func()) func(string) error {
	return func(path string) error {
		if filepath.Base(path) == name {
			cancel()
		}
		return nil
	}
}

// diskFull is the error a write to a full disk fails with, as
// atomicfile reports it.
func diskFull(path string) error {
	return fmt.Errorf("save image: write %s: %w", path, &fs.PathError{Op: "write", Path: path + ".tmp", Err: syscall.ENOSPC})
}

// runFolder is what a finished run left: every file's bytes by name (the
// config, naming the run's own paths, and the plot excepted) and its costs.
type runFolder struct {
	files map[string][]byte
	costs *record.CostTable
}

func readRunFolder(t *testing.T, dir string) runFolder {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := runFolder{files: map[string][]byte{}}
	for _, e := range entries {
		if e.IsDir() {
			f.files[e.Name()+"/"] = nil
			continue
		}
		switch e.Name() {
		case ResolvedConfigName, record.CostsPNGName, record.ManifestName, record.CostsCSVName:
			f.files[e.Name()] = nil
		default:
			f.files[e.Name()] = readFile(t, filepath.Join(dir, e.Name()))
		}
	}
	if f.costs, err = record.ReadCosts(filepath.Join(dir, record.CostsCSVName)); err != nil {
		t.Fatal(err)
	}
	return f
}

// checkSameRun fails unless got holds the same files with the same bytes
// and the same costs (the seconds column aside) as want.
func checkSameRun(t *testing.T, got, want runFolder) {
	t.Helper()
	names, wantNames := slices.Sorted(maps.Keys(got.files)), slices.Sorted(maps.Keys(want.files))
	if !slices.Equal(names, wantNames) {
		t.Errorf("resumed run folder holds %v, the uninterrupted one %v", names, wantNames)
	}
	for name, data := range want.files {
		if !bytes.Equal(got.files[name], data) {
			t.Errorf("%s differs from the uninterrupted run's", name)
		}
	}
	if !slices.Equal(got.costs.Terms, want.costs.Terms) || !slices.Equal(got.costs.Iterations, want.costs.Iterations) {
		t.Fatalf("costs.csv has terms %v iterations %v, the uninterrupted run %v %v", got.costs.Terms, got.costs.Iterations, want.costs.Terms, want.costs.Iterations)
	}
	for i := range want.costs.Values {
		if !slices.Equal(got.costs.Values[i], want.costs.Values[i]) {
			t.Errorf("costs.csv iteration %d: %v, the uninterrupted run %v", want.costs.Iterations[i], got.costs.Values[i], want.costs.Values[i])
		}
	}
}

// resumeCase is an experiment and where its run is interrupted.
type resumeCase struct {
	name  string
	extra string   // YAML added to tinyYAML
	sets  []string // --set overrides
	stops []string // images at whose writing successive runs are interrupted
	// lastIters are the iterations each interruption reports.
	lastIters []int
}

var resumeCases = []resumeCase{
	{name: "lbfgs", stops: []string{"iter_00003.png"}, lastIters: []int{3}},
	{name: "lbfgs interrupted twice", stops: []string{"iter_00002.png", "iter_00005.png"}, lastIters: []int{2, 5}},
	{name: "adam", sets: []string{"optimizer.name=adam", "optimizer.lr=0.03"}, stops: []string{"iter_00004.png"}, lastIters: []int{4}},
	{name: "noise start", sets: []string{"init=noise", "seed=11"}, stops: []string{"iter_00001.png"}, lastIters: []int{1}},
	{name: "luminance only", extra: "color: luminance\n", stops: []string{"iter_00003.png"}, lastIters: []int{3}},
	{
		name:  "second of two scales",
		extra: "scales:\n  - {size: 16, iterations: 3}\n  - {size: 32, iterations: 5}\n",
		stops: []string{"iter_00005_32px.png"}, lastIters: []int{5},
	},
	{
		name:  "between two scales",
		extra: "scales:\n  - {size: 16, iterations: 3}\n  - {size: 32, iterations: 5}\n",
		stops: []string{"scale1_16px.png"}, lastIters: []int{3},
	},
}

// TestResumeEndsLikeAnUninterruptedRun interrupts runs after known
// iterations, resumes them, and compares everything they leave with an
// uninterrupted run of the same experiment: the final image and every
// intermediate one byte for byte, and every cost.
func TestResumeEndsLikeAnUninterruptedRun(t *testing.T) {
	for _, tc := range resumeCases {
		t.Run(tc.name, func(t *testing.T) {
			sets := append([]string{"optimizer.iterations=8", "output.save_every=1"}, tc.sets...)
			want := readRunFolder(t, runOK(t, tinyConfig(t, tc.extra, sets...)).Dir)

			cfg := tinyConfig(t, tc.extra, sets...)
			var dir string
			for i, stop := range tc.stops {
				ctx, cancel := context.WithCancel(context.Background())
				withSaveHook(t, cancelAtImage(stop, cancel))
				var res *Result
				var err error
				if i == 0 {
					res, err = Run(ctx, cfg, RunOptions{})
				} else {
					res, err = Resume(ctx, dir, RunOptions{})
				}
				cancel()
				if !errors.Is(err, ErrInterrupted) {
					t.Fatalf("run %d: err %v, want ErrInterrupted", i+1, err)
				}
				dir = res.Dir
				wantMsg := fmt.Sprintf("interrupted after %d iterations; the last image is %s; resume with: nst run --resume %s",
					tc.lastIters[i], filepath.Join(dir, "last.png"), dir)
				if err.Error() != wantMsg {
					t.Errorf("run %d: error\n%q\nwant\n%q", i+1, err, wantMsg)
				}
				if m, err := record.ReadManifest(filepath.Join(dir, record.ManifestName)); err != nil || m.Status != record.StatusInterrupted {
					t.Errorf("run %d: manifest %+v, %v; want status interrupted", i+1, m, err)
				}
			}
			withSaveHook(t, func(string) error { return nil })
			res, err := Resume(context.Background(), dir, RunOptions{})
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if res.Dir != dir || res.Image != filepath.Join(dir, "final.png") || res.Iterations != 8 {
				t.Errorf("result %+v, want 8 iterations and final.png in %s", res, dir)
			}
			checkSameRun(t, readRunFolder(t, dir), want)
			m, err := record.ReadManifest(filepath.Join(dir, record.ManifestName))
			if err != nil {
				t.Fatal(err)
			}
			if m.Status != record.StatusCompleted || m.Iterations != 8 {
				t.Errorf("manifest status %q iterations %d, want completed after 8", m.Status, m.Iterations)
			}
			if _, err := Resume(context.Background(), dir, RunOptions{}); err == nil || !strings.Contains(err.Error(), "no checkpoint") {
				t.Errorf("resuming the finished run again: %v, want a no-checkpoint error", err)
			}
		})
	}
}

// TestResumeRecordsTheLostStep covers an interrupt that lands between a
// step and its records: the resumed run writes the missing costs.csv row
// and intermediate image exactly as the uninterrupted run did.
func TestResumeRecordsTheLostStep(t *testing.T) {
	sets := []string{"optimizer.iterations=6", "output.save_every=3"}
	want := readRunFolder(t, runOK(t, tinyConfig(t, "", sets...)).Dir)

	ctx, cancel := context.WithCancel(context.Background())
	withSaveHook(t, cancelAtImage("iter_00003.png", cancel))
	res, err := Run(ctx, tinyConfig(t, "", sets...), RunOptions{})
	cancel()
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err %v, want ErrInterrupted", err)
	}
	// Lose iteration 3's row and image, as if the interrupt had come
	// before they were written.
	csv := filepath.Join(res.Dir, record.CostsCSVName)
	data := readFile(t, csv)
	cut := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
	if !bytes.HasPrefix(data[cut:], []byte("3,")) {
		t.Fatalf("last costs.csv row %q is not iteration 3", data[cut:])
	}
	if err := os.WriteFile(csv, data[:cut], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(res.Dir, "iter_00003.png")); err != nil {
		t.Fatal(err)
	}
	withSaveHook(t, func(string) error { return nil })
	if _, err := Resume(context.Background(), res.Dir, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	checkSameRun(t, readRunFolder(t, res.Dir), want)
}

// TestRunWriteFailures makes image writes fail as on a full disk: the run
// must stop saying which file failed and why, leave every earlier output as
// it was, and resume to the uninterrupted run's result once there is room.
func TestRunWriteFailures(t *testing.T) {
	sets := []string{"optimizer.iterations=8", "output.save_every=3"}
	want := readRunFolder(t, runOK(t, tinyConfig(t, "", sets...)).Dir)
	tests := []struct {
		name string
		// hook decides, for each image path, whether its write fails.
		hook func(t *testing.T) func(path string) error
		// wantMsg is the error with the run folder written as DIR.
		wantMsg string
		// lastIter is the last iteration with a costs.csv row.
		lastIter  int
		resumable bool
	}{
		{
			name: "an intermediate image",
			hook: func(*testing.T) func(string) error {
				return func(path string) error {
					if filepath.Base(path) == "iter_00006.png" {
						return diskFull(path)
					}
					return nil
				}
			},
			wantMsg: "run stopped after iteration 6: save image: write DIR/iter_00006.png: write DIR/iter_00006.png.tmp: no space left on device; " +
				"earlier outputs in DIR are intact; the last image is DIR/last.png; resume with: nst run --resume DIR",
			lastIter: 6, resumable: true,
		},
		{
			name: "every image from iteration 6 on",
			hook: func(*testing.T) func(string) error {
				full := false
				return func(path string) error {
					full = full || filepath.Base(path) == "iter_00006.png"
					if full {
						return diskFull(path)
					}
					return nil
				}
			},
			wantMsg: "run stopped after iteration 6: save image: write DIR/iter_00006.png: write DIR/iter_00006.png.tmp: no space left on device; " +
				"earlier outputs in DIR are intact; the last image could not be saved either: save image: write DIR/last.png: write DIR/last.png.tmp: no space left on device; " +
				"resume with: nst run --resume DIR",
			lastIter: 6, resumable: true,
		},
		{
			name: "the final image",
			hook: func(*testing.T) func(string) error {
				return func(path string) error {
					if filepath.Base(path) == "final.png" {
						return diskFull(path)
					}
					return nil
				}
			},
			wantMsg: "save image: write DIR/final.png: write DIR/final.png.tmp: no space left on device; " +
				"earlier outputs in DIR are intact; resume with: nst run --resume DIR",
			lastIter: 8, resumable: true,
		},
		{
			name: "the checkpoint too",
			hook: func(t *testing.T) func(string) error {
				return func(path string) error {
					if filepath.Base(path) != "iter_00006.png" {
						return nil
					}
					// A file where the checkpoint folder goes fails its
					// writing as surely as a full disk.
					if err := os.WriteFile(filepath.Join(filepath.Dir(path), CheckpointDir), nil, 0o644); err != nil {
						t.Error(err)
					}
					return diskFull(path)
				}
			},
			wantMsg: "run stopped after iteration 6: save image: write DIR/iter_00006.png: write DIR/iter_00006.png.tmp: no space left on device; " +
				"earlier outputs in DIR are intact; the last image is DIR/last.png; it cannot be resumed: save checkpoint: mkdir DIR/checkpoint: not a directory",
			lastIter: 6,
		},
		{
			name: "a folder in the image's place",
			// A real failed write, not a simulated one: atomicfile writes
			// the whole image into a temporary file, whose rename then
			// fails; nothing of it may be left behind.
			hook: func(t *testing.T) func(string) error {
				return func(path string) error {
					if filepath.Base(path) == "iter_00003.png" {
						if err := os.Mkdir(filepath.Join(filepath.Dir(path), "iter_00006.png"), 0o755); err != nil {
							t.Error(err)
						}
					}
					return nil
				}
			},
			wantMsg: "run stopped after iteration 6: save image: write DIR/iter_00006.png: replace: file exists; " +
				"earlier outputs in DIR are intact; the last image is DIR/last.png; resume with: nst run --resume DIR",
			lastIter: 6, resumable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withSaveHook(t, tt.hook(t))
			res, err := Run(context.Background(), tinyConfig(t, "", sets...), RunOptions{})
			if err == nil {
				t.Fatal("the run succeeded")
			}
			dir := res.Dir
			if got := strings.ReplaceAll(err.Error(), dir, "DIR"); got != tt.wantMsg {
				t.Errorf("error\n%s\nwant\n%s", got, tt.wantMsg)
			}
			if !errors.As(err, new(syscall.Errno)) {
				t.Errorf("error %v does not wrap the system's error", err)
			}
			// Earlier outputs are intact: the images written before the
			// failure and the costs of every logged iteration.
			got := readRunFolder(t, dir)
			if tt.lastIter >= 3 && !bytes.Equal(got.files["iter_00003.png"], want.files["iter_00003.png"]) {
				t.Error("iter_00003.png differs from the uninterrupted run's")
			}
			if !slices.Equal(got.costs.Iterations, want.costs.Iterations[:tt.lastIter]) {
				t.Errorf("costs.csv iterations %v, want 1 to %d", got.costs.Iterations, tt.lastIter)
			}
			for i := range tt.lastIter {
				if !slices.Equal(got.costs.Values[i], want.costs.Values[i]) {
					t.Errorf("costs.csv row %d differs from the uninterrupted run's", i+1)
				}
			}
			for name := range got.files {
				if strings.Contains(name, ".tmp") {
					t.Errorf("a temporary file %s was left behind", name)
				}
			}
			if !tt.resumable {
				return
			}
			withSaveHook(t, func(string) error { return nil })
			// Make room: the folder in the image's place goes.
			if st, err := os.Stat(filepath.Join(dir, "iter_00006.png")); err == nil && st.IsDir() {
				if err := os.Remove(filepath.Join(dir, "iter_00006.png")); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := Resume(context.Background(), dir, RunOptions{}); err != nil {
				t.Fatalf("resume once there is room: %v", err)
			}
			checkSameRun(t, readRunFolder(t, dir), want)
		})
	}
}

// TestRunFolderRemovedMidRun deletes the run folder under a running run:
// the message must not claim that earlier outputs are intact, nor offer a
// resume, and nothing may recreate the folder.
func TestRunFolderRemovedMidRun(t *testing.T) {
	withSaveHook(t, func(path string) error {
		if filepath.Base(path) == "iter_00003.png" {
			return os.RemoveAll(filepath.Dir(path))
		}
		return nil
	})
	cfg := tinyConfig(t, "", "optimizer.iterations=8", "output.save_every=3")
	res, err := Run(context.Background(), cfg, RunOptions{})
	if err == nil {
		t.Fatal("the run succeeded")
	}
	t.Log(err)
	for _, want := range []string{
		"run stopped after iteration 3: save image: write " + filepath.Join(res.Dir, "iter_00003.png"),
		"no such file or directory; the run folder " + res.Dir + " is gone; the last image could not be saved either",
		"; it cannot be resumed: save checkpoint: ",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := os.Stat(res.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the removed run folder is back (stat: %v)", err)
	}
}

// TestResumeRefuses changes what a stopped run depends on and checks that
// resuming refuses with a message naming the change, touching nothing.
func TestResumeRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, dir string, cfg *Config)
		want   []string
	}{
		{"edited config", func(t *testing.T, dir string, _ *Config) {
			appendFile(t, filepath.Join(dir, ResolvedConfigName), "# tweaked\n")
		}, []string{"config.yaml changed since the run stopped", "nst run -c"}},
		{"environment override", func(t *testing.T, _ string, _ *Config) {
			t.Setenv("NST_WEIGHTS_TV", "3")
		}, []string{"the environment changes the run's config (NST_WEIGHTS_TV)"}},
		{"changed content image", func(t *testing.T, _ string, cfg *Config) {
			writePNG(t, cfg.Content, 40, 30)
		}, []string{"the content image", "changed since the run stopped", "put back the original"}},
		{"changed model", func(t *testing.T, _ string, cfg *Config) {
			var buf bytes.Buffer
			if err := models.WriteSynthFrom(&buf, tinySpec, 8); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cfg.Model.Path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"the model", "changed since the run stopped"}},
		{"damaged image", func(t *testing.T, dir string, _ *Config) {
			flipLastByte(t, filepath.Join(dir, CheckpointDir, readCheckpoint(t, dir).Image.Name))
		}, []string{"is incomplete: x-", ".npy is not the file checkpoint.json describes"}},
		{"missing optimiser state", func(t *testing.T, dir string, _ *Config) {
			if err := os.Remove(filepath.Join(dir, CheckpointDir, readCheckpoint(t, dir).State.Name)); err != nil {
				t.Fatal(err)
			}
		}, []string{"is incomplete", ".bin\": no such file"}},
		{"optimiser state a named pipe", func(t *testing.T, dir string, _ *Config) {
			p := filepath.Join(dir, CheckpointDir, readCheckpoint(t, dir).State.Name)
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"is incomplete", ".bin\" is a named pipe, not a regular file"}},
		{"optimiser state larger than any state of its image", func(t *testing.T, dir string, _ *Config) {
			c := readCheckpoint(t, dir)
			if err := os.Truncate(filepath.Join(dir, CheckpointDir, c.State.Name), maxStateBytes(c.Channels*c.Width*c.Height)+1); err != nil {
				t.Fatal(err)
			}
		}, []string{"is incomplete", ".bin\" is 18", "over the limit of 18"}},
		{"description naming a file elsewhere", func(t *testing.T, dir string, _ *Config) {
			editCheckpoint(t, dir, func(c *checkpoint) { c.Image.Name = "../../x.npy" })
		}, []string{"checkpoint is damaged", `files "../../x.npy" and "optimizer-`}},
		{"newer format", func(t *testing.T, dir string, _ *Config) {
			editCheckpoint(t, dir, func(c *checkpoint) { c.Version = 99 })
		}, []string{"has format 99; this nst reads format 1 only"}},
		{"damaged description", func(t *testing.T, dir string, _ *Config) {
			if err := os.WriteFile(filepath.Join(dir, CheckpointDir, checkpointName), []byte("{\"version\": 1, "), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"checkpoint.json is damaged"}},
		{"scale beyond the config", func(t *testing.T, dir string, _ *Config) {
			editCheckpoint(t, dir, func(c *checkpoint) { c.Scale = 4 })
		}, []string{"the checkpoint is at scale 5, the config has 1"}},
		{"costs.csv cut short", func(t *testing.T, dir string, _ *Config) {
			path := filepath.Join(dir, record.CostsCSVName)
			data := readFile(t, path)
			if err := os.WriteFile(path, data[:bytes.IndexByte(data, '\n')+1], 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"costs.csv ends at iteration 0, the checkpoint is at 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := filepath.Join(t.TempDir(), "photo.png")
			writePNG(t, content, 30, 40)
			cfg := tinyConfig(t, "", "content="+content, "output.save_every=1")
			ctx, cancel := context.WithCancel(context.Background())
			withSaveHook(t, cancelAtImage("iter_00003.png", cancel))
			res, err := Run(ctx, cfg, RunOptions{})
			cancel()
			if !errors.Is(err, ErrInterrupted) {
				t.Fatalf("err %v, want ErrInterrupted", err)
			}
			tt.change(t, res.Dir, cfg)
			before := snapshot(t, res.Dir)
			done := make(chan struct{})
			go func() { _, err = Resume(context.Background(), res.Dir, RunOptions{}); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Resume still running after 30 s")
			}
			if err == nil {
				t.Fatal("Resume succeeded")
			}
			t.Log(err)
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if after := snapshot(t, res.Dir); !maps.Equal(before, after) {
				t.Errorf("a refused resume changed the run folder")
			}
		})
	}
}

func TestResumeNeedsARunFolder(t *testing.T) {
	file := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "gone")
	finished := runOK(t, tinyConfig(t, "", "optimizer.iterations=2")).Dir
	tests := []struct {
		name, dir, want string
	}{
		{"missing", missing, "resume " + missing + ": no such file or directory"},
		{"a file", file, "resume " + file + ": not a folder"},
		{"a finished run", finished, "resume " + finished + ": no checkpoint in " + finished},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Resume(context.Background(), tt.dir, RunOptions{})
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %v, want it to start %q", err, tt.want)
			}
		})
	}
}

func TestResumeRefusesASecondResumer(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockRunDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Resume(context.Background(), dir, RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "another nst process is running or resuming this run") {
		t.Errorf("error %v, want the run to be locked", err)
	}
	unlock()
	if _, err := Resume(context.Background(), dir, RunOptions{}); err == nil || !strings.Contains(err.Error(), "no checkpoint") {
		t.Errorf("after unlocking: %v, want the lock free and no checkpoint", err)
	}
}

// TestCheckpointKeepsValuesExactly saves values no 8-bit image could hold
// and checks that they come back bit for bit, with the optimiser's state.
func TestCheckpointKeepsValuesExactly(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ResolvedConfigName), []byte("content: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	x := []float32{0, float32(math.Copysign(0, -1)), 1e-45, -3.5, 1.0000001, 0.1, math.MaxFloat32, float32(math.Inf(-1)), 0.5, 2, 7, 1.5}
	opt, err := optim.NewAdam(optim.DefaultAdamConfig())
	if err != nil {
		t.Fatal(err)
	}
	square := func(_ context.Context, x, g []float32) (float64, error) {
		s := 0.0
		for i, v := range x {
			g[i] = 2 * v
			s += float64(v) * float64(v)
		}
		return s, nil
	}
	// A step fills the moments, so that there is state to keep.
	if _, err := opt.Step(context.Background(), make([]float32, len(x)), square); err != nil {
		t.Fatal(err)
	}
	c := checkpoint{Iteration: 7, Scale: 1, Width: 2, Height: 2, Channels: 3, ModelSHA256: "m", Inputs: []record.Input{{Role: "content", Path: "a.png", SHA256: "s"}}}
	if err := configSHA256(dir, &c); err != nil {
		t.Fatal(err)
	}
	if err := saveCheckpoint(dir, c, x, opt); err != nil {
		t.Fatal(err)
	}
	got, err := loadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range x {
		if math.Float32bits(got.x[i]) != math.Float32bits(x[i]) {
			t.Errorf("x[%d] = %v (bits %#x), want %v (bits %#x)", i, got.x[i], math.Float32bits(got.x[i]), x[i], math.Float32bits(x[i]))
		}
	}
	state, _ := opt.MarshalBinary()
	if !bytes.Equal(got.state, state) {
		t.Error("optimiser state differs after the round trip")
	}
	if got.Iteration != 7 || got.Scale != 1 || got.Optimizer != "adam" || got.Version != checkpointVersion || got.Inputs[0] != c.Inputs[0] || got.ConfigSHA256 != record.SHA256Hex([]byte("content: x\n")) {
		t.Errorf("checkpoint read back as %+v", got.checkpoint)
	}
	// The shape recorded must agree with the data.
	if err := saveCheckpoint(dir, c, x[:8], opt); err == nil {
		t.Error("saved 8 values as a 2x2 image with 3 channels")
	}
}

// TestFailedCheckpointKeepsThePreviousOne makes saving a second checkpoint
// fail half-way: the first must still load, whole; once the save succeeds,
// only the new checkpoint's files remain.
func TestFailedCheckpointKeepsThePreviousOne(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ResolvedConfigName), []byte("content: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := checkpoint{Iteration: 3, Width: 2, Height: 1, Channels: 3}
	if err := configSHA256(dir, &c); err != nil {
		t.Fatal(err)
	}
	first, second := []float32{1, 2, 3, 4, 5, 6}, []float32{6, 5, 4, 3, 2, 1}
	opt, err := optim.NewLBFGS(optim.DefaultLBFGSConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := saveCheckpoint(dir, c, first, opt); err != nil {
		t.Fatal(err)
	}
	// The next state file's name is taken by a folder, so its write
	// fails after the new image is already written.
	if _, err := opt.Step(context.Background(), slices.Clone(second), func(_ context.Context, x, g []float32) (float64, error) {
		s := 0.0
		for i, v := range x {
			g[i], s = v, s+float64(v*v)/2
		}
		return s, nil
	}); err != nil {
		t.Fatal(err)
	}
	state, _ := opt.MarshalBinary()
	blocker := filepath.Join(dir, CheckpointDir, "optimizer-"+record.SHA256Hex(state)[:16]+".bin")
	if err := os.Mkdir(blocker, 0o755); err != nil {
		t.Fatal(err)
	}
	c.Iteration = 4
	if err := saveCheckpoint(dir, c, second, opt); err == nil {
		t.Fatal("the save succeeded despite the folder in its way")
	}
	got, err := loadCheckpoint(dir)
	if err != nil {
		t.Fatalf("the first checkpoint no longer loads: %v", err)
	}
	if got.Iteration != 3 || !slices.Equal(got.x, first) {
		t.Errorf("loaded iteration %d x %v, want the first checkpoint's 3 and %v", got.Iteration, got.x, first)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if err := saveCheckpoint(dir, c, second, opt); err != nil {
		t.Fatal(err)
	}
	if got, err = loadCheckpoint(dir); err != nil || got.Iteration != 4 || !slices.Equal(got.x, second) {
		t.Fatalf("second checkpoint loads as %+v, %v", got, err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, CheckpointDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{checkpointName, got.State.Name, got.Image.Name}; !slices.Equal(names, want) {
		t.Errorf("checkpoint folder holds %v, want only %v", names, want)
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func flipLastByte(t *testing.T, path string) {
	t.Helper()
	data := readFile(t, path)
	data[len(data)-1] ^= 1
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readCheckpoint(t *testing.T, dir string) checkpoint {
	t.Helper()
	var c checkpoint
	if err := json.Unmarshal(readFile(t, filepath.Join(dir, CheckpointDir, checkpointName)), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func editCheckpoint(t *testing.T, dir string, edit func(*checkpoint)) {
	t.Helper()
	path := filepath.Join(dir, CheckpointDir, checkpointName)
	var c checkpoint
	if err := json.Unmarshal(readFile(t, path), &c); err != nil {
		t.Fatal(err)
	}
	edit(&c)
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, js, 0o644); err != nil {
		t.Fatal(err)
	}
}

// snapshot maps every file under dir to its content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			files[path] = d.Type().String() // a named pipe would block a read
			return nil
		}
		data, err := os.ReadFile(path)
		files[path] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// BenchmarkCheckpoint512 saves and loads the checkpoint of a 512x512 run
// with a full L-BFGS history (10 pairs, about 66 MB of state): the time an
// interrupted run takes to stop, and a resumed one to start.
func BenchmarkCheckpoint512(b *testing.B) {
	const n = 3 * 512 * 512
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ResolvedConfigName), []byte("content: x\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	opt, err := optim.NewLBFGS(optim.DefaultLBFGSConfig())
	if err != nil {
		b.Fatal(err)
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i%977) / 977
	}
	// A badly scaled quadratic keeps L-BFGS taking steps and filling its
	// history.
	quadratic := func(_ context.Context, x, g []float32) (float64, error) {
		s := 0.0
		for i, v := range x {
			w := float32(1 + i%7)
			g[i] = w * (v - 0.5)
			s += float64(w*(v-0.5)*(v-0.5)) / 2
		}
		return s, nil
	}
	for range 12 {
		if _, err := opt.Step(context.Background(), x, quadratic); err != nil {
			b.Fatal(err)
		}
	}
	c := checkpoint{Iteration: 12, Width: 512, Height: 512, Channels: 3}
	if err := configSHA256(dir, &c); err != nil {
		b.Fatal(err)
	}
	state, _ := opt.MarshalBinary()
	b.Run("save", func(b *testing.B) {
		b.SetBytes(int64(4*n + len(state)))
		for b.Loop() {
			if err := saveCheckpoint(dir, c, x, opt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("load", func(b *testing.B) {
		b.SetBytes(int64(4*n + len(state)))
		for b.Loop() {
			if _, err := loadCheckpoint(dir); err != nil {
				b.Fatal(err)
			}
		}
	})
}

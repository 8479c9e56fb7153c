package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nst-project/nst/internal/testimg"
	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/record"
)

// actAsNST makes the test binary behave as nst itself when set, so the
// tests run the real command line in a child process (exit codes, stderr,
// signals) without a separate go build.
const actAsNST = "NST_CMD_TEST_ACT_AS_NST"

// tinyModel is a three-block VGG written by TestMain, small enough that a
// full run takes a fraction of a second.
var tinyModel string

func TestMain(m *testing.M) {
	if os.Getenv(actAsNST) == "1" {
		os.Args = append([]string{"nst"}, os.Args[1:]...)
		os.Exit(run())
	}
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "nst-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	tinyModel = filepath.Join(dir, "tiny.onnx")
	var buf bytes.Buffer
	if err := models.WriteSynthFrom(&buf, models.SynthSpec{Blocks: [][]int{{4}, {8}, {8}}}, 7); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.WriteFile(tinyModel, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// result is what one nst process left behind.
type result struct {
	code           int
	stdout, stderr string
}

// nst runs the command line args in a child process. The child's working
// directory stays the package folder, where ONNX Runtime's standard lookup
// finds the library installed in the tree; every output goes to absolute
// temporary paths.
func nst(t *testing.T, args ...string) result {
	t.Helper()
	return nstEnv(t, nil, args...)
}

// nstEnv is nst with env added to the child's environment.
func nstEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), actAsNST+"=1"), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		t.Fatalf("nst %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// writeConfig writes a tiny experiment, with extra appended as further
// top-level YAML, and returns its path.
func writeConfig(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	body := fmt.Sprintf(`content: builtin:village
style:
  - {path: builtin:swirls, weight: 1}
size: 32
model: {path: %q, arch: auto}
layers:
  content: {relu2_1: 1}
  style: {relu1_1: 0.5, relu2_1: 0.3, relu3_1: 0.2}
optimizer: {iterations: 5}
output: {dir: %q, save_every: 0}
runtime: {threads: 1}
%s`, tinyModel, filepath.Join(dir, "run"), extra)
	path := filepath.Join(dir, "exp.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkNoTrace fails the test when output holds a Go panic or stack trace.
func checkNoTrace(t *testing.T, output string) {
	t.Helper()
	for _, bad := range []string{"goroutine ", "panic:", ".go:"} {
		if strings.Contains(output, bad) {
			t.Errorf("output holds %q, a Go stack trace:\n%s", bad, output)
		}
	}
}

func TestRunPrintsFinalImage(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	r := nst(t, "run", "-c", writeConfig(t, ""), "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	want := filepath.Join(out, "final.png")
	if r.stdout != want+"\n" {
		t.Errorf("stdout %q, want the image path %q", r.stdout, want+"\n")
	}
	img := testimg.ReadPNG(t, want)
	if b := img.Bounds(); b.Dx() != 32 || b.Dy() != 21 {
		t.Errorf("final image is %v, want 32x21", b)
	}
	// stderr is a pipe here, so progress comes as log lines.
	if !strings.Contains(r.stderr, "iteration=5 ") {
		t.Errorf("stderr does not report iteration 5:\n%s", r.stderr)
	}
	checkNoTrace(t, r.stderr)
}

func TestEvalWritesItsFiles(t *testing.T) {
	out := filepath.Join(t.TempDir(), "eval")
	r := nst(t, "eval", "-c", writeConfig(t, ""), "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	for _, name := range []string{"image.npy", "grad.npy"} {
		shape, _, err := record.ReadNPY(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(shape, []int{1, 3, 21, 32}) {
			t.Errorf("%s shape %v, want [1 3 21 32]", name, shape)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "costs.json")); err != nil {
		t.Error(err)
	}
}

func TestBadConfigsGiveOneErrorLine(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-photo.png")
	tests := []struct {
		name  string
		extra string
		args  []string
		want  []string
	}{
		{"unknown key", "optimiser: {lr: 0.5}\n", nil,
			[]string{`unknown key "optimiser"`, `did you mean "optimizer"?`}},
		{"unknown key by --set", "", []string{"--set", "weights.stlye=3"},
			[]string{`unknown key "weights.stlye"`, `did you mean "weights.style"?`}},
		{"missing file", "", []string{"--set", "content=" + missing},
			[]string{missing}},
		{"wrong layer", "", []string{"--set", "layers.style.relu3_2=1"},
			[]string{`unknown layer "relu3_2"`, `did you mean "relu3_1"?`}},
		{"negative weight", "weights: {style: -1}\n", nil,
			[]string{"weights.style: -1; want a finite number >= 0"}},
		{"several bad values", "weights: {style: -1, tv: -2}\nnoise_ratio: 2\n", nil,
			[]string{"noise_ratio: 2", "weights.style: -1", "weights.tv: -2"}},
		{"missing model", "", []string{"--set", "model.path=" + missing},
			[]string{missing}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := writeConfig(t, tt.extra)
			out := filepath.Join(t.TempDir(), "out")
			r := nst(t, append([]string{"run", "-c", config, "--out", out}, tt.args...)...)
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "nst: ") {
				t.Fatalf("stderr is not one line starting \"nst: \":\n%s", r.stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(lines[0], want) {
					t.Errorf("error %q lacks %q", lines[0], want)
				}
			}
			checkNoTrace(t, r.stderr)
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a rejected config created the output folder (stat: %v)", err)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	config := writeConfig(t, "")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"run without config", []string{"run"}, "missing -c CONFIG"},
		{"eval without out", []string{"eval", "-c", config}, "eval needs --out DIR"},
		{"unknown flag", []string{"run", "-c", config, "--iterations", "5"}, "unknown flag: --iterations"},
		{"synth without out", []string{"model", "synth"}, "synth needs --out"},
		// Argument counts and subcommands, in every subcommand.
		{"run with an argument", []string{"run", "extra"}, `unknown command "extra" for "nst run"`},
		{"eval with an argument", []string{"eval", "extra"}, `unknown command "extra" for "nst eval"`},
		{"model alone", []string{"model"}, "model needs a subcommand: fetch, inspect, synth"},
		{"model with an unknown subcommand", []string{"model", "inspcet"}, `unknown command "inspcet" for "nst model" (did you mean "inspect"?)`},
		{"inspect without a file", []string{"model", "inspect"}, "accepts 1 arg(s), received 0"},
		{"inspect with two files", []string{"model", "inspect", "a", "b"}, "accepts 1 arg(s), received 2"},
		{"synth with an argument", []string{"model", "synth", "extra"}, `unknown command "extra" for "nst model synth"`},
		{"fetch without a name", []string{"model", "fetch"}, "fetch needs a model name"},
		{"units alone", []string{"units"}, "units needs a subcommand: dream, top"},
		{"units top with an argument", []string{"units", "top", "extra"}, `unknown command "extra" for "nst units top"`},
		{"units dream with an argument", []string{"units", "dream", "extra"}, `unknown command "extra" for "nst units dream"`},
		{"bench with an argument", []string{"bench", "extra"}, `unknown command "extra" for "nst bench"`},
		{"bench with a bad size", []string{"bench", "--sizes", "x"}, `invalid argument "x" for "--sizes" flag`},
		{"sweep with arguments", []string{"sweep", "a"}, `unknown command "a" for "nst sweep"`},
		{"sweep sheet without a folder", []string{"sweep", "sheet"}, "accepts 1 arg(s), received 0"},
		{"serve with an argument", []string{"serve", "extra"}, `unknown command "extra" for "nst serve"`},
		{"version with an argument", []string{"version", "extra"}, `unknown command "extra" for "nst version"`},
		{"unknown command", []string{"bogus"}, `unknown command "bogus"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := nst(t, tt.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2 (usage)", r.code)
			}
			want := "nst: " + tt.want
			// The hint names the misused command's help.
			path := "nst"
			for _, a := range tt.args {
				if strings.HasPrefix(a, "-") || a == "extra" || a == "a" || a == "b" || a == "inspcet" || a == "bogus" {
					break
				}
				path += " " + a
			}
			hint := "Run '" + path + " --help' for usage."
			if lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], want) || lines[1] != hint {
				t.Errorf("stderr:\n%s\nwant %q... then %q", r.stderr, want, hint)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"Usage:", "\n  run ", "\n  eval ", "\n  model ", "\n  version ", "NST_"}},
		{[]string{"run", "--help"}, []string{"nst run -c CONFIG", "--config", "--set", "--out", "costs.csv", "manifest.json"}},
		{[]string{"eval", "--help"}, []string{"costs.json", "image.npy", "grad.npy", "[1,3,H,W]"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := nst(t, tt.args...)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("help lacks %q:\n%s", want, r.stdout)
				}
			}
		})
	}
}

func TestModelInspectListsVGG16(t *testing.T) {
	r := nst(t, "model", "inspect", "builtin:vgg16")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	var want []string
	for b, convs := range []int{2, 2, 3, 3, 3} {
		for i := range convs {
			want = append(want, fmt.Sprintf("conv%d_%d", b+1, i+1), fmt.Sprintf("relu%d_%d", b+1, i+1))
		}
		want = append(want, fmt.Sprintf("pool%d", b+1))
	}
	var layers []string
	convs := 0
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	header := false
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) > 0 && fields[0] == "LAYER":
			header = true
		case header && len(fields) >= 5:
			layers = append(layers, fields[0])
			if fields[4] == "Conv" {
				convs++
			}
		}
	}
	if !slices.Equal(layers, want) {
		t.Errorf("layers %v\nwant %v", layers, want)
	}
	if convs != 13 {
		t.Errorf("%d convolutions, want 13", convs)
	}
}

// TestModelInspectGivesFields checks that model inspect opens the built-in
// audio and volume backbones (with the run's default bins and filters) and
// prints each layer's receptive field in the input's own axes: frames for
// audio, depth x height x width voxels for a volume, height x width pixels
// for an image.
func TestModelInspectGivesFields(t *testing.T) {
	for _, tc := range []struct {
		model, legend string
		// fields maps a layer to its channels and FIELD column.
		fields map[string][2]string
	}{
		{"builtin:audio", "FIELD: receptive field in spectrogram frames",
			map[string][2]string{"conv1_1": {"1024", "11"}, "relu1_1": {"1024", "11"}}},
		{"builtin:audio-multi", "FIELD: receptive field in spectrogram frames",
			map[string][2]string{"relu_w3": {"256", "3"}, "relu_w7": {"256", "7"}, "relu_w11": {"256", "11"}, "relu_w19": {"256", "19"}}},
		{"builtin:volume", "FIELD: receptive field in input voxels, depth x height x width",
			map[string][2]string{"relu1_1": {"16", "3x3x3"}, "pool1": {"16", "4x4x4"}, "relu2_1": {"32", "8x8x8"}, "pool2": {"32", "10x10x10"}, "relu3_1": {"64", "18x18x18"}}},
		{"builtin:vgg19", "FIELD: receptive field in input pixels, height x width",
			map[string][2]string{"relu1_1": {"64", "3x3"}, "relu4_2": {"512", "84x84"}, "pool5": {"512", "268x268"}}},
	} {
		t.Run(tc.model, func(t *testing.T) {
			r := nst(t, "model", "inspect", tc.model)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.legend+"\n") {
				t.Errorf("output lacks %q:\n%s", tc.legend, r.stdout)
			}
			got := map[string][2]string{}
			for line := range strings.Lines(r.stdout) {
				// LAYER CHANNELS STRIDE FIELD OP [TENSOR]
				if f := strings.Fields(line); len(f) >= 5 && tc.fields[f[0]] != [2]string{} {
					got[f[0]] = [2]string{f[1], f[3]}
				}
			}
			if !maps.Equal(got, tc.fields) {
				t.Errorf("channels and fields %v, want %v:\n%s", got, tc.fields, r.stdout)
			}
		})
	}
}

func TestModelSynthIsByteIdentical(t *testing.T) {
	dir := t.TempDir()
	var sums []string
	for _, name := range []string{"a.onnx", "b.onnx"} {
		path := filepath.Join(dir, name)
		r := nst(t, "model", "synth", "--arch", "vgg16", "--seed", "3", "--out", path)
		if r.code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		sums = append(sums, hex.EncodeToString(sum[:]))
	}
	if sums[0] != sums[1] {
		t.Errorf("two syntheses with seed 3 differ: %s, %s", sums[0], sums[1])
	}
	// The file must be the built-in backbone a run records in its manifest.
	b, err := models.Synth("vgg16", 3)
	if err != nil {
		t.Fatal(err)
	}
	if b.Digest() != sums[0] {
		t.Errorf("synthesised file sha256 %s, the built-in vgg16 seed 3 digest %s", sums[0], b.Digest())
	}
}

func TestVersion(t *testing.T) {
	r := nst(t, "version")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	ortLine := regexp.MustCompile(`^onnxruntime 1\.\d+\.\d+ \(.*libonnxruntime[^)]*\)$`)
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "nst ") || !ortLine.MatchString(lines[1]) {
		t.Errorf("version output:\n%s\nwant \"nst VERSION\" then \"onnxruntime X.Y.Z (PATH)\"", r.stdout)
	}
}

// TestInterruptSavesAndExits130 sends SIGINT once the run has logged its
// first iteration; Adam never converges, so the run cannot end first.
func TestInterruptSavesAndExits130(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "run", "-c", writeConfig(t, ""), "--out", out,
		"--set", "optimizer.name=adam", "--set", "optimizer.lr=0.01", "--set", "optimizer.iterations=1000000")
	cmd.Env = append(os.Environ(), actAsNST+"=1")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(stderr)
	signalled := false
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if !signalled && strings.Contains(sc.Text(), "iteration=1 ") {
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			signalled = true
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Fatalf("wait: %v, want exit status 130; stderr:\n%s", err, strings.Join(lines, "\n"))
	}
	if !signalled {
		t.Fatalf("the run never logged iteration 1:\n%s", strings.Join(lines, "\n"))
	}
	last := lines[len(lines)-1]
	image := filepath.Join(out, "last.png")
	if !strings.HasPrefix(last, "nst: interrupted after ") || !strings.HasSuffix(last, "; the last image is "+image+"; resume with: nst run --resume "+out) {
		t.Errorf("last stderr line %q, want \"nst: interrupted after N iterations; the last image is %s; resume with: nst run --resume %s\"", last, image, out)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q, want nothing for an interrupted run", stdout.String())
	}
	if _, err := os.Stat(image); err != nil {
		t.Error(err)
	}
	m, err := record.ReadManifest(filepath.Join(out, record.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != record.StatusInterrupted || m.Iterations < 1 {
		t.Errorf("manifest status %q after %d iterations, want interrupted after at least 1", m.Status, m.Iterations)
	}
	checkNoTrace(t, strings.Join(lines, "\n"))
}

// TestSizesAreBoundedByMemory: units top, units dream and bench refuse a
// size or MatMul that would not fit in memory before any work, through
// the run's estimate, naming what fits; absurd values are refused
// outright. None may reach the Go runtime's out-of-memory crash.
func TestSizesAreBoundedByMemory(t *testing.T) {
	config := writeConfig(t, "")
	images := t.TempDir()
	writePNGFile(t, filepath.Join(images, "a.png"))
	out := filepath.Join(t.TempDir(), "out.png")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"dream size over the memory", []string{"units", "dream", "-c", config, "--set", "runtime.max_memory=1GB", "--layer", "relu1_1", "--unit", "0", "--size", "16000", "--out", out},
			1, "nst: --size 16000: a 16000x16000 run needs about"},
		{"dream size over the bound", []string{"units", "dream", "-c", config, "--layer", "relu1_1", "--unit", "0", "--size", "20000", "--out", out},
			2, "nst: --size 20000: want 1 to 16384 pixels"},
		{"dream blur wider than the image", []string{"units", "dream", "-c", config, "--layer", "relu1_1", "--unit", "0", "--size", "32", "--blur-sigma", "1e9", "--out", out},
			1, "nst: units dream: blur sigma 1e+09; want 0 up to the image's side (32 pixels)"},
		{"top size over the memory", []string{"units", "top", "-c", config, "--set", "runtime.max_memory=1GB", "--layer", "relu1_1", "--unit", "0", "--images", images, "--size", "16000", "--out", out},
			1, "nst: --size 16000: a 16000x16000 run needs about"},
		{"bench size over the memory", []string{"bench", "--max-memory", "1GiB", "--matmul", "-1", "--tile", "off", "--sizes", "4096"},
			1, "nst: bench: --sizes 4096: a 4096x4096 run needs about"},
		{"bench size over the bound", []string{"bench", "--sizes", "20000"}, 1, "nst: bench: --sizes 20000: want 16 to 16384 pixels"},
		{"bench MatMul over the memory", []string{"bench", "--max-memory", "1GiB", "--sizes", "64", "--matmul", "16384"},
			1, "nst: bench: --matmul 16384 needs about 4.3 GB of memory, more than the 1.1 GB set by --max-memory; the largest that fits is --matmul 8192"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := nst(t, tt.args...)
			checkNoTrace(t, r.stderr)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", r.code, r.stderr, tt.code, tt.want)
			}
			if strings.Contains(tt.want, "run needs about") && !strings.Contains(r.stderr, "the largest size that fits is") {
				t.Errorf("stderr:\n%s\nnames no size that fits", r.stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a refused command wrote %s", out)
			}
		})
	}
}

// TestCrashFilter: bench passes a measuring process's stderr through but
// keeps a Go crash report to itself, remembering its first line.
func TestCrashFilter(t *testing.T) {
	var buf strings.Builder
	f := &crashFilter{w: &buf}
	io.WriteString(f, "1024x1024: 5.0 s/iteration\nfatal error: runtime: out of memory\n\ngoroutine 1 [running]:\nmain.main()\n")
	if buf.String() != "1024x1024: 5.0 s/iteration\n" || f.crash != "fatal error: runtime: out of memory" {
		t.Errorf("passed %q, crash %q", buf.String(), f.crash)
	}
}

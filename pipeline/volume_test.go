package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/volume"
)

// writeStripeVolume writes an n³ grey volume of stripes along the
// diagonal (1,1,1), white where (z+y+x) mod period < period/2, as a .npy
// file in a folder of the test's and returns its path. Along each axis,
// and so along the rows and columns of every slice, its period is period.
func writeStripeVolume(t testing.TB, n, period int) string {
	t.Helper()
	v, err := volume.New(n, n, n, 1)
	if err != nil {
		t.Fatal(err)
	}
	for z := range n {
		for y := range n {
			for x := range n {
				if (z+y+x)%period < period/2 {
					v.Data[v.Index(z, y, x, 0)] = 1
				}
			}
		}
	}
	path := filepath.Join(t.TempDir(), fmt.Sprintf("stripes%d.npy", n))
	if err := volume.WriteNPY(path, v); err != nil {
		t.Fatal(err)
	}
	return path
}

// volumeTestYAML is a volume texture run of the built-in volume backbone:
// the exemplar grown to size³ from noise, content weight 0.
func volumeTestYAML(exemplar, outDir string, size, iterations int, filters string) string {
	return fmt.Sprintf(`content: %q
style:
  - {path: %q}
init: noise
weights: {content: 0, style: 1e4, tv: 0}
optimizer: {name: lbfgs, iterations: %d, tolerance: 0}
output: {dir: %q, save_every: 0}
runtime: {threads: 2, graph_cache: false}
volume: {size: %d, filters: %s}
`, exemplar, exemplar, iterations, filepath.Join(outDir, "run"), size, filters)
}

// slicePeriods measures the dominant period, in voxels, along the rows
// and along the columns of v's slices across axis a: the wavelength of
// the peak of the power spectrum of every line, summed, refined by a
// parabola through the peak and its neighbours.
func slicePeriods(v *volume.Volume, a volume.Axis) (rows, cols float64) {
	rowsN, colsN := v.SliceShape(a)
	rowPower, colPower := make([]float64, colsN/2+1), make([]float64, rowsN/2+1)
	for i := range v.Len(a) {
		plane, _ := v.Slice(a, i)
		for r := range rowsN {
			addPower(rowPower, plane[r*colsN:(r+1)*colsN])
		}
		col := make([]float32, rowsN)
		for c := range colsN {
			for r := range rowsN {
				col[r] = plane[r*colsN+c]
			}
			addPower(colPower, col)
		}
	}
	return peakPeriod(rowPower, colsN), peakPeriod(colPower, rowsN)
}

// addPower adds the power spectrum of line (its mean removed), bins 0 to
// len(line)/2, into power.
func addPower(power []float64, line []float32) {
	n := len(line)
	var mean float64
	for _, v := range line {
		mean += float64(v)
	}
	mean /= float64(n)
	for k := range power {
		var re, im float64
		for j, v := range line {
			c, s := twiddle(n, k*j%n)
			re += (float64(v) - mean) * c
			im -= (float64(v) - mean) * s
		}
		power[k] += re*re + im*im
	}
}

// twiddles caches cos and sin of 2π·i/n by n.
var twiddles = map[int][][2]float64{}

// twiddle returns cos and sin of 2π·i/n.
func twiddle(n, i int) (float64, float64) {
	t, ok := twiddles[n]
	if !ok {
		t = make([][2]float64, n)
		for j := range t {
			t[j] = [2]float64{math.Cos(2 * math.Pi * float64(j) / float64(n)), math.Sin(2 * math.Pi * float64(j) / float64(n))}
		}
		twiddles[n] = t
	}
	return t[i][0], t[i][1]
}

// peakPeriod is n over the frequency of power's peak (bins 1 and up),
// refined by a parabola through it and its neighbours.
func peakPeriod(power []float64, n int) float64 {
	best := 1
	for k := 2; k < len(power); k++ {
		if power[k] > power[best] {
			best = k
		}
	}
	f := float64(best)
	if best > 1 && best < len(power)-1 {
		a, b, c := power[best-1], power[best], power[best+1]
		if d := a - 2*b + c; d != 0 {
			f += 0.5 * (a - c) / d
		}
	}
	return float64(n) / f
}

// TestVolumeStripes grows a 64³ volume from a 32³ exemplar of diagonal
// stripes of period 8 with the built-in 3-D backbone and checks that the
// slices along every axis show the period (±1 voxel) along their rows and
// columns, and that the run folder holds the result and its montages.
func TestVolumeStripes(t *testing.T) {
	if testing.Short() {
		t.Skip("a 64³ volume run")
	}
	const period = 8
	exemplar := writeStripeVolume(t, 32, period)
	dir := t.TempDir()
	cfg, err := loadYAML(t, volumeTestYAML(exemplar, dir, 64, 200, "[8, 16, 32]"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := Run(context.Background(), cfg, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("64³ run: %d iterations in %v", res.Iterations, time.Since(start).Round(time.Millisecond))
	out, _, err := volume.ReadNPY(res.Image, volume.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out.D != 64 || out.H != 64 || out.W != 64 || out.C != 1 {
		t.Fatalf("final.npy is %dx%dx%dx%d; want 64x64x64x1", out.D, out.H, out.W, out.C)
	}
	for _, a := range []volume.Axis{volume.AxisD, volume.AxisH, volume.AxisW} {
		rows, cols := slicePeriods(out, a)
		t.Logf("slices across %s: period %.2f along rows, %.2f along columns", a, rows, cols)
		if math.Abs(rows-period) > 1 || math.Abs(cols-period) > 1 {
			t.Errorf("slices across %s: periods %.2f and %.2f; want %d ± 1", a, rows, cols, period)
		}
	}
	for _, name := range []string{"final.npy", "final_montage.png", "content_montage.png", "style1_montage.png", "costs.csv", "manifest.json", "config.yaml"} {
		if _, err := os.Stat(filepath.Join(res.Dir, name)); err != nil {
			t.Errorf("run folder: %v", err)
		}
	}
}

// TestVolumePeriodMeasure checks the period measure on the exemplar
// itself, so that TestVolumeStripes's verdict rests on a working ruler.
func TestVolumePeriodMeasure(t *testing.T) {
	for _, period := range []int{6, 8, 10} {
		v, _, err := volume.ReadNPY(writeStripeVolume(t, 60, period), volume.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []volume.Axis{volume.AxisD, volume.AxisH, volume.AxisW} {
			rows, cols := slicePeriods(v, a)
			if math.Abs(rows-float64(period)) > 0.25 || math.Abs(cols-float64(period)) > 0.25 {
				t.Errorf("period %d across %s: measured %.2f, %.2f", period, a, rows, cols)
			}
		}
	}
}

// tinyVolumeConfig is a volume run small enough for finite differences:
// an 8³ content and a 6×8×10 style on a two-block built-in backbone.
func tinyVolumeConfig(t *testing.T, extra string) *Config {
	t.Helper()
	content := writeStripeVolume(t, 8, 4)
	style, err := volume.New(6, 8, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range style.Data {
		style.Data[i] = float32(math.Sin(float64(i)*0.7)*0.5 + 0.5)
	}
	stylePath := filepath.Join(t.TempDir(), "style.npy")
	if err := volume.WriteNPY(stylePath, style); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadYAML(t, fmt.Sprintf(`content: %q
style: [{path: %q}]
init: content
noise_ratio: 0.3
weights: {content: 1, style: 100, tv: 0.5}
optimizer: {iterations: 3, tolerance: 0}
output: {dir: %q, save_every: 2}
runtime: {threads: 1, graph_cache: false}
volume: {filters: [4, 6]}
%s`, content, stylePath, filepath.Join(t.TempDir(), "run"), extra))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestVolumeGradient checks a volume run's gradient (content, style of
// another shape, total variation) against central differences of J.
func TestVolumeGradient(t *testing.T) {
	cfg := tinyVolumeConfig(t, "")
	e, err := newExperiment(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := e.color.channels(); got != 8 {
		t.Fatalf("channels %d; want 8 (C·D)", got)
	}
	checkGradientFD(t, e, 1e-2, 2e-2)
}

// TestVolumeReproducible runs the same volume config twice and compares
// final.npy byte for byte.
func TestVolumeReproducible(t *testing.T) {
	var results [][]byte
	for range 2 {
		res, err := Run(context.Background(), tinyVolumeConfig(t, ""), RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(res.Image)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, data)
		if _, err := os.Stat(filepath.Join(res.Dir, "iter_00002.png")); err != nil {
			t.Errorf("intermediate montage: %v", err)
		}
	}
	if !bytes.Equal(results[0], results[1]) {
		t.Error("final.npy differs between two runs of one config")
	}
}

// TestVolumeBadInput checks that bad volumes and mixes are refused with
// the config key named.
func TestVolumeBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, header string, data []byte) string {
		path := filepath.Join(dir, name)
		h := header + strings.Repeat(" ", 63-len(header)%64) + "\n"
		buf := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
		if err := os.WriteFile(path, append(append(buf, h...), data...), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := writeStripeVolume(t, 8, 4)
	int16Vol := write("int16.npy", "{'descr': '<i2', 'fortran_order': False, 'shape': (2, 2, 2), }", make([]byte, 16))
	fortran := write("fortran.npy", "{'descr': '|u1', 'fortran_order': True, 'shape': (2, 2, 2), }", make([]byte, 8))
	huge := write("huge.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (100000, 100000, 100000), }", nil)
	wav := writeTexture(t, 8000, 0.5)
	volumeModel := filepath.Join(dir, "volume.onnx")
	var model bytes.Buffer
	if err := models.WriteSynthVolume(&model, models.VolumeSpec{Channels: 1, Filters: []int{4, 4}}, 1); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(volumeModel, model.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unsupported dtype", fmt.Sprintf("content: %q\nstyle: [{path: %q}]", int16Vol, good), []string{"content:", "dtype"}},
		{"fortran order", fmt.Sprintf("content: %q\nstyle: [{path: %q}]", good, fortran), []string{"style[0]:", "Fortran"}},
		{"absurd dims", fmt.Sprintf("content: %q\nstyle: [{path: %q}]", huge, good), []string{"content:", "limits.max_voxels"}},
		{"audio style", fmt.Sprintf("content: %q\nstyle: [{path: %q}]", good, wav), []string{"style[0].path", "is audio"}},
		{"volume style, image content", fmt.Sprintf("content: builtin:village\nstyle: [{path: %q}]", good), []string{"style[0].path", "is a volume"}},
		{"volume style on a 2-D backbone", fmt.Sprintf("content: %q\nstyle: [{path: %q}]\nmodel: {path: 'builtin:vgg19'}", good, good), []string{"style[0].path", "2-D backbone"}},
		{"image style on a 3-D backbone", fmt.Sprintf("content: %q\nstyle: [{path: builtin:swirls}]", good), []string{"style[0].path", "takes volumes"}},
		{"image style on a 3-D file", fmt.Sprintf("content: %q\nstyle: [{path: builtin:swirls}]\nmodel: {path: %q, arch: auto}\nlayers: {content: {relu1_1: 1}, style: {relu1_1: 1}}", good, volumeModel), []string{"style[0].path", "takes volumes"}},
		{"volume style on a 2-D file", fmt.Sprintf("content: %q\nstyle: [{path: %q}]\nmodel: {path: %q, arch: auto}\nlayers: {content: {relu1_1: 1}, style: {relu1_1: 1}}", good, good, writeTinyModel(t)), []string{"style[0].path", "2-D backbone"}},
		{"bad axis", fmt.Sprintf("content: %q\nstyle: [{path: builtin:swirls, axis: diagonal}]\nmodel: {path: 'builtin:vgg19'}", good), []string{"style[0].axis", "depth, height or width"}},
		{"axis on an image run", "content: builtin:village\nstyle: [{path: builtin:swirls, axis: depth}]", []string{"style[0].axis", "volume runs"}},
		{"colour mode", fmt.Sprintf("content: %q\nstyle: [{path: %q}]\ncolor: luminance", good, good), []string{"color:", "color: none"}},
		{"bad filters", fmt.Sprintf("content: %q\nstyle: [{path: %q}]\nvolume: {filters: [8, 0]}", good, good), []string{"volume.filters[1]"}},
		{"memory", fmt.Sprintf("content: %q\nstyle: [{path: %q}]\nvolume: {size: 200}\nruntime: {graph_cache: false, max_memory: 150MB}", good, good), []string{"a 200x200x200 volume run", "the largest volume.size that fits is"}},
		{"too small", fmt.Sprintf("content: %q\nstyle: [{path: %q}]\nvolume: {size: 4, filters: [4, 4, 4, 4]}\nlayers: {style: {relu4_1: 1}}", good, good), []string{"content is 4x4x4", "stride 8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := tc.yaml + fmt.Sprintf("\noutput: {dir: %q}\n", filepath.Join(dir, "run"))
			if !strings.Contains(yaml, "runtime:") {
				yaml += "runtime: {graph_cache: false}\n"
			}
			cfg, err := loadYAML(t, yaml)
			if err == nil {
				_, err = Run(context.Background(), cfg, RunOptions{})
			}
			if err == nil {
				t.Fatal("accepted")
			}
			t.Log(err)
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error of several lines: %q", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q; want it to say %q", err, w)
				}
			}
		})
	}
}

// TestSliceStack checks the slice stack of a 2×3×4 volume: where slices
// lie, that unstack is stack's adjoint (so the gradient is the chain
// rule's), and the axes' masks.
func TestSliceStack(t *testing.T) {
	const d, h, w = 2, 3, 4
	s, err := newSliceStack(d, h, w, 1)
	if err != nil {
		t.Fatal(err)
	}
	if s.width != 4 || s.height != d*h+h*d+w*d {
		t.Fatalf("stack %dx%d; want 4x20", s.width, s.height)
	}
	x := make([]float32, d*h*w)
	for i := range x {
		x[i] = float32(i + 1) // voxel (z,y,x) holds (z·3+y)·4+x+1
	}
	img := s.stack(x)
	// Rows 0-5 hold the depth slices, 6-11 the height slices, 12-19 the
	// width slices (3 px wide: column 3 is padding).
	want := map[[2]int]float32{{0, 0}: 1, {4, 2}: 19, {6, 3}: 4, {11, 1}: 22, {12, 2}: 9, {19, 2}: 24, {12, 3}: 0}
	for at, v := range want {
		if got := img[at[0]*s.width+at[1]]; got != v {
			t.Errorf("stack row %d col %d: %v; want %v", at[0], at[1], got, v)
		}
	}
	// <stack(x), y> = <x, unstack(y)> for any y.
	y := make([]float32, len(img))
	for i := range y {
		y[i] = float32(math.Sin(float64(i)))
	}
	var lhs, rhs float64
	for i, v := range img {
		lhs += float64(v) * float64(y[i])
	}
	g := make([]float32, len(x))
	s.unstack(g, y)
	for i, v := range x {
		rhs += float64(v) * float64(g[i])
	}
	if math.Abs(lhs-rhs) > 1e-3*math.Abs(lhs) {
		t.Errorf("<stack x, y> = %v, <x, unstack y> = %v", lhs, rhs)
	}
	for _, tc := range []struct {
		axis        string
		white, rows int // a white pixel's row, and how many pixels are white
	}{
		{AxisDepth, 0, d * h * w},
		{AxisHeight, 6, h * d * w},
		{AxisWidth, 12, w * d * h},
		{AxisAll, 0, 3 * d * h * w},
	} {
		m := s.mask(tc.axis)
		if m == nil {
			t.Fatalf("%s: no mask for a volume that is not a cube", tc.axis)
		}
		n := 0
		for p := 0; p < len(m.Pix); p += 4 {
			if m.Pix[p] == 255 {
				n++
			}
		}
		if n != tc.rows || m.Pix[m.PixOffset(0, tc.white)] != 255 {
			t.Errorf("%s: %d white pixels, row %d white: %v; want %d", tc.axis, n, tc.white, m.Pix[m.PixOffset(0, tc.white)] == 255, tc.rows)
		}
	}
	if cube, _ := newSliceStack(3, 3, 3, 1); cube.mask(AxisAll) != nil || cube.mask(AxisDepth) == nil {
		t.Error("a cube's all-axes mask should be nil (everywhere), its depth mask not")
	}
}

// TestVolumeSlicesGradient checks a slice-wise volume run (a 2-D
// backbone, a grey 6×8×10 volume, one style for the depth slices and one
// for all) against central differences of J.
func TestVolumeSlicesGradient(t *testing.T) {
	content := filepath.Join(t.TempDir(), "content.npy")
	v, err := volume.New(6, 8, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range v.Data {
		v.Data[i] = float32(math.Cos(float64(i)*0.3)*0.4 + 0.5)
	}
	if err := volume.WriteNPY(content, v); err != nil {
		t.Fatal(err)
	}
	style := filepath.Join(t.TempDir(), "style.png")
	writePNG(t, style, 20, 14)
	cfg, err := loadYAML(t, fmt.Sprintf(`content: %q
style:
  - {path: %q, axis: depth}
  - {path: builtin:swirls, scale: 2, weight: 0.5}
model: {path: %q, arch: auto, pooling: avg}
layers:
  content: {relu2_1: 1}
  style: {relu1_1: 0.5, relu2_1: 0.5}
init: content
noise_ratio: 0.2
weights: {content: 1, style: 100, tv: 0.5}
output: {dir: %q}
runtime: {threads: 1, graph_cache: false}
`, content, style, writeTinyModel(t), filepath.Join(t.TempDir(), "run")))
	if err != nil {
		t.Fatal(err)
	}
	e, err := newExperiment(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if w, h := e.netSize(); w != 10 || h != 6*8+8*6+10*6 {
		t.Fatalf("network input %dx%d; want the 10x156 slice stack", w, h)
	}
	checkGradientFD(t, e, 1e-2, 2e-2)
}

// writeStripeSlice writes the depth slice 0 of writeStripeVolume's
// volume, n×n diagonal stripes of period period, as a PNG in a folder of
// the test's and returns its path.
func writeStripeSlice(t testing.TB, n, period int) string {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, n, n))
	for y := range n {
		for x := range n {
			if (y+x)%period < period/2 {
				img.Pix[y*img.Stride+x] = 255
			}
		}
	}
	path := filepath.Join(t.TempDir(), "stripes.png")
	if err := imageio.Save(path, img, "png", 0); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestVolumeSlicesStripes grows a 32³ volume from a 2-D exemplar, a slice
// of diagonal stripes of period 8, through a small 2-D VGG applied to the
// slices along every axis, and checks the period (±1 voxel) along the
// rows and columns of the slices of every axis.
func TestVolumeSlicesStripes(t *testing.T) {
	if testing.Short() {
		t.Skip("a slice-wise volume run")
	}
	const n, period = 64, 8
	var model bytes.Buffer
	if err := models.WriteSynthFrom(&model, models.SynthSpec{Blocks: [][]int{{16}, {32}, {32}}}, 3); err != nil {
		t.Fatal(err)
	}
	modelPath := filepath.Join(t.TempDir(), "vgg3.onnx")
	if err := os.WriteFile(modelPath, model.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadYAML(t, fmt.Sprintf(`content: %q
style: [{path: %q}]
init: noise
model: {path: %q, arch: auto, pooling: avg}
layers: {content: {relu2_1: 1}, style: {relu1_1: 0.34, relu2_1: 0.33, relu3_1: 0.33}}
weights: {content: 0, style: 1e4, tv: 0}
optimizer: {name: lbfgs, iterations: 40, tolerance: 0}
output: {dir: %q, save_every: 0}
runtime: {threads: 2, graph_cache: false}
`, writeStripeVolume(t, n, period), writeStripeSlice(t, n, period), modelPath, filepath.Join(t.TempDir(), "run")))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := Run(context.Background(), cfg, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d³ slice-wise run: %d iterations in %v", n, res.Iterations, time.Since(start).Round(time.Millisecond))
	out, _, err := volume.ReadNPY(res.Image, volume.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []volume.Axis{volume.AxisD, volume.AxisH, volume.AxisW} {
		rows, cols := slicePeriods(out, a)
		t.Logf("slices across %s: period %.2f along rows, %.2f along columns", a, rows, cols)
		if math.Abs(rows-period) > 1 || math.Abs(cols-period) > 1 {
			t.Errorf("slices across %s: periods %.2f and %.2f; want %d ± 1", a, rows, cols, period)
		}
	}
	if _, err := os.Stat(filepath.Join(res.Dir, "style1.png")); err != nil {
		t.Error(err)
	}
}

// TestVolumeResume interrupts volume runs, 3-D and slice-wise, after
// their third step and resumes them: the folder must end as an
// uninterrupted run's does (the same final.npy, costs and montages).
func TestVolumeResume(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra string
	}{
		{"3-D", ""},
		{"slices", fmt.Sprintf("model: {path: %q, arch: auto, pooling: avg}\nlayers: {content: {relu2_1: 1}, style: {relu1_1: 0.5, relu2_1: 0.5}}", writeTinyModel(t))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tinyVolumeConfig(t, tc.extra)
			cfg.Optimizer.Iterations = 6
			if tc.name == "slices" {
				cfg.Style[0].Path = "builtin:swirls"
			}
			want := readRunFolder(t, runOK(t, cfg).Dir)
			if _, ok := want.files["final.npy"]; !ok {
				t.Fatal("no final.npy")
			}
			cfg.Output.Dir = filepath.Join(t.TempDir(), "run")
			interruptAndResume(t, cfg, "last.npy", want)
		})
	}
}

// TestVolumeONNXFile runs a volume on an ONNX file with 3-D convolutions:
// the file of the built-in backbone's weights (models.WriteSynthVolume)
// must give the built-in run's final.npy byte for byte.
func TestVolumeONNXFile(t *testing.T) {
	var model bytes.Buffer
	if err := models.WriteSynthVolume(&model, models.VolumeSpec{Channels: 1, Filters: []int{4, 6}}, 0); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "volume.onnx")
	if err := os.WriteFile(path, model.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var results [][]byte
	for _, extra := range []string{
		"",
		fmt.Sprintf("model: {path: %q, arch: auto, pooling: avg}\nlayers: {content: {relu2_1: 1}, style: {relu1_1: 0.5, relu2_1: 0.5}}", path),
	} {
		res, err := Run(context.Background(), tinyVolumeConfig(t, extra), RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(res.Image)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, data)
	}
	if !bytes.Equal(results[0], results[1]) {
		t.Error("the ONNX file of builtin:volume's weights gives another final.npy than builtin:volume")
	}
}

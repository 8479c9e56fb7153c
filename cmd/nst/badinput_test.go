package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
	"github.com/nst-project/nst/internal/testimg"
)

// badInput is one way of giving nst run something it must refuse.
type badInput struct {
	name string
	// setup writes what the case needs into dir and returns the YAML to
	// append to the tiny experiment and further command-line arguments.
	setup func(t *testing.T, dir string) (extra string, args []string)
	// want are fragments of the one error line.
	want []string
}

// set is a setup that only overrides config keys.
func set(kv ...string) func(*testing.T, string) (string, []string) {
	return func(*testing.T, string) (string, []string) {
		var args []string
		for _, s := range kv {
			args = append(args, "--set", s)
		}
		return "", args
	}
}

// yamlExtra is a setup that appends YAML to the tiny experiment.
func yamlExtra(extra string) func(*testing.T, string) (string, []string) {
	return func(*testing.T, string) (string, []string) { return extra, nil }
}

// withFile writes data to dir/name and overrides key with its path.
func withFile(key, name string, data func(t *testing.T) []byte) func(*testing.T, string) (string, []string) {
	return func(t *testing.T, dir string) (string, []string) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data(t), 0o644); err != nil {
			t.Fatal(err)
		}
		if key == "style" {
			return "", []string{"--set", "style=[{path: " + path + ", weight: 1}]"}
		}
		return "", []string{"--set", key + "=" + path}
	}
}

// withConfig replaces the whole config file.
func withConfig(body string) func(*testing.T, string) (string, []string) {
	return func(t *testing.T, dir string) (string, []string) {
		path := filepath.Join(dir, "bad.yaml")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return "", []string{"-c", path}
	}
}

// minimalConfig is a config with only the required keys.
const minimalConfig = "content: builtin:village\nstyle: [{path: builtin:swirls, weight: 1}]\n"

func constant(b []byte) func(*testing.T) []byte { return func(*testing.T) []byte { return b } }

// TestBadInputsGiveOneErrorLine runs nst on every kind of bad input the
// tool promises to refuse cleanly (docs/bad-inputs.md lists them): each must
// exit with status 1 and print one line, "nst: " and a message naming the
// problem, never a stack trace, and must not create the output folder.
func TestBadInputsGiveOneErrorLine(t *testing.T) {
	missing := "/no/such/dir/photo.png"
	tests := []badInput{
		// Content and style images.
		{"content missing", set("content=" + missing), []string{`content: load image "` + missing + `": no such file or directory`}},
		{"content empty", withFile("content", "empty.png", constant(nil)), []string{"content: load image", "empty.png", "empty file"}},
		{"content truncated PNG", withFile("content", "cut.png", truncated(encodePNG, 0.5)), []string{"content: load image", "truncated PNG file"}},
		{"content truncated JPEG", withFile("content", "cut.jpg", truncated(encodeJPEG, 0.6)), []string{"content: load image", "truncated JPEG file"}},
		{"content not an image", withFile("content", "notes.png", constant([]byte("these are not pixels\n"))), []string{"content: load image", "notes.png", "not a PNG or JPEG image (nor GIF, TIFF or BMP)"}},
		{"content a folder", func(t *testing.T, dir string) (string, []string) {
			return "", []string{"--set", "content=" + dir}
		}, []string{"list frames in", "no PNG or JPEG files"}}, // a folder is a video's frames
		{"style missing", set("style=[{path: " + missing + ", weight: 1}]"), []string{`style[0]: load image "` + missing + `": no such file or directory`}},
		{"style empty", withFile("style", "empty.jpg", constant(nil)), []string{"style[0]: load image", "empty file"}},
		{"style truncated", withFile("style", "cut.png", truncated(encodePNG, 0.3)), []string{"style[0]: load image", "truncated PNG file"}},
		{"style not an image", withFile("style", "style.jpg", constant([]byte("%PDF-1.4\n"))), []string{"style[0]: load image", "not a PNG or JPEG image"}},
		{"init image missing", set("init=image", "init_image="+missing), []string{`init: load image "` + missing + `"`}},
		{"decompression bomb", withFile("content", "bomb.png", constant(pngHeader(100000, 100000))),
			[]string{"bomb.png", "100000x100000 is 10000.0 megapixels, over the limit of 100.0 megapixels; raise limits.max_pixels to load it"}},
		{"image over a configured pixel limit", func(t *testing.T, dir string) (string, []string) {
			_, args := withFile("content", "photo.png", encodePNG)(t, dir)
			return "", append(args, "--set", "limits.max_pixels=1000")
		}, []string{"40x30 is 1200 pixels, over the limit of 1000 pixels; raise limits.max_pixels"}},

		// The config file.
		{"config missing", func(*testing.T, string) (string, []string) {
			return "", []string{"-c", "/no/such/dir/exp.yaml"}
		}, []string{`read config: open "/no/such/dir/exp.yaml": no such file or directory`}},
		{"config empty", withConfig(""), []string{"content: missing", "style: missing"}},
		{"config not YAML", withConfig("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00"), []string{"bad.yaml: not a YAML text file (it holds binary data: an image or model given as the config?)"}},
		{"YAML syntax error", withConfig("content: builtin:village\nsize: [1\n"), []string{"bad.yaml: line 2, column 7: sequence end token ']' not found"}},
		{"YAML tab indentation", withConfig("content: builtin:village\nsize: 32\n\tseed: 4\n"), []string{"bad.yaml: line 3, column 1:"}},
		{"YAML duplicate key", withConfig("content: builtin:village\nsize: 32\nsize: 64\n"), []string{"bad.yaml: line 3, column 1: mapping key \"size\" already defined at [2:1]"}},
		{"wrong type, whole number", withConfig(minimalConfig + "size: big\n"), []string{`key "size": big is not a whole number`}},
		{"wrong type, number", yamlExtra("weights: {style: heavy}\n"), []string{`key "weights.style": heavy is not a number`}},
		{"wrong type, text", yamlExtra("init: [content]\n"), []string{`key "init": [content] is not a string (quote it)`}},
		{"wrong type, mapping", withConfig(minimalConfig + "optimizer: adam\n"), []string{`key "optimizer": want a mapping of name, iterations, lr, history`}},
		{"wrong type by --set", set("optimizer.iterations=many"), []string{`--set key "optimizer.iterations": many is not a whole number`}},
		{"wrong type in the environment", func(t *testing.T, _ string) (string, []string) {
			t.Setenv("NST_SIZE", "big")
			return "", nil
		}, []string{`environment NST_SIZE: key "size": big is not a whole number`}},
		{"environment variable naming no key", func(t *testing.T, _ string) (string, []string) {
			t.Setenv("NST_SIZ", "64")
			return "", nil
		}, []string{"environment NST_SIZ: no config key has this variable (did you mean NST_SIZE?); unset it"}},
		{"config over the size limit", func(t *testing.T, dir string) (string, []string) {
			path := filepath.Join(dir, "big.yaml")
			if err := os.WriteFile(path, bytes.Repeat([]byte("#"), 1<<20+1), 0o644); err != nil {
				t.Fatal(err)
			}
			return "", []string{"-c", path}
		}, []string{`big.yaml" is 1048577 bytes (1.0 MiB), over the limit of 1048576 bytes (1.0 MiB) for a config`}},
		{"config with a second document", withConfig(minimalConfig + "---\nsize: 64\n"), []string{"a second YAML document (after ---); a config is one document"}},
		{"empty layer map", set("layers.style={}"), []string{"--set layers.style: layers.style: an empty map; give at least one layer and its weight"}},
		{"unknown key", yamlExtra("optimiser: {lr: 0.5}\n"), []string{`unknown key "optimiser" (did you mean "optimizer"?)`}},
		{"unknown nested key", yamlExtra("limits: {max_pixel: 5}\n"), []string{`unknown key "limits.max_pixel" (did you mean "limits.max_pixels"?)`}},
		{"NaN weight", yamlExtra("weights: {content: .nan}\n"), []string{"weights.content: NaN; want a finite number >= 0"}},
		{"infinite weight", set("style=[{path: builtin:swirls, weight: .inf}]"), []string{"style[0].weight: +Inf; want a finite number >= 0"}},
		{"negative weight", set("weights.tv=-0.5"), []string{"weights.tv: -0.5; want a finite number >= 0"}},
		{"negative layer weight", set("layers.style.relu1_1=-1"), []string{"layers.style.relu1_1: -1; want a finite number >= 0"}},
		{"zero size", set("size=0"), []string{"size: 0; want 16 to 16384"}},
		{"absurd size", set("size=1000000"), []string{"size: 1000000; want 16 to 16384"}},
		{"negative iterations", set("optimizer.iterations=-3"), []string{"optimizer.iterations: -3; want 0 to 1000000"}},
		{"zero learning rate", set("optimizer.lr=0"), []string{"optimizer.lr: 0; want a positive number"}},
		{"layer absent from the backbone", set("layers.content.relu9_9=1"), []string{`layers.content: unknown layer "relu9_9"`}},

		// Model files.
		{"model missing", set("model.path=/no/such/dir/vgg19.onnx"), []string{`load model: open "/no/such/dir/vgg19.onnx": no such file or directory`}},
		{"model empty", withFile("model.path", "empty.onnx", constant(nil)), []string{`load model "`, "empty.onnx", "no graph nodes (truncated, or another format?)"}},
		{"model truncated", withFile("model.path", "cut.onnx", truncatedModel), []string{"cut.onnx", "not a readable ONNX file (truncated, or another format?)"}},
		{"model not ONNX", withFile("model.path", "photo.onnx", encodePNG), []string{"photo.onnx", "not a readable ONNX file"}},
		{"model with an op the backward pass lacks", withFile("model.path", "sin.onnx", modelWithSin), []string{"sin.onnx", `op Sin at node "odd"`, "has no gradient rule"}},
		{"model external data outside its folder", withFile("model.path", "outside.onnx", modelWith(func(w *onnx.TensorProto) {
			w.RawData = nil
			w.DataLocation = onnx.TensorProto_EXTERNAL
			w.ExternalData = []*onnx.StringStringEntryProto{{Key: "location", Value: "../../etc/passwd"}}
		})), []string{"outside.onnx", `external data location "../../etc/passwd" points outside the model's folder; refused`}},
		{"model external data at an absolute path", withFile("model.path", "abs.onnx", modelWith(func(w *onnx.TensorProto) {
			w.RawData = nil
			w.DataLocation = onnx.TensorProto_EXTERNAL
			w.ExternalData = []*onnx.StringStringEntryProto{{Key: "location", Value: "/etc/passwd"}}
		})), []string{"abs.onnx", "points outside the model's folder; refused"}},
		{"model with absurd tensor sizes", withFile("model.path", "huge.onnx", modelWith(func(w *onnx.TensorProto) {
			w.Dims = []int64{1 << 40, 1 << 40}
		})), []string{"huge.onnx", "exceeds 4294967296 elements"}},

		// ONNX Runtime and the output folder.
		{"ONNX Runtime library missing", set("runtime.library=/no/such/dir/libonnxruntime.so"),
			[]string{`ONNX Runtime library "/no/such/dir/libonnxruntime.so" (runtime.library): no such file or directory; run scripts/install-onnxruntime.sh`}},
		{"ONNX Runtime library not a library", withFile("runtime.library", "libonnxruntime.so", constant([]byte("not a shared library\n"))),
			[]string{"load ONNX Runtime from", "Error loading ONNX shared library", "install a supported version (1.24.x) with scripts/install-onnxruntime.sh"}},
		{"ONNX Runtime library of an old version", func(t *testing.T, dir string) (string, []string) {
			return "", []string{"--set", "runtime.library=" + oldRuntime(t, dir)}
		}, []string{"load ONNX Runtime from", "Error setting ORT API base", "install a supported version (1.24.x) with scripts/install-onnxruntime.sh"}},
		{"output folder under a file", func(t *testing.T, dir string) (string, []string) {
			file := filepath.Join(dir, "file.txt")
			if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			return "", []string{"--out", filepath.Join(file, "sub")}
		}, []string{"create run folder: mkdir", "file.txt: not a directory", "set output.dir (or --out) to a folder nst can create and write"}},
		{"unknown output format", set("output.format=gif"), []string{`output.format: "gif"; want png or jpeg`}},
		{"CUDA on a CPU-only ONNX Runtime", set("runtime.device=cuda"), []string{"runtime.device cuda: this ONNX Runtime build has no CUDA provider", "use runtime.device: cpu"}},

		// Resuming.
		{"resume a missing folder", func(*testing.T, string) (string, []string) {
			return "", []string{"--resume", "/no/such/dir/run"}
		}, []string{"resume /no/such/dir/run: no such file or directory"}},
		{"resume a folder without a checkpoint", func(t *testing.T, dir string) (string, []string) {
			return "", []string{"--resume", dir}
		}, []string{"no checkpoint in", "a finished run has nothing to resume"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			extra, args := tt.setup(t, dir)
			out := filepath.Join(t.TempDir(), "out")
			cmd := []string{"run", "-c", writeConfig(t, extra), "--out", out}
			if slices.Contains(args, "--resume") {
				cmd = []string{"run"}
			}
			r := nst(t, append(cmd, args...)...)
			checkOneErrorLine(t, r, 1, tt.want)
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused run created its output folder (stat: %v)", err)
			}
		})
	}
}

// checkOneErrorLine checks an nst process that failed with status code:
// nothing on stdout, one stderr line starting "nst: " holding every want,
// and no stack trace.
func checkOneErrorLine(t *testing.T, r result, code int, want []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d", r.code, code)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "nst: ") {
		t.Fatalf("stderr is not one line starting \"nst: \":\n%s", r.stderr)
	}
	t.Log(lines[0])
	for _, w := range want {
		if !strings.Contains(lines[0], w) {
			t.Errorf("error %q lacks %q", lines[0], w)
		}
	}
	checkNoTrace(t, r.stderr)
}

// TestUnusualImagesRun gives nst images in every form a camera or editor
// may produce; each must be read, not refused, and come out upright and of
// the right size.
func TestUnusualImagesRun(t *testing.T) {
	cmyk, err := os.ReadFile(filepath.Join("..", "..", "imageio", "testdata", "cmyk-ycck.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(cmyk))
	if err != nil {
		t.Fatal(err)
	}
	cmykW, cmykH := longSide(cfg.Width, cfg.Height, 32)
	tests := []struct {
		name string
		data func(t *testing.T) []byte
		key  string
		// w, h is the output size: the image's, upright, at size 32.
		w, h int
	}{
		{"greyscale PNG", encodeAs(func(r image.Rectangle) draw8 { return image.NewGray(r) }), "content", 32, 24},
		{"16-bit greyscale PNG", encodeAs(func(r image.Rectangle) draw8 { return image.NewGray16(r) }), "content", 32, 24},
		{"16-bit colour PNG with alpha", encodeAs(func(r image.Rectangle) draw8 { return image.NewNRGBA64(r) }), "content", 32, 24},
		{"PNG with alpha", encodeAs(func(r image.Rectangle) draw8 { return image.NewNRGBA(r) }), "style", 32, 21},
		{"paletted PNG", encodeAs(func(r image.Rectangle) draw8 { return image.NewPaletted(r, paletteOf64()) }), "content", 32, 24},
		{"CMYK JPEG", constant(cmyk), "content", cmykW, cmykH},
		{"EXIF-rotated JPEG", exifRotated, "content", 24, 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, args := withFile(tt.key, "input", tt.data)(t, dir)
			out := filepath.Join(dir, "out")
			r := nst(t, append([]string{"run", "-c", writeConfig(t, ""), "--out", out, "--set", "optimizer.iterations=1"}, args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			img := testimg.ReadPNG(t, filepath.Join(out, "final.png"))
			if b := img.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Errorf("final image is %dx%d, want %dx%d", b.Dx(), b.Dy(), tt.w, tt.h)
			}
		})
	}
}

// longSide is the size of a w x h image whose longer side becomes size.
func longSide(w, h, size int) (int, int) {
	if w >= h {
		return size, max(1, (h*size+w/2)/w)
	}
	return max(1, (w*size+h/2)/h), size
}

// draw8 is an image whose pixels can be set.
type draw8 interface {
	image.Image
	Set(x, y int, c color.Color)
}

// encodeAs paints a 40x30 picture (a gradient with a translucent corner)
// into the image newImage makes and encodes it as PNG.
func encodeAs(newImage func(image.Rectangle) draw8) func(*testing.T) []byte {
	return func(t *testing.T) []byte {
		img := newImage(image.Rect(0, 0, 40, 30))
		paint(img)
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
}

func paint(img draw8) {
	b := img.Bounds()
	for y := range b.Dy() {
		for x := range b.Dx() {
			a := uint8(255)
			if x < 10 && y < 10 {
				a = 100
			}
			img.Set(x, y, color.NRGBA{uint8(6 * x), uint8(8 * y), uint8(3 * (x + y)), a})
		}
	}
}

func paletteOf64() color.Palette {
	p := make(color.Palette, 64)
	for i := range p {
		p[i] = color.NRGBA{uint8(4 * i), uint8(255 - 4*i), uint8(i * 7), 255}
	}
	return p
}

func encodePNG(t *testing.T) []byte {
	return encodeAs(func(r image.Rectangle) draw8 { return image.NewNRGBA(r) })(t)
}

func encodeJPEG(t *testing.T) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 40, 30))
	paint(img)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// exifRotated is a 40x30 JPEG whose EXIF orientation (6) says to turn it a
// quarter clockwise: upright it is 30x40.
func exifRotated(t *testing.T) []byte {
	var tiff bytes.Buffer
	tiff.WriteString("Exif\x00\x00MM\x00\x2a")
	for _, v := range []any{uint32(8), uint16(1), uint16(0x0112), uint16(3), uint32(1), [2]uint16{6, 0}, uint32(0)} {
		if err := binary.Write(&tiff, binary.BigEndian, v); err != nil {
			t.Fatal(err)
		}
	}
	app1 := []byte{0xff, 0xe1, 0, 0}
	binary.BigEndian.PutUint16(app1[2:], uint16(tiff.Len()+2))
	app1 = append(app1, tiff.Bytes()...)
	plain := encodeJPEG(t)
	return append(append(append([]byte{}, plain[:2]...), app1...), plain[2:]...)
}

func truncated(data func(*testing.T) []byte, keep float64) func(*testing.T) []byte {
	return func(t *testing.T) []byte {
		b := data(t)
		return b[:int(float64(len(b))*keep)]
	}
}

// pngHeader is a PNG signature and an IHDR chunk declaring a w x h 8-bit
// RGB image, with no pixel data: a decompression bomb's disguise.
func pngHeader(w, h uint32) []byte {
	chunk := []byte("\x00\x00\x00\x0dIHDR\x00\x00\x00\x00\x00\x00\x00\x00\x08\x02\x00\x00\x00")
	binary.BigEndian.PutUint32(chunk[8:], w)
	binary.BigEndian.PutUint32(chunk[12:], h)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	return append([]byte("\x89PNG\r\n\x1a\n"), chunk...)
}

func truncatedModel(t *testing.T) []byte {
	data, err := os.ReadFile(tinyModel)
	if err != nil {
		t.Fatal(err)
	}
	return data[:len(data)/3]
}

// modelWith returns the tiny model with change applied to its first
// convolution's weights.
func modelWith(change func(w *onnx.TensorProto)) func(*testing.T) []byte {
	return editModel(func(t *testing.T, m *onnx.ModelProto) {
		for _, w := range m.GetGraph().GetInitializer() {
			if w.GetName() == "conv1_1.weight" {
				change(w)
				return
			}
		}
		t.Fatal("tiny model without conv1_1.weight")
	})
}

// modelWithSin puts a Sin, which the backward pass cannot differentiate,
// between relu1_1 and pool1, on the way to the run's relu2_1.
func modelWithSin(t *testing.T) []byte {
	return editModel(func(t *testing.T, m *onnx.ModelProto) {
		g := m.GetGraph()
		for _, n := range g.GetNode() {
			if n.GetName() == "pool1" {
				n.Input[0] = "odd"
			}
		}
		g.Node = append(g.Node, onnxgraph.Node("Sin", "odd", []string{"relu1_1"}, []string{"odd"}))
	})(t)
}

func editModel(change func(t *testing.T, m *onnx.ModelProto)) func(*testing.T) []byte {
	return func(t *testing.T) []byte {
		data, err := os.ReadFile(tinyModel)
		if err != nil {
			t.Fatal(err)
		}
		m, err := onnxgraph.Unmarshal(data)
		if err != nil {
			t.Fatal(err)
		}
		change(t, m)
		out, err := onnxgraph.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// TestResumeAfterSignal interrupts nst run with SIGINT or SIGTERM, resumes
// it with nst run --resume, and compares the final image with an
// uninterrupted run's, byte for byte.
func TestResumeAfterSignal(t *testing.T) {
	// Adam never converges early, so the run is still going when the
	// signal arrives.
	// A larger image keeps each iteration at milliseconds even on a quiet
	// machine, so the signal cannot arrive after the last one.
	sets := []string{"--set", "optimizer.name=adam", "--set", "optimizer.lr=0.01", "--set", "optimizer.iterations=300", "--set", "size=192"}
	config := writeConfig(t, "")
	whole := filepath.Join(t.TempDir(), "whole")
	if r := nst(t, append([]string{"run", "-c", config, "--out", whole}, sets...)...); r.code != 0 {
		t.Fatalf("uninterrupted run: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) { resumeAfter(t, sig, config, sets, whole) })
	}
}

func resumeAfter(t *testing.T, sig syscall.Signal, config string, sets []string, whole string) {
	out := filepath.Join(t.TempDir(), "out")
	lines, code := interruptAfterFirstIteration(t, sig, append([]string{"run", "-c", config, "--out", out}, sets...)...)
	if code != 130 {
		t.Fatalf("exit %d, want 130; stderr:\n%s", code, strings.Join(lines, "\n"))
	}
	if want := "resume with: nst run --resume " + out; !strings.HasSuffix(lines[len(lines)-1], want) {
		t.Fatalf("last stderr line %q does not end %q", lines[len(lines)-1], want)
	}
	r := nst(t, "run", "--resume", out)
	if r.code != 0 {
		t.Fatalf("resume: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if want := filepath.Join(out, "final.png") + "\n"; r.stdout != want {
		t.Errorf("resume printed %q, want %q", r.stdout, want)
	}
	got, err := os.ReadFile(filepath.Join(out, "final.png"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(whole, "final.png"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the resumed run's final.png differs from the uninterrupted run's")
	}
	for _, gone := range []string{"last.png", "checkpoint"} {
		if _, err := os.Stat(filepath.Join(out, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is left in the finished run's folder (stat: %v)", gone, err)
		}
	}
	checkNoTrace(t, r.stderr)
}

// TestResumeAfterSIGKILL kills a run without a word, as the OOM killer
// or a power cut would: no checkpoint, the manifest still "running". A
// --resume must say so in one line, offer the latest intermediate image
// as the start of a new run (init: image), and rewrite the manifest as
// interrupted.
func TestResumeAfterSIGKILL(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	sets := []string{"--set", "optimizer.name=adam", "--set", "optimizer.lr=0.01", "--set", "optimizer.iterations=300", "--set", "size=192", "--set", "output.save_every=1"}
	lines, code := interruptAfterFirstIteration(t, syscall.SIGKILL, append([]string{"run", "-c", writeConfig(t, ""), "--out", out}, sets...)...)
	if code != -1 {
		t.Fatalf("exit %d, want death by SIGKILL; stderr:\n%s", code, strings.Join(lines, "\n"))
	}
	manifest := filepath.Join(out, "manifest.json")
	if raw, err := os.ReadFile(manifest); err != nil || !strings.Contains(string(raw), `"running"`) {
		t.Fatalf("manifest after SIGKILL: %q, %v; want it still running", raw, err)
	}
	r := nst(t, "run", "--resume", out)
	checkOneErrorLine(t, r, 1, []string{
		"no checkpoint in " + out,
		"the run's process was killed before it could save one (its manifest said running; now interrupted)",
		"restart from its latest image with: nst run -c " + filepath.Join(out, "config.yaml") + " --set init=image --set init_image=" + filepath.Join(out, "iter_0000"),
	})
	if raw, err := os.ReadFile(manifest); err != nil || !strings.Contains(string(raw), `"status": "interrupted"`) {
		t.Errorf("manifest after the resume: %q, %v; want it interrupted", raw, err)
	}
}

func TestResumeTakesNoConfig(t *testing.T) {
	r := nst(t, "run", "--resume", t.TempDir(), "-c", writeConfig(t, ""))
	if r.code != 2 || !strings.HasPrefix(r.stderr, "nst: --resume continues a run as its own config.yaml says; it takes no -c, --set, --out, --content, --style or --size\n") {
		t.Errorf("exit %d, stderr:\n%s\nwant a usage error", r.code, r.stderr)
	}
}

// interruptAfterFirstIteration runs nst with args, sends sig once it logs
// its first iteration, and returns its stderr lines and exit status.
func interruptAfterFirstIteration(t *testing.T, sig syscall.Signal, args ...string) ([]string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), actAsNST+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	signalled := false
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if !signalled && strings.Contains(sc.Text(), "iteration=1 ") {
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			signalled = true
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return lines, 0
	case errors.As(err, &exit):
		return lines, exit.ExitCode()
	}
	t.Fatalf("nst %s: %v", strings.Join(args, " "), err)
	return nil, 0
}

// TestDivergedRunSaysWhatToChange overflows the cost on the first
// evaluation, as a runaway optimisation would: the run must stop with exit
// status 1, keep the starting image, and end its output with one error line
// saying what to change, without offering a resume that would diverge again.
func TestDivergedRunSaysWhatToChange(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	r := nst(t, "run", "-c", writeConfig(t, ""), "--out", out, "--set", "weights.style=1e308", "--set", "layers.style.relu1_1=1e308")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	t.Log(last)
	for _, want := range []string{"nst: run stopped at iteration 1: ", "cost diverged: J = +Inf", "lower optimizer.lr or the weights", "the last good image is " + filepath.Join(out, "last.png")} {
		if !strings.Contains(last, want) {
			t.Errorf("last stderr line %q lacks %q", last, want)
		}
	}
	if strings.Contains(last, "resume") {
		t.Errorf("a diverged run offers to resume: %q", last)
	}
	if _, err := os.Stat(filepath.Join(out, "last.png")); err != nil {
		t.Error(err)
	}
	checkNoTrace(t, r.stderr)
}

// oldRuntimeC is a stand-in for an ONNX Runtime too old for nst: like
// releases before the API version onnxruntime_go asks for, its API base
// answers that request with NULL.
const oldRuntimeC = `#include <stddef.h>
#include <stdint.h>
static const void *get_api(uint32_t version) { (void)version; return NULL; }
static const char *get_version(void) { return "1.10.0"; }
static const struct {
	const void *(*GetApi)(uint32_t);
	const char *(*GetVersionString)(void);
} base = {get_api, get_version};
const void *OrtGetApiBase(void) { return &base; }
`

// oldRuntime builds oldRuntimeC into dir/libonnxruntime.so with the C
// compiler cgo uses, and returns its path.
func oldRuntime(t *testing.T, dir string) string {
	t.Helper()
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler (%s) to build a stand-in library: %v", cc, err)
	}
	src := filepath.Join(dir, "old.c")
	if err := os.WriteFile(src, []byte(oldRuntimeC), 0o644); err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(dir, "libonnxruntime.so")
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		t.Fatalf("build the stand-in library: %v\n%s", err, out)
	}
	return lib
}

package models

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nst-project/nst/models/internal/trunks"
)

// TestOpenChecksModelArch reaches each of checkArch's refusals of a
// model.arch that does not match model.path, and the matches it accepts.
func TestOpenChecksModelArch(t *testing.T) {
	dir := t.TempDir()
	// VGG19's layout (blocks of 2, 2, 4, 4 and 4 convolutions) with few
	// channels: named vgg19 like the real one, at a fraction of its size.
	vgg19 := filepath.Join(dir, "vgg19.onnx")
	f, err := os.Create(vgg19)
	if err != nil {
		t.Fatal(err)
	}
	spec := SynthSpec{Blocks: [][]int{{4, 4}, {8, 8}, {8, 8, 8, 8}, {8, 8, 8, 8}, {8, 8, 8, 8}}}
	if err := WriteSynthFrom(f, spec, 1); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	resnet, _ := writeTrunk(t, "resnet18", trunks.Options{Seed: 1, Width: 0.125, Depth: 1})

	for _, tc := range []struct {
		name string
		o    OpenOptions
		want string // "" to accept
	}{
		{"built-in of another arch", OpenOptions{Path: "builtin:vgg19", Arch: "vgg16"}, "model.arch is vgg16 but model.path names the built-in vgg19; make them agree"},
		{"file of another VGG", OpenOptions{Path: vgg19, Arch: "vgg16"}, "model.arch is vgg16 but " + vgg19 + " is a vgg19; set model.arch: vgg19"},
		{"file that is no VGG chain", OpenOptions{Path: resnet, Arch: "vgg19"}, "model.arch is vgg19 but " + resnet + " is not a VGG-style chain; set model.arch: auto"},
		{"file of its arch", OpenOptions{Path: vgg19, Arch: "vgg19"}, ""},
		{"any file with auto", OpenOptions{Path: resnet, Arch: "auto"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Open(tc.o)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Open(%+v): %v", tc.o, err)
			case tc.want == "" && b == nil:
				t.Fatalf("Open(%+v) returned no backbone", tc.o)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Open(%+v): error %v, want one containing %q", tc.o, err, tc.want)
			}
		})
	}
}

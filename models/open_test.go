package models

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestArchMismatchSuggestsAnAcceptedArch: a model whose chain model.arch
// does not describe gets a message whose suggested model.arch is one the
// config accepts (vgg19, vgg16 or auto), never the naming "vgg".
func TestArchMismatchSuggestsAnAcceptedArch(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, spec SynthSpec) string {
		var buf bytes.Buffer
		if err := WriteSynthFrom(&buf, spec, 1); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	short := write("short.onnx", SynthSpec{Blocks: [][]int{{4}, {8}}})
	tests := []struct {
		arch, path, want string
	}{
		{"vgg19", short, "is a VGG-style chain of another depth (2 convolutions); set model.arch: auto"},
		{"vgg16", short, "set model.arch: auto"},
		{"auto", short, ""},
	}
	for _, tt := range tests {
		_, err := Open(OpenOptions{Path: tt.path, Arch: tt.arch})
		if tt.want == "" {
			if err != nil {
				t.Errorf("arch %s: %v", tt.arch, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("arch %s: %v, want an error saying %q", tt.arch, err, tt.want)
		}
	}
}

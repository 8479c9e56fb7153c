package main

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNothingIsOverwritten: every subcommand that writes files the user
// names refuses, before any work, a file that exists (unless --force), and
// the units sheet refuses to be one of the images it searches.
func TestNothingIsOverwritten(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "exists.png")
	if err := os.WriteFile(existing, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	evalDir := filepath.Join(dir, "eval")
	if err := os.MkdirAll(evalDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(evalDir, "costs.json"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	images := filepath.Join(dir, "images")
	os.MkdirAll(images, 0o755)
	searched := filepath.Join(images, "a.png")
	writePNGFile(t, searched)
	cfg := writeConfig(t, "")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"model synth", []string{"model", "synth", "--out", existing}, "exists; choose another name, or add --force"},
		{"units dream", []string{"units", "dream", "-c", cfg, "--layer", "relu1_1", "--unit", "0", "--out", existing}, "exists"},
		{"units top", []string{"units", "top", "-c", cfg, "--layer", "relu1_1", "--unit", "0", "--images", images, "--out", existing}, "exists"},
		{"units top json", []string{"units", "top", "-c", cfg, "--layer", "relu1_1", "--unit", "0", "--images", images, "--out", filepath.Join(dir, "new.png"), "--json", existing}, "exists"},
		{"units top over its input", []string{"units", "top", "-c", cfg, "--layer", "relu1_1", "--unit", "0", "--images", images, "--out", searched, "--force"}, "one of the command's inputs"},
		{"eval", []string{"eval", "-c", cfg, "--out", evalDir}, "costs.json\" exists"},
		{"bench json", []string{"bench", "--sizes", "32", "--json", existing}, "exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := nst(t, tt.args...)
			if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want a refusal saying %q", r.code, r.stderr, tt.want)
			}
			if b, _ := os.ReadFile(existing); string(b) != "keep" {
				t.Fatal("the existing file was replaced")
			}
		})
	}
	if r := nst(t, "model", "synth", "--out", existing, "--force"); r.code != 0 {
		t.Errorf("--force: exit %d, %s", r.code, r.stderr)
	}
}

// writePNGFile writes a small grey PNG to path.
func writePNGFile(t *testing.T, path string) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 8, 8))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

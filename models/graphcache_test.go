package models

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nst-project/nst/internal/ortrt"
)

// TestGraphCacheReopensSessions checks that a second Prepare opens its
// sessions from the entries the first wrote, that they compute the same
// activations and gradient, and that a damaged entry is rebuilt.
func TestGraphCacheReopensSessions(t *testing.T) {
	dir := t.TempDir()
	UseGraphCache(dir)
	t.Cleanup(func() { UseGraphCache("") })
	b, err := SynthFrom(SynthSpec{Blocks: [][]int{{4}, {8}}}, 4)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Layers: []string{"relu1_1", "relu2_1"}, Pooling: PoolingAvg, Height: 16, Width: 12, Preprocess: ImageNetPreprocess, Session: ortrtOptions}
	img := randImage(16, 12, 8)
	run := func() (acts, grad []float32, fromCache bool) {
		t.Helper()
		n, err := b.Prepare(opts)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		a, err := n.Forward(img)
		if err != nil {
			t.Fatal(err)
		}
		for i, g := range n.GradBuffers() {
			copy(g, a[i].Data)
			acts = append(acts, a[i].Data...)
		}
		dx, err := n.Backward()
		if err != nil {
			t.Fatal(err)
		}
		return acts, append([]float32(nil), dx...), n.Cached()
	}
	// The reference comes from sessions built without the cache: a built
	// session is replaced by one opened from the entry it wrote, so every
	// later run reads the cache.
	UseGraphCache("")
	acts, grad, _ := run()
	UseGraphCache(dir)
	a, g, cached := run()
	checkSame(t, "activations", [][]float32{a}, [][]float32{acts})
	checkSame(t, "gradient", [][]float32{g}, [][]float32{grad})
	if cached {
		t.Fatal("the first Prepare used cache entries that cannot exist yet")
	}
	entries, _ := filepath.Glob(filepath.Join(dir, "*.ort"))
	if len(entries) != 2 {
		t.Fatalf("cache holds %v, want the forward and backward graphs", entries)
	}
	for _, damage := range []bool{false, true} {
		if damage {
			if err := os.WriteFile(entries[0], []byte("not a graph"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		a, g, cached := run()
		if cached == damage {
			t.Errorf("damaged %v: both sessions from the cache: %v", damage, cached)
		}
		checkSame(t, "activations", [][]float32{a}, [][]float32{acts})
		checkSame(t, "gradient", [][]float32{g}, [][]float32{grad})
	}
	if _, _, cached := run(); !cached {
		t.Error("the damaged entry was not rebuilt")
	}
}

func TestTrimGraphCacheDropsLeastRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	files := []struct {
		name string
		size int
		age  time.Duration
		kept bool
	}{
		{"old.ort", 400, 3 * time.Hour, false},
		{"mid.ort", 400, 2 * time.Hour, true},
		{"new.ort", 400, time.Minute, true},
		{"crashed.ort.1.tmp", 100, 2 * time.Hour, false},
		{"writing.ort.2.tmp", 100, time.Minute, true},
		{"other.txt", 5000, 5 * time.Hour, true},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, make([]byte, f.size), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-f.age), now.Add(-f.age)); err != nil {
			t.Fatal(err)
		}
	}
	trimGraphCache(dir, 900)
	for _, f := range files {
		_, err := os.Stat(filepath.Join(dir, f.name))
		if kept := err == nil; kept != f.kept {
			t.Errorf("%s kept %v, want %v", f.name, kept, f.kept)
		}
	}
}

// TestGraphCacheSurvivesAMissingProvider checks that a session asked for
// a device whose provider the library lacks (runtime.device: cuda on a
// CPU-only ONNX Runtime) fails with one line that says so, and leaves the
// CPU's cache entries in place.
func TestGraphCacheSurvivesAMissingProvider(t *testing.T) {
	if err := ortrt.Init(""); err != nil {
		t.Fatal(err)
	}
	if ortrt.CheckDevice("cuda") == nil {
		t.Skip("this ONNX Runtime has a CUDA provider")
	}
	dir := t.TempDir()
	UseGraphCache(dir)
	t.Cleanup(func() { UseGraphCache("") })
	b, err := SynthFrom(SynthSpec{Blocks: [][]int{{4}, {8}}}, 4)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Layers: []string{"relu1_1", "relu2_1"}, Pooling: PoolingAvg, Height: 16, Width: 12, Preprocess: ImageNetPreprocess, Session: ortrtOptions}
	n, err := b.Prepare(opts)
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	before, _ := filepath.Glob(filepath.Join(dir, "*.ort"))
	if len(before) != 2 {
		t.Fatalf("cache holds %v, want the forward and backward graphs", before)
	}
	cuda := opts
	cuda.Session.Device = "cuda"
	_, err = b.Prepare(cuda)
	if !errors.Is(err, ortrt.ErrProvider) {
		t.Fatalf("Prepare on cuda: %v; want ortrt.ErrProvider", err)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "no CUDA provider") || !strings.Contains(msg, "runtime.device: cpu") {
		t.Errorf("message %q: want one line saying the build has no CUDA provider and naming runtime.device: cpu", msg)
	}
	after, _ := filepath.Glob(filepath.Join(dir, "*.ort"))
	if !slices.Equal(before, after) {
		t.Errorf("cache held %v, now %v: a provider failure removed valid entries", before, after)
	}
}

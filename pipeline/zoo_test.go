package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/zoo"
)

// TestZooBackboneEndToEnd: a config naming zoo:NAME downloads the file on
// first use from NST_MODEL_MIRROR (a local server serving the tiny
// backbone, through a registry entry of the test's with its checksum),
// runs, and the next run uses the cached file without a request.
func TestZooBackboneEndToEnd(t *testing.T) {
	raw, err := os.ReadFile(writeTinyModel(t))
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path != "/tiny-7.onnx" {
			http.NotFound(w, r)
			return
		}
		w.Write(raw)
	}))
	defer srv.Close()
	sum := sha256.Sum256(raw)
	entry := zoo.Entry{Name: "tiny", Arch: "auto", File: "tiny-7.onnx", URLs: []string{"https://example.invalid/tiny-7.onnx"},
		Size: int64(len(raw)), SHA256: hex.EncodeToString(sum[:]), Preprocess: models.ImageNetPreprocess}
	prev := zooRegistry
	zooRegistry = func() zoo.Registry { return append(zoo.Default(), entry) }
	defer func() { zooRegistry = prev }()
	cache := t.TempDir()
	t.Setenv("NST_MODEL_DIR", cache)
	t.Setenv("NST_MODEL_MIRROR", srv.URL)

	for run := range 2 {
		res, err := Run(context.Background(), tinyConfig(t, "", "model.path=zoo:tiny", "optimizer.iterations=2"), RunOptions{})
		if err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		if _, err := os.Stat(res.Image); err != nil {
			t.Fatal(err)
		}
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("%d requests to the mirror, want 1 (the second run uses the cache)", n)
	}
	if got, err := os.ReadFile(filepath.Join(cache, "tiny-7.onnx")); err != nil || len(got) != len(raw) {
		t.Errorf("cached file: %d bytes, %v", len(got), err)
	}
}

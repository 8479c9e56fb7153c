package pipeline

import (
	"strings"
	"testing"

	"github.com/nst-project/nst/record"
)

// TestBuiltinImagesArePinned: the built-in images are inputs that runs,
// manifests and the README's gallery depend on, so a change to a painter
// (a speed-up, say) must leave every pixel as it was.
func TestBuiltinImagesArePinned(t *testing.T) {
	for _, c := range []struct {
		name, sha256 string
		w, h         int
	}{
		{"builtin:village", "6f4646c4e4bfebccb22a637d01785e96d19ad61b3391247a1f3da55a7df5bbb5", 768, 512},
		{"builtin:swirls", "91d721c53721005056b37c8e6856a283556e33a17bd874f5113b995171ecd92d", 768, 576},
		{"builtin:mosaic", "c6df761c3ca16ee119250c6a9a3120d3cbd0f2b9d18aff459e43f7af6bed551a", 640, 640},
	} {
		t.Run(strings.TrimPrefix(c.name, BuiltinPrefix), func(t *testing.T) {
			img, err := Builtin(c.name)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != c.w || b.Dy() != c.h {
				t.Errorf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), c.w, c.h)
			}
			if got := record.SHA256Hex(img.Pix); got != c.sha256 {
				t.Errorf("pixels' SHA-256 %s, want %s", got, c.sha256)
			}
		})
	}
}

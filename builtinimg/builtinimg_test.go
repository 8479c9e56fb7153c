package builtinimg

import (
	"strings"
	"testing"

	"github.com/nst-project/nst/builtinimg/internal/paint"
	"github.com/nst-project/nst/record"
)

// TestBuiltinImagesArePinned: the built-in images are inputs that runs,
// manifests and the README's gallery depend on, so every pixel must stay
// as it was, and the embedded files must be what the painters draw.
func TestBuiltinImagesArePinned(t *testing.T) {
	for _, c := range []struct {
		name, sha256 string
		w, h         int
	}{
		{"builtin:village", "6f4646c4e4bfebccb22a637d01785e96d19ad61b3391247a1f3da55a7df5bbb5", 768, 512},
		{"builtin:swirls", "91d721c53721005056b37c8e6856a283556e33a17bd874f5113b995171ecd92d", 768, 576},
		{"builtin:mosaic", "c6df761c3ca16ee119250c6a9a3120d3cbd0f2b9d18aff459e43f7af6bed551a", 640, 640},
	} {
		t.Run(strings.TrimPrefix(c.name, Prefix), func(t *testing.T) {
			img, err := Load(c.name)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != c.w || b.Dy() != c.h {
				t.Errorf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), c.w, c.h)
			}
			if got := record.SHA256Hex(img.Pix); got != c.sha256 {
				t.Errorf("pixels' SHA-256 %s, want %s", got, c.sha256)
			}
			painted := paint.Painters[strings.TrimPrefix(c.name, Prefix)]()
			if got := record.SHA256Hex(painted.Pix); got != c.sha256 {
				t.Errorf("painted pixels' SHA-256 %s, want %s: run go generate ./builtinimg after changing a painter", got, c.sha256)
			}
		})
	}
}

func TestLoadRefusesUnknownNames(t *testing.T) {
	for _, ref := range []string{"builtin:nope", "builtin:../images/village", "builtin:"} {
		if _, err := Load(ref); err == nil || !strings.Contains(err.Error(), "builtin:mosaic, builtin:swirls, builtin:village") {
			t.Errorf("Load(%q) = %v, want an error listing the names", ref, err)
		}
	}
}

func TestLoadGivesCopies(t *testing.T) {
	a, _ := Load("builtin:village")
	a.Pix[0] ^= 0xff
	b, _ := Load("builtin:village")
	if a.Pix[0] == b.Pix[0] {
		t.Error("a caller's change reached the next caller")
	}
}

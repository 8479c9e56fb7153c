package imageio

import (
	"fmt"
	"image"
	"io"
	"path/filepath"
	"strings"

	"github.com/disintegration/imaging"
	"github.com/nst-project/nst/internal/atomicfile"
)

// DefaultJPEGQuality is the JPEG quality Save uses when given 0: high enough
// that compression artefacts do not mask the brush strokes style transfer
// produces.
const DefaultJPEGQuality = 95

// Save writes img to path as "png" or "jpeg" ("jpg"); an empty format is taken
// from the file name's extension. jpegQuality (1-100, 0 for
// DefaultJPEGQuality) applies to JPEG only. JPEG has no transparency, so a
// translucent image is composited over white first, as Load does.
//
// The write is atomic: readers never see a partial file, and when anything
// fails an existing file at path is left as it was.
func Save(path string, img image.Image, format string, jpegQuality int) error {
	if format == "" {
		format = strings.TrimPrefix(filepath.Ext(path), ".")
	}
	var f imaging.Format
	switch strings.ToLower(format) {
	case "png":
		f = imaging.PNG
	case "jpeg", "jpg":
		f = imaging.JPEG
	default:
		return fmt.Errorf("save image %q: unsupported format %q (want png or jpeg)", path, format)
	}
	if jpegQuality == 0 {
		jpegQuality = DefaultJPEGQuality
	}
	if jpegQuality < 1 || jpegQuality > 100 {
		return fmt.Errorf("save image %q: JPEG quality %d is outside 1-100", path, jpegQuality)
	}
	if b := img.Bounds(); b.Empty() {
		return fmt.Errorf("save image %q: image is empty (%dx%d)", path, b.Dx(), b.Dy())
	}
	if o, ok := img.(interface{ Opaque() bool }); f == imaging.JPEG && (!ok || !o.Opaque()) {
		img = flatten(img)
	}
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		return imaging.Encode(w, img, f, imaging.JPEGQuality(jpegQuality))
	})
	if err != nil {
		return fmt.Errorf("save image: %w", err)
	}
	return nil
}

// Package builtinimg holds the images nst ships inside its binary, so that
// the demo runs offline on any fresh machine: builtin:village is a content
// scene, builtin:swirls and builtin:mosaic are style paintings. They are
// PNG files painted by internal/paint (go generate) and embedded, because
// painting them took about a second of every start-up.
package builtinimg

//go:generate go run ./internal/gen images

import (
	"bytes"
	"embed"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"slices"
	"strings"
	"sync"
)

// Prefix marks a built-in image in a config's image paths.
const Prefix = "builtin:"

//go:embed images/*.png
var files embed.FS

// Names lists the built-in images as a config names them, sorted.
func Names() []string {
	entries, _ := files.ReadDir("images")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, Prefix+strings.TrimSuffix(e.Name(), ".png"))
	}
	slices.Sort(names)
	return names
}

// Is reports whether path names a built-in image.
func Is(path string) bool { return strings.HasPrefix(path, Prefix) }

// Load returns the built-in image named by ref ("builtin:NAME"). Each image
// is decoded once per process; callers get their own copy.
func Load(ref string) (*image.NRGBA, error) {
	name := strings.TrimPrefix(ref, Prefix)
	mu.Lock()
	defer mu.Unlock()
	img, ok := decoded[name]
	if !ok {
		raw, err := files.ReadFile("images/" + name + ".png")
		if err != nil || strings.ContainsAny(name, "/.") {
			return nil, fmt.Errorf("unknown built-in image %q; choose one of %s", ref, strings.Join(Names(), ", "))
		}
		m, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("built-in image %q: %w", ref, err)
		}
		nrgba, ok := m.(*image.NRGBA)
		if !ok {
			nrgba = image.NewNRGBA(m.Bounds())
			draw.Draw(nrgba, nrgba.Bounds(), m, m.Bounds().Min, draw.Src)
		}
		img = nrgba
		decoded[name] = img
	}
	out := *img
	out.Pix = slices.Clone(img.Pix)
	return &out, nil
}

var (
	mu      sync.Mutex
	decoded = map[string]*image.NRGBA{}
)

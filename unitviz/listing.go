package unitviz

import (
	"encoding/json"
	"fmt"
	"image"
	"io"

	"github.com/nst-project/nst/internal/atomicfile"
)

// Listing is the JSON form of a TopResult, as WriteListing writes it.
type Listing struct {
	Layer  string `json:"layer"`
	Model  string `json:"model"`
	Images int    `json:"images"`
	// ReceptiveField is the layer's field; every box has its size.
	ReceptiveField FieldJSON `json:"receptive_field"`
	// Patches lists every unit's patches, unit by unit in the order asked
	// for, best first within a unit.
	Patches []PatchJSON `json:"patches"`
}

// FieldJSON is a models.ReceptiveField in JSON.
type FieldJSON struct {
	Height  int `json:"height"`
	Width   int `json:"width"`
	StrideY int `json:"stride_y"`
	StrideX int `json:"stride_x"`
	Top     int `json:"top"`
	Left    int `json:"left"`
}

// PatchJSON is one Patch in JSON.
type PatchJSON struct {
	Unit int `json:"unit"`
	// Rank is 1 for the unit's best patch.
	Rank  int    `json:"rank"`
	Layer string `json:"layer"`
	Image string `json:"image"`
	// X and Y are the position on the activation grid.
	X          int     `json:"x"`
	Y          int     `json:"y"`
	Activation float64 `json:"activation"`
	// Box is the crop in the pixels of the image as the network saw it
	// (InputWidth x InputHeight); it may reach beyond them into padding.
	Box         BoxJSON `json:"box"`
	InputWidth  int     `json:"input_width"`
	InputHeight int     `json:"input_height"`
	// FileBox is the crop in the image file's own pixels, clipped to it.
	FileBox BoxJSON `json:"file_box"`
}

// BoxJSON is a rectangle of pixels: columns Left to Right-1, rows Top to
// Bottom-1.
type BoxJSON struct {
	Left   int `json:"left"`
	Top    int `json:"top"`
	Right  int `json:"right"`
	Bottom int `json:"bottom"`
}

func boxJSON(r image.Rectangle) BoxJSON {
	return BoxJSON{Left: r.Min.X, Top: r.Min.Y, Right: r.Max.X, Bottom: r.Max.Y}
}

// Listing returns r in its JSON form.
func (r *TopResult) Listing() Listing {
	f := r.Field
	l := Listing{
		Layer: r.Layer, Model: r.Model, Images: r.Images,
		ReceptiveField: FieldJSON{Height: f.Height, Width: f.Width, StrideY: f.StrideY, StrideX: f.StrideX, Top: f.Top, Left: f.Left},
		Patches:        []PatchJSON{},
	}
	for _, u := range r.Units {
		for i, p := range u.Patches {
			l.Patches = append(l.Patches, PatchJSON{
				Unit: u.Unit, Rank: i + 1, Layer: r.Layer, Image: p.Image,
				X: p.X, Y: p.Y, Activation: p.Activation,
				Box: boxJSON(p.Box), InputWidth: p.InputSize.X, InputHeight: p.InputSize.Y,
				FileBox: boxJSON(p.FileBox),
			})
		}
	}
	return l
}

// WriteListing writes r's Listing to path as indented JSON, atomically:
// a reader never sees half a file.
func WriteListing(path string, r *TopResult) error {
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r.Listing())
	})
	if err != nil {
		return fmt.Errorf("write listing %q: %w", path, err)
	}
	return nil
}

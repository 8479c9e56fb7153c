// Command gen paints nst's built-in images into builtinimg/images, as the
// PNG files package builtinimg embeds: go generate ./builtinimg.
package main

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"

	"github.com/nst-project/nst/builtinimg/internal/paint"
)

func main() {
	dir := "images"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	for name, draw := range paint.Painters {
		var buf bytes.Buffer
		enc := png.Encoder{CompressionLevel: png.BestCompression}
		if err := enc.Encode(&buf, draw()); err != nil {
			fmt.Fprintf(os.Stderr, "gen: encode %s: %v\n", name, err)
			os.Exit(1)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), buf.Bytes(), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "gen: %v\n", err)
			os.Exit(1)
		}
	}
}

package unitviz

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// imageExtensions are the file name endings ListImages takes for images:
// the formats imageio.Load decodes.
var imageExtensions = []string{".png", ".jpg", ".jpeg", ".gif", ".tif", ".tiff", ".bmp"}

// ListImages returns the paths of the image files directly in dir (by
// extension, in any case), sorted by name. Sub-folders are not searched.
// A folder without images is an error, since searching it would find
// nothing.
func ListImages(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var paths []string
	for _, e := range entries {
		if !slices.Contains(imageExtensions, strings.ToLower(filepath.Ext(e.Name()))) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		// Stat follows symbolic links, so a linked image counts and a
		// folder named like an image does not.
		if info, err := os.Stat(p); err != nil || !info.Mode().IsRegular() {
			continue
		}
		paths = append(paths, p)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("list images: no image files (%s) in %s", strings.Join(imageExtensions, " "), dir)
	}
	return paths, nil
}

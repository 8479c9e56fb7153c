package unitviz

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nst-project/nst/internal/safefile"
)

// imageExtensions are the file name endings ListImages takes for images:
// the formats imageio.Load decodes.
var imageExtensions = []string{".png", ".jpg", ".jpeg", ".gif", ".tif", ".tiff", ".bmp"}

// ListImages returns the paths of the image files directly in dir (by
// extension, in any case), sorted by name. Sub-folders are not searched.
// A folder without images is an error, since searching it would find
// nothing. dir must be a folder: a named pipe or a device is refused
// without blocking (internal/safefile), and entries that are not regular
// files (pipes, devices, folders named like images) are skipped.
func ListImages(dir string) ([]string, error) {
	entries, err := safefile.ReadDir(dir)
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
		return nil, fmt.Errorf("list images: no image files (%s) in %s", strings.Join(imageExtensions, " "), safefile.Quote(dir))
	}
	return paths, nil
}

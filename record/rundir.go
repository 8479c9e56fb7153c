package record

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// maxRunDirs bounds the search for a free run folder name.
const maxRunDirs = 10000

// RunDir claims a fresh folder for a run's outputs and returns its path: base
// itself when it does not exist or is an empty folder, otherwise the first
// of base-2, base-3, ... that is. It never reuses a folder another run (or
// the user) has put files in, so an earlier run's outputs are never
// overwritten.
//
// A folder is claimed by creating its manifest.json exclusively (O_EXCL),
// holding a placeholder with status "running" until the caller writes the
// real manifest. Because exclusive creation succeeds for exactly one
// process, two runs started at once with the same base get different
// folders, even when base already exists empty. The parent of base is
// created if needed.
func RunDir(base string) (string, error) {
	if base == "" {
		return "", errors.New("create run folder: no output folder given")
	}
	base = filepath.Clean(base)
	if filepath.Base(base) == "." || filepath.Base(base) == ".." || base == string(filepath.Separator) {
		// "." would give the hidden ".-2": runs go in a folder of their
		// own below it.
		base = filepath.Join(base, "nst")
	}
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return "", fmt.Errorf("create run folder: %w", err)
	}
	for n := 1; n <= maxRunDirs; n++ {
		dir := base
		if n > 1 {
			dir = base + "-" + strconv.Itoa(n)
		}
		ok, err := claim(dir)
		if err != nil {
			return "", fmt.Errorf("create run folder %s: %w", dir, err)
		}
		if ok {
			return dir, nil
		}
	}
	return "", fmt.Errorf("create run folder: %s and %d numbered variants are all taken", base, maxRunDirs-1)
}

// claim tries to make dir this run's folder, reporting false when it is
// taken: not a folder, not empty, or claimed concurrently.
func claim(dir string) (bool, error) {
	made := true
	if err := os.Mkdir(dir, 0o755); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return false, err
		}
		made = false
		empty, err := isEmptyDir(dir)
		if err != nil || !empty {
			// A file of that name, an unreadable folder, or earlier
			// outputs: leave it alone and try the next name.
			return false, nil
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, ManifestName), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, err = writePlaceholder(f, "{\"status\": \""+StatusRunning+"\"}\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// A full disk: leave no half-made folder behind.
		os.Remove(filepath.Join(dir, ManifestName))
		if made {
			os.Remove(dir)
		}
		return false, err
	}
	return true, nil
}

// writePlaceholder writes the claiming manifest; tests replace it to make
// the write fail as on a full disk.
var writePlaceholder = io.WriteString

func isEmptyDir(dir string) (bool, error) {
	d, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer d.Close()
	_, err = d.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}

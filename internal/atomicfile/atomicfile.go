// Package atomicfile writes files so that readers, and the file system after
// a crash, see either the complete old content or the complete new content,
// never a mixture or a truncated file.
//
// The content goes to a temporary file in the destination's folder (rename
// is only atomic within one file system), is flushed to stable storage, and
// is then renamed over the destination.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile atomically replaces path with data. The file gets exactly the
// permission bits perm: unlike os.WriteFile, the umask is not applied, so
// that a replaced file keeps predictable permissions.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write atomically replaces path with what write produces. write receives a
// buffered writer on a temporary file; when write or any later step fails,
// the temporary file is removed and an existing file at path is left as it
// was. The file gets exactly the permission bits perm.
func Write(path string, perm os.FileMode, write func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// A leading dot hides the partial file from casual listings; the random
	// suffix lets concurrent writers of one destination proceed independently
	// (the last rename wins, and every version seen is complete).
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			// Close may already have happened; a second close only returns
			// an error we have no use for.
			f.Close()
			os.Remove(tmp)
		}
	}()

	bw := bufio.NewWriterSize(f, 64<<10)
	if err := write(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		var linkErr *os.LinkError
		if errors.As(err, &linkErr) {
			err = linkErr.Err
		}
		return fmt.Errorf("write %s: replace: %w", path, err)
	}
	SyncDir(dir)
	return nil
}

// SyncDir makes a rename in dir durable. It is best effort: the new file is
// already in place and complete, some file systems refuse to sync folders,
// and a caller could do nothing useful with the error.
func SyncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

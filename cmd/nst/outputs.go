package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/nst-project/nst/internal/safefile"
)

// checkOutputs applies the run folders' rule to the files a command was
// told to write, before any work: a file that exists is refused unless
// force is set, so that nothing is replaced by surprise; a folder that is
// missing, a path that names a folder, a path given twice or one of the
// command's own inputs (inputs) are refused always.
func checkOutputs(force bool, inputs []string, paths ...string) error {
	for i, p := range paths {
		q := safefile.Quote(p)
		if slices.Contains(paths[:i], p) {
			return usageError{fmt.Errorf("%s is named twice as an output", q)}
		}
		abs, _ := filepath.Abs(p)
		for _, in := range inputs {
			if a, _ := filepath.Abs(in); a == abs {
				return usageError{fmt.Errorf("%s is one of the command's inputs; write elsewhere", q)}
			}
		}
		st, err := os.Lstat(p)
		switch {
		case err == nil && st.IsDir():
			return usageError{fmt.Errorf("%s is a folder; give a file name", q)}
		case err == nil && !force:
			return fmt.Errorf("%s exists; choose another name, or add --force to replace it", q)
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("output %s: %w", q, err)
		}
		if st, err := os.Stat(filepath.Dir(p)); err != nil || !st.IsDir() {
			return fmt.Errorf("output %s: no folder %s to write into", q, safefile.Quote(filepath.Dir(p)))
		}
	}
	return nil
}

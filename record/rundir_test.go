package record

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestRunDir(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, base string)
		want  string // suffix added to base
	}{
		{"base missing", func(t *testing.T, base string) {}, ""},
		{"base empty", func(t *testing.T, base string) { mkdir(t, base) }, ""},
		{"base used", func(t *testing.T, base string) { touch(t, filepath.Join(base, "out.png")) }, "-2"},
		{"base and -2 used", func(t *testing.T, base string) {
			touch(t, filepath.Join(base, "out.png"))
			touch(t, filepath.Join(base+"-2", ManifestName))
		}, "-3"},
		{"gap in numbering is reused when empty", func(t *testing.T, base string) {
			touch(t, filepath.Join(base, "a"))
			mkdir(t, base+"-2")
			touch(t, filepath.Join(base+"-3", "a"))
		}, "-2"},
		{"base is a file", func(t *testing.T, base string) {
			touch(t, base)
		}, "-2"},
		{"parent missing", func(t *testing.T, base string) {}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := filepath.Join(t.TempDir(), "runs", "cat")
			if tc.name != "parent missing" {
				mkdir(t, filepath.Dir(base))
			}
			tc.setup(t, base)
			got, err := RunDir(base)
			if err != nil {
				t.Fatal(err)
			}
			if want := base + tc.want; got != want {
				t.Fatalf("RunDir = %s, want %s", got, want)
			}
			m, err := ReadManifest(filepath.Join(got, ManifestName))
			if err != nil {
				t.Fatalf("claimed folder has no readable placeholder manifest: %v", err)
			}
			if m.Status != StatusRunning {
				t.Errorf("placeholder status = %q, want %q", m.Status, StatusRunning)
			}
			// A second call must not hand out the same folder.
			again, err := RunDir(base)
			if err != nil {
				t.Fatal(err)
			}
			if again == got {
				t.Errorf("second RunDir returned the claimed folder %s again", got)
			}
		})
	}
}

func TestRunDirEmptyBase(t *testing.T) {
	if _, err := RunDir(""); err == nil {
		t.Error("RunDir accepted an empty base")
	}
}

func TestRunDirConcurrent(t *testing.T) {
	for _, preexisting := range []bool{false, true} {
		base := filepath.Join(t.TempDir(), "run")
		if preexisting {
			mkdir(t, base) // empty: every caller may try to claim it
		}
		const n = 16
		dirs := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { dirs[i], errs[i] = RunDir(base) })
		}
		wg.Wait()
		seen := map[string]bool{}
		for i := range n {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if seen[dirs[i]] {
				t.Fatalf("preexisting=%v: folder %s handed out twice", preexisting, dirs[i])
			}
			seen[dirs[i]] = true
		}
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func touch(t *testing.T, path string) {
	t.Helper()
	mkdir(t, filepath.Dir(path))
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunDirOfDot: output.dir "." or ".." makes runs in a visible folder
// below it, never the hidden ".-2".
func TestRunDirOfDot(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("other", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{".", "./", "sub/.."} {
		got, err := RunDir(base)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(filepath.Base(got), ".") || !strings.HasPrefix(filepath.Base(got), "nst") {
			t.Errorf("RunDir(%q) = %q, want a visible nst folder", base, got)
		}
	}
}

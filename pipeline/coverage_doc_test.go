package pipeline

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCoverageDocNamesWhatExists keeps docs/coverage.md true: every test
// it names (`file_test.go`: `TestName`) is declared in that file, every
// script or make.sh it names exists, every key of configs/README.md's
// table has a row with a known status, and it names no key the table
// does not have.
func TestCoverageDocNamesWhatExists(t *testing.T) {
	root := ".."
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	doc := read("docs/coverage.md")

	named := regexp.MustCompile("`([\\w./-]+_test\\.go)`: `((?:Test|Benchmark|Example|Fuzz)\\w*)`")
	tests := named.FindAllStringSubmatch(doc, -1)
	if len(tests) < 100 {
		t.Fatalf("docs/coverage.md names %d tests; the pattern no longer reads it", len(tests))
	}
	sources := map[string]string{}
	for _, m := range tests {
		file, name := m[1], m[2]
		src, ok := sources[file]
		if !ok {
			b, err := os.ReadFile(filepath.Join(root, file))
			if err != nil {
				t.Errorf("docs/coverage.md names %s in %s: %v", name, file, err)
				continue
			}
			src, sources[file] = string(b), string(b)
		}
		if !regexp.MustCompile(`(?m)^func ` + name + `\(`).MatchString(src) {
			t.Errorf("docs/coverage.md names %s, which %s does not declare", name, file)
		}
	}

	script := regexp.MustCompile("`((?:scripts|docs)/[\\w./-]+\\.(?:sh|py))")
	for _, m := range script.FindAllStringSubmatch(doc, -1) {
		if _, err := os.Stat(filepath.Join(root, m[1])); err != nil {
			t.Errorf("docs/coverage.md names %s: %v", m[1], err)
		}
	}

	keyRow := regexp.MustCompile("(?m)^\\| `([a-z_.\\[\\]]+)` \\| ([^|]+) \\|")
	keys := map[string]bool{}
	for _, m := range keyRow.FindAllStringSubmatch(read("configs/README.md"), -1) {
		keys[m[1]] = true
	}
	rows := map[string]string{}
	for _, m := range keyRow.FindAllStringSubmatch(doc, -1) {
		rows[m[1]] = strings.TrimSpace(m[2])
	}
	for key := range keys {
		status, ok := rows[key]
		switch {
		case !ok:
			t.Errorf("config key %s has no row in docs/coverage.md", key)
		case status != "effect" && status != "partial" && status != "by hand" && status != "uncovered":
			t.Errorf("config key %s: status %q, want effect, partial, by hand or uncovered", key, status)
		}
	}
	for key := range rows {
		if !keys[key] {
			t.Errorf("docs/coverage.md has a row for %s, which configs/README.md's table does not list", key)
		}
	}
}

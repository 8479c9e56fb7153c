package layering

import (
	"bufio"
	"bytes"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/nst-project/nst/"

// layerMap reads the package map from docs/design.md: lines "N pkg pkg..."
// between the layers markers. A pattern ending in "/..." covers the
// package and everything below it.
func layerMap(t *testing.T, design []byte) map[string]int {
	t.Helper()
	_, block, ok := bytes.Cut(design, []byte("<!-- layers: begin -->"))
	if !ok {
		t.Fatal("docs/design.md has no layers block")
	}
	block, _, _ = bytes.Cut(block, []byte("<!-- layers: end -->"))
	layers := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(block))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		for _, p := range f[1:] {
			layers[p] = n
		}
	}
	if len(layers) == 0 {
		t.Fatal("docs/design.md's layers block places no package")
	}
	return layers
}

// layerOf returns pkg's layer and the pattern that placed it.
func layerOf(layers map[string]int, pkg string) (int, string, bool) {
	best, bestPattern, found := 0, "", false
	for pattern, n := range layers {
		root, tree := strings.CutSuffix(pattern, "/...")
		if pkg == root || (tree && strings.HasPrefix(pkg, root+"/")) {
			if len(pattern) > len(bestPattern) {
				best, bestPattern, found = n, pattern, true
			}
		}
	}
	return best, bestPattern, found
}

// allowed reports whether from may import to.
func allowed(layers map[string]int, from, to string) (bool, string) {
	lf, pf, _ := layerOf(layers, from)
	lt, pt, ok := layerOf(layers, to)
	switch {
	case !ok:
		return false, fmt.Sprintf("%s is not on the package map", to)
	case strings.HasPrefix(to, from+"/"):
		return true, "" // a package's own subpackage
	case lt < lf:
		return true, ""
	case lt == 0 && lf == 0:
		return true, ""
	case pf == pt && strings.HasSuffix(pf, "/..."):
		return true, "" // within one package tree
	}
	return false, fmt.Sprintf("%s (layer %d) may not import %s (layer %d)", from, lf, to, lt)
}

// imports lists each package's imports of nst packages, from its non-test
// files, keyed by the package's path relative to the module.
func imports(t *testing.T, root string) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "onnxruntime" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		if out[pkg] == nil {
			out[pkg] = map[string]bool{}
		}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if rest, ok := strings.CutPrefix(p, module); ok {
				out[pkg][rest] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestImportsFollowThePackageMap: every package is on docs/design.md's map
// and imports only what its layer may.
func TestImportsFollowThePackageMap(t *testing.T) {
	root := filepath.Join("..", "..")
	design, err := os.ReadFile(filepath.Join(root, "docs", "design.md"))
	if err != nil {
		t.Fatal(err)
	}
	layers := layerMap(t, design)
	for pkg, deps := range imports(t, root) {
		if _, _, ok := layerOf(layers, pkg); !ok {
			t.Errorf("package %s is not on the package map in docs/design.md; place it on a layer", pkg)
			continue
		}
		for dep := range deps {
			if ok, why := allowed(layers, pkg, dep); !ok {
				t.Errorf("%s imports %s: %s", pkg, dep, why)
			}
		}
	}
}

// TestRulesCatchWrongImports: the checker refuses what the map forbids, so
// the test above can fail.
func TestRulesCatchWrongImports(t *testing.T) {
	layers := layerMap(t, []byte("<!-- layers: begin -->\n4 cmd/...\n2 pipeline\n1 models/... losses\n0 internal/...\n<!-- layers: end -->"))
	tests := []struct {
		from, to string
		want     bool
	}{
		{"pipeline", "models", true},
		{"pipeline", "internal/ortrt", true},
		{"models", "losses", false},
		{"losses", "models", false},
		{"models", "pipeline", false},
		{"models", "models/autodiff", true},
		{"models/autodiff", "models", true},
		{"internal/gemm", "internal/ortrt", true},
		{"internal/ortrt", "models", false},
		{"cmd/nst", "pipeline", true},
		{"pipeline", "cmd/nst", false},
		{"pipeline", "nowhere", false},
	}
	for _, tt := range tests {
		if got, why := allowed(layers, tt.from, tt.to); got != tt.want {
			t.Errorf("%s -> %s allowed = %v (%s), want %v", tt.from, tt.to, got, why, tt.want)
		}
	}
}

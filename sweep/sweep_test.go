package sweep

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// testKeys are the grid keys the test validator accepts, standing in for
// the config's own key check.
var testKeys = map[string]bool{
	"content": true, "style": true, "color": true, "seed": true, "size": true,
	"weights.style": true, "weights.content": true, "optimizer.iterations": true,
	"init_image": true,
}

func testValidKey(key string) error {
	if !testKeys[key] {
		return fmt.Errorf("unknown key %q", key)
	}
	return nil
}

// testResolve stands in for the config loader: the base file's bytes and
// the overrides, so that the id hash is known to the test. It rejects
// color "purple" as the real loader rejects bad values.
func testResolve(base string, overrides []string) ([]byte, error) {
	b, err := os.ReadFile(base)
	if err != nil {
		return nil, err
	}
	for _, o := range overrides {
		if o == `color="purple"` {
			return nil, errors.New(`color: "purple"; want none, luminance, histogram or after`)
		}
	}
	return []byte(string(b) + "\n" + strings.Join(overrides, "\n")), nil
}

// writeFiles creates files (name → content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// load writes base.yaml and sweep.yaml (with the given body) into a new
// folder, makes it the working folder and loads the sweep.
func load(t *testing.T, body string, extra map[string]string) (*Sweep, string) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"base.yaml": "content: builtin:village\n", "sweep.yaml": body}
	for k, v := range extra {
		files[k] = v
	}
	writeFiles(t, dir, files)
	t.Chdir(dir)
	s, err := Load(filepath.Join(dir, "sweep.yaml"), Options{ValidKey: testValidKey, Resolve: testResolve})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s, dir
}

const grid2x3 = `base: base.yaml
output: out
grid:
  weights.style: [100, 1000]
  color: [none, luminance, histogram]
  seed: [7]
`

func TestExpandOrderAndIDs(t *testing.T) {
	s, dir := load(t, grid2x3, nil)
	if s.Base != "base.yaml" || s.Output != "out" {
		t.Errorf("Base, Output = %q, %q; want base.yaml, out", s.Base, s.Output)
	}
	// Axes in file order, the last fastest.
	want := [][]string{
		{"weights.style=100", `color="none"`, "seed=7"},
		{"weights.style=100", `color="luminance"`, "seed=7"},
		{"weights.style=100", `color="histogram"`, "seed=7"},
		{"weights.style=1000", `color="none"`, "seed=7"},
		{"weights.style=1000", `color="luminance"`, "seed=7"},
		{"weights.style=1000", `color="histogram"`, "seed=7"},
	}
	if len(s.Items) != len(want) {
		t.Fatalf("%d items, want %d", len(s.Items), len(want))
	}
	idPattern := regexp.MustCompile(`^weights-style-(100|1000)_color-(none|luminance|histogram)_[0-9a-f]{8}$`)
	for i, it := range s.Items {
		if it.Index != i || !slices.Equal(it.Overrides, want[i]) {
			t.Errorf("item %d: index %d, overrides %q; want %q", i, it.Index, it.Overrides, want[i])
		}
		// The single-valued seed axis is left out of the readable part;
		// the hash is that of the resolved config.
		if !idPattern.MatchString(it.ID) {
			t.Errorf("item %d: id %q does not match %s", i, it.ID, idPattern)
		}
		resolved, _ := testResolve(filepath.Join(dir, "base.yaml"), want[i])
		sum := sha256.Sum256(resolved)
		if h := hex.EncodeToString(sum[:4]); !strings.HasSuffix(it.ID, "_"+h) {
			t.Errorf("item %d: id %q, want hash %s", i, it.ID, h)
		}
	}
	if got := s.Items[4].ID[:len("weights-style-1000_color-luminance")]; got != "weights-style-1000_color-luminance" {
		t.Errorf("item 4 id starts %q", got)
	}

	// The same file in another folder (another machine, another checkout)
	// gives the same ids.
	again, _ := load(t, grid2x3, nil)
	for i := range s.Items {
		if again.Items[i].ID != s.Items[i].ID {
			t.Errorf("item %d: id %q, then %q", i, s.Items[i].ID, again.Items[i].ID)
		}
	}
	// Labels and texts.
	if ax := s.Axes[1]; ax.Key != "color" || ax.Values[1].Label != "luminance" || ax.Values[1].Text != `"luminance"` {
		t.Errorf("axis 1 = %+v", ax)
	}
}

func TestGlobsAndPaths(t *testing.T) {
	// The sweep file lives in configs/, the working folder is its parent:
	// globs are relative to the sweep file, results to the working folder.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"configs/base.yaml":       "content: x\n",
		"configs/img/b.png":       "b",
		"configs/img/a.png":       "a",
		"configs/img/c.jpg":       "c",
		"configs/img/dir.png/x":   "a folder whose name matches is no image",
		"configs/styles/s1.png":   "1",
		"configs/styles/s2.png":   "2",
		"configs/styles/wave.jpg": "w",
		"configs/masks/sky.png":   "m",
		"configs/init.png":        "i",
		"configs/sweep.yaml": `base: base.yaml
output: ../runs/sw
grid:
  content: ["img/*.png", builtin:village]
  style:
    - styles/*.png
    - [{path: styles/wave.jpg, weight: 2}, {path: "styles/s*.png", weight: 1, mask: masks/sky.png}]
  init_image: [init.png]
`,
	})
	t.Chdir(dir)
	s, err := Load(filepath.Join(dir, "configs/sweep.yaml"), Options{ValidKey: testValidKey, Resolve: testResolve})
	if err != nil {
		t.Fatal(err)
	}
	if s.Base != "configs/base.yaml" || s.Output != "runs/sw" {
		t.Errorf("Base, Output = %q, %q", s.Base, s.Output)
	}
	type lv struct{ label, text string }
	check := func(ax Axis, want []lv) {
		t.Helper()
		var got []lv
		for _, v := range ax.Values {
			got = append(got, lv{v.Label, v.Text})
		}
		if !slices.Equal(got, want) {
			t.Errorf("axis %s:\n got %q\nwant %q", ax.Key, got, want)
		}
	}
	check(s.Axes[0], []lv{
		{"a", `"configs/img/a.png"`},
		{"b", `"configs/img/b.png"`},
		{"village", `"builtin:village"`},
	})
	check(s.Axes[1], []lv{
		{"s1", `[{"path":"configs/styles/s1.png","weight":1}]`},
		{"s2", `[{"path":"configs/styles/s2.png","weight":1}]`},
		{"wave@2+s1", `[{"path":"configs/styles/wave.jpg","weight":2},{"mask":"configs/masks/sky.png","path":"configs/styles/s1.png","weight":1}]`},
		{"wave@2+s2", `[{"path":"configs/styles/wave.jpg","weight":2},{"mask":"configs/masks/sky.png","path":"configs/styles/s2.png","weight":1}]`},
	})
	check(s.Axes[2], []lv{{"init", `"configs/init.png"`}})
	if len(s.Items) != 12 {
		t.Errorf("%d items, want 12", len(s.Items))
	}
	if !strings.HasPrefix(s.Items[11].ID, "content-village_style-wave-2+s2_") {
		t.Errorf("last id %q", s.Items[11].ID)
	}
}

func TestBadInputs(t *testing.T) {
	files := map[string]string{"base.yaml": "content: x\n", "img/a.png": "a"}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"unknown grid key", "base: base.yaml\noutput: o\ngrid:\n  weights.stlye: [1]\n", `sweep.yaml: line 4: grid: weights.stlye: unknown key "weights.stlye"`},
		{"unknown top key", "base: base.yaml\noutput: o\ngrd:\n  color: [none]\n", `line 3: unknown key "grd" (valid keys: base, output, grid)`},
		{"empty axis", "base: base.yaml\noutput: o\ngrid:\n  color: []\n", "line 4: grid: color: empty list"},
		{"axis not a list", "base: base.yaml\noutput: o\ngrid:\n  color: none\n", "grid: color: want a list of values; for one value write [none]"},
		{"glob matching nothing", "base: base.yaml\noutput: o\ngrid:\n  content: [img/*.jpg]\n", `line 4: grid: content: "img/*.jpg" matches no file`},
		{"missing file", "base: base.yaml\noutput: o\ngrid:\n  content: [img/b.png]\n", `"img/b.png": no such file`},
		{"style glob matching nothing", "base: base.yaml\noutput: o\ngrid:\n  style: [[{path: x/*.png, weight: 1}]]\n", `style entry 0: path "x/*.png" matches no file`},
		{"style entry without path", "base: base.yaml\noutput: o\ngrid:\n  style: [[{weight: 1}]]\n", "style entry 0: path: missing"},
		{"missing mask", "base: base.yaml\noutput: o\ngrid:\n  style: [[{path: img/a.png, mask: m.png}]]\n", `style entry 0: mask "m.png": no such file`},
		{"bad glob", "base: base.yaml\noutput: o\ngrid:\n  content: [\"img/[\"]\n", "syntax error in pattern"},
		{"content not a path", "base: base.yaml\noutput: o\ngrid:\n  content: [3]\n", "3 is not a path"},
		{"no base", "output: o\ngrid:\n  color: [none]\n", "base: missing"},
		{"base not found", "base: nope.yaml\noutput: o\ngrid:\n  color: [none]\n", "base: stat"},
		{"no output", "base: base.yaml\ngrid:\n  color: [none]\n", "output: missing"},
		{"no grid", "base: base.yaml\noutput: o\n", "grid: missing or empty"},
		{"output.dir in the grid", "base: base.yaml\noutput: o\ngrid:\n  output.dir: [a, b]\n", "grid: output.dir: the sweep puts each item in OUTPUT/items/ID"},
		{"key twice", "base: base.yaml\noutput: o\ngrid:\n  color: [none]\n  color: [after]\n", "grid: color given twice"},
		{"value the config rejects", "base: base.yaml\noutput: o\ngrid:\n  color: [none, purple]\n", `item 1 (color="purple"): color: "purple"`},
		{"duplicate items", "base: base.yaml\noutput: o\ngrid:\n  weights.style: [100, 100.0]\n", "items 0 (weights.style=100) and 1 (weights.style=100) resolve to the same config"},
		{"too many items", "base: base.yaml\noutput: o\ngrid:\n  seed: [" + seq(400) + "]\n  size: [" + seq(400) + "]\n", "more than 100000 items"},
		{"yaml syntax", "base: base.yaml\noutput: o\ngrid: [\n", "did not find expected"},
		{"empty file", "", "empty file"},
		{"not a mapping", "- a\n", "want a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, files)
			writeFiles(t, dir, map[string]string{"sweep.yaml": tc.body})
			t.Chdir(dir)
			_, err := Load(filepath.Join(dir, "sweep.yaml"), Options{ValidKey: testValidKey, Resolve: testResolve})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := Load("x.yaml", Options{}); err == nil || !strings.Contains(err.Error(), "Resolve is required") {
		t.Errorf("Load without Resolve: %v", err)
	}
}

func TestLabels(t *testing.T) {
	// Labels are for reading: paths by base name, style weights other
	// than 1 after an @, and values that would read alike numbered by
	// position.
	s, _ := load(t, `base: base.yaml
output: out
grid:
  style:
    - [{path: img/a.png, weight: 1}]
    - [{path: img/a.png, weight: 2}]
    - [{path: img/a.png, weight: 2, scale: 0.5}]
    - img/b.png
  weights.style: [1e3, 0.5]
`, map[string]string{"img/a.png": "a", "img/b.png": "b"})
	var got []string
	for _, ax := range s.Axes {
		for _, v := range ax.Values {
			got = append(got, v.Label)
		}
	}
	want := []string{"a", "a@2#2", "a@2#3", "b", "1e3", "0.5"}
	if !slices.Equal(got, want) {
		t.Errorf("labels %q, want %q", got, want)
	}
	if id := s.Items[2*2+1].ID; !strings.HasPrefix(id, "style-a-2-3_weights-style-0.5_") {
		t.Errorf("id %q", id)
	}
}

func TestIDCollision(t *testing.T) {
	// Items 0 and 1 differ only in seed, which the 96-character cut of
	// the readable part drops, and seeds 5322 and 56306 give resolved
	// configs (testResolve) whose SHA-256 share the first 32 bits (found
	// by search): their ids would be equal, and Load refuses the sweep.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"base.yaml": "content: builtin:village\n", "sweep.yaml": `base: base.yaml
output: out
grid:
  optimizer.iterations: [aaaaaaaaaaaaaaaaaaaaaaaaaaaa1, aaaaaaaaaaaaaaaaaaaaaaaaaaaa2]
  weights.content: [bbbbbbbbbbbbbbbbbbbbbbbbbbbb1, bbbbbbbbbbbbbbbbbbbbbbbbbbbb2]
  weights.style: [cccccccccccccccccccccccccccc1, cccccccccccccccccccccccccccc2]
  seed: [5322, 56306]
`})
	t.Chdir(dir)
	_, err := Load("sweep.yaml", Options{ValidKey: testValidKey, Resolve: testResolve})
	if err == nil || !strings.Contains(err.Error(), "would share the id") || !strings.Contains(err.Error(), "_d32b7074") {
		t.Errorf("error %v, want an id collision", err)
	}
}

func seq(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprint(i)
	}
	return strings.Join(parts, ", ")
}

func TestSlug(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"weights.style", "weights.style"},
		{"Starry Night (1889)", "starry-night-1889"},
		{"über/ß", "ber"},
		{"---", "x"},
		{"a_very_long_label_that_goes_on_and_on", "a-very-long-label-that-g"},
	} {
		if got := slugPart(tc.in); got != tc.want {
			t.Errorf("slugPart(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

package sweep

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nst-project/nst/internal/safefile"
)

// MaxItems bounds the items one sweep file may expand to: a grid that
// large is almost always a mistake, and expanding it would only use memory.
const MaxItems = 100_000

// Options are what Load needs from the caller, which knows the config.
type Options struct {
	// ValidKey returns an error for a grid key that is not a config key
	// (the caller's --set key check). nil accepts every key.
	ValidKey func(key string) error

	// Resolve returns the resolved config of the base config with the
	// overrides applied as --set applies them; the item's id hashes these
	// bytes, and an error rejects the sweep before any work. Required.
	//
	// For ids that are the same on every machine and every run, the bytes
	// must hold only what changes the result: paths relative to the
	// working folder (not absolute ones, which differ between checkouts),
	// and no output folder or runtime settings (threads, library path,
	// memory cap), which differ between a laptop, a Slurm task and a
	// Kubernetes pod (scripts/slurm/sweep.sbatch and the Job set
	// NST_RUNTIME_THREADS).
	Resolve func(base string, overrides []string) ([]byte, error)
}

// Sweep is a sweep file, expanded into its items.
type Sweep struct {
	// File is the sweep file's path as given to Load.
	File string
	// Base is the base experiment config, relative to the working folder
	// (absolute when the sweep file gave it so).
	Base string
	// Output is the sweep folder, relative to the working folder
	// (absolute when the sweep file gave it so).
	Output string
	// Axes are the grid's keys in file order, each with its values in
	// file order after glob expansion.
	Axes []Axis
	// Items are every combination of the axes' values in expansion order:
	// the first axis slowest, the last fastest (nested loops in file
	// order).
	Items []Item
}

// Axis is one grid key and its values.
type Axis struct {
	// Key is the config key as the sweep file wrote it (--set syntax).
	Key string
	// Values are the key's values in order.
	Values []Value
}

// Value is one value of an axis.
type Value struct {
	// Label is a short readable form (a file's base name without its
	// extension for paths, the YAML text for scalars), used in ids, lists
	// and contact sheets.
	Label string
	// Text is the value as --set takes it: compact JSON, which is YAML.
	Text string
}

// Item is one combination of the grid's values.
type Item struct {
	// Index is the item's position in expansion order; shards select
	// items by it.
	Index int
	// ID names the item's run folder: the readable values of the axes
	// with more than one value, and 8 hex digits of the SHA-256 of its
	// resolved config. The same item has the same id on every run.
	ID string
	// Choice holds, per axis, the index of the item's value.
	Choice []int
	// Overrides are the item's key=value settings in axis order, as --set
	// takes them.
	Overrides []string
}

// Load reads the sweep file at path, expands its grid and computes every
// item's id. Every error a sweep file can hold is reported here, before any
// work starts: unknown keys, empty axes, globs matching nothing, values the
// config rejects (through Options.Resolve) and items that duplicate another.
func Load(path string, opt Options) (*Sweep, error) {
	if opt.Resolve == nil {
		return nil, errors.New("sweep: Options.Resolve is required")
	}
	raw, err := safefile.ReadFile(path, safefile.MaxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("read sweep file: %w", err)
	}
	// Paths are given relative to the working folder, where the items run
	// and where the config loader resolves relative paths: the same sweep
	// then gives the same values, and ids, in every checkout.
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", path, err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", path, err)
	}
	p := paths{dir: dir, wd: wd}

	f, err := parseFile(raw)
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", path, err)
	}
	s := &Sweep{File: path, Base: p.rebase(f.base), Output: p.rebase(f.output)}
	if st, err := os.Stat(p.abs(s.Base)); err != nil {
		return nil, fmt.Errorf("sweep %s: base: %w", path, err)
	} else if st.IsDir() {
		return nil, fmt.Errorf("sweep %s: base: %s is a folder; want an experiment config file", path, s.Base)
	}
	for _, ra := range f.grid {
		if opt.ValidKey != nil {
			if err := opt.ValidKey(ra.key); err != nil {
				return nil, fmt.Errorf("sweep %s: line %d: grid: %s: %w", path, ra.line, ra.key, err)
			}
		}
		ax, err := expandAxis(ra, p)
		if err != nil {
			return nil, fmt.Errorf("sweep %s: %w", path, err)
		}
		s.Axes = append(s.Axes, ax)
	}
	if err := s.expand(opt.Resolve); err != nil {
		return nil, fmt.Errorf("sweep %s: %w", path, err)
	}
	return s, nil
}

// rawFile is the sweep file before expansion.
type rawFile struct {
	base, output string
	grid         []rawAxis
}

type rawAxis struct {
	key    string
	line   int
	values []*yaml.Node
}

// parseFile reads the sweep file's YAML as nodes, which keep the grid's
// keys in file order (a map would lose it) and their line numbers.
func parseFile(raw []byte) (*rawFile, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, errors.New("empty file; want base:, output: and grid:")
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping with base:, output: and grid:", top.Line)
	}
	f := &rawFile{}
	seen := map[string]bool{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if seen[k.Value] {
			return nil, fmt.Errorf("line %d: %s given twice", k.Line, k.Value)
		}
		seen[k.Value] = true
		switch k.Value {
		case "base", "output":
			if v.Kind != yaml.ScalarNode || v.Tag != "!!str" || v.Value == "" {
				return nil, fmt.Errorf("line %d: %s: want a path", v.Line, k.Value)
			}
			if k.Value == "base" {
				f.base = v.Value
			} else {
				f.output = v.Value
			}
		case "grid":
			g, err := parseGrid(v)
			if err != nil {
				return nil, err
			}
			f.grid = g
		default:
			return nil, fmt.Errorf("line %d: unknown key %q (valid keys: base, output, grid)", k.Line, k.Value)
		}
	}
	switch {
	case f.base == "":
		return nil, errors.New("base: missing; give the experiment config every item starts from, relative to the sweep file")
	case f.output == "":
		return nil, errors.New("output: missing; give the sweep's folder, relative to the sweep file")
	case len(f.grid) == 0:
		return nil, errors.New("grid: missing or empty; give at least one config key with a list of values")
	}
	return f, nil
}

func parseGrid(g *yaml.Node) ([]rawAxis, error) {
	if g.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: grid: want a mapping of config keys to lists of values", g.Line)
	}
	var axes []rawAxis
	seen := map[string]bool{}
	for i := 0; i+1 < len(g.Content); i += 2 {
		k, v := g.Content[i], g.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return nil, fmt.Errorf("line %d: grid: keys must be config keys such as weights.style", k.Line)
		}
		if seen[k.Value] {
			return nil, fmt.Errorf("line %d: grid: %s given twice", k.Line, k.Value)
		}
		seen[k.Value] = true
		if lk := strings.ToLower(k.Value); lk == "output" || lk == "output.dir" {
			return nil, fmt.Errorf("line %d: grid: %s: the sweep puts each item in OUTPUT/items/ID; vary output.format or output.save_every instead", k.Line, k.Value)
		}
		if v.Kind != yaml.SequenceNode {
			hint := ""
			if v.Kind == yaml.ScalarNode {
				hint = fmt.Sprintf("; for one value write [%s]", v.Value)
			}
			return nil, fmt.Errorf("line %d: grid: %s: want a list of values%s", v.Line, k.Value, hint)
		}
		if len(v.Content) == 0 {
			return nil, fmt.Errorf("line %d: grid: %s: empty list; give at least one value", v.Line, k.Value)
		}
		axes = append(axes, rawAxis{key: k.Value, line: k.Line, values: v.Content})
	}
	return axes, nil
}

// paths rebases the sweep file's relative paths, which are relative to its
// own folder, onto the working folder the items run in.
type paths struct{ dir, wd string }

// rebase returns p, relative to the sweep file's folder, as a path relative
// to the working folder; absolute paths and built-in names stay as they are.
func (ps paths) rebase(p string) string {
	if p == "" || strings.HasPrefix(p, builtinPrefix) || filepath.IsAbs(p) {
		return p
	}
	return ps.rel(filepath.Join(ps.dir, p))
}

// rel returns the absolute path abs relative to the working folder.
func (ps paths) rel(abs string) string {
	if r, err := filepath.Rel(ps.wd, abs); err == nil {
		return r
	}
	return abs
}

// abs returns a path that rebase returned as an absolute path.
func (ps paths) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(ps.wd, p)
}

// glob expands pattern, relative to the sweep file's folder, into the files
// it matches in sorted order, relative to the working folder. A pattern
// without wildcards is a single file that must exist.
func (ps paths) glob(pattern string) ([]string, error) {
	if strings.HasPrefix(pattern, builtinPrefix) {
		return []string{pattern}, nil
	}
	full := pattern
	if !filepath.IsAbs(full) {
		full = filepath.Join(ps.dir, pattern)
	}
	matches, err := filepath.Glob(full)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", pattern, err)
	}
	var files []string
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() {
			if filepath.IsAbs(pattern) {
				files = append(files, m)
			} else {
				files = append(files, ps.rel(m))
			}
		}
	}
	if len(files) == 0 {
		if !hasMeta(pattern) {
			return nil, fmt.Errorf("%q: no such file (%s)", pattern, full)
		}
		return nil, fmt.Errorf("%q matches no file (looked for %s)", pattern, full)
	}
	sort.Strings(files)
	return files, nil
}

// file rebases a path that is not globbed and checks that it exists.
func (ps paths) file(p string) (string, error) {
	if p == "" || strings.HasPrefix(p, builtinPrefix) {
		return p, nil
	}
	r := ps.rebase(p)
	if _, err := os.Stat(ps.abs(r)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%q: no such file (%s)", p, ps.abs(r))
		}
		return "", fmt.Errorf("%q: %w", p, err)
	}
	return r, nil
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// Keys whose string values are paths, relative to the sweep file. Only
// content and style[].path are globbed; the others must name one file.
var (
	globKeys = map[string]bool{"content": true}
	pathKeys = map[string]bool{"init_image": true, "model.path": true, "runtime.library": true}
)

// expandAxis decodes an axis's values, expands globs and rebases paths.
func expandAxis(ra rawAxis, ps paths) (Axis, error) {
	ax := Axis{Key: ra.key}
	lk := strings.ToLower(ra.key)
	for _, n := range ra.values {
		var v any
		if err := n.Decode(&v); err != nil {
			return Axis{}, fmt.Errorf("line %d: grid: %s: %s", n.Line, ra.key, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		var vals []any
		var err error
		switch {
		case lk == "style":
			vals, err = expandStyle(v, ps)
		case globKeys[lk] || pathKeys[lk]:
			s, ok := v.(string)
			if !ok {
				return Axis{}, fmt.Errorf("line %d: grid: %s: %v is not a path", n.Line, ra.key, v)
			}
			var files []string
			if globKeys[lk] {
				files, err = ps.glob(s)
			} else {
				var f string
				f, err = ps.file(s)
				files = []string{f}
			}
			for _, f := range files {
				vals = append(vals, f)
			}
		default:
			vals = []any{v}
		}
		if err != nil {
			return Axis{}, fmt.Errorf("line %d: grid: %s: %w", n.Line, ra.key, err)
		}
		for _, x := range vals {
			text, err := compactJSON(x)
			if err != nil {
				return Axis{}, fmt.Errorf("line %d: grid: %s: %w", n.Line, ra.key, err)
			}
			ax.Values = append(ax.Values, Value{Label: label(lk, x, n), Text: text})
		}
	}
	// Labels that would read the same get their position, so that lists
	// and sheets tell the values apart.
	count := map[string]int{}
	for _, v := range ax.Values {
		count[v.Label]++
	}
	for i, v := range ax.Values {
		if count[v.Label] > 1 {
			ax.Values[i].Label = fmt.Sprintf("%s#%d", v.Label, i+1)
		}
	}
	return ax, nil
}

// expandStyle turns one value of the style axis into style lists, one per
// combination of the files its entries' path globs match (the last entry's
// matches fastest). A value is a list of {path, weight, scale, mask}
// entries; a single entry, or a bare path string meaning {path: P,
// weight: 1}, stands for a list of one.
func expandStyle(v any, ps paths) ([]any, error) {
	var entries []any
	switch x := v.(type) {
	case []any:
		entries = x
	case string, map[string]any:
		entries = []any{x}
	default:
		return nil, fmt.Errorf("%v: want a list of {path: ..., weight: ...} entries or a path", v)
	}
	if len(entries) == 0 {
		return nil, errors.New("empty style list; give at least one {path: ..., weight: ...}")
	}
	// options[i] holds entry i with each of its path's matches.
	options := make([][]map[string]any, len(entries))
	for i, e := range entries {
		var m map[string]any
		switch x := e.(type) {
		case string:
			m = map[string]any{"path": x, "weight": 1}
		case map[string]any:
			m = x
		default:
			return nil, fmt.Errorf("style entry %d: %v: want {path: ..., weight: ...} or a path", i, e)
		}
		pathKey, maskKey := "", ""
		for k := range m {
			switch strings.ToLower(k) {
			case "path":
				pathKey = k
			case "mask":
				maskKey = k
			}
		}
		p, ok := m[pathKey].(string)
		if pathKey == "" || !ok || p == "" {
			return nil, fmt.Errorf("style entry %d: path: missing or not a string", i)
		}
		if maskKey != "" {
			mask, ok := m[maskKey].(string)
			if !ok {
				return nil, fmt.Errorf("style entry %d: mask: %v is not a path", i, m[maskKey])
			}
			r, err := ps.file(mask)
			if err != nil {
				return nil, fmt.Errorf("style entry %d: mask %w", i, err)
			}
			m[maskKey] = r
		}
		files, err := ps.glob(p)
		if err != nil {
			return nil, fmt.Errorf("style entry %d: path %w", i, err)
		}
		for _, f := range files {
			c := make(map[string]any, len(m))
			for k, v := range m {
				c[k] = v
			}
			c[pathKey] = f
			options[i] = append(options[i], c)
		}
	}
	var out []any
	forEachChoice(lengths(options), func(choice []int) bool {
		list := make([]any, len(options))
		for i, c := range choice {
			list[i] = options[i][c]
		}
		out = append(out, list)
		return len(out) <= MaxItems
	})
	if len(out) > MaxItems {
		return nil, fmt.Errorf("style globs expand to more than %d lists", MaxItems)
	}
	return out, nil
}

func lengths[T any](xs [][]T) []int {
	n := make([]int, len(xs))
	for i, x := range xs {
		n[i] = len(x)
	}
	return n
}

// forEachChoice calls f with every combination of indexes below sizes, the
// last index fastest, until f returns false. f must not keep choice.
func forEachChoice(sizes []int, f func(choice []int) bool) {
	for _, n := range sizes {
		if n == 0 {
			return
		}
	}
	choice := make([]int, len(sizes))
	for {
		if !f(choice) {
			return
		}
		i := len(choice) - 1
		for ; i >= 0; i-- {
			choice[i]++
			if choice[i] < sizes[i] {
				break
			}
			choice[i] = 0
		}
		if i < 0 {
			return
		}
	}
}

// compactJSON renders a decoded YAML value on one line, as JSON: valid
// YAML, unambiguous about types, and with map keys in a fixed order.
func compactJSON(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("value %v cannot be given with --set: %w", v, err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// label is a value's short readable form.
func label(key string, v any, n *yaml.Node) string {
	switch x := v.(type) {
	case string:
		if globKeys[key] || pathKeys[key] {
			return pathLabel(x)
		}
		return x
	case []any:
		if key == "style" {
			// The styles' names, with their weights where not 1:
			// "wave@2+swirls".
			var names []string
			for _, e := range x {
				m, _ := e.(map[string]any)
				name, weight := "", ""
				for k, v := range m {
					switch strings.ToLower(k) {
					case "path":
						s, _ := v.(string)
						name = pathLabel(s)
					case "weight":
						if w := fmt.Sprint(v); w != "1" {
							weight = "@" + w
						}
					}
				}
				names = append(names, name+weight)
			}
			return strings.Join(names, "+")
		}
	}
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	s, _ := compactJSON(v)
	return s
}

// pathLabel is a file's base name without its extension, or a built-in
// image's name.
func pathLabel(p string) string {
	if name, ok := strings.CutPrefix(p, builtinPrefix); ok {
		return name
	}
	b := filepath.Base(p)
	return strings.TrimSuffix(b, filepath.Ext(b))
}

// expand builds the items, last axis fastest, and their ids.
func (s *Sweep) expand(resolve func(string, []string) ([]byte, error)) error {
	sizes := make([]int, len(s.Axes))
	total := 1
	for i, ax := range s.Axes {
		sizes[i] = len(ax.Values)
		if total > MaxItems/sizes[i] {
			return fmt.Errorf("grid: more than %d items; split the sweep", MaxItems)
		}
		total *= sizes[i]
	}
	byHash := map[[sha256.Size]byte]int{}
	byID := map[string]int{}
	var err error
	forEachChoice(sizes, func(choice []int) bool {
		it := Item{Index: len(s.Items), Choice: append([]int(nil), choice...)}
		var slug []string
		for a, c := range choice {
			ax := s.Axes[a]
			it.Overrides = append(it.Overrides, ax.Key+"="+ax.Values[c].Text)
			if len(ax.Values) > 1 {
				slug = append(slug, slugKey(ax.Key)+"-"+slugPart(ax.Values[c].Label))
			}
		}
		var resolved []byte
		resolved, err = resolve(s.Base, it.Overrides)
		if err != nil {
			err = fmt.Errorf("item %d (%s): %w", it.Index, strings.Join(it.Overrides, " "), err)
			return false
		}
		sum := sha256.Sum256(resolved)
		if prev, dup := byHash[sum]; dup {
			err = fmt.Errorf("items %d (%s) and %d (%s) resolve to the same config; remove the duplicate value",
				prev, strings.Join(s.Items[prev].Overrides, " "), it.Index, strings.Join(it.Overrides, " "))
			return false
		}
		byHash[sum] = it.Index
		it.ID = joinSlug(slug) + "_" + hex.EncodeToString(sum[:4])
		// Different configs whose readable parts read alike (cut or
		// simplified) and whose hashes share 32 bits: astronomically rare,
		// but two items must never share a folder.
		if prev, dup := byID[it.ID]; dup {
			err = fmt.Errorf("items %d (%s) and %d (%s) would share the id %s; split the sweep",
				prev, strings.Join(s.Items[prev].Overrides, " "), it.Index, strings.Join(it.Overrides, " "), it.ID)
			return false
		}
		byID[it.ID] = it.Index
		s.Items = append(s.Items, it)
		return true
	})
	return err
}

// Slug limits: ids stay readable and well within file name limits.
const (
	maxSlugPart = 24
	maxSlug     = 96
)

// slugPart reduces s to lower-case letters, digits, '.', '+' and '-'.
func slugPart(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '+':
			b.WriteRune(r)
			dash = false
		default:
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = true
		}
	}
	out := strings.Trim(b.String(), "-.")
	if len(out) > maxSlugPart {
		out = strings.Trim(out[:maxSlugPart], "-.")
	}
	if out == "" {
		out = "x"
	}
	return out
}

// slugKey is slugPart for a config key, whose dots become dashes.
func slugKey(key string) string { return slugPart(strings.ReplaceAll(key, ".", "-")) }

func joinSlug(parts []string) string {
	s := strings.Join(parts, "_")
	if len(s) > maxSlug {
		s = strings.Trim(s[:maxSlug], "-._")
	}
	if s == "" {
		s = "item"
	}
	return s
}

package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"

	"go.yaml.in/yaml/v3"
)

// MaxConfigBytes bounds a YAML config, whether a file, a request body or
// the text given to LoadConfigBytes. A config is a few KiB; 1 MiB leaves
// room for generated ones (hundreds of layers, long mask lists) while
// keeping a YAML parser, which holds several times its input, small.
const MaxConfigBytes = 1 << 20

// configTooLarge is the error for a config of size bytes, over
// MaxConfigBytes.
func configTooLarge(size int64) error {
	return fmt.Errorf("%d bytes, over the limit of %d bytes (%d MiB) for a config: a config is a few KiB; is this the file you meant?", size, MaxConfigBytes, MaxConfigBytes>>20)
}

// errExcessiveAliasing is the error for a document whose aliases expand to
// far more nodes than it holds (the "billion laughs" attack), worded as
// the YAML decoder words it.
var errExcessiveAliasing = errors.New("document contains excessive aliasing")

// decodeYAMLDoc decodes a config's YAML into a generic document, in time
// linear in its size: yaml.Unmarshal's duplicate-key check compares every
// key of a mapping with every later one, so tens of thousands of keys
// took minutes. The text is parsed into nodes (linear) and converted here,
// with duplicate keys found through a set, aliases expanded within a
// budget proportional to the document, and merge keys (<<) applied as the
// YAML decoder applies them. A second document in the text is an error:
// nst would otherwise ignore it without a word. The caller refuses raw
// over MaxConfigBytes before parsing.
func decodeYAMLDoc(raw []byte) (map[string]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if err == io.EOF {
			return nil, nil // empty text
		}
		return nil, err
	}
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case err == io.EOF:
	case err != nil:
		return nil, err
	default:
		return nil, fmt.Errorf("line %d: a second YAML document (after ---); a config is one document: remove it, or move it to a file of its own", second.Line)
	}
	c := &nodeConverter{budget: 64 + 16*countNodes(&root, 0)}
	v, err := c.convert(&root)
	if err != nil {
		return nil, err
	}
	switch doc := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return doc, nil
	case map[any]any:
		for k := range doc {
			if _, ok := k.(string); !ok {
				return nil, fmt.Errorf("key %v is not a name; a config's keys are names such as content, style and size", k)
			}
		}
	}
	return nil, fmt.Errorf("line %d: the config is a %s; want a mapping of keys such as content, style and size", root.Line, kindName(&root))
}

// countNodes counts the nodes of the tree at n without following aliases,
// stopping early once past the limit a config's size allows.
func countNodes(n *yaml.Node, depth int) int {
	if n == nil || depth > maxYAMLDepth {
		return 0
	}
	total := 1
	for _, c := range n.Content {
		total += countNodes(c, depth+1)
	}
	return total
}

// maxYAMLDepth bounds nesting: a config nests a handful of levels.
const maxYAMLDepth = 100

// nodeConverter turns YAML nodes into the values yaml.Unmarshal gives an
// `any`: map[string]any (map[any]any where a key is not a string),
// []any, and the scalars' resolved types.
type nodeConverter struct {
	budget int // nodes left to visit, aliases expanded
}

func (c *nodeConverter) convert(n *yaml.Node) (any, error) {
	return c.node(n, 0)
}

func (c *nodeConverter) node(n *yaml.Node, depth int) (any, error) {
	if c.budget--; c.budget < 0 {
		return nil, errExcessiveAliasing
	}
	if depth > maxYAMLDepth {
		return nil, fmt.Errorf("line %d: nested more than %d levels deep", n.Line, maxYAMLDepth)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.node(n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, fmt.Errorf("line %d: unknown anchor %q", n.Line, n.Value)
		}
		return c.node(n.Alias, depth+1)
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		return v, nil
	case yaml.SequenceNode:
		items := make([]any, 0, len(n.Content))
		for _, it := range n.Content {
			v, err := c.node(it, depth+1)
			if err != nil {
				return nil, err
			}
			items = append(items, v)
		}
		return items, nil
	case yaml.MappingNode:
		return c.mapping(n, depth)
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// mapping converts a mapping node. Keys given explicitly win over those a
// merge key (<<) brings in, and an earlier merged mapping over a later
// one, as in the YAML decoder.
func (c *nodeConverter) mapping(n *yaml.Node, depth int) (any, error) {
	if len(n.Content)%2 != 0 {
		return nil, fmt.Errorf("line %d: mapping with a key but no value", n.Line)
	}
	type entry struct {
		key, value any
		line       int
	}
	var entries, merged []entry
	explicit := map[any]int{} // key -> line, for duplicates
	for i := 0; i < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind == yaml.ScalarNode && kn.Tag == "!!merge" {
			ms, err := c.mergeSources(vn, depth+1)
			if err != nil {
				return nil, err
			}
			for _, m := range ms {
				for _, e := range m {
					merged = append(merged, entry{e.key, e.value, kn.Line})
				}
			}
			continue
		}
		k, err := c.node(kn, depth+1)
		if err != nil {
			return nil, err
		}
		if !hashable(k) {
			return nil, fmt.Errorf("line %d: a mapping key must be a scalar", kn.Line)
		}
		if line, dup := explicit[k]; dup {
			return nil, fmt.Errorf("line %d: mapping key %#v already defined at line %d", kn.Line, kn.Value, line)
		}
		explicit[k] = kn.Line
		v, err := c.node(vn, depth+1)
		if err != nil {
			return nil, err
		}
		entries = append(entries, entry{k, v, kn.Line})
	}
	for _, e := range merged {
		if _, ok := explicit[e.key]; !ok {
			explicit[e.key] = e.line
			entries = append(entries, e)
		}
	}
	allStrings := true
	for _, e := range entries {
		if _, ok := e.key.(string); !ok {
			allStrings = false
			break
		}
	}
	if allStrings {
		m := make(map[string]any, len(entries))
		for _, e := range entries {
			m[e.key.(string)] = e.value
		}
		return m, nil
	}
	m := make(map[any]any, len(entries))
	for _, e := range entries {
		m[e.key] = e.value
	}
	return m, nil
}

// keyValue is one entry of a mapping a merge key brings in.
type keyValue struct{ key, value any }

// mergeSources returns the mappings a merge key's value names: one
// mapping (or alias to one), or a sequence of them.
func (c *nodeConverter) mergeSources(n *yaml.Node, depth int) ([][]keyValue, error) {
	one := func(n *yaml.Node) ([]keyValue, error) {
		v, err := c.node(n, depth+1)
		if err != nil {
			return nil, err
		}
		var out []keyValue
		switch m := v.(type) {
		case map[string]any:
			for k, val := range m {
				out = append(out, keyValue{k, val})
			}
		case map[any]any:
			for k, val := range m {
				out = append(out, keyValue{k, val})
			}
		default:
			return nil, fmt.Errorf("line %d: map merge requires map or sequence of maps as the value", n.Line)
		}
		return out, nil
	}
	target := n
	if target.Kind == yaml.AliasNode && target.Alias != nil {
		target = target.Alias
	}
	if target.Kind != yaml.SequenceNode {
		m, err := one(n)
		if err != nil {
			return nil, err
		}
		return [][]keyValue{m}, nil
	}
	var all [][]keyValue
	for _, it := range target.Content {
		m, err := one(it)
		if err != nil {
			return nil, err
		}
		all = append(all, m)
	}
	return all, nil
}

// hashable reports whether v can be a map key: YAML allows sequences and
// mappings as keys, Go maps do not.
func hashable(v any) bool {
	switch x := v.(type) {
	case []any, map[string]any, map[any]any:
		return false
	case float64:
		return !math.IsNaN(x) // NaN is never equal to itself
	}
	return true
}

// kindName names what a YAML node holds, for messages.
func kindName(n *yaml.Node) string {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	}
	return "YAML node"
}

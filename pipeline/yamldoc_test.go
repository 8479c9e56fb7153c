package pipeline

import (
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDecodeYAMLDocMatchesTheDecoder: the linear decoding gives the values
// yaml.Unmarshal gives, anchors, aliases, merge keys and scalar types
// included.
func TestDecodeYAMLDocMatchesTheDecoder(t *testing.T) {
	docs := []string{
		minimal,
		"size: 64\nseed: -3\nnoise_ratio: .5\ncolor: ~\nruntime: {graph_cache: yes, threads: 0x10}\n",
		"content: &a x.png\nstyle: [{path: *a, weight: 1}]\n",
		"base: &b {iterations: 5, lr: 0.1}\noptimizer:\n  <<: *b\n  lr: 0.2\n",
		"one: &o {a: 1}\ntwo: &t {a: 2, b: 2}\nm:\n  <<: [*o, *t]\n  c: 3\n",
		"layers:\n  content: {'input.4': 2}\n  style: {/22/Relu_output_0: 0.5, relu1_1: .25}\n",
		"list: [1, [2, [3]], {k: v}]\nempty: {}\nnone: []\n",
	}
	for _, doc := range docs {
		got, err := decodeYAMLDoc([]byte(doc))
		if err != nil {
			t.Errorf("%q: %v", doc, err)
			continue
		}
		var want map[string]any
		if err := yaml.Unmarshal([]byte(doc), &want); err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\ngot  %#v\nwant %#v", doc, got, want)
		}
	}
	if _, err := decodeYAMLDoc([]byte("1: one\nsize: 3\n")); err == nil || err.Error() != "key 1 is not a name; a config's keys are names such as content, style and size" {
		t.Errorf("a number as a key: %v", err)
	}
}

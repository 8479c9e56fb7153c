package pipeline

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadConfigSaysWhereAndWhat checks the messages of configs that are
// not YAML, or whose values have the wrong type wherever they come from:
// each must say where the problem is and what was expected.
func TestLoadConfigSaysWhereAndWhat(t *testing.T) {
	tests := []struct {
		name string
		body string
		sets []string
		env  map[string]string
		want string // the error without "config PATH: "
	}{
		{"unclosed bracket", minimal + "size: [1\n", nil, nil, "line 4, column 7: sequence end token ']' not found"},
		{"unclosed brace on an earlier line", "content: a\nweights: {content: 1, style: 2\noptimizer: {lr: 1}\n", nil, nil, "line 3, column 1: ',' or '}' must be specified"},
		{"tab indentation", minimal + "size: 3\n\tseed: 4\n", nil, nil, "line 5, column 1: found character '\t' that cannot start any token"},
		{"duplicate key", minimal + "size: 3\nsize: 4\n", nil, nil, `line 5, column 1: mapping key "size" already defined at [4:1]`},
		{"unterminated quote", "content: \"abc\nsize: 4\n", nil, nil, "line 1, column 10: could not find end character of double-quoted text"},
		{"binary file", "\x89PNG\r\n\x1a\n\x00\x00", nil, nil, "not a YAML text file (it holds binary data: an image or model given as the config?)"},
		{"--set whole number", minimal, []string{"size=big"}, nil, `--set key "size": big is not a whole number`},
		{"--set number", minimal, []string{"weights.tv=lots"}, nil, `--set key "weights.tv": lots is not a number`},
		{"--set mapping", minimal, []string{"optimizer=adam"}, nil, `--set key "optimizer": want a mapping of name, iterations, lr, history`},
		{"--set list", minimal, []string{"style=b.png"}, nil, `--set key "style": want a list of {path, weight`},
		{"environment", minimal, nil, map[string]string{"NST_OPTIMIZER_ITERATIONS": "many"}, `environment NST_OPTIMIZER_ITERATIONS: key "optimizer.iterations": many is not a whole number`},
		// Overrides are never silently ignored.
		{"environment variable naming no key", minimal, nil, map[string]string{"NST_OPTIMIZER_ITERATONS": "5"},
			"environment NST_OPTIMIZER_ITERATONS: no config key has this variable (did you mean NST_OPTIMIZER_ITERATIONS?); unset it"},
		{"environment variable naming one layer", minimal, nil, map[string]string{"NST_LAYERS_STYLE_RELU1_1": "1"},
			"environment NST_LAYERS_STYLE_RELU1_1: a variable cannot name one layer (layer names hold underscores and capitals); set the whole map, as in NST_LAYERS_STYLE='{relu1_1: 1}', or use --set layers.style.LAYER=WEIGHT"},
		{"environment layer map of the wrong type", minimal, nil, map[string]string{"NST_LAYERS_STYLE": "relu1_1"},
			"environment NST_LAYERS_STYLE: key \"layers.style\": want a mapping of layer name to weight"},
		{"empty layer map", minimal + "layers: {style: {}}\n", nil, nil,
			"layers.style: an empty map; give at least one layer and its weight, as in {relu1_1: 1}, or leave the key out for the default layers"},
		{"empty layer map by --set", minimal, []string{"layers.content={}"}, nil, "--set layers.content: layers.content: an empty map"},
		{"empty layer map by the environment", minimal, nil, map[string]string{"NST_LAYERS_STYLE": "{}"}, "environment NST_LAYERS_STYLE: layers.style: an empty map"},
		{"a second document", minimal + "---\nsize: 64\n", nil, nil, "line 4: a second YAML document (after ---); a config is one document"},
		{"bad value by --set", minimal, []string{"size=0"}, nil, "--set size=0: size: 0; want 16 to 16384"},
		{"bad value by the environment", minimal, nil, map[string]string{"NST_WEIGHTS_TV": "-1"}, "environment NST_WEIGHTS_TV=-1: weights.tv: -1; want a finite number >= 0"},
		{"bad values from the file and the environment", minimal + "size: 0\n", nil, map[string]string{"NST_WEIGHTS_TV": "-1"},
			"size: 0; want 16 to 16384 (the output's longer side in pixels); environment NST_WEIGHTS_TV=-1: weights.tv: -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			path := writeConfig(t, tt.body)
			_, err := LoadConfig(path, tt.sets)
			if err == nil {
				t.Fatal("LoadConfig succeeded")
			}
			got := strings.TrimPrefix(err.Error(), "config "+path+": ")
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("error\n%q\nwant it to start\n%q", got, tt.want)
			}
		})
	}
}

// TestSetValuesOfTheRightTypePass checks that typing --set values does not
// refuse what the file would accept.
func TestSetValuesOfTheRightTypePass(t *testing.T) {
	sets := []string{"size=64", "weights.tv=0.5", "weights.style=3", "optimizer={name: adam, lr: 0.1}", "style=[{path: x.png, weight: 2}]", "model.preprocess.mean=[1, 2, 3]", "init=noise", "layers.style.relu1_1=1"}
	cfg, err := LoadConfig(writeConfig(t, minimal), sets)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Size != 64 || cfg.Weights.TV != 0.5 || cfg.Weights.Style != 3 || cfg.Optimizer.Name != "adam" || cfg.Style[0].Path != "x.png" || cfg.Init != "noise" {
		t.Errorf("config %+v does not hold the --set values", cfg)
	}
}

// TestConfigDecodingIsBounded: a config over MaxConfigBytes is refused
// before parsing, naming the limit; a second YAML document is an error;
// and decoding takes time linear in the config's size, whatever its
// shape (tens of thousands of keys under one key took minutes, in the
// YAML decoder's duplicate-key check and in the second parser that places
// syntax errors). Linearity is checked by the ratio of the best times for
// n and 8n keys (about 8 when linear, 64 when quadratic); every load is
// bounded by a timer.
func TestConfigDecodingIsBounded(t *testing.T) {
	keys := func(under string, n int, tail string) []byte {
		var b strings.Builder
		b.WriteString(minimal + under + ":\n")
		for i := range n {
			fmt.Fprintf(&b, "  k%d: %d\n", i, i)
		}
		b.WriteString(tail)
		return []byte(b.String())
	}
	load := func(t *testing.T, raw []byte) (time.Duration, error) {
		t.Helper()
		var err error
		done := make(chan struct{})
		start := time.Now()
		go func() { _, err = LoadConfigBytes(raw, nil); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatalf("a %d-byte config still decoding after 60 s", len(raw))
		}
		return time.Since(start), err
	}
	shapes := []struct {
		name    string
		raw     func(n int) []byte
		wantErr string
	}{
		{"keys under an unknown key", func(n int) []byte { return keys("bogus", n, "") }, `unknown key "bogus"`},
		{"a duplicate after many keys", func(n int) []byte { return keys("bogus", n, "  k1: 0\n") }, `mapping key "k1" already defined`},
		{"a syntax error after many keys", func(n int) []byte { return keys("bogus", n, " - x\n") }, "did not find expected key"},
	}
	const n = 7000
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			best := func(n int) time.Duration {
				d := time.Duration(math.MaxInt64)
				for range 3 {
					took, err := load(t, s.raw(n))
					if err == nil || !strings.Contains(err.Error(), s.wantErr) {
						t.Fatalf("%d keys: %v, want an error saying %q", n, err, s.wantErr)
					}
					d = min(d, took)
				}
				return d
			}
			small, large := best(n), best(8*n)
			if ratio := float64(large) / float64(small); ratio > 24 && large > 500*time.Millisecond {
				t.Errorf("%d keys took %v, %d keys %v: %.1f times as long, want about 8 (linear)", n, small, 8*n, large, ratio)
			}
		})
	}
	tests := []struct {
		name string
		raw  []byte
		want string
	}{
		{"over the size limit", append([]byte(minimal+"# "), bytes.Repeat([]byte("x"), MaxConfigBytes)...),
			"over the limit of 1048576 bytes (1 MiB) for a config"},
		{"a second document", []byte(minimal + "---\nsize: 64\n"), "line 4: a second YAML document (after ---); a config is one document"},
		{"a list, not a mapping", []byte("- content\n"), "the config is a list; want a mapping"},
		{"aliases expanding without end", []byte("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"),
			"document contains excessive aliasing"},
	}
	for _, tt := range tests {
		_, err := load(t, tt.raw)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error saying %q", tt.name, err, tt.want)
		}
	}
	// The file is refused by its size, before it is read.
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, bytes.Repeat([]byte("#"), MaxConfigBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path, nil); err == nil || !strings.Contains(err.Error(), "over the limit of 1048576 bytes (1.0 MiB) for a config") {
		t.Errorf("%s: %v, want it refused naming the limit", path, err)
	}
}

// TestEnvironmentOverridesApply: NST_ variables set lists and layer maps
// as --set does (they used to be ignored or refused as strings), take a
// text key's value as it is, and lose to --set.
func TestEnvironmentOverridesApply(t *testing.T) {
	t.Setenv("NST_LAYERS_STYLE", "{relu1_1: 0.5, 'Conv_0': 2}")
	t.Setenv("NST_STYLE", "[{path: builtin:village, weight: 3}]")
	t.Setenv("NST_INIT_IMAGE", "a: b.png")
	t.Setenv("NST_SIZE", "64")
	cfg, err := LoadConfig(writeConfig(t, minimal), []string{"size=96"})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]float64{"relu1_1": 0.5, "Conv_0": 2}; !maps.Equal(cfg.Layers.Style, want) {
		t.Errorf("layers.style = %v, want %v", cfg.Layers.Style, want)
	}
	if len(cfg.Style) != 1 || cfg.Style[0].Path != "builtin:village" || cfg.Style[0].Weight != 3 {
		t.Errorf("style = %+v, want builtin:village with weight 3", cfg.Style)
	}
	if cfg.InitImage != "a: b.png" {
		t.Errorf("init_image = %q, want the variable's value as it is", cfg.InitImage)
	}
	if cfg.Size != 96 {
		t.Errorf("size = %d, want --set's 96 over NST_SIZE's 64", cfg.Size)
	}
}

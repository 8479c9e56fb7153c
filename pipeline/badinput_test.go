package pipeline

import (
	"bytes"
	"fmt"
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
		{"environment", minimal, nil, map[string]string{"NST_OPTIMIZER_ITERATIONS": "many"}, "'optimizer.iterations' cannot parse value as 'int': strconv.ParseInt: invalid syntax; check the environment (NST_OPTIMIZER_ITERATIONS)"},
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

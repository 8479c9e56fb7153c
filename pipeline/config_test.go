package pipeline

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nst-project/nst/optim"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "exp.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const minimal = "content: builtin:village\nstyle:\n  - {path: builtin:swirls, weight: 1}\n"

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := LoadConfig(writeConfig(t, minimal), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Content = "builtin:village"
	want.Style = []StyleConfig{{Path: "builtin:swirls", Weight: 1, Scale: 1}}
	want.Layers = LayersConfig{Content: DefaultContentLayers, Style: DefaultStyleLayers}
	want.Optimizer.LR, want.Optimizer.History = optim.DefaultLBFGSConfig().LR, optim.DefaultLBFGSConfig().History
	if !reflect.DeepEqual(*cfg, want) {
		t.Fatalf("config = %+v\nwant %+v", *cfg, want)
	}
}

// TestOptimizerDefaultsFollowTheMethod: a config that names only the
// optimiser gets that method's step size from package optim, the one home
// of those defaults; an explicit lr (file, --set or NST_) wins, and an
// explicit 0 is refused rather than replaced.
func TestOptimizerDefaultsFollowTheMethod(t *testing.T) {
	tests := []struct {
		name, body string
		sets       []string
		env        string
		wantLR     float64
		wantErr    string
	}{
		{name: "lbfgs", body: minimal, wantLR: optim.DefaultLBFGSConfig().LR},
		{name: "adam alone", body: minimal + "optimizer: {name: adam}\n", wantLR: optim.DefaultAdamConfig().LR},
		{name: "adam by --set", body: minimal, sets: []string{"optimizer.name=adam"}, wantLR: optim.DefaultAdamConfig().LR},
		{name: "file lr", body: minimal + "optimizer: {name: adam, lr: 0.03}\n", wantLR: 0.03},
		{name: "env lr", body: minimal + "optimizer: {name: adam}\n", env: "0.04", wantLR: 0.04},
		{name: "explicit zero", body: minimal + "optimizer: {lr: 0}\n", wantErr: "optimizer.lr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("NST_OPTIMIZER_LR", tt.env)
			}
			cfg, err := LoadConfig(writeConfig(t, tt.body), tt.sets)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Optimizer.LR != tt.wantLR || cfg.Optimizer.History != optim.DefaultLBFGSConfig().History {
				t.Errorf("optimizer = %+v, want lr %g and history %d", cfg.Optimizer, tt.wantLR, optim.DefaultLBFGSConfig().History)
			}
		})
	}
}

func TestLoadConfigOverrides(t *testing.T) {
	body := minimal + "layers:\n  content: {'input.4': 2}\n  style: {/22/Relu_output_0: 0.5}\noptimizer: {name: adam, lr: 0.05}\n"
	t.Setenv("NST_OPTIMIZER_ITERATIONS", "7")
	t.Setenv("NST_SIZE", "300")
	cfg, err := LoadConfig(writeConfig(t, body), []string{"size=128", "weights.tv=0.5", "layers.style.relu1_1=0.25", "model.preprocess.mean=[1, 2, 3]", "layers.content={input.4: 2, relu3_2: 1}"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Optimizer.Iterations != 7 || cfg.Optimizer.Name != "adam" || cfg.Optimizer.LR != 0.05 {
		t.Errorf("optimizer = %+v, want iterations from NST_OPTIMIZER_ITERATIONS and name/lr from file", cfg.Optimizer)
	}
	if cfg.Size != 128 {
		t.Errorf("size = %d: --set must win over NST_SIZE", cfg.Size)
	}
	if cfg.Weights.TV != 0.5 || cfg.Optimizer.History != 10 {
		t.Errorf("weights %+v history %d", cfg.Weights, cfg.Optimizer.History)
	}
	if !reflect.DeepEqual(cfg.Model.Preprocess.Mean, []float64{1, 2, 3}) {
		t.Errorf("mean = %v", cfg.Model.Preprocess.Mean)
	}
	if !reflect.DeepEqual(cfg.Layers.Content, map[string]float64{"input.4": 2, "relu3_2": 1}) {
		t.Errorf("content layers = %v: raw ONNX names keep their case and dots", cfg.Layers.Content)
	}
	if !reflect.DeepEqual(cfg.Layers.Style, map[string]float64{"/22/Relu_output_0": 0.5, "relu1_1": 0.25}) {
		t.Errorf("style layers = %v", cfg.Layers.Style)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		sets []string
		want string
	}{
		{"unknown top key", minimal + "iteratons: 5\n", nil, `unknown key "iteratons"`},
		{"unknown nested key with hint", minimal + "optimizer: {iteratons: 5}\n", nil, `unknown key "optimizer.iteratons" (did you mean "optimizer.iterations"?)`},
		{"unknown style entry key", "content: a.png\nstyle:\n  - {path: b.png, wieght: 1}\n", nil, `unknown key "style[0].wieght" (did you mean "style[0].weight"?)`},
		{"yaml syntax error has line", minimal + "size: [1\n", nil, "line"},
		{"wrong type", minimal + "size: big\n", nil, `key "size": big is not a whole number`},
		{"negative weight", minimal + "weights: {style: -1}\n", nil, "weights.style: -1; want a finite number >= 0"},
		{"nan weight", minimal + "weights: {content: .nan}\n", nil, "weights.content: NaN"},
		{"infinite layer weight", minimal + "layers: {style: {relu1_1: .inf}}\n", nil, "layers.style.relu1_1: +Inf"},
		{"missing content", "style:\n  - {path: b.png, weight: 1}\n", nil, "content: missing"},
		{"missing style", "content: a.png\n", nil, "style: missing"},
		{"zero size", minimal + "size: 0\n", nil, "size: 0; want 16 to 16384"},
		{"absurd size", minimal + "size: 1000000\n", nil, "size: 1000000"},
		{"bad optimizer", minimal + "optimizer: {name: sgd}\n", nil, `optimizer.name: "sgd"`},
		{"bad set key", minimal, []string{"optimizer.iteratons=5"}, `did you mean "optimizer.iterations"?`},
		{"set without value", minimal, []string{"size"}, "want key=value"},
		{"set layer map of non-numbers", minimal, []string{"layers.style={relu1_1: big}"}, `weight big is not a number`},
		{"set layers to a scalar", minimal, []string{"layers=3"}, "want a mapping"},
		{"style weights all zero", "content: a.png\nstyle:\n  - {path: b.png, weight: 0}\n", nil, "at least one must be positive"},
		{"init image missing", minimal + "init: image\n", nil, "init_image: missing"},
		{"preprocess length", minimal + "model: {preprocess: {mean: [1, 2]}}\n", nil, "mean and std need 3 values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, tt.body), tt.sets)
			if err == nil {
				t.Fatalf("no error, want one containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestResolvedConfigReloadsIdentically(t *testing.T) {
	cfg, err := LoadConfig(writeConfig(t, "content: builtin:village\nstyle:\n  - {path: rel/style.png, weight: 2}\nseed: 9\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	first, err := cfg.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadConfig(writeConfig(t, string(first)), nil)
	if err != nil {
		t.Fatalf("resolved config does not load: %v\n%s", err, first)
	}
	second, err := again.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	if string(first) != string(second) {
		t.Fatalf("resolved config changed on reload:\n%s\n---\n%s", first, second)
	}
	if !strings.Contains(string(first), "path: /") {
		t.Errorf("style path not made absolute:\n%s", first)
	}
}

// TestSetEmptyValue: --set key= sets the empty value instead of leaving
// the file's (model.path= means the built-in backbone), and is an error
// naming the key where empty is no value.
func TestSetEmptyValue(t *testing.T) {
	path := writeConfig(t, minimal+"model: {path: zoo:vgg19}\n")
	cfg, err := LoadConfig(path, []string{"model.path="})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model.Path != "" {
		t.Errorf("model.path = %q, want empty", cfg.Model.Path)
	}
	if _, err := LoadConfig(path, []string{"size="}); err == nil || !strings.Contains(err.Error(), "size") {
		t.Errorf("size= : %v, want an error naming size", err)
	}
}

package pipeline

import (
	"strings"
	"testing"
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

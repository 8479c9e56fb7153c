package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/nst-project/nst/optim"
)

// TestConfigTableMatchesDefaults: every key of configs/README.md's table
// whose default is given as a value holds that value in the code, and
// every leaf of Default is in the table. The defaults that follow another
// key are checked against package optim, their one home.
func TestConfigTableMatchesDefaults(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "configs", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z_.\\[\\]]+)` \\| ([^|]+) \\|")
	table := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		table[m[1]] = strings.TrimSpace(m[2])
	}
	code := map[string]any{}
	flatten("", reflect.ValueOf(Default()), code)
	code["layers.content"] = DefaultContentLayers
	code["layers.style"] = DefaultStyleLayers
	code["style[].weight"] = 1.0
	code["style[].scale"] = 1.0
	code["optimizer.history"] = optim.DefaultLBFGSConfig().History
	delete(code, "optimizer.lr") // the method's: checked below
	for key, want := range code {
		cell, ok := table[key]
		if !ok {
			t.Errorf("configs/README.md has no row for %s (default %v)", key, want)
			continue
		}
		lit, ok := strings.CutPrefix(cell, "`")
		if !ok {
			continue // (required), or a default described in words
		}
		var got any
		if err := yaml.Unmarshal([]byte(strings.TrimSuffix(lit, "`")), &got); err != nil {
			t.Errorf("%s: default %s is not YAML: %v", key, cell, err)
			continue
		}
		if fmt.Sprint(normal(got)) != fmt.Sprint(normal(want)) {
			t.Errorf("%s: configs/README.md says %s, the code %v", key, cell, want)
		}
	}
	lr := regexp.MustCompile("(?m)^\\| `optimizer.lr` .*$").FindString(string(doc))
	for _, want := range []string{fmt.Sprintf("`%g`", optim.DefaultAdamConfig().LR), fmt.Sprintf("`%g`", optim.DefaultLBFGSConfig().LR)} {
		if !strings.Contains(lr, want) {
			t.Errorf("optimizer.lr's row %q does not give the default %s", lr, want)
		}
	}
}

// flatten puts every leaf of v (a config struct) into out under its
// dotted key, as the table names it.
func flatten(prefix string, v reflect.Value, out map[string]any) {
	for _, f := range keyFields(v.Type()) {
		tag := f.Tag.Get("mapstructure")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		key := prefix + tag
		if f.Type.Kind() == reflect.Struct {
			flatten(key+".", v.FieldByIndex(f.Index), out)
			continue
		}
		out[key] = v.FieldByIndex(f.Index).Interface()
	}
}

// normal makes numbers comparable across YAML's ints and floats and
// Go's typed values, and empty lists and maps equal to nil.
func normal(v any) any {
	rv := reflect.ValueOf(v)
	switch {
	case v == nil:
		return ""
	case rv.Kind() >= reflect.Int && rv.Kind() <= reflect.Float64:
		return fmt.Sprintf("%g", rv.Convert(reflect.TypeFor[float64]()).Float())
	case rv.Kind() == reflect.Slice && rv.Len() == 0:
		return ""
	case rv.Kind() == reflect.Slice:
		var parts []string
		for i := range rv.Len() {
			parts = append(parts, fmt.Sprint(normal(rv.Index(i).Interface())))
		}
		return "[" + strings.Join(parts, " ") + "]"
	case rv.Kind() == reflect.Map:
		m := map[string]string{}
		for _, k := range rv.MapKeys() {
			m[fmt.Sprint(k.Interface())] = fmt.Sprint(normal(rv.MapIndex(k).Interface()))
		}
		return m
	}
	return fmt.Sprint(v)
}

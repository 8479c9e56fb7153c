package pipeline

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nst-project/nst/internal/safefile"
	"github.com/nst-project/nst/internal/suggest"
)

// OtherVariables are the NST_ variables that are not config keys: nst
// reads the first three itself (the model cache, its mirror, the restart
// for huge pages), the rest are read by its scripts and tests. Any other
// NST_ variable must name a config key (NST_ and the key's path in
// capitals, dots as underscores): one that does not is a typo, and an
// error, never silently ignored.
var OtherVariables = []string{
	"NST_MODEL_DIR", "NST_MODEL_MIRROR", "NST_NO_REEXEC",
	"NST_FUZZTIME", "NST_FUZZTARGETS", "NST_SKIP_SLURM", "NST_AUDIO_EXAMPLES", "NST_TEST_REEXEC_CHILD", "NST_CMD_TEST_ACT_AS_NST",
	"NST_STUDIO_BENCH_SIZE", "NST_STUDIO_BENCH_MODEL", "NST_STUDIO_SCREENSHOTS",
}

// override is one key=value given outside the config file: by --set or by
// an NST_ variable.
type override struct {
	key, value string
	// where names the override in messages: "--set KEY" or
	// "environment NST_KEY".
	where string
	// env is the variable's name for an override from the environment.
	env string
}

// envOverrides returns the overrides the environment's NST_ variables
// give, sorted by variable. A variable that names no key, or a layer of
// a layer map (layer names are case-sensitive and hold underscores, which
// a variable's name cannot keep apart), is an error naming it.
func envOverrides() ([]override, error) {
	byName := map[string]string{} // variable -> key
	for _, k := range configKeys() {
		byName[envName(k)] = k
	}
	var out []override
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "NST_") || slices.Contains(OtherVariables, name) {
			continue
		}
		key, ok := byName[name]
		if !ok {
			return nil, unknownVariable(name, byName)
		}
		out = append(out, override{key: key, value: value, where: "environment " + name, env: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].env < out[j].env })
	return out, nil
}

// unknownVariable is the error for an NST_ variable that names no key.
func unknownVariable(name string, byName map[string]string) error {
	for _, kind := range []string{"CONTENT", "STYLE"} {
		if strings.HasPrefix(name, "NST_LAYERS_"+kind+"_") {
			lk := "layers." + strings.ToLower(kind)
			return fmt.Errorf("environment %s: a variable cannot name one layer (layer names hold underscores and capitals); set the whole map, as in %s='{relu1_1: 1}', or use --set %s.LAYER=WEIGHT", safefile.Shorten(name), envName(lk), lk)
		}
	}
	names := make([]string, 0, len(byName)+len(OtherVariables))
	for n := range byName {
		names = append(names, n)
	}
	names = append(names, OtherVariables...)
	sort.Strings(names)
	hint := ""
	if s, ok := suggest.Nearest(name, names); ok {
		hint = fmt.Sprintf(" (did you mean %s?)", s)
	}
	return fmt.Errorf("environment %s: no config key has this variable%s; unset it (configs/README.md lists the keys; a key's variable is NST_ and its path in capitals, dots as underscores)", safefile.Shorten(name), hint)
}

// envName is the variable that overrides key: NST_ and its path in
// capitals, dots as underscores.
func envName(key string) string {
	return "NST_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// configKeys lists the keys an override may name as a whole: every leaf of
// the config (lists such as style and scales included) and the layer maps.
func configKeys() []string {
	keys := []string{"layers", "layers.content", "layers.style"}
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for _, f := range keyFields(t) {
			name := f.Tag.Get("mapstructure")
			if name == "" || name == "-" {
				continue
			}
			if prefix == "" && name == "layers" {
				continue
			}
			if f.Type.Kind() == reflect.Struct {
				walk(prefix+name+".", f.Type)
				continue
			}
			keys = append(keys, prefix+name)
		}
	}
	walk("", reflect.TypeFor[Config]())
	return keys
}

// keyKind is the kind of the config field key names (reflect.Invalid for
// no field).
func keyKind(key string) reflect.Kind {
	t := reflect.TypeFor[Config]()
	for _, p := range strings.Split(key, ".") {
		if t.Kind() != reflect.Struct {
			return reflect.Invalid
		}
		var next reflect.Type
		for _, f := range keyFields(t) {
			if f.Tag.Get("mapstructure") == strings.ToLower(p) {
				next = f.Type
			}
		}
		if next == nil {
			return reflect.Invalid
		}
		t = next
	}
	return t.Kind()
}

// parseOverride parses an override's value: YAML, as in a config file,
// except that the empty value sets the empty value (model.path= is the
// built-in backbone, where YAML's null would leave the file's value) and
// that a variable's value for a text key is taken as it is (a path may
// hold ": " or start with a character YAML reserves).
func parseOverride(o override) (any, error) {
	if o.value == "" {
		return "", nil
	}
	if o.env != "" && keyKind(o.key) == reflect.String {
		return o.value, nil
	}
	var parsed any
	if err := yaml.Unmarshal([]byte(o.value), &parsed); err != nil {
		return nil, fmt.Errorf("%s: value %q is not valid YAML: %s", o.where, o.value, yamlMessage(err))
	}
	return parsed, nil
}

// emptyLayerMap refuses a layer map given empty (layers.style: {}): it
// would silently mean the default layers, which is not what an empty map
// says. where names its source.
func emptyLayerMap(doc map[string]any, where string) error {
	layers, _ := doc["layers"].(map[string]any)
	for _, kind := range []string{"content", "style"} {
		for k, v := range layers {
			if strings.ToLower(k) != kind {
				continue
			}
			if m, ok := v.(map[string]any); ok && len(m) == 0 {
				return fmt.Errorf("%slayers.%s: an empty map; give at least one layer and its weight, as in {relu1_1: 1}, or leave the key out for the default layers", where, kind)
			}
		}
	}
	return nil
}

// commandLine labels a config given by LoadConfigBytes: its --set values
// are the command line's flags (nst run --content ... --size ...).
const commandLine = "(command line)"

// attribute writes the config check's error err (problems joined by
// errors.Join, each starting with its key) as one line that names where
// each bad value came from: the config labelled label, or the override
// that set its key last ("environment NST_SIZE=0: size: 0; want ...").
// --set values are named only where withSets holds; otherwise they are
// the label's.
func attribute(label string, err error, overrides []override, withSets bool) error {
	var problems []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		problems = j.Unwrap()
	} else {
		problems = []error{err}
	}
	var fromConfig []string
	var parts []string
	for _, p := range problems {
		msg := p.Error()
		key, _, _ := strings.Cut(msg, ":")
		var src *override
		for i := range overrides {
			o := &overrides[i]
			lk := strings.ToLower(o.key)
			if (o.env != "" || withSets) && (key == lk || strings.HasPrefix(key, lk+".") || strings.HasPrefix(key, lk+"[")) {
				src = o
			}
		}
		if src == nil {
			fromConfig = append(fromConfig, msg)
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%s: %s", src.where, safefile.Shorten(src.value), msg))
	}
	if len(parts) == 0 {
		return fmt.Errorf("config %s: %w", label, err)
	}
	if len(fromConfig) > 0 {
		parts = append([]string{fmt.Sprintf("config %s: %s", label, strings.Join(fromConfig, "; "))}, parts...)
	}
	return fmt.Errorf("%s", strings.Join(parts, "; "))
}

package pipeline

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	goccy "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
	"go.yaml.in/yaml/v3"
)

// yamlSyntaxMessage describes a YAML syntax error in raw on one line, with
// the line and column of the offending token.
//
// The decoder nst reads configs with (go.yaml.in/yaml/v3, viper's) reports
// a line only, and for unclosed brackets the line where the construct
// opened rather than where it went wrong. goccy/go-yaml's parser keeps the
// position of every token, so the document is parsed a second time, on the
// error path only, to say where the problem is; its message goes with its
// position. Where it finds nothing wrong (the two parsers disagree on a few
// corner cases), decodeErr's own message stands.
func yamlSyntaxMessage(raw []byte, decodeErr error) string {
	if !utf8.Valid(raw) {
		return "not a YAML text file (it holds binary data: an image or model given as the config?)"
	}
	if len(raw) > maxPositionBytes {
		return yamlMessage(decodeErr)
	}
	if line, column, msg, ok := yamlErrorPosition(raw); ok {
		return fmt.Sprintf("line %d, column %d: %s", line, column, msg)
	}
	return yamlMessage(decodeErr)
}

// maxPositionBytes bounds the configs whose syntax errors yamlErrorPosition
// places: its parser takes time quadratic in the lines of some broken
// documents (38 s for 60,000 lines), so above 64 KiB (a fraction of a
// second) the decoder's own message, which names the line, is used.
const maxPositionBytes = 64 << 10

// yamlErrorPosition parses raw with goccy/go-yaml and returns where its
// first syntax error is. The second parser only improves a message: should
// it panic on some input, the message falls back to the decoder's rather
// than the program crashing on a user's file.
func yamlErrorPosition(raw []byte) (line, column int, msg string, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_, err := parser.ParseBytes(raw, 0)
	var syntax *goccy.SyntaxError
	if !errors.As(err, &syntax) || syntax.Token == nil || syntax.Token.Position == nil {
		return 0, 0, "", false
	}
	p := syntax.Token.Position
	return p.Line, p.Column, syntax.Message, true
}

// setDoc nests a --set value under its dotted key, as the value would sit
// in a config file, so that checkKeys can check its type as it checks the
// file's: "optimizer.iterations", 5 gives {optimizer: {iterations: 5}}.
func setDoc(key string, value any) map[string]any {
	parts := strings.Split(key, ".")
	doc := map[string]any{parts[len(parts)-1]: value}
	for i := len(parts) - 2; i >= 0; i-- {
		doc = map[string]any{parts[i]: doc}
	}
	return doc
}

// decodeMessage turns an error from decoding the merged settings into one
// line. The file's values and --set values are type-checked before, so what
// fails here comes from an NST_* variable: the message says so.
func decodeMessage(err error) string {
	var parts []string
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "decoding failed due to the following error(s)") {
			continue
		}
		parts = append(parts, line)
	}
	return strings.Join(parts, "; ") + "; check the environment (" + strings.Join(nstVariables(), ", ") + ")"
}

// nstVariables lists the set environment variables that override config
// keys (NST_ and the key's path in capitals, dots as underscores), for
// messages about values that came from the environment.
func nstVariables() []string {
	var names []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+"_", sub)
				continue
			}
			name := "NST_" + strings.ToUpper(prefix+k)
			if _, set := os.LookupEnv(name); set {
				names = append(names, name)
			}
		}
	}
	b, err := yaml.Marshal(Default())
	var m map[string]any
	if err == nil && yaml.Unmarshal(b, &m) == nil {
		walk("", m)
	}
	if len(names) == 0 {
		return []string{"NST_* variables"}
	}
	slices.Sort(names)
	return names
}

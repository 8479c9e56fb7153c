package studio

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nst-project/nst/builtinimg"
	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/pipeline"
	"github.com/nst-project/nst/zoo"
)

// roots are the folders the server may read (all) and write (runs, and
// uploads inside it), as absolute paths with every symlink resolved.
type roots struct {
	runs, uploads, examples, models string
}

// newRoots resolves the server's folders; examples and models may be "".
func newRoots(runs, examples, modelsDir string) (*roots, error) {
	var r roots
	for _, f := range []struct {
		dst  *string
		path string
		name string
	}{{&r.runs, runs, "runs"}, {&r.examples, examples, "examples"}, {&r.models, modelsDir, "models"}} {
		if f.path == "" {
			continue
		}
		p, err := realPath(f.path)
		if err != nil {
			return nil, fmt.Errorf("%s folder: %w", f.name, err)
		}
		*f.dst = p
	}
	r.uploads = filepath.Join(r.runs, UploadsDir)
	return &r, nil
}

// realPath makes p absolute and resolves its symlinks.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// within reports whether the clean absolute path p is dir or below it.
func within(p, dir string) bool {
	if dir == "" {
		return false
	}
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// readable resolves a path a config names (relative to the working folder,
// as pipeline reads it) and returns it with its symlinks resolved, when it
// lies in one of the roots; a symlink that leads out is refused like a
// path that does. The run then reads the resolved path.
func (r *roots) readable(p string) (string, error) {
	real, err := realPath(p)
	if err != nil {
		return "", errors.New("not found in the runs, uploads, examples or models folders")
	}
	for _, dir := range []string{r.runs, r.examples, r.models} {
		if within(real, dir) {
			return real, nil
		}
	}
	return "", errors.New("outside the runs, uploads, examples and models folders the studio may read")
}

// runNameRE is what a run folder's name may hold.
var runNameRE = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// runName turns the last element of a config's output.dir into the name of
// a folder directly in the runs folder; never the units folder's.
func runName(dir string) string {
	n := strings.Trim(runNameRE.ReplaceAllString(filepath.Base(dir), "-"), ".-")
	if n == "" || strings.HasPrefix(n, ".") {
		return "studio"
	}
	if len(n) > 64 {
		n = n[:64]
	}
	if strings.EqualFold(n, UnitsDir) {
		n += "-run"
	}
	return n
}

// loadConfig parses and checks a config sent by a client: pipeline's own
// checks, then the server's: every file it names must lie in the roots,
// model.path may name no zoo entry (which would download and write outside
// them), runtime.library may not be set, and output.dir is moved into the
// runs folder. All problems are reported together. A run's own
// config.yaml (forked) passes as it is.
func (r *roots) loadConfig(raw []byte) (*pipeline.Config, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err == nil {
		for k, v := range doc {
			if !strings.EqualFold(k, "runtime") {
				continue
			}
			if m, ok := v.(map[string]any); ok {
				for k2, lib := range m {
					// A run's config.yaml holds library: "" (forks send it).
					if strings.EqualFold(k2, "library") && lib != nil && lib != "" {
						return nil, errors.New("runtime.library: the studio uses its own ONNX Runtime; remove the key")
					}
				}
			}
		}
	}
	cfg, err := pipeline.LoadConfigBytes(raw, nil)
	if err != nil {
		return nil, err
	}
	var errs []error
	check := func(key string, p *string, builtin bool) {
		if *p == "" || builtin && builtinimg.Is(*p) {
			return
		}
		real, err := r.readable(*p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q %w", key, *p, err))
			return
		}
		*p = real
	}
	check("content", &cfg.Content, true)
	check("init_image", &cfg.InitImage, true)
	for i := range cfg.Style {
		check(fmt.Sprintf("style[%d].path", i), &cfg.Style[i].Path, true)
		check(fmt.Sprintf("style[%d].mask", i), &cfg.Style[i].Mask, true)
	}
	switch mp := cfg.Model.Path; {
	case strings.HasPrefix(mp, zoo.Prefix):
		errs = append(errs, fmt.Errorf("model.path: %q: zoo models are not served by the studio; fetch it with nst model fetch and put the file in the models folder", mp))
	case strings.HasPrefix(mp, models.BuiltinPrefix):
	default:
		check("model.path", &cfg.Model.Path, false)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cfg.Runtime.Library = ""
	cfg.Output.Dir = filepath.Join(r.runs, runName(cfg.Output.Dir))
	return cfg, nil
}

// openIn opens name (slash-separated, relative) inside dir through an
// os.Root, which refuses ".." and symlinks that leave dir.
func openIn(dir, name string) (*os.File, error) {
	if dir == "" {
		return nil, os.ErrNotExist
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.Open(filepath.FromSlash(name))
}

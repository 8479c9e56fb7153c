// Package zoo names pretrained backbones that nst downloads on first use, as
// torchvision and Keras do: model.path "zoo:vgg19" resolves to a verified
// file in a cache folder, fetched from the ONNX model zoo when it is not
// there yet.
//
// A Registry lists the entries (Default holds vgg19 and vgg16); a Fetcher
// finds an entry's file in the cache or downloads it with resumption,
// checksum verification, an atomic rename into place and a lock file that
// lets two processes fetch the same entry at once.
package zoo

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nst-project/nst/internal/suggest"
	"github.com/nst-project/nst/models"
)

// Prefix starts a model.path that names a registry entry: "zoo:vgg19".
const Prefix = "zoo:"

// Entry describes one downloadable backbone.
type Entry struct {
	// Name is what follows Prefix in model.path and what `nst model
	// fetch` takes: "vgg19".
	Name string
	// Arch is the architecture (models' naming: vgg19, vgg16); it is also
	// the name of the built-in random-weight backbone offered when the
	// file cannot be downloaded (builtin:ARCH).
	Arch string
	// File is the file name in the cache folder, and what NST_MODEL_MIRROR
	// appends to its base URL. A base name: no folder.
	File string
	// URLs are tried in order: the primary first, then the fallbacks.
	URLs []string
	// Size is the file's length in bytes.
	Size int64
	// SHA256 is the file's SHA-256, 64 lowercase hex digits.
	SHA256 string
	// Preprocess is what the file's input expects (mean, std, scale and
	// channel order), the default for model.preprocess when model.path
	// names this entry.
	Preprocess models.Preprocess
}

// validate checks that e can be fetched and cached: every field set and
// well-formed, so that a mistake in a registry is reported rather than
// turned into a download to a strange path.
func (e Entry) validate() error {
	if e.Name == "" || strings.ContainsAny(e.Name, "/\\: ") {
		return fmt.Errorf("zoo entry %q: name must be non-empty, without slashes, colons or spaces", e.Name)
	}
	if e.Arch == "" {
		return fmt.Errorf("zoo entry %s: no arch", e.Name)
	}
	if e.File == "" || e.File != filepath.Base(e.File) || strings.ContainsAny(e.File, "/\\") || e.File == "." || e.File == ".." {
		return fmt.Errorf("zoo entry %s: file %q must be a plain file name", e.Name, e.File)
	}
	if e.Size <= 0 {
		return fmt.Errorf("zoo entry %s: size %d: want a positive byte count", e.Name, e.Size)
	}
	if b, err := hex.DecodeString(e.SHA256); err != nil || len(b) != 32 || e.SHA256 != strings.ToLower(e.SHA256) {
		return fmt.Errorf("zoo entry %s: sha256 %q: want 64 lowercase hex digits", e.Name, e.SHA256)
	}
	for _, u := range e.URLs {
		if err := checkHTTPURL(u); err != nil {
			return fmt.Errorf("zoo entry %s: %w", e.Name, err)
		}
	}
	return nil
}

// checkHTTPURL accepts absolute http and https URLs: the only schemes the
// fetcher speaks.
func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q: want an absolute http or https URL", raw)
	}
	return nil
}

// Registry is a list of entries, looked up by name. It is a plain value:
// Default returns the built-in one, and a test builds its own with entries
// that point at a local server.
type Registry []Entry

// zooBase is where the ONNX model zoo serves its files; it moved them under
// validated/ in 2024, so the old path is the fallback.
const zooBase = "https://github.com/onnx/models/raw/main/"

var zooPaths = []string{"validated/vision/classification/vgg/model/", "vision/classification/vgg/model/"}

// zooURLs lists file's URLs in the model zoo, primary first.
func zooURLs(file string) []string {
	urls := make([]string, len(zooPaths))
	for i, p := range zooPaths {
		urls[i] = zooBase + p + file
	}
	return urls
}

// Default returns the built-in registry: the ONNX model zoo's VGG19 and
// VGG16 (MXNet exports, ImageNet-normalised RGB input). Sizes and sums are
// those of the zoo's ONNX_HUB_MANIFEST.json.
// Each call returns a fresh copy, so a caller cannot change another's.
func Default() Registry {
	return Registry{
		{
			Name: "vgg19", Arch: "vgg19", File: "vgg19-7.onnx", URLs: zooURLs("vgg19-7.onnx"),
			Size: 574677321, SHA256: "692f9f927f1df1b89033787a77a73eac59fd9b3344f9ecdf0b13221e41c2046f",
			Preprocess: models.ImageNetPreprocess,
		},
		{
			Name: "vgg16", Arch: "vgg16", File: "vgg16-7.onnx", URLs: zooURLs("vgg16-7.onnx"),
			Size: 553437328, SHA256: "f20805a3ecccaa88647bbab4ad011ff2412a9838485ea844de0fcbce349820b9",
			Preprocess: models.ImageNetPreprocess,
		},
	}
}

// ErrUnknown is wrapped by Lookup's error for a name the registry lacks.
var ErrUnknown = errors.New("no such model in the zoo")

// Lookup returns the entry called name ("vgg19"; a leading Prefix is
// allowed). It fails for an unknown name, suggesting the nearest known
// one, and for a malformed entry.
func (r Registry) Lookup(name string) (Entry, error) {
	name = strings.TrimPrefix(name, Prefix)
	i := slices.IndexFunc(r, func(e Entry) bool { return e.Name == name })
	if i < 0 {
		names := r.Names()
		known := "the registry is empty"
		if len(names) > 0 {
			known = "known: " + strings.Join(names, ", ")
		}
		return Entry{}, fmt.Errorf("%s%s: %w%s; %s", Prefix, name, ErrUnknown, suggest.Hint(name, names), known)
	}
	e := r[i]
	if err := e.validate(); err != nil {
		return Entry{}, err
	}
	e.URLs = slices.Clone(e.URLs)
	return e, nil
}

// Names returns the entries' names, sorted.
func (r Registry) Names() []string {
	names := make([]string, len(r))
	for i, e := range r {
		names[i] = e.Name
	}
	slices.Sort(names)
	return names
}

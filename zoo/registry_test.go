package zoo

import (
	"errors"
	"strings"
	"testing"

	"github.com/nst-project/nst/models"
)

func TestDefaultRegistry(t *testing.T) {
	tests := []struct {
		name, arch, file, sha string
		size                  int64
	}{
		{"vgg19", "vgg19", "vgg19-7.onnx", "692f9f927f1df1b89033787a77a73eac59fd9b3344f9ecdf0b13221e41c2046f", 574677321},
		{"vgg16", "vgg16", "vgg16-7.onnx", "f20805a3ecccaa88647bbab4ad011ff2412a9838485ea844de0fcbce349820b9", 553437328},
	}
	r := Default()
	if got, want := strings.Join(r.Names(), ","), "vgg16,vgg19"; got != want {
		t.Errorf("Names() = %s, want %s", got, want)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := r.Lookup(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if e.Arch != tt.arch || e.File != tt.file || e.SHA256 != tt.sha || e.Size != tt.size {
				t.Errorf("entry %+v, want arch %s file %s sha %s size %d", e, tt.arch, tt.file, tt.sha, tt.size)
			}
			wantURLs := []string{
				"https://github.com/onnx/models/raw/main/validated/vision/classification/vgg/model/" + tt.file,
				"https://github.com/onnx/models/raw/main/vision/classification/vgg/model/" + tt.file,
			}
			if strings.Join(e.URLs, " ") != strings.Join(wantURLs, " ") {
				t.Errorf("URLs %q, want %q", e.URLs, wantURLs)
			}
			if e.Preprocess != models.ImageNetPreprocess {
				t.Errorf("preprocess %+v, want ImageNet's %+v", e.Preprocess, models.ImageNetPreprocess)
			}
			// The prefixed form names the same entry.
			if p, err := r.Lookup(Prefix + tt.name); err != nil || p.File != tt.file {
				t.Errorf("Lookup(%q) = %+v, %v", Prefix+tt.name, p, err)
			}
		})
	}
}

func TestDefaultIsACopy(t *testing.T) {
	r := Default()
	r[0].URLs[0] = "http://example.invalid/x"
	r[0].SHA256 = "changed"
	if d := Default(); d[0].URLs[0] == "http://example.invalid/x" || d[0].SHA256 == "changed" {
		t.Errorf("changing one Default() changed the next: %+v", d[0])
	}
}

func TestLookupErrors(t *testing.T) {
	good := Entry{Name: "tiny", Arch: "vgg19", File: "tiny.onnx", URLs: []string{"http://127.0.0.1/tiny.onnx"}, Size: 4, SHA256: strings.Repeat("ab", 32)}
	with := func(change func(*Entry)) Registry {
		e := good
		change(&e)
		return Registry{e}
	}
	tests := []struct {
		name    string
		r       Registry
		lookup  string
		wantErr string
		unknown bool
	}{
		{"unknown with hint", Default(), "vgg-19", "zoo:vgg-19: no such model in the zoo (did you mean vgg19?); known: vgg16, vgg19", true},
		{"unknown far off", Default(), "resnet50", "zoo:resnet50: no such model in the zoo; known: vgg16, vgg19", true},
		{"empty registry", Registry{}, "vgg19", "zoo:vgg19: no such model in the zoo; the registry is empty", true},
		{"file with folder", with(func(e *Entry) { e.File = "../tiny.onnx" }), "tiny", `zoo entry tiny: file "../tiny.onnx" must be a plain file name`, false},
		{"no size", with(func(e *Entry) { e.Size = 0 }), "tiny", "zoo entry tiny: size 0: want a positive byte count", false},
		{"short sha", with(func(e *Entry) { e.SHA256 = "abcd" }), "tiny", `zoo entry tiny: sha256 "abcd": want 64 lowercase hex digits`, false},
		{"upper-case sha", with(func(e *Entry) { e.SHA256 = strings.Repeat("AB", 32) }), "tiny", "want 64 lowercase hex digits", false},
		{"ftp url", with(func(e *Entry) { e.URLs = []string{"ftp://host/tiny.onnx"} }), "tiny", `zoo entry tiny: url "ftp://host/tiny.onnx": want an absolute http or https URL`, false},
		{"relative url", with(func(e *Entry) { e.URLs = []string{"/tiny.onnx"} }), "tiny", "want an absolute http or https URL", false},
		{"no arch", with(func(e *Entry) { e.Arch = "" }), "tiny", "zoo entry tiny: no arch", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.r.Lookup(tt.lookup)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Lookup(%q) error %v, want one containing %q", tt.lookup, err, tt.wantErr)
			}
			if errors.Is(err, ErrUnknown) != tt.unknown {
				t.Errorf("errors.Is(err, ErrUnknown) = %v, want %v", !tt.unknown, tt.unknown)
			}
		})
	}
	if _, err := (Registry{good}).Lookup("tiny"); err != nil {
		t.Errorf("a well-formed entry: %v", err)
	}
}

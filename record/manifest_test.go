package record

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestManifestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	content := filepath.Join(dir, "cat.jpg")
	if err := os.WriteFile(content, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m := NewManifest(start)
	m.ONNXRuntime = "1.24.3"
	m.Threads = 2
	m.Seed = 42
	m.Model = Model{Description: "VGG19 (torchvision), cut after relu5_1", Path: "vgg19.onnx", SHA256: SHA256Hex([]byte("model"))}
	sum, err := FileSHA256(content)
	if err != nil {
		t.Fatal(err)
	}
	m.Inputs = append(m.Inputs, Input{Role: "content", Path: content, SHA256: sum})
	m.Settings = map[string]any{"size": 512.0, "style_weight": 1e6}
	m.AddPhase("load", 1500*time.Millisecond)
	m.AddPhase("optimise", 90*time.Second)
	m.AddPhase("load", 500*time.Millisecond)
	m.Finish(start.Add(95*time.Second), 300, []Cost{{"content", 12.5}, {"style", math.NaN()}, {"tv", math.Inf(1)}, {"total", math.Inf(-1)}}, nil)

	path := filepath.Join(dir, ManifestName)
	if err := m.Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	// NaN never equals itself; compare the costs' text instead.
	if fmt.Sprint(got.FinalCosts) != fmt.Sprint(m.FinalCosts) {
		t.Errorf("final costs = %v, want %v", got.FinalCosts, m.FinalCosts)
	}
	got.FinalCosts, m.FinalCosts = nil, nil
	if !reflect.DeepEqual(got, m) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, m)
	}
	if want := []Phase{{"load", 2}, {"optimise", 90}}; !reflect.DeepEqual(got.Phases, want) {
		t.Errorf("phases = %v, want %v", got.Phases, want)
	}
	if got.Inputs[0].SHA256 != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("content SHA-256 = %s", got.Inputs[0].SHA256)
	}
}

func TestManifestJSONLayout(t *testing.T) {
	m := NewManifest(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	m.Finish(time.Date(2026, 3, 1, 12, 1, 0, 0, time.UTC), 7, []Cost{{"total", math.NaN()}, {"style", 2.5}}, nil)
	path := filepath.Join(t.TempDir(), ManifestName)
	if err := m.Write(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	order := []string{`"program"`, `"host"`, `"onnxruntime_version"`, `"threads"`, `"seed"`, `"model"`, `"inputs"`,
		`"start"`, `"end"`, `"phases"`, `"iterations"`, `"final_costs"`, `"status"`}
	last := -1
	for _, key := range order {
		i := strings.Index(text, key)
		if i <= last {
			t.Fatalf("key %s at %d, want after %d (declared order):\n%s", key, i, last, text)
		}
		last = i
	}
	for _, want := range []string{`"value": "NaN"`, `"value": 2.5`, `"start": "2026-03-01T12:00:00Z"`, `"status": "completed"`} {
		if !strings.Contains(text, want) {
			t.Errorf("manifest lacks %s:\n%s", want, text)
		}
	}
}

func TestNewManifestHost(t *testing.T) {
	m := NewManifest(time.Now())
	want := Host{GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU()}
	if m.Host != want {
		t.Errorf("host = %+v, want %+v", m.Host, want)
	}
	if m.Status != StatusRunning {
		t.Errorf("status = %q, want %q", m.Status, StatusRunning)
	}
	// A test binary has build information; its main module version is
	// "(devel)" or empty, which ProgramInfo reports as "(devel)".
	if m.Program.Version == "" {
		t.Error("program version is empty")
	}
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, "completed"},
		{context.Canceled, "interrupted"},
		{fmt.Errorf("optimise: %w", context.Canceled), "interrupted"},
		{context.DeadlineExceeded, "interrupted"},
		{errors.New("cost is NaN at iteration 12"), "failed: cost is NaN at iteration 12"},
	}
	for _, tc := range tests {
		if got := exitStatus(tc.err); got != tc.want {
			t.Errorf("exitStatus(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestCostJSON(t *testing.T) {
	tests := []struct {
		cost Cost
		json string
	}{
		{Cost{"total", 1.5e6}, `{"name":"total","value":1500000}`},
		{Cost{"tv", 1e-300}, `{"name":"tv","value":1e-300}`},
		{Cost{"style", math.NaN()}, `{"name":"style","value":"NaN"}`},
		{Cost{"a", math.Inf(1)}, `{"name":"a","value":"+Inf"}`},
		{Cost{"b", math.Inf(-1)}, `{"name":"b","value":"-Inf"}`},
	}
	for _, tc := range tests {
		data, err := tc.cost.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != tc.json {
			t.Errorf("%v encodes as %s, want %s", tc.cost, data, tc.json)
		}
		var back Cost
		if err := back.UnmarshalJSON(data); err != nil {
			t.Fatal(err)
		}
		if back.Name != tc.cost.Name || fmt.Sprint(back.Value) != fmt.Sprint(tc.cost.Value) {
			t.Errorf("%s decodes as %v, want %v", data, back, tc.cost)
		}
	}
	var c Cost
	if err := c.UnmarshalJSON([]byte(`{"name":"x","value":"many"}`)); err == nil {
		t.Error("decoded a value that is not a number")
	}
}

func TestFileSHA256(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		data    []byte
		want    string
		missing bool
	}{
		{name: "empty", data: []byte{}, want: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{name: "abc", data: []byte("abc"), want: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{name: "missing", missing: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if !tc.missing {
				if err := os.WriteFile(path, tc.data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := FileSHA256(path)
			if tc.missing {
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("error = %v, want not-exist", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || SHA256Hex(tc.data) != tc.want {
				t.Errorf("FileSHA256 = %s, SHA256Hex = %s, want %s", got, SHA256Hex(tc.data), tc.want)
			}
		})
	}
}

func TestProgramString(t *testing.T) {
	tests := []struct {
		p    Program
		want string
	}{
		{Program{Version: "(devel)"}, "(devel)"},
		{Program{Version: "v1.2.0", Revision: "0561453a9c1e77aa0b6e0f0b8d1c2e3f4a5b6c7d"}, "v1.2.0 rev 0561453a9c1e"},
		{Program{Version: "(devel)", Revision: "abc", Modified: true}, "(devel) rev abc, modified"},
	}
	for _, tc := range tests {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.p, got, tc.want)
		}
	}
}

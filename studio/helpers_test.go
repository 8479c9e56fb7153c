package studio

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nst-project/nst/internal/ortrt"
	"github.com/nst-project/nst/models"
)

// TestMain loads ONNX Runtime once, from the source tree.
func TestMain(m *testing.M) {
	if err := ortrt.Init(""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// testEnv is a studio on a test server with its folders.
type testEnv struct {
	srv                    *Server
	ts                     *httptest.Server
	runs, examples, models string
	// outside is a folder beside the roots, holding secret.png.
	outside string
	model   string
}

// newEnv starts a studio whose models folder holds the tiny backbone
// (three blocks, 4/8/8 channels) and whose examples folder holds one
// image; o's fields, where set, override the defaults.
func newEnv(t testing.TB, o Options) *testEnv {
	t.Helper()
	base := t.TempDir()
	e := &testEnv{runs: filepath.Join(base, "runs"), examples: filepath.Join(base, "examples"),
		models: filepath.Join(base, "models"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{e.examples, e.models, e.outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := models.WriteSynthFrom(&buf, models.SynthSpec{Blocks: [][]int{{4}, {8}, {8}}}, 7); err != nil {
		t.Fatalf("tiny backbone: %v", err)
	}
	e.model = filepath.Join(e.models, "tiny.onnx")
	writeFile(t, e.model, buf.Bytes())
	writeFile(t, filepath.Join(e.examples, "grad.png"), pngBytes(t, 40, 30))
	writeFile(t, filepath.Join(e.outside, "secret.png"), pngBytes(t, 40, 30))

	ctx, cancel := context.WithCancel(context.Background())
	o.RunsDir, o.ExamplesDir, o.ModelsDir = e.runs, e.examples, e.models
	if o.Token == "" {
		o.Token = "test-token"
	}
	if o.Base == "" {
		o.Base = e.base()
	}
	srv, err := New(ctx, o)
	if err != nil {
		t.Fatalf("studio.New: %v", err)
	}
	e.srv = srv
	e.ts = httptest.NewUnstartedServer(srv.Handler())
	e.ts.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	e.ts.Start()
	t.Cleanup(func() {
		cancel()
		e.ts.Close()
		srv.Wait()
	})
	return e
}

// base is the YAML the composer adds: the tiny backbone, one thread, no
// graph cache (which would write outside the test's folders).
func (e *testEnv) base() string {
	return fmt.Sprintf("model: {path: %q, arch: auto, pooling: avg}\nruntime: {threads: 1, graph_cache: false}\n", e.model)
}

// config is a tiny experiment: 32 pixels, relu1_1/relu2_1, n iterations
// of the named optimiser, into the run folder name.
func (e *testEnv) config(name string, n int, optimizer string) string {
	return fmt.Sprintf(`content: builtin:village
style:
  - {path: builtin:swirls, weight: 1}
size: 32
layers:
  content: {relu2_1: 1}
  style: {relu1_1: 0.5, relu2_1: 0.5}
weights: {content: 10, style: 40, tv: 0.5}
optimizer: {name: %s, iterations: %d}
output: {dir: %q, save_every: 0}
%s`, optimizer, n, name, e.base())
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// pngBytes encodes a w×h gradient.
func pngBytes(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(i), uint8(i/7), 90, 255
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// do sends a request with the token (as a Bearer header) unless token is
// "", and returns the status and body.
func (e *testEnv) do(t testing.TB, method, path, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// api sends an authorised request, wants status want and decodes the JSON
// answer into out (when not nil).
func (e *testEnv) api(t testing.TB, method, path string, body []byte, want int, out any) {
	t.Helper()
	code, data := e.do(t, method, path, e.srv.Token(), body)
	if code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
}

// start posts cfg and returns the run's id.
func (e *testEnv) start(t testing.TB, cfg string) string {
	t.Helper()
	var r struct{ ID string }
	e.api(t, "POST", "/api/runs", []byte(cfg), http.StatusCreated, &r)
	return r.ID
}

// status fetches a run's status.
func (e *testEnv) status(t testing.TB, id string) Status {
	t.Helper()
	var st Status
	e.api(t, "GET", "/api/runs/"+id, nil, http.StatusOK, &st)
	return st
}

// waitState polls until run id is in one of the states, or fails after a
// minute.
func (e *testEnv) waitState(t testing.TB, id string, states ...string) Status {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st := e.status(t, id)
		for _, s := range states {
			if st.State == s {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s: state %s after a minute, want %v (error %q)", id, st.State, states, st.Error)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	name string
	data []byte
}

// events opens run id's event stream and delivers its events on the
// returned channel until ctx is done.
func (e *testEnv) events(t testing.TB, ctx context.Context, id string) <-chan sseEvent {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/api/runs/"+id+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.srv.Token())
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan sseEvent, 1024)
	go func() {
		defer resp.Body.Close()
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = []byte(strings.TrimPrefix(line, "data: "))
			case line == "" && ev.name != "":
				select {
				case ch <- ev:
				case <-ctx.Done():
					return
				}
				ev = sseEvent{}
			}
		}
	}()
	return ch
}

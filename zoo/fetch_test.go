package zoo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testContent is the file the test server serves: larger than the copy
// buffer, so a download takes several reads.
var testContent = func() []byte {
	b := make([]byte, 300<<10)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// testEntry is a registry entry for testContent at urls.
func testEntry(urls ...string) Entry {
	return Entry{Name: "tiny", Arch: "vgg19", File: "tiny.onnx", URLs: urls, Size: int64(len(testContent)), SHA256: sumOf(testContent)}
}

// request is what the test server saw of one request.
type request struct{ path, rng string }

func (r request) String() string { return r.path + " [" + r.rng + "]" }

// step is how the test server answers one request for a path.
type step func(s *fakeServer, w http.ResponseWriter, r *http.Request)

// fakeServer serves testContent with scripted misbehaviour: each path has a
// list of steps answering its requests in turn, the last one repeating.
type fakeServer struct {
	*httptest.Server
	done chan struct{} // closed at cleanup: releases stalled handlers

	mu       sync.Mutex
	steps    map[string][]step
	requests []request
}

func newFakeServer(t *testing.T, steps map[string][]step) *fakeServer {
	t.Helper()
	s := &fakeServer{done: make(chan struct{}), steps: steps}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(s.done) }) // runs before Close
	return s
}

func (s *fakeServer) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, request{r.URL.Path, r.Header.Get("Range")})
	list := s.steps[r.URL.Path]
	var st step
	switch len(list) {
	case 0:
	case 1:
		st = list[0]
	default:
		st, s.steps[r.URL.Path] = list[0], list[1:]
	}
	s.mu.Unlock()
	if st == nil {
		http.NotFound(w, r)
		return
	}
	st(s, w, r)
}

func (s *fakeServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.requests))
	for i, r := range s.requests {
		out[i] = r.String()
	}
	return out
}

// rangeStart is where the request's "bytes=N-" range starts; 0 without one.
func rangeStart(r *http.Request) int {
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(r.Header.Get("Range"), "bytes="), "-"))
	if err != nil {
		return 0
	}
	return n
}

// head writes the headers for body[start:], honouring a range request, and
// returns the start.
func head(w http.ResponseWriter, r *http.Request, body []byte, honourRange bool) int {
	start := 0
	if honourRange {
		start = rangeStart(r)
	}
	if start > len(body) {
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return -1
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)-start))
	if start > 0 {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(body)-1, len(body)))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.WriteHeader(http.StatusOK)
	}
	return start
}

// serve answers normally, with 206 for a range.
func serve() step { return serveBody(testContent, true) }

// ignoreRange always answers 200 with the whole file.
func ignoreRange() step { return serveBody(testContent, false) }

// serveBody serves body.
func serveBody(body []byte, honourRange bool) step {
	return func(_ *fakeServer, w http.ResponseWriter, r *http.Request) {
		if start := head(w, r, body, honourRange); start >= 0 {
			w.Write(body[start:])
		}
	}
}

// corrupt serves the file with one byte changed.
func corrupt() step {
	bad := bytes.Clone(testContent)
	bad[len(bad)/2] ^= 0xff
	return serveBody(bad, true)
}

// cutAfter sends n bytes of what was asked for, then drops the connection.
func cutAfter(n int) step {
	return func(_ *fakeServer, w http.ResponseWriter, r *http.Request) {
		start := head(w, r, testContent, true)
		w.Write(testContent[start : start+n])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the server closes the connection
	}
}

// stallAfter sends n bytes of what was asked for, then nothing until the
// client gives up.
func stallAfter(n int) step {
	return func(s *fakeServer, w http.ResponseWriter, r *http.Request) {
		start := head(w, r, testContent, true)
		w.Write(testContent[start : start+n])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
	}
}

// tooLong streams the file and more after it, without a length.
func tooLong() step {
	return func(_ *fakeServer, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush() // no Content-Length: chunked
		w.Write(testContent)
		w.Write([]byte("and then some"))
	}
}

// status answers with an HTTP error.
func status(code int) step {
	return func(_ *fakeServer, w http.ResponseWriter, r *http.Request) {
		http.Error(w, http.StatusText(code), code)
	}
}

// redirect sends the client to path.
func redirect(path string) step {
	return func(_ *fakeServer, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, path, http.StatusFound)
	}
}

// syncBuffer is a bytes.Buffer that a fetch can write while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testFetcher fetches e into a fresh folder, with quick retries.
func testFetcher(t *testing.T, e Entry, progress *syncBuffer) *Fetcher {
	return &Fetcher{Registry: Registry{e}, Dir: t.TempDir(), IdleTimeout: 5 * time.Second, Progress: progress, retryDelay: time.Millisecond}
}

// checkInstalled checks that path holds testContent with a current stamp
// and no partial file beside it.
func checkInstalled(t *testing.T, path string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, testContent) {
		t.Errorf("%s: %d bytes, not the served file", path, len(got))
	}
	if _, err := os.Stat(path + partSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial file left behind: %v", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := readStamp(path + verifiedSuffix); !ok || s != stampOf(info, sumOf(testContent)) {
		t.Errorf("stamp %+v (ok %v), want one for the installed file", s, ok)
	}
}

func TestFetch(t *testing.T) {
	const file = "/tiny.onnx"
	size := len(testContent)
	tests := []struct {
		name  string
		steps map[string][]step
		urls  []string // paths on the server; default file
		part  []byte   // a partial download left by an earlier run
		idle  time.Duration
		// want is what the server saw: path [Range], in order.
		want    []string
		wantErr string // "" for success
		// wantPart is the length of the partial file left after a failure;
		// 0: none.
		wantPart int
		wantLog  string // a message the progress shows
	}{
		{
			name:  "full download",
			steps: map[string][]step{file: {serve()}},
			want:  []string{"/tiny.onnx []"},
		},
		{
			name:    "resumed after a cut",
			steps:   map[string][]step{file: {cutAfter(100 << 10), serve()}},
			want:    []string{"/tiny.onnx []", "/tiny.onnx [bytes=102400-]"},
			wantLog: "the connection closed before the end of the file; resuming (1 of 5)",
		},
		{
			name:    "resumed from an earlier run's partial file",
			steps:   map[string][]step{file: {serve()}},
			part:    testContent[:1000],
			want:    []string{"/tiny.onnx [bytes=1000-]"},
			wantLog: "resuming tiny.onnx at 1000 B of 300.0 KiB",
		},
		{
			name:    "server ignoring Range: started over",
			steps:   map[string][]step{file: {ignoreRange()}},
			part:    []byte("not even the right prefix"),
			want:    []string{"/tiny.onnx [bytes=25-]"},
			wantLog: "ignored the request to resume at 25 B; downloading from the start",
		},
		{
			name:  "cut, then Range ignored",
			steps: map[string][]step{file: {cutAfter(5000), ignoreRange()}},
			want:  []string{"/tiny.onnx []", "/tiny.onnx [bytes=5000-]"},
		},
		{
			name:    "range refused (416): started over once",
			steps:   map[string][]step{file: {status(http.StatusRequestedRangeNotSatisfiable), serve()}},
			part:    testContent[:1000],
			want:    []string{"/tiny.onnx [bytes=1000-]", "/tiny.onnx []"},
			wantLog: "the server cannot resume the partial download; starting over",
		},
		{
			name:  "complete partial file: verified without a request",
			steps: map[string][]step{file: {status(http.StatusInternalServerError)}},
			part:  testContent,
			want:  []string{},
		},
		{
			name:  "partial file longer than the file: started over",
			steps: map[string][]step{file: {serve()}},
			part:  append(bytes.Clone(testContent), 1, 2, 3),
			want:  []string{"/tiny.onnx []"},
		},
		{
			name:    "wrong checksum: removed, clear error",
			steps:   map[string][]step{file: {corrupt()}},
			want:    []string{"/tiny.onnx []"},
			wantErr: "/tiny.onnx: downloaded file has SHA-256 ",
		},
		{
			name:    "resumed into a wrong checksum: removed",
			steps:   map[string][]step{file: {corrupt()}},
			part:    testContent[:1000],
			want:    []string{"/tiny.onnx [bytes=1000-]"},
			wantErr: ", want " + sumOf(testContent) + " (removed it))",
		},
		{
			name:    "404",
			steps:   map[string][]step{},
			want:    []string{"/tiny.onnx []"},
			wantErr: "/tiny.onnx: HTTP 404 Not Found)",
		},
		{
			name:    "other status",
			steps:   map[string][]step{file: {status(http.StatusServiceUnavailable)}},
			want:    []string{"/tiny.onnx []"},
			wantErr: "/tiny.onnx: HTTP 503 Service Unavailable)",
		},
		{
			name:    "a file of another size",
			steps:   map[string][]step{file: {serveBody(testContent[:size-1], true)}},
			want:    []string{"/tiny.onnx []"},
			wantErr: fmt.Sprintf("the server sends %d bytes, want %d (another file?)", size-1, size),
		},
		{
			name:    "a body longer than the file: stopped, removed",
			steps:   map[string][]step{file: {tooLong()}},
			want:    []string{"/tiny.onnx []"},
			wantErr: "/tiny.onnx: the server sent more bytes than the file has)",
		},
		{
			name:    "fallbacks tried in order",
			steps:   map[string][]step{"/b": {status(http.StatusForbidden)}, file: {serve()}},
			urls:    []string{"/a", "/b", file},
			want:    []string{"/a []", "/b []", "/tiny.onnx []"},
			wantLog: "/a: HTTP 404 Not Found; trying the next URL",
		},
		{
			name:  "a fallback resumes what the first URL left",
			steps: map[string][]step{"/a": {cutAfter(1000), status(http.StatusBadGateway)}, file: {serve()}},
			urls:  []string{"/a", file},
			want:  []string{"/a []", "/a [bytes=1000-]", "/tiny.onnx [bytes=1000-]"},
		},
		{
			name:    "server that stalls before sending anything",
			steps:   map[string][]step{file: {stallAfter(0)}},
			idle:    100 * time.Millisecond,
			want:    []string{"/tiny.onnx []"},
			wantErr: "/tiny.onnx: no data for 100ms: the server stalled)",
		},
		{
			name:    "server that stalls mid-file: resumed",
			steps:   map[string][]step{file: {stallAfter(3000), serve()}},
			idle:    100 * time.Millisecond,
			want:    []string{"/tiny.onnx []", "/tiny.onnx [bytes=3000-]"},
			wantLog: "no data for 100ms: the server stalled; resuming (1 of 5)",
		},
		{
			name:     "cut every time: gives up after 5 resumes, keeps the part",
			steps:    map[string][]step{file: {cutAfter(10)}},
			want:     []string{"/tiny.onnx []", "/tiny.onnx [bytes=10-]", "/tiny.onnx [bytes=20-]", "/tiny.onnx [bytes=30-]", "/tiny.onnx [bytes=40-]", "/tiny.onnx [bytes=50-]"},
			wantErr:  "/tiny.onnx: the connection closed before the end of the file)",
			wantPart: 60,
		},
		{
			name:  "redirects followed",
			steps: map[string][]step{"/old": {redirect("/older")}, "/older": {redirect(file)}, file: {serve()}},
			urls:  []string{"/old"},
			want:  []string{"/old []", "/older []", "/tiny.onnx []"},
		},
		{
			name:  "redirect keeps the range",
			steps: map[string][]step{"/old": {redirect(file)}, file: {serve()}},
			urls:  []string{"/old"},
			part:  testContent[:1000],
			want:  []string{"/old [bytes=1000-]", "/tiny.onnx [bytes=1000-]"},
		},
		{
			name:    "redirect to a 404 names where it led",
			steps:   map[string][]step{"/old": {redirect("/gone")}},
			urls:    []string{"/old"},
			want:    []string{"/old []", "/gone []"},
			wantErr: "/old: HTTP 404 Not Found at http://",
		},
		{
			name:    "redirect loop: bounded",
			steps:   map[string][]step{"/loop": {redirect("/loop")}},
			urls:    []string{"/loop"},
			want:    strings.Split(strings.Repeat("/loop [],", 11), ",")[:11],
			wantErr: "/loop: more than 10 redirects)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t, tt.steps)
			urls := tt.urls
			if urls == nil {
				urls = []string{file}
			}
			for i, u := range urls {
				urls[i] = srv.URL + u
			}
			var progress syncBuffer
			f := testFetcher(t, testEntry(urls...), &progress)
			if tt.idle > 0 {
				f.IdleTimeout = tt.idle
			}
			target := filepath.Join(f.Dir, "tiny.onnx")
			if tt.part != nil {
				write(t, target+partSuffix, tt.part)
			}

			start := time.Now()
			path, err := f.Fetch(context.Background(), "zoo:tiny")
			if elapsed := time.Since(start); elapsed > 20*time.Second {
				t.Errorf("Fetch took %s", elapsed)
			}

			if got := srv.seen(); strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
				t.Errorf("requests\n  %s\nwant\n  %s", strings.Join(got, ", "), strings.Join(tt.want, ", "))
			}
			if tt.wantLog != "" && !strings.Contains(progress.String(), tt.wantLog) {
				t.Errorf("progress lacks %q:\n%s", tt.wantLog, progress.String())
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Fetch: %v\nprogress:\n%s", err, progress.String())
				}
				if path != target {
					t.Errorf("path %s, want %s", path, target)
				}
				checkInstalled(t, path)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			wantHint := `; run "nst model fetch tiny" where there is a network (it saves the file in ` + f.Dir + `), or use --set model.path=builtin:vgg19 to run offline with random weights`
			if !strings.HasPrefix(err.Error(), "zoo:tiny: cannot download tiny.onnx (") || !strings.HasSuffix(err.Error(), wantHint) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line, what failed and then %q", err, wantHint)
			}
			if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("after a failure the file is there: %v", err)
			}
			info, statErr := os.Stat(target + partSuffix)
			switch {
			case tt.wantPart == 0 && !errors.Is(statErr, os.ErrNotExist):
				t.Errorf("partial file kept (%v), want none", statErr)
			case tt.wantPart > 0 && statErr != nil:
				t.Errorf("partial file: %v, want %d bytes", statErr, tt.wantPart)
			case tt.wantPart > 0 && info.Size() != int64(tt.wantPart):
				t.Errorf("partial file of %d bytes, want %d", info.Size(), tt.wantPart)
			}
		})
	}
}

func TestFetchUsesCache(t *testing.T) {
	srv := newFakeServer(t, map[string][]step{"/tiny.onnx": {serve()}})
	var progress syncBuffer
	f := testFetcher(t, testEntry(srv.URL+"/tiny.onnx"), &progress)
	tests := []struct {
		name string
		// before changes the cache before the fetch.
		before func(t *testing.T, path string)
		want   int // requests so far
	}{
		{"first fetch downloads", func(*testing.T, string) {}, 1},
		{"second fetch uses the stamped file", func(*testing.T, string) {}, 1},
		{"unstamped but right: hashed, not downloaded", func(t *testing.T, p string) {
			if err := os.Remove(p + verifiedSuffix); err != nil {
				t.Fatal(err)
			}
		}, 1},
		{"changed file: downloaded again", func(t *testing.T, p string) {
			bad := bytes.Clone(testContent)
			bad[0] ^= 1
			write(t, p, bad) // a new mtime
			touch(t, p, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
		}, 2},
		{"truncated file: downloaded again", func(t *testing.T, p string) { write(t, p, testContent[:10]) }, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.before(t, filepath.Join(f.Dir, "tiny.onnx"))
			path, err := f.Fetch(context.Background(), "tiny")
			if err != nil {
				t.Fatal(err)
			}
			checkInstalled(t, path)
			if n := len(srv.seen()); n != tt.want {
				t.Errorf("%d requests so far, want %d", n, tt.want)
			}
		})
	}
	if !strings.Contains(progress.String(), "is not the file the registry names (size or SHA-256 differ); downloading it again") {
		t.Errorf("progress does not say why it downloaded again:\n%s", progress.String())
	}
}

func TestFetchConcurrent(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := newFakeServer(t, map[string][]step{"/tiny.onnx": {func(s *fakeServer, w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(arrived) })
		select {
		case <-release:
		case <-s.done: // the test failed and is ending
			return
		}
		serve()(s, w, r)
	}}})
	e := testEntry(srv.URL + "/tiny.onnx")
	dir := t.TempDir()
	type result struct {
		path string
		err  error
	}
	fetch := func(progress *syncBuffer) <-chan result {
		ch := make(chan result, 1)
		f := &Fetcher{Registry: Registry{e}, Dir: dir, IdleTimeout: 20 * time.Second, Progress: progress, retryDelay: time.Millisecond}
		go func() {
			p, err := f.Fetch(context.Background(), "tiny")
			ch <- result{p, err}
		}()
		return ch
	}
	var progressA, progressB syncBuffer
	a := fetch(&progressA)
	<-arrived // a holds the lock and waits for the body
	b := fetch(&progressB)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(progressB.String(), "waiting for another nst process to finish downloading tiny.onnx"); {
		if time.Now().After(deadline) {
			t.Fatalf("the second fetch did not wait for the first:\n%s", progressB.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	ra, rb := <-a, <-b
	if ra.err != nil || rb.err != nil {
		t.Fatalf("fetches: %v; %v", ra.err, rb.err)
	}
	if want := filepath.Join(dir, "tiny.onnx"); ra.path != want || rb.path != want {
		t.Errorf("paths %s and %s, want %s", ra.path, rb.path, want)
	}
	checkInstalled(t, ra.path)
	if got := srv.seen(); len(got) != 1 {
		t.Errorf("requests %v, want one download", got)
	}
	if strings.Contains(progressB.String(), "zoo: downloading tiny.onnx") {
		t.Errorf("the second fetch downloaded too:\n%s", progressB.String())
	}
}

func TestFetchMirror(t *testing.T) {
	origin := newFakeServer(t, map[string][]step{"/tiny.onnx": {serve()}})
	mirror := newFakeServer(t, map[string][]step{"/models/tiny.onnx": {serve()}})
	dir := t.TempDir()
	t.Setenv(EnvDir, dir)
	tests := []struct{ name, mirror string }{
		{"base URL", mirror.URL + "/models"},
		{"trailing slash", mirror.URL + "/models/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvMirror, tt.mirror)
			f, err := NewFetcher(nil)
			if err != nil {
				t.Fatal(err)
			}
			if f.Dir != dir || f.Mirror != tt.mirror {
				t.Errorf("NewFetcher: dir %q mirror %q, want %q %q", f.Dir, f.Mirror, dir, tt.mirror)
			}
			f.Registry = Registry{testEntry(origin.URL + "/tiny.onnx")}
			path, err := f.Fetch(context.Background(), "tiny")
			if err != nil {
				t.Fatal(err)
			}
			checkInstalled(t, path)
			os.Remove(path) // the next case downloads again
		})
	}
	if got := strings.Join(mirror.seen(), ", "); got != "/models/tiny.onnx [], /models/tiny.onnx []" {
		t.Errorf("mirror saw %s", got)
	}
	if got := origin.seen(); len(got) != 0 {
		t.Errorf("the entry's own URL was used: %v", got)
	}
}

func TestNewFetcherBadMirror(t *testing.T) {
	t.Setenv(EnvDir, t.TempDir())
	t.Setenv(EnvMirror, "ftp://mirror.example/models")
	_, err := NewFetcher(nil)
	if want := `NST_MODEL_MIRROR: url "ftp://mirror.example/models": want an absolute http or https URL`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

// refusedURL is a loopback address where nothing listens.
func refusedURL(t *testing.T) (base, hostport string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostport = l.Addr().String()
	l.Close()
	return "http://" + hostport, hostport
}

func TestFetchOffline(t *testing.T) {
	base, hostport := refusedURL(t)
	dir := t.TempDir()
	t.Setenv(EnvDir, dir)
	t.Setenv(EnvMirror, base)
	tests := []struct{ ref, file, arch string }{
		{"zoo:vgg19", "vgg19-7.onnx", "vgg19"},
		{"vgg16", "vgg16-7.onnx", "vgg16"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			path, e, err := Resolve(context.Background(), tt.ref, nil)
			if err == nil {
				t.Fatalf("Resolve(%q) = %s, want an error", tt.ref, path)
			}
			name := strings.TrimPrefix(tt.ref, Prefix)
			want := fmt.Sprintf(`zoo:%s: cannot download %s (%s/%s: dial tcp %s: connect: connection refused); run "nst model fetch %s" where there is a network (it saves the file in %s), or use --set model.path=builtin:%s to run offline with random weights`,
				name, tt.file, base, tt.file, hostport, name, dir, tt.arch)
			if err.Error() != want {
				t.Errorf("error\n  %s\nwant\n  %s", err, want)
			}
			if e.Name != "" || path != "" {
				t.Errorf("Resolve returned %q and entry %+v with its error", path, e)
			}
		})
	}
}

func TestFetchCancel(t *testing.T) {
	tests := []struct {
		name string
		// cancelWhen watches the fetch into dir and cancels it.
		cancelWhen func(t *testing.T, dir string, cancel func())
		want       string
		wantPart   int64 // 0: none
	}{
		{
			name: "mid-download: the partial file is kept",
			cancelWhen: func(t *testing.T, dir string, cancel func()) {
				part := filepath.Join(dir, "tiny.onnx"+partSuffix)
				go func() {
					// Once the first bytes are on disk.
					for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
						if info, err := os.Stat(part); err == nil && info.Size() == 4096 {
							break
						}
						time.Sleep(5 * time.Millisecond)
					}
					cancel()
				}()
			},
			want:     "zoo:tiny: download tiny.onnx (the partial file is kept for resuming): context canceled",
			wantPart: 4096,
		},
		{
			name: "waiting for another process's lock",
			cancelWhen: func(t *testing.T, dir string, cancel func()) {
				unlock, err := lock(context.Background(), filepath.Join(dir, "tiny.onnx"+lockSuffix), func() {})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(unlock)
				time.AfterFunc(2*lockPoll, cancel)
			},
			want: "zoo:tiny: context canceled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t, map[string][]step{"/tiny.onnx": {stallAfter(4096)}})
			var progress syncBuffer
			f := testFetcher(t, testEntry(srv.URL+"/tiny.onnx"), &progress)
			f.IdleTimeout = time.Minute
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tt.cancelWhen(t, f.Dir, cancel)
			start := time.Now()
			_, err := f.Fetch(ctx, "tiny")
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want context.Canceled", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error %q, want %q", err, tt.want)
			}
			if elapsed := time.Since(start); elapsed > 10*time.Second {
				t.Errorf("cancelled fetch took %s", elapsed)
			}
			info, err := os.Stat(filepath.Join(f.Dir, "tiny.onnx"+partSuffix))
			if tt.wantPart == 0 && err == nil || tt.wantPart > 0 && (err != nil || info.Size() != tt.wantPart) {
				t.Errorf("partial file after cancel: %v, %v; want %d bytes (0: none)", info, err, tt.wantPart)
			}
		})
	}
}

func TestFetchErrorsBeforeDownload(t *testing.T) {
	tests := []struct {
		name    string
		f       *Fetcher
		ref     string
		wantErr string
	}{
		{"unknown name", &Fetcher{Registry: Registry{testEntry("http://127.0.0.1/x")}, Dir: "unused"}, "zoo:nope", "zoo:nope: no such model in the zoo; known: tiny"},
		{"no URLs", &Fetcher{Registry: Registry{testEntry()}, Dir: "unused"}, "tiny", "zoo:tiny: no URL to download tiny.onnx from; set NST_MODEL_MIRROR"},
		{"bad mirror", &Fetcher{Registry: Registry{testEntry()}, Dir: "unused", Mirror: "mirror.example"}, "tiny", `zoo:tiny: mirror: url "mirror.example": want an absolute http or https URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.f.Fetch(context.Background(), tt.ref)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestPath(t *testing.T) {
	f := &Fetcher{Dir: "/cache/models"}
	tests := []struct{ ref, want, wantErr string }{
		{"vgg19", "/cache/models/vgg19-7.onnx", ""},
		{"zoo:vgg16", "/cache/models/vgg16-7.onnx", ""},
		{"vgg11", "", "zoo:vgg11: no such model in the zoo"},
	}
	for _, tt := range tests {
		got, err := f.Path(tt.ref)
		if got != filepath.FromSlash(tt.want) || (err == nil) != (tt.wantErr == "") || (err != nil && !strings.HasPrefix(err.Error(), tt.wantErr)) {
			t.Errorf("Path(%q) = %q, %v; want %q, %q", tt.ref, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/1", 0, 1, true},
		{"bytes 5-9/*", 5, -1, true},
		{"bytes 10-5/20", 0, 0, false},
		{"bytes 10-20/20", 0, 0, false}, // end past the total
		{"bytes */200", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"", 0, 0, false},
		{"bytes -5-9/10", 0, 0, false},
	}
	for _, tt := range tests {
		start, total, ok := parseContentRange(tt.in)
		if start != tt.start || total != tt.total || ok != tt.ok {
			t.Errorf("parseContentRange(%q) = %d, %d, %v; want %d, %d, %v", tt.in, start, total, ok, tt.start, tt.total, tt.ok)
		}
	}
}

package studio

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nst-project/nst/record"
)

// routes lists every route of the server, with a path that exists.
var routes = []struct{ method, path string }{
	{"GET", "/"},
	{"GET", "/static/app.js"},
	{"POST", "/api/check"},
	{"POST", "/api/runs"},
	{"GET", "/api/runs"},
	{"GET", "/api/runs/r1"},
	{"GET", "/api/runs/r1/events"},
	{"GET", "/api/runs/r1/image"},
	{"POST", "/api/runs/r1/stop"},
	{"POST", "/api/runs/r1/resume"},
	{"GET", "/api/images"},
	{"POST", "/api/uploads"},
	{"GET", "/api/builtin/village"},
	{"GET", "/api/examples/grad.png"},
	{"GET", "/api/files/x/config.yaml"},
	{"GET", "/api/gallery"},
	{"POST", "/api/gallery/x/resume"},
	{"GET", "/api/diff?a=x&b=y"},
	{"GET", "/api/sweeps"},
	{"GET", "/api/defaults"},
	{"POST", "/api/units/layers"},
	{"POST", "/api/units"},
	{"GET", "/api/units"},
	{"GET", "/nothing-here"},
}

// TestTokenRefused sends every route without the token, with a wrong one
// (header, query and cookie) and checks 401; with the right one, the
// answer is anything but 401.
func TestTokenRefused(t *testing.T) {
	e := newEnv(t, Options{})
	for _, r := range routes {
		for _, c := range []struct {
			name string
			set  func(*http.Request)
		}{
			{"none", func(*http.Request) {}},
			{"wrong bearer", func(q *http.Request) { q.Header.Set("Authorization", "Bearer test-tokeX") }},
			{"wrong query", func(q *http.Request) { q.URL.RawQuery = "token=nope" }},
			{"wrong cookie", func(q *http.Request) { q.AddCookie(&http.Cookie{Name: cookieName, Value: "nope"}) }},
			{"empty bearer", func(q *http.Request) { q.Header.Set("Authorization", "Bearer ") }},
		} {
			req, _ := http.NewRequest(r.method, e.ts.URL+r.path, strings.NewReader("content: x"))
			c.set(req)
			resp, err := e.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s (%s): status %d, want 401", r.method, r.path, c.name, resp.StatusCode)
			}
		}
		if code, body := e.do(t, r.method, r.path, e.srv.Token(), []byte("content: x")); code == http.StatusUnauthorized {
			t.Errorf("%s %s with the token: 401: %s", r.method, r.path, body)
		}
	}
}

// TestTokenCookie checks the first load with ?token=: a redirect without
// the token and an HttpOnly, SameSite=Strict cookie that then stands for
// the token.
func TestTokenCookie(t *testing.T) {
	e := newEnv(t, Options{})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(e.ts.URL + "/?token=" + e.srv.Token())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("first load: status %d, location %q; want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == cookieName {
			c = k
		}
	}
	if c == nil || c.Value != e.srv.Token() || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v; want the token, HttpOnly, SameSite=Strict", c)
	}
	req, _ := http.NewRequest("GET", e.ts.URL+"/api/gallery", nil)
	req.AddCookie(c)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("with the cookie: status %d, want 200", resp.StatusCode)
	}
}

// TestRandomToken checks that servers without a given token make
// distinct, long ones.
func TestRandomToken(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s1, err := New(ctx, Options{RunsDir: filepath.Join(t.TempDir(), "r1")})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := New(ctx, Options{RunsDir: filepath.Join(t.TempDir(), "r2")})
	if err != nil {
		t.Fatal(err)
	}
	if len(s1.Token()) < 32 || s1.Token() == s2.Token() {
		t.Fatalf("tokens %q and %q: want two distinct random tokens of 32+ characters", s1.Token(), s2.Token())
	}
}

// TestFileTraversal asks for files outside the roots through every file
// route: dot-dot, encoded dot-dot, absolute paths and a symlink that leads
// out; none may answer the outside file.
func TestFileTraversal(t *testing.T) {
	e := newEnv(t, Options{})
	secret, _ := os.ReadFile(filepath.Join(e.outside, "secret.png"))
	if err := os.MkdirAll(filepath.Join(e.runs, "run1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(e.outside, "secret.png"), filepath.Join(e.runs, "run1", "final.png")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(e.outside, filepath.Join(e.runs, "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(e.outside, "secret.png"), filepath.Join(e.examples, "link.png")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		"/api/files/../outside/secret.png",
		"/api/files/%2e%2e/outside/secret.png",
		"/api/files/..%2foutside%2fsecret.png",
		"/api/files/run1/..%2f..%2foutside%2fsecret.png",
		"/api/files/run1/final.png",
		"/api/files/out/secret.png",
		"/api/files/" + filepath.Join(e.outside, "secret.png"),
		"/api/files//" + filepath.Join(e.outside, "secret.png"),
		"/api/examples/..%2foutside%2fsecret.png",
		"/api/examples/%2e%2e%2foutside%2fsecret.png",
		"/api/examples/link.png",
		"/api/builtin/..%2f..%2fbuiltinimg",
		"/api/diff?a=../outside&b=run1",
		"/api/diff?a=" + e.outside + "&b=run1",
	} {
		code, body := e.do(t, "GET", p, e.srv.Token(), nil)
		if code == http.StatusOK || bytes.Equal(body, secret) {
			t.Errorf("GET %s: status %d (%d bytes); want it refused", p, code, len(body))
		}
	}
	// The routes do serve what lies inside.
	if code, _ := e.do(t, "GET", "/api/examples/grad.png", e.srv.Token(), nil); code != http.StatusOK {
		t.Errorf("GET an example: status %d, want 200", code)
	}
}

// TestConfigPaths checks that every path a config names must lie in the
// roots (symlinks resolved), that zoo models and runtime.library are
// refused, and that output.dir lands in the runs folder.
func TestConfigPaths(t *testing.T) {
	e := newEnv(t, Options{})
	secret := filepath.Join(e.outside, "secret.png")
	uploadLink := filepath.Join(e.runs, UploadsDir, "link.png")
	if err := os.Symlink(secret, uploadLink); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(mustGetwd(t), secret)
	if err != nil {
		t.Fatal(err)
	}
	style := "style:\n  - {path: builtin:swirls, weight: 1}\n"
	for _, c := range []struct {
		name, yaml, want string
	}{
		{"absolute content", "content: " + secret + "\n" + style, `content: "` + secret + `" outside`},
		{"relative content", "content: " + rel + "\n" + style, "outside the runs"},
		{"dot-dot from runs", "content: " + e.runs + "/../outside/secret.png\n" + style, "outside the runs"},
		{"symlink in uploads", "content: " + uploadLink + "\n" + style, "outside the runs"},
		{"missing file", "content: " + e.runs + "/nope.png\n" + style, "not found"},
		{"style path", "content: builtin:village\nstyle:\n  - {path: " + secret + ", weight: 1}\n", "style[0].path"},
		{"style mask", "content: builtin:village\nstyle:\n  - {path: builtin:swirls, weight: 1, mask: " + secret + "}\n", "style[0].mask"},
		{"init image", "content: builtin:village\n" + style + "init: image\ninit_image: " + secret + "\n", "init_image"},
		{"model path", "content: builtin:village\n" + style + "model: {path: " + secret + "}\n", "model.path"},
		{"zoo model", "content: builtin:village\n" + style + "model: {path: zoo:vgg19}\n", "zoo models are not served"},
		{"runtime library", "content: builtin:village\n" + style + "runtime: {library: /tmp/evil.so}\n", "runtime.library"},
		{"runtime library, other case", "content: builtin:village\n" + style + "Runtime: {Library: /tmp/evil.so}\n", "runtime.library"},
		{"checker error", "content: builtin:village\n" + style + "size: 3\n", "size: 3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var res CheckResult
			e.api(t, "POST", "/api/check", []byte(c.yaml), http.StatusOK, &res)
			if res.OK || !strings.Contains(strings.Join(res.Errors, "\n"), c.want) {
				t.Fatalf("check: %+v; want an error containing %q", res, c.want)
			}
			code, body := e.do(t, "POST", "/api/runs", e.srv.Token(), []byte(c.yaml))
			if code != http.StatusBadRequest || !strings.Contains(string(body), "error") {
				t.Fatalf("POST /api/runs: %d %s; want 400", code, body)
			}
		})
	}
	// Inside the roots, and output.dir is moved into the runs folder.
	good := "content: " + filepath.Join(e.examples, "grad.png") + "\n" + style + "output: {dir: /etc/../somewhere/x y}\n" + e.base()
	var res CheckResult
	e.api(t, "POST", "/api/check", []byte(good), http.StatusOK, &res)
	if !res.OK || len(res.Errors) != 0 {
		t.Fatalf("good config: %+v; want ok", res)
	}
	cfg, err := e.srv.roots.loadConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(e.srv.roots.runs, "x-y"); cfg.Output.Dir != want {
		t.Errorf("output.dir %q; want %q", cfg.Output.Dir, want)
	}
	// A config over the size limit is refused before it is read.
	code, _ := e.do(t, "POST", "/api/check", e.srv.Token(), bytes.Repeat([]byte("#"), maxConfigBytes+1))
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("huge config: status %d, want 413", code)
	}
}

func mustGetwd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// TestUpload checks the upload limits (bytes, pixels, format) and that an
// accepted upload is stored in the uploads folder and usable in a config.
func TestUpload(t *testing.T) {
	e := newEnv(t, Options{MaxUpload: 4000, MaxUploadPixels: 2000})
	for _, c := range []struct {
		name string
		body []byte
		want int
	}{
		{"too many bytes", append(pngBytes(t, 8, 8), bytes.Repeat([]byte{0}, 5000)...), http.StatusRequestEntityTooLarge},
		{"not an image", []byte("#!/bin/sh\necho hi\n"), http.StatusBadRequest},
		{"too many pixels", pngBytes(t, 50, 50), http.StatusBadRequest},
		{"truncated", pngBytes(t, 20, 20)[:60], http.StatusBadRequest},
		{"good", pngBytes(t, 20, 20), http.StatusCreated},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := e.do(t, "POST", "/api/uploads", e.srv.Token(), c.body)
			if code != c.want {
				t.Fatalf("status %d, want %d: %s", code, c.want, body)
			}
		})
	}
	entries, _ := os.ReadDir(filepath.Join(e.runs, UploadsDir))
	if len(entries) != 1 {
		t.Fatalf("uploads folder holds %d files, want the one good upload (no temporary files)", len(entries))
	}
	var imgs Images
	e.api(t, "GET", "/api/images", nil, http.StatusOK, &imgs)
	if len(imgs.Uploads) != 1 || len(imgs.Examples) != 1 || len(imgs.Builtin) == 0 {
		t.Fatalf("images %+v; want 1 upload, 1 example and the built-ins", imgs)
	}
	var res CheckResult
	e.api(t, "POST", "/api/check", []byte("content: "+imgs.Uploads[0].Ref+"\nstyle: [{path: builtin:swirls, weight: 1}]\n"), http.StatusOK, &res)
	if !res.OK {
		t.Fatalf("config naming the upload: %v", res.Errors)
	}
	if code, _ := e.do(t, "GET", imgs.Uploads[0].URL, e.srv.Token(), nil); code != http.StatusOK {
		t.Fatalf("GET %s: %d", imgs.Uploads[0].URL, code)
	}
}

// TestRunThroughEvents runs a config from POST to its final image and
// checks the event stream: one iteration event per step, in order, with
// costs and an image version, and the states through to done.
func TestRunThroughEvents(t *testing.T) {
	e := newEnv(t, Options{})
	const n = 10
	id := e.start(t, e.config("events", n, "adam"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var iters []int
	var states []string
	images := 0
	for ev := range e.events(t, ctx, id) {
		switch ev.name {
		case "iteration":
			var it IterationEvent
			if err := json.Unmarshal(ev.data, &it); err != nil {
				t.Fatal(err)
			}
			if it.Iterations != n || it.Costs["total"] == nil || !strings.HasSuffix(it.Image, "?v="+strconv.Itoa(it.Iteration)) {
				t.Fatalf("iteration event %+v", it)
			}
			iters = append(iters, it.Iteration)
			if images < 2 {
				// Ask for the live image, as the page does.
				code, body := e.do(t, "GET", it.Image, e.srv.Token(), nil)
				if code == http.StatusOK {
					if _, err := png.Decode(bytes.NewReader(body)); err != nil {
						t.Fatalf("live image: %v", err)
					}
					images++
				}
			}
		case "state":
			var st Status
			if err := json.Unmarshal(ev.data, &st); err != nil {
				t.Fatal(err)
			}
			if len(states) == 0 || states[len(states)-1] != st.State {
				states = append(states, st.State)
			}
		}
		if len(states) > 0 && states[len(states)-1] == StateDone {
			break
		}
	}
	if want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}; !slices.Equal(iters, want) {
		t.Errorf("iteration events %v; want %v", iters, want)
	}
	if last := states[len(states)-1]; last != StateDone || !slices.Contains(states, StateRunning) {
		t.Errorf("states %v; want running ... done", states)
	}
	if images == 0 {
		t.Errorf("no live image while the run ran")
	}
	st := e.status(t, id)
	if st.Iteration != n || st.Folder != "events" || st.Costs["total"] == nil || *st.Costs["total"] <= 0 {
		t.Fatalf("final status %+v", st)
	}
	code, body := e.do(t, "GET", "/api/runs/"+id+"/image", e.srv.Token(), nil)
	img, err := png.Decode(bytes.NewReader(body))
	if code != http.StatusOK || err != nil {
		t.Fatalf("final image: %d %v", code, err)
	}
	if b := img.Bounds(); max(b.Dx(), b.Dy()) != 32 {
		t.Errorf("final image %v; want a longer side of 32", b)
	}
	onDisk, _ := os.ReadFile(filepath.Join(e.runs, "events", "final.png"))
	if !bytes.Equal(onDisk, body) {
		t.Errorf("the final image answered is not events/final.png")
	}
	var g []GalleryRun
	e.api(t, "GET", "/api/gallery", nil, http.StatusOK, &g)
	if len(g) != 1 || g[0].Name != "events" || g[0].Status != record.StatusCompleted || g[0].Iterations != n || g[0].Image != "final.png" {
		t.Fatalf("gallery %+v", g)
	}
}

// TestImageOnDemand checks that a run nobody watches never computes its
// image, and one whose image is asked for does.
func TestImageOnDemand(t *testing.T) {
	e := newEnv(t, Options{})
	id := e.start(t, e.config("quiet", 6, "adam"))
	e.waitState(t, id, StateDone)
	j := e.srv.queue.get(id)
	j.mu.Lock()
	ver := j.snapVer
	j.mu.Unlock()
	if ver != 0 {
		t.Fatalf("an unwatched run computed %d images; want 0", ver)
	}
}

// TestStopResume stops a running run, checks that it left a checkpoint
// and an interrupted manifest, resumes it and checks that it completes
// every iteration in the same folder.
func TestStopResume(t *testing.T) {
	e := newEnv(t, Options{})
	const n = 400
	id := e.start(t, e.config("stopme", n, "adam"))
	deadline := time.Now().Add(time.Minute)
	for e.status(t, id).Iteration < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the run took no 3 steps in a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var st Status
	e.api(t, "POST", "/api/runs/"+id+"/stop", nil, http.StatusOK, &st)
	st = e.waitState(t, id, StateStopped, StateDone)
	if st.State != StateStopped || st.Iteration >= n {
		t.Fatalf("after stop: %+v; want stopped before %d", st, n)
	}
	dir := filepath.Join(e.runs, "stopme")
	m, err := record.ReadManifest(filepath.Join(dir, "manifest.json"))
	if err != nil || m.Status != record.StatusInterrupted {
		t.Fatalf("manifest after stop: %v %+v", err, m)
	}
	if code, _ := e.do(t, "POST", "/api/runs/"+id+"/stop", e.srv.Token(), nil); code != http.StatusConflict {
		t.Errorf("second stop: %d, want 409", code)
	}
	stoppedAt := st.Iteration
	e.api(t, "POST", "/api/runs/"+id+"/resume", nil, http.StatusOK, &st)
	st = e.waitState(t, id, StateDone, StateFailed)
	if st.State != StateDone || st.Iteration != n || st.Folder != "stopme" {
		t.Fatalf("after resume: %+v; want done at %d in stopme", st, n)
	}
	m, err = record.ReadManifest(filepath.Join(dir, "manifest.json"))
	if err != nil || m.Status != record.StatusCompleted || m.Iterations != n {
		t.Fatalf("manifest after resume: %v %+v", err, m)
	}
	if _, err := os.Stat(filepath.Join(dir, "final.png")); err != nil {
		t.Fatalf("final image: %v", err)
	}
	j := e.srv.queue.get(id)
	j.mu.Lock()
	rows := len(j.history)
	j.mu.Unlock()
	if rows != n {
		t.Errorf("cost history has %d rows after stopping at %d and resuming; want %d, one per iteration", rows, stoppedAt, n)
	}
	if code, _ := e.do(t, "POST", "/api/runs/"+id+"/resume", e.srv.Token(), nil); code != http.StatusConflict {
		t.Errorf("resume of a done run: %d, want 409", code)
	}
}

// TestQueue posts two runs and checks that the second waits, visibly,
// until the first has ended.
func TestQueue(t *testing.T) {
	e := newEnv(t, Options{})
	a := e.start(t, e.config("first", 300, "adam"))
	b := e.start(t, e.config("second", 5, "adam"))
	e.waitState(t, a, StateRunning)
	st := e.status(t, b)
	if st.State != StateQueued || st.Queue != 0 {
		t.Fatalf("second run while the first runs: %+v; want queued, next in line", st)
	}
	var list []Status
	e.api(t, "GET", "/api/runs", nil, http.StatusOK, &list)
	if len(list) != 2 || list[0].ID != a || list[1].ID != b {
		t.Fatalf("run list %+v", list)
	}
	e.waitState(t, b, StateDone)
	if st := e.status(t, a); st.State != StateDone {
		t.Fatalf("first run %+v when the second finished; want done", st)
	}
	ma, _ := record.ReadManifest(filepath.Join(e.runs, "first", "manifest.json"))
	mb, _ := record.ReadManifest(filepath.Join(e.runs, "second", "manifest.json"))
	if ma == nil || mb == nil || mb.Start.Before(ma.End) {
		t.Fatalf("second run started before the first ended: %+v %+v", ma, mb)
	}
	// A queued run can be stopped; it then leaves the line.
	c := e.start(t, e.config("third", 300, "adam"))
	d := e.start(t, e.config("fourth", 5, "adam"))
	e.api(t, "POST", "/api/runs/"+d+"/stop", nil, http.StatusOK, nil)
	if st := e.status(t, d); st.State != StateStopped || st.Queue != -1 {
		t.Fatalf("stopped queued run: %+v", st)
	}
	e.api(t, "POST", "/api/runs/"+c+"/stop", nil, http.StatusOK, nil)
	e.waitState(t, c, StateStopped)
}

// TestDiffAndGallery compares two finished runs' configs.
func TestDiffAndGallery(t *testing.T) {
	e := newEnv(t, Options{})
	a := e.start(t, e.config("da", 2, "adam"))
	b := e.start(t, e.config("db", 3, "adam"))
	e.waitState(t, a, StateDone)
	e.waitState(t, b, StateDone)
	var d struct{ Lines []DiffLine }
	e.api(t, "GET", "/api/diff?a=da&b=db", nil, http.StatusOK, &d)
	var del, add []string
	for _, l := range d.Lines {
		switch l.Op {
		case "-":
			del = append(del, strings.TrimSpace(l.Text))
		case "+":
			add = append(add, strings.TrimSpace(l.Text))
		}
	}
	if !slices.Contains(del, "iterations: 2") || !slices.Contains(add, "iterations: 3") ||
		!slices.ContainsFunc(del, func(s string) bool { return strings.HasSuffix(s, "/da") }) {
		t.Fatalf("diff -%v +%v; want the iterations and the output folders", del, add)
	}
	var g []GalleryRun
	e.api(t, "GET", "/api/gallery", nil, http.StatusOK, &g)
	if len(g) != 2 || g[0].Name != "db" || g[1].Name != "da" {
		t.Fatalf("gallery %+v; want db then da (newest first)", g)
	}
	code, body := e.do(t, "GET", "/api/files/da/config.yaml", e.srv.Token(), nil)
	if code != http.StatusOK || !bytes.Contains(body, []byte("iterations: 2")) {
		t.Fatalf("fork source config.yaml: %d %s", code, body)
	}
	// Fork: the run's own config.yaml runs again, into a folder of its own.
	var res CheckResult
	e.api(t, "POST", "/api/check", body, http.StatusOK, &res)
	if !res.OK {
		t.Fatalf("forked config: %v", res.Errors)
	}
	f := e.start(t, string(body))
	if st := e.waitState(t, f, StateDone, StateFailed); st.State != StateDone || st.Folder != "da-2" {
		t.Fatalf("forked run %+v; want done in da-2", st)
	}
}

func TestDiffLines(t *testing.T) {
	for _, c := range []struct {
		a, b []string
		want string
	}{
		{nil, nil, ""},
		{[]string{"x"}, []string{"x"}, "=x"},
		{[]string{"a", "b", "c"}, []string{"a", "c"}, "=a -b =c"},
		{[]string{"a", "c"}, []string{"a", "b", "c"}, "=a +b =c"},
		{[]string{"a", "b"}, []string{"a", "B"}, "=a -b +B"},
		{[]string{"k: 1", "m: 2"}, []string{"k: 3", "m: 2"}, "-k: 1 +k: 3 =m: 2"},
	} {
		var got []string
		for _, l := range diffLines(c.a, c.b) {
			got = append(got, l.Op+l.Text)
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("diff %v %v = %q; want %q", c.a, c.b, g, c.want)
		}
	}
}

func TestRunName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"runs/nst", "nst"},
		{"/etc/../x y", "x-y"},
		{"..", "studio"},
		{".hidden", "hidden"},
		{"", "studio"},
		{"a/b/c", "c"},
		{strings.Repeat("z", 100), strings.Repeat("z", 64)},
		{"runs/units", "units-run"},
		{"Units", "Units-run"},
	} {
		if got := runName(c.in); got != c.want {
			t.Errorf("runName(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

// TestGalleryResume resumes an interrupted run folder from the gallery,
// and refuses a folder whose config.yaml names a file outside the roots.
func TestGalleryResume(t *testing.T) {
	e := newEnv(t, Options{})
	id := e.start(t, e.config("paused", 400, "adam"))
	for e.status(t, id).Iteration < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	e.api(t, "POST", "/api/runs/"+id+"/stop", nil, http.StatusOK, nil)
	e.waitState(t, id, StateStopped)
	var r struct{ ID string }
	e.api(t, "POST", "/api/gallery/paused/resume", nil, http.StatusCreated, &r)
	if st := e.waitState(t, r.ID, StateDone, StateFailed); st.State != StateDone || st.Iteration != 400 || st.Folder != "paused" {
		t.Fatalf("resumed from the gallery: %+v; want done at 400 in paused", st)
	}
	evil := filepath.Join(e.runs, "evil")
	if err := os.MkdirAll(evil, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(evil, "config.yaml"), []byte("content: "+filepath.Join(e.outside, "secret.png")+"\nstyle: [{path: builtin:swirls, weight: 1}]\n"))
	for _, c := range []struct {
		name string
		want int
	}{{"evil", http.StatusBadRequest}, {"nope", http.StatusNotFound}, {"..", http.StatusNotFound}, {".uploads", http.StatusNotFound}, {"%2e%2e", http.StatusNotFound}} {
		if code, body := e.do(t, "POST", "/api/gallery/"+c.name+"/resume", e.srv.Token(), nil); code != c.want {
			t.Errorf("resume %q: %d %s; want %d", c.name, code, body, c.want)
		}
	}
}

// TestSweeps lists a sweep folder's existing contact sheets, and reports
// (without failing the listing) a sweep whose sheets cannot be drawn.
func TestSweeps(t *testing.T) {
	e := newEnv(t, Options{})
	for _, d := range []string{"sw", "broken", "plain"} {
		if err := os.MkdirAll(filepath.Join(e.runs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(e.runs, "sw", "sweep.json"), []byte("{}"))
	writeFile(t, filepath.Join(e.runs, "sw", "sheet.png"), pngBytes(t, 8, 8))
	writeFile(t, filepath.Join(e.runs, "sw", "sheet-lr_0.1.png"), pngBytes(t, 8, 8))
	writeFile(t, filepath.Join(e.runs, "broken", "sweep.json"), []byte("not json"))
	var got []SweepSheets
	e.api(t, "GET", "/api/sweeps", nil, http.StatusOK, &got)
	if len(got) != 2 || got[0].Name != "broken" || got[0].Error == "" || len(got[0].Sheets) != 0 ||
		got[1].Name != "sw" || !slices.Equal(got[1].Sheets, []string{"/api/files/sw/sheet-lr_0.1.png", "/api/files/sw/sheet.png"}) {
		t.Fatalf("sweeps %+v", got)
	}
	if code, _ := e.do(t, "GET", got[1].Sheets[1], e.srv.Token(), nil); code != http.StatusOK {
		t.Fatalf("GET %s: %d", got[1].Sheets[1], code)
	}
}

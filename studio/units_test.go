package studio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nst-project/nst/pipeline"
	"github.com/nst-project/nst/unitviz"
)

// unitsBody encodes a units request.
func unitsBody(t testing.TB, req any) []byte {
	t.Helper()
	raw, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// decodePNG decodes a PNG answer.
func decodePNG(t testing.TB, data []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode sheet: %v", err)
	}
	return img
}

// TestUnitsSheet lists a backbone's layers, draws a sheet of four units of
// relu1_1 through the queue and checks it: its size is the layout's, its
// pixels those pipeline.UnitsTop (nst units top's function) draws with
// the same options, and its listing names the units, patches and the
// example image; the sheet list shows it, then a second sheet of the same
// units beside it and a sheet nst units top wrote into the units folder,
// but no listing without a sheet nor a JSON file that is no listing.
func TestUnitsSheet(t *testing.T) {
	e := newEnv(t, Options{})
	cfg := e.config("unitsrun", 1, "adam")
	var layers UnitsLayers
	e.api(t, "POST", "/api/units/layers", unitsBody(t, UnitsSource{Config: cfg}), http.StatusOK, &layers)
	var names []string
	for _, l := range layers.Layers {
		names = append(names, l.Name)
		if l.Name == "relu1_1" && (l.Channels != 4 || l.Field[0] < 1) {
			t.Errorf("relu1_1: %+v; want 4 units and a field", l)
		}
	}
	if !slices.Contains(names, "relu1_1") || !slices.Contains(names, "relu3_1") || layers.Size != 32 {
		t.Fatalf("layers %v, size %d; want the tiny backbone's, relu1_1 to relu3_1, and the config's size 32", names, layers.Size)
	}

	req := UnitsRequest{UnitsSource: UnitsSource{Config: cfg}, Layer: "relu1_1", Units: "0-3", Top: 4}
	var made UnitsCreated
	e.api(t, "POST", "/api/units", unitsBody(t, req), http.StatusCreated, &made)
	if made.Name != "relu1_1_units_0-3.png" || made.Sheet != "/api/files/units/relu1_1_units_0-3.png" || made.Listing != "/api/files/units/relu1_1_units_0-3.json" {
		t.Fatalf("created %+v", made)
	}
	st := e.waitState(t, made.ID, StateDone, StateFailed, StateStopped)
	if st.State != StateDone || st.Kind != "units" || st.Sheet != made.Sheet || st.Folder != UnitsDir {
		t.Fatalf("sheet job %+v; want a done units job in the units folder", st)
	}
	code, data := e.do(t, "GET", made.Sheet, e.srv.Token(), nil)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", made.Sheet, code, data)
	}
	sheet := decodePNG(t, data)
	// The job's image is the sheet too (the Watch tab shows it).
	if code, img := e.do(t, "GET", "/api/runs/"+made.ID+"/image", e.srv.Token(), nil); code != http.StatusOK || !bytes.Equal(img, data) {
		t.Errorf("GET the job's image: %d, %d bytes; want the sheet", code, len(img))
	}

	var l unitviz.Listing
	e.api(t, "GET", made.Listing, nil, http.StatusOK, &l)
	example := filepath.Join(e.srv.roots.examples, "grad.png")
	if l.Layer != "relu1_1" || l.Images != 1 || len(l.Patches) != 16 {
		t.Fatalf("listing: layer %q, %d images, %d patches; want relu1_1, 1 image, 4 units of 4 patches", l.Layer, l.Images, len(l.Patches))
	}
	for i, p := range l.Patches {
		if p.Unit != i/4 || p.Rank != i%4+1 || p.Image != example || p.InputWidth != 32 || p.InputHeight != 24 {
			t.Fatalf("patch %d: %+v; want unit %d rank %d of %s at 32x24 (the config's size)", i, p, i/4, i%4+1, example)
		}
	}
	// Layout: 2x2 blocks of 2x2 cells, the cell the field enlarged to 64+.
	side := max(l.ReceptiveField.Height, l.ReceptiveField.Width)
	cell := side * ((64 + side - 1) / side)
	want := 2*12 + 2*(2*cell+2) + 12
	if b := sheet.Bounds(); b.Dx() != want || b.Dy() != want {
		t.Errorf("sheet %v; want %dx%d", b, want, want)
	}
	// Content: what nst units top draws with the same config and options.
	c, err := e.srv.roots.loadConfig([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := pipeline.UnitsTop(context.Background(), c, pipeline.UnitsTopOptions{Layer: "relu1_1", Units: []int{0, 1, 2, 3}, Top: 4,
		Images: []string{example}, Sheet: filepath.Join(dir, "cli.png"), Listing: filepath.Join(dir, "cli.json")}); err != nil {
		t.Fatal(err)
	}
	cli, _ := os.ReadFile(filepath.Join(dir, "cli.png"))
	if !bytes.Equal(cli, data) {
		t.Errorf("the studio's sheet differs from pipeline.UnitsTop's with the same options")
	}
	if bg := sheet.At(0, 0); !sameColor(bg, unitviz.SheetBackground) {
		t.Errorf("sheet corner %v; want the background", bg)
	}

	// A second sheet of the same units gets a name of its own; from a
	// run's config, it searches the run's final image too.
	run := e.start(t, cfg)
	e.waitState(t, run, StateDone)
	var again UnitsCreated
	e.api(t, "POST", "/api/units", unitsBody(t, UnitsRequest{UnitsSource: UnitsSource{Run: "unitsrun"}, Layer: "relu1_1", Units: "0-3", Top: 4,
		Images: []string{SourceExamples, SourceRuns}}), http.StatusCreated, &again)
	if again.Name != "relu1_1_units_0-3-2.png" {
		t.Fatalf("second sheet %+v; want relu1_1_units_0-3-2.png", again)
	}
	e.waitState(t, again.ID, StateDone)
	// nst units top's files in the units folder are listed; stray JSON is not.
	units := filepath.Join(e.runs, UnitsDir)
	for _, f := range []string{"cli.png", "cli.json"} {
		raw, _ := os.ReadFile(filepath.Join(dir, f))
		writeFile(t, filepath.Join(units, f), raw)
	}
	writeFile(t, filepath.Join(units, "alone.json"), []byte(`{"layer": "relu1_1"}`))
	writeFile(t, filepath.Join(units, "other.json"), []byte(`{"name": "x"}`))
	writeFile(t, filepath.Join(units, "other.png"), pngBytes(t, 4, 4))
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(units, "cli.json"), old, old); err != nil {
		t.Fatal(err)
	}
	var list []UnitSheet
	e.api(t, "GET", "/api/units", nil, http.StatusOK, &list)
	var got []string
	for _, u := range list {
		got = append(got, u.Name)
	}
	if len(list) != 3 || !slices.Contains(got, made.Name) || !slices.Contains(got, again.Name) || got[2] != "cli.png" {
		t.Fatalf("sheets %v; want the two sheets made here, then cli.png (older)", got)
	}
	for _, u := range list {
		images := 1
		if u.Name == again.Name {
			images = 2 // the example and the run's final image
		}
		if u.Layer != "relu1_1" || !slices.Equal(u.Units, []int{0, 1, 2, 3}) || u.Images != images || u.Patches != 16 || u.URL != "/api/files/units/"+u.Name {
			t.Errorf("sheet %+v", u)
		}
		if code, _ := e.do(t, "GET", u.ListingURL, e.srv.Token(), nil); code != http.StatusOK {
			t.Errorf("GET %s: %d", u.ListingURL, code)
		}
	}
	// The units folder is no run: the gallery leaves it out.
	var g []GalleryRun
	e.api(t, "GET", "/api/gallery", nil, http.StatusOK, &g)
	if len(g) != 1 || g[0].Name != "unitsrun" {
		t.Errorf("gallery %+v; want only the run", g)
	}
}

// sameColor compares two colours by their RGBA values.
func sameColor(a, b interface{ RGBA() (r, g, b, a uint32) }) bool {
	r1, g1, b1, a1 := a.RGBA()
	r2, g2, b2, a2 := b.RGBA()
	return r1 == r2 && g1 == g2 && b1 == b2 && a1 == a2
}

// TestUnitsRequestChecks refuses, before anything is queued, requests the
// sheet could not be drawn for, each with its reason.
func TestUnitsRequestChecks(t *testing.T) {
	e := newEnv(t, Options{})
	cfg := e.config("checks", 1, "adam")
	for _, c := range []struct {
		name string
		body string
		code int
		want string
	}{
		{"no config", `{"layer": "relu1_1", "units": "0"}`, 400, "no config"},
		{"config and run", `{"config": "x", "run": "y", "layer": "relu1_1", "units": "0"}`, 400, "not both"},
		{"bad config", `{"config": "size: 3\n", "layer": "relu1_1", "units": "0"}`, 400, "units: config:"},
		{"unknown key", `{"confg": "x"}`, 400, "unknown field"},
		{"not JSON", `layer: relu1_1`, 400, "request body"},
		{"no layer", unitsJSON(t, cfg, "", "0", 0, 0, nil), 400, "no layer"},
		{"unknown layer", unitsJSON(t, cfg, "relu9_9", "0", 0, 0, nil), 400, "did you mean"},
		{"bad units", unitsJSON(t, cfg, "relu1_1", "0-x", 0, 0, nil), 400, "not a unit number"},
		{"unit past the layer", unitsJSON(t, cfg, "relu1_1", "0-4", 0, 0, nil), 400, "unit 4: layer relu1_1 has units 0 to 3"},
		{"too many units", unitsJSON(t, cfg, "relu1_1", "0-5000", 0, 0, nil), 400, "more than 4096 units"},
		{"size over the bound", unitsJSON(t, cfg, "relu1_1", "0", 20000, 0, nil), 400, "size 20000"},
		{"size over the memory", unitsJSON(t, strings.Replace(cfg, "threads: 1", "threads: 1, max_memory: 1GB", 1), "relu1_1", "0", 16000, 0, nil), 400, "size 16000: a 16000x16000 run needs about"},
		{"sheet too large", unitsJSON(t, cfg, "relu3_1", "0-7", 0, 100000, nil), 400, "too large"},
		{"unknown source", unitsJSON(t, cfg, "relu1_1", "0", 0, 0, []string{"/etc"}), 400, "image source"},
		{"no images", unitsJSON(t, cfg, "relu1_1", "0", 0, 0, []string{SourceUploads}), 400, "no images in uploads"},
		{"missing run", `{"run": "nope", "layer": "relu1_1", "units": "0"}`, 404, "nope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := e.do(t, "POST", "/api/units", e.srv.Token(), []byte(c.body))
			if code != c.code || !strings.Contains(string(body), c.want) {
				t.Errorf("status %d %s; want %d and %q", code, body, c.code, c.want)
			}
		})
	}
	if jobs := e.srv.queue.list(); len(jobs) != 0 {
		t.Errorf("%d jobs queued by refused requests", len(jobs))
	}
	if _, err := os.Stat(filepath.Join(e.runs, UnitsDir)); err == nil {
		t.Errorf("refused requests made the units folder")
	}
}

// unitsJSON is a units request's body.
func unitsJSON(t testing.TB, cfg, layer, units string, size, top int, images []string) string {
	return string(unitsBody(t, UnitsRequest{UnitsSource: UnitsSource{Config: cfg}, Layer: layer, Units: units, Size: size, Top: top, Images: images}))
}

// TestUnitsTraversal tries to make the units routes read or write outside
// the roots: run names that leave the runs folder, a config naming a file
// outside, a run's final image that links outside, and a units folder
// that is a link to elsewhere. None may read the outside file or write
// there.
func TestUnitsTraversal(t *testing.T) {
	e := newEnv(t, Options{})
	cfg := e.config("real", 1, "adam")
	e.waitState(t, e.start(t, cfg), StateDone)
	writeFile(t, filepath.Join(e.outside, "config.yaml"), []byte(cfg))
	for _, run := range []string{"../outside", "..", "/" + e.outside, e.outside, "real/../../outside", ".uploads", "%2e%2e/outside"} {
		for route, body := range map[string][]byte{
			"/api/units":        unitsBody(t, UnitsRequest{UnitsSource: UnitsSource{Run: run}, Layer: "relu1_1", Units: "0"}),
			"/api/units/layers": unitsBody(t, UnitsSource{Run: run}),
		} {
			if code, data := e.do(t, "POST", route, e.srv.Token(), body); code != http.StatusNotFound {
				t.Errorf("POST %s with run %q: %d %s; want 404", route, run, code, data)
			}
		}
	}
	secret := filepath.Join(e.outside, "secret.png")
	evil := strings.Replace(cfg, "content: builtin:village", "content: "+secret, 1)
	if code, data := e.do(t, "POST", "/api/units/layers", e.srv.Token(), unitsBody(t, UnitsSource{Config: evil})); code != http.StatusBadRequest || !strings.Contains(string(data), "outside") {
		t.Errorf("config naming an outside file: %d %s; want 400", code, data)
	}
	// A run's final image that links outside is not searched.
	final := filepath.Join(e.runs, "real", "final.png")
	if err := os.Remove(final); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, final); err != nil {
		t.Fatal(err)
	}
	code, data := e.do(t, "POST", "/api/units", e.srv.Token(), []byte(unitsJSON(t, cfg, "relu1_1", "0", 0, 0, []string{SourceRuns})))
	if code != http.StatusBadRequest || !strings.Contains(string(data), "no images in runs") {
		t.Errorf("runs' images with the final image linking out: %d %s; want 400, no images", code, data)
	}
	// A layer name cannot steer the sheet's file name out of the folder.
	if got := e.srv.sheetName(t.TempDir(), "../../x", "0,1"); strings.Contains(got, "/") || strings.HasPrefix(got, ".") {
		t.Errorf("sheet name %q for layer ../../x", got)
	}
	// A units folder that links elsewhere is neither written nor listed.
	if err := os.Symlink(e.outside, filepath.Join(e.runs, UnitsDir)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(e.outside, "s.json"), []byte(`{"layer": "relu1_1", "patches": []}`))
	writeFile(t, filepath.Join(e.outside, "s.png"), pngBytes(t, 4, 4))
	code, data = e.do(t, "POST", "/api/units", e.srv.Token(), []byte(unitsJSON(t, cfg, "relu1_1", "0", 0, 0, nil)))
	if code != http.StatusInternalServerError || !strings.Contains(string(data), "only inside the runs folder") {
		t.Errorf("units folder linking out: %d %s; want 500 and the refusal", code, data)
	}
	var list []UnitSheet
	e.api(t, "GET", "/api/units", nil, http.StatusOK, &list)
	if len(list) != 0 {
		t.Errorf("sheets %+v listed through a link out of the runs folder", list)
	}
	entries, _ := os.ReadDir(e.outside)
	if len(entries) != 4 { // secret.png, config.yaml, s.json, s.png
		t.Errorf("the outside folder holds %d files; want the 4 the test wrote", len(entries))
	}
}

// TestUnitsWaitForRuns checks that a sheet takes the CPU in turn with the
// runs: queued behind a running run (visibly, in /api/runs), cancelled
// while it waits without writing anything, queued again and drawn once
// the run has stopped; and that a sheet whose context ends while it is
// drawn writes nothing.
func TestUnitsWaitForRuns(t *testing.T) {
	e := newEnv(t, Options{})
	// Slow the run's steps down so that it holds the CPU for as long as
	// the test needs (it stops the run itself).
	e.srv.queue.stepDelay = 50 * time.Millisecond
	cfg := e.config("busy", 1000, "adam")
	run := e.start(t, cfg)
	e.waitState(t, run, StateRunning)
	var made UnitsCreated
	e.api(t, "POST", "/api/units", []byte(unitsJSON(t, cfg, "relu2_1", "0-7", 0, 0, nil)), http.StatusCreated, &made)
	sheet := filepath.Join(e.runs, UnitsDir, made.Name)
	time.Sleep(300 * time.Millisecond)
	st := e.status(t, made.ID)
	if st.State != StateQueued || st.Queue != 0 || st.Kind != "units" {
		t.Fatalf("sheet while a run runs: %+v; want queued, next in line", st)
	}
	if r := e.status(t, run); r.State != StateRunning {
		t.Fatalf("run %+v; want it still running", r)
	}
	var list []Status
	e.api(t, "GET", "/api/runs", nil, http.StatusOK, &list)
	if len(list) != 2 || list[1].ID != made.ID || list[1].Name != "units relu2_1 0-7" {
		t.Fatalf("queue %+v; want the run, then the sheet", list)
	}
	// Cancelled while it waits: it leaves the line and writes nothing.
	e.api(t, "POST", "/api/runs/"+made.ID+"/stop", nil, http.StatusOK, nil)
	if st := e.status(t, made.ID); st.State != StateStopped || st.Queue != -1 {
		t.Fatalf("cancelled sheet %+v; want stopped, out of the line", st)
	}
	// Queued again, it is drawn once the run has stopped, after it.
	e.api(t, "POST", "/api/runs/"+made.ID+"/resume", nil, http.StatusOK, nil)
	if st := e.status(t, made.ID); st.State != StateQueued {
		t.Fatalf("resumed sheet %+v; want queued", st)
	}
	if _, err := os.Stat(sheet); err == nil {
		t.Fatalf("the sheet was written while the run held the CPU")
	}
	e.api(t, "POST", "/api/runs/"+run+"/stop", nil, http.StatusOK, nil)
	e.waitState(t, run, StateStopped)
	if st := e.waitState(t, made.ID, StateDone, StateFailed); st.State != StateDone {
		t.Fatalf("sheet %+v; want done", st)
	}
	if _, err := os.Stat(sheet); err != nil {
		t.Fatalf("sheet: %v", err)
	}

	// A sheet cancelled while it is drawn writes nothing.
	c, err := e.srv.roots.loadConfig([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	_, err = pipeline.UnitsTop(ctx, c, pipeline.UnitsTopOptions{Layer: "relu1_1", Units: []int{0}, Top: 1,
		Images: []string{filepath.Join(e.srv.roots.examples, "grad.png")}, Sheet: filepath.Join(dir, "s.png"), Listing: filepath.Join(dir, "s.json")})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled sheet: %v; want context.Canceled", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a cancelled sheet wrote %d files", len(entries))
	}
}

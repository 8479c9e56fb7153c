package studio

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nst-project/nst/builtinimg"
	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/record"
	"github.com/nst-project/nst/sweep"
)

// ImageChoice is an image the composer offers: Ref is what a config names
// (a path, or builtin:NAME), URL where the page shows it.
type ImageChoice struct {
	Ref   string `json:"ref"`
	URL   string `json:"url"`
	Label string `json:"label"`
}

// Images answers GET /api/images.
type Images struct {
	Builtin  []ImageChoice `json:"builtin"`
	Examples []ImageChoice `json:"examples"`
	Uploads  []ImageChoice `json:"uploads"`
	Runs     []ImageChoice `json:"runs"`
}

// imageExt lists the image files the composer offers.
var imageExt = map[string]bool{".png": true, ".jpg": true, ".jpeg": true}

// handleImages lists the images a config may name: built-in, examples,
// uploads and the runs' final images.
func (s *Server) handleImages(w http.ResponseWriter, _ *http.Request) {
	out := Images{Builtin: []ImageChoice{}, Examples: []ImageChoice{}, Uploads: []ImageChoice{}, Runs: []ImageChoice{}}
	for _, n := range builtinimg.Names() {
		name := strings.TrimPrefix(n, builtinimg.Prefix)
		out.Builtin = append(out.Builtin, ImageChoice{Ref: n, URL: "/api/builtin/" + name, Label: n})
	}
	for _, name := range imagesIn(s.roots.examples) {
		out.Examples = append(out.Examples, ImageChoice{Ref: filepath.Join(s.roots.examples, name), URL: "/api/examples/" + name, Label: name})
	}
	for _, name := range imagesIn(s.roots.uploads) {
		out.Uploads = append(out.Uploads, ImageChoice{Ref: filepath.Join(s.roots.uploads, name), URL: "/api/files/" + UploadsDir + "/" + name, Label: name})
	}
	for _, run := range s.gallery() {
		if run.Image != "" {
			out.Runs = append(out.Runs, ImageChoice{Ref: filepath.Join(s.roots.runs, filepath.FromSlash(run.Name), run.Image),
				URL: run.ImageURL, Label: run.Name + "/" + run.Image})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// imagesIn lists the image files directly in dir, sorted: the names of
// those the composer offers (imageExt).
func imagesIn(dir string) []string { return filesIn(dir, imageExt) }

// filesIn lists the names of the regular files directly in dir whose
// ending (in any case) is in exts, sorted, hidden ones (an upload being
// written) left out.
func filesIn(dir string, exts map[string]bool) []string {
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && exts[strings.ToLower(filepath.Ext(e.Name()))] && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}

// handleBuiltin sends a built-in image as PNG.
func (s *Server) handleBuiltin(w http.ResponseWriter, r *http.Request) {
	img, err := builtinimg.Load(builtinimg.Prefix + r.PathValue("name"))
	if err != nil {
		writeError(w, http.StatusNotFound, err)
		return
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("encode built-in image: %w", err))
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(buf.Bytes())
}

// uploadExt maps the formats an upload may have to file name endings.
var uploadExt = map[string]string{"png": ".png", "jpeg": ".jpg", "gif": ".gif", "bmp": ".bmp", "tiff": ".tif"}

// handleUpload stores the body, an image file, in the uploads folder once
// it has passed imageio's checks (size from the header, full decode), under
// a name made from its content, and answers an ImageChoice.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	raw, code, err := readBody(w, r, s.opt.MaxUpload)
	if err != nil {
		writeError(w, code, err)
		return
	}
	_, format, err := image.DecodeConfig(bytes.NewReader(raw))
	ext, ok := uploadExt[format]
	if err != nil || !ok {
		writeError(w, http.StatusBadRequest, errors.New("upload: not a PNG, JPEG, GIF, BMP or TIFF image"))
		return
	}
	tmp, err := os.CreateTemp(s.roots.uploads, ".upload-*"+ext)
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("upload: %w", err))
		return
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	_, err = io.Copy(tmp, bytes.NewReader(raw))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("upload: %w", err))
		return
	}
	if _, err := imageio.Load(tmp.Name(), imageio.LoadOptions{MaxPixels: s.opt.MaxUploadPixels}); err != nil {
		msg := strings.ReplaceAll(err.Error(), tmp.Name(), "upload")
		writeError(w, http.StatusBadRequest, errors.New(msg))
		return
	}
	sum := sha256.Sum256(raw)
	name := hex.EncodeToString(sum[:8]) + ext
	dst := filepath.Join(s.roots.uploads, name)
	if err := os.Rename(tmp.Name(), dst); err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("upload: %w", err))
		return
	}
	s.log.Info("studio: upload", "file", dst, "bytes", len(raw))
	writeJSON(w, http.StatusCreated, ImageChoice{Ref: dst, URL: "/api/files/" + UploadsDir + "/" + name, Label: name})
}

// GalleryRun is a run folder in the gallery.
type GalleryRun struct {
	// Name is the folder, relative to the runs folder.
	Name   string `json:"name"`
	Status string `json:"status"`
	// Image is the final (or last, or latest intermediate) image's file
	// name in the folder; ImageURL where to fetch it.
	Image      string              `json:"image"`
	ImageURL   string              `json:"image_url"`
	Iterations int                 `json:"iterations"`
	Costs      map[string]*float64 `json:"costs"`
	Start      time.Time           `json:"start"`
	Seconds    float64             `json:"seconds"`
}

// handleGallery lists the run folders in the runs folder, newest first.
func (s *Server) handleGallery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.gallery())
}

// gallery reads every run folder (one with a manifest.json) directly in
// the runs folder.
func (s *Server) gallery() []GalleryRun {
	out := []GalleryRun{}
	entries, err := os.ReadDir(s.roots.runs)
	if err != nil {
		return out
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := filepath.Join(s.roots.runs, e.Name())
		// A run killed without a word reads as interrupted, not running.
		m, err := record.ReadRunManifest(dir)
		if err != nil {
			continue
		}
		g := GalleryRun{Name: e.Name(), Status: m.Status, Iterations: m.Iterations, Start: m.Start, Costs: map[string]*float64{}}
		if !m.End.IsZero() {
			g.Seconds = m.End.Sub(m.Start).Seconds()
		}
		terms := make([]string, len(m.FinalCosts))
		row := make([]float64, len(m.FinalCosts))
		for i, c := range m.FinalCosts {
			terms[i], row[i] = c.Name, c.Value
		}
		g.Costs = costMap(terms, row)
		g.Image = runImage(dir)
		if g.Image != "" {
			g.ImageURL = "/api/files/" + path.Join(e.Name(), g.Image)
		}
		out = append(out, g)
	}
	slices.SortStableFunc(out, func(a, b GalleryRun) int { return b.Start.Compare(a.Start) })
	return out
}

// runImage names a run folder's best image: final, else last, else the
// latest intermediate image; "" when there is none.
func runImage(dir string) string {
	for _, n := range []string{"final.png", "final.jpg", "last.png", "last.jpg"} {
		if fileExists(filepath.Join(dir, n)) {
			return n
		}
	}
	imgs := imagesIn(dir)
	if len(imgs) == 0 {
		return ""
	}
	return imgs[len(imgs)-1]
}

// handleGalleryResume queues the resumption of an interrupted run folder
// of the gallery and answers {"id": ...}. The folder's config.yaml must
// pass the same checks as a posted config: a folder written by nst run may
// name files outside the roots.
func (s *Server) handleGalleryResume(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	dir := filepath.Join(s.roots.runs, name)
	if st, err := os.Lstat(dir); name != filepath.Base(name) || strings.HasPrefix(name, ".") || err != nil || !st.IsDir() {
		writeError(w, http.StatusNotFound, fmt.Errorf("no run folder %q", name))
		return
	}
	raw, err := s.readRunFile(name, "config.yaml")
	if err != nil {
		writeError(w, http.StatusNotFound, fmt.Errorf("run %q: %w", name, err))
		return
	}
	if _, err := s.roots.loadConfig(raw); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("run %q cannot be resumed here: %w", name, err))
		return
	}
	for _, j := range s.queue.list() {
		j.mu.Lock()
		busy := j.dir == dir && (j.state == StateQueued || j.state == StateRunning || j.state == StateStopping)
		j.mu.Unlock()
		if busy {
			writeError(w, http.StatusConflict, fmt.Errorf("run %q is already queued or running as %s", name, j.id))
			return
		}
	}
	j := s.queue.addResume(dir)
	writeJSON(w, http.StatusCreated, map[string]string{"id": j.id})
}

// DiffLine is a line of a config diff: Op is "=" (both), "-" (only in a)
// or "+" (only in b).
type DiffLine struct {
	Op   string `json:"op"`
	Text string `json:"text"`
}

// handleDiff compares the config.yaml of the run folders a and b line by
// line.
func (s *Server) handleDiff(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var texts [2][]string
	for i, name := range []string{q.Get("a"), q.Get("b")} {
		raw, err := s.readRunFile(name, "config.yaml")
		if err != nil {
			writeError(w, http.StatusNotFound, fmt.Errorf("run %q: %w", name, err))
			return
		}
		texts[i] = strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	}
	writeJSON(w, http.StatusOK, map[string]any{"a": q.Get("a"), "b": q.Get("b"), "lines": diffLines(texts[0], texts[1])})
}

// readRunFile reads file from the run folder name, through os.Root.
func (s *Server) readRunFile(name, file string) ([]byte, error) {
	if name == "" {
		return nil, errors.New("no run named")
	}
	f, err := openIn(s.roots.runs, path.Join(name, file))
	if err != nil {
		return nil, errors.New("no such run folder with a " + file)
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxConfigBytes))
}

// diffLines is a longest-common-subsequence line diff of a and b; configs
// are a few dozen lines, so the quadratic table is small.
func diffLines(a, b []string) []DiffLine {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []DiffLine
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			out = append(out, DiffLine{"=", a[i]})
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, DiffLine{"-", a[i]})
			i++
		default:
			out = append(out, DiffLine{"+", b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, DiffLine{"-", a[i]})
	}
	for ; j < m; j++ {
		out = append(out, DiffLine{"+", b[j]})
	}
	return out
}

// SweepSheets are a sweep folder's contact sheets.
type SweepSheets struct {
	Name   string   `json:"name"`
	Sheets []string `json:"sheets"`
	Error  string   `json:"error,omitempty"`
}

// handleSweeps lists the sweep folders (those with a sweep.json) directly
// in the runs folder with their contact sheets, drawing the sheets of a
// sweep that has none yet (sweep.Sheet writes them into its folder).
func (s *Server) handleSweeps(w http.ResponseWriter, _ *http.Request) {
	out := []SweepSheets{}
	entries, _ := os.ReadDir(s.roots.runs)
	for _, e := range entries {
		dir := filepath.Join(s.roots.runs, e.Name())
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || !fileExists(filepath.Join(dir, "sweep.json")) {
			continue
		}
		sw := SweepSheets{Name: e.Name(), Sheets: []string{}}
		sheets, _ := filepath.Glob(filepath.Join(dir, "sheet*.png"))
		if len(sheets) == 0 {
			idx, err := sweep.Sheet(dir, sweep.SheetOptions{})
			if err != nil {
				sw.Error = err.Error()
			}
			for _, ix := range idx {
				sheets = append(sheets, filepath.Join(dir, ix.Image))
			}
		}
		for _, p := range sheets {
			sw.Sheets = append(sw.Sheets, "/api/files/"+path.Join(e.Name(), filepath.Base(p)))
		}
		out = append(out, sw)
	}
	writeJSON(w, http.StatusOK, out)
}

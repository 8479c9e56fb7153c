package studio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/nst-project/nst/pipeline"
)

// CheckResult answers POST /api/check.
type CheckResult struct {
	OK     bool     `json:"ok"`
	Errors []string `json:"errors"`
}

// handleCheck runs the config checker on the body (YAML) and lists its
// errors; nothing runs.
func (s *Server) handleCheck(w http.ResponseWriter, r *http.Request) {
	raw, code, err := readBody(w, r, maxConfigBytes)
	if err != nil {
		writeError(w, code, err)
		return
	}
	res := CheckResult{OK: true, Errors: []string{}}
	if _, err := s.roots.loadConfig(raw); err != nil {
		res.OK, res.Errors = false, splitErrors(err)
	}
	writeJSON(w, http.StatusOK, res)
}

// handleCreateRun queues the run the body's config (YAML) describes and
// answers {"id": ...}.
func (s *Server) handleCreateRun(w http.ResponseWriter, r *http.Request) {
	raw, code, err := readBody(w, r, maxConfigBytes)
	if err != nil {
		writeError(w, code, err)
		return
	}
	cfg, err := s.roots.loadConfig(raw)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	j := s.queue.add(cfg)
	writeJSON(w, http.StatusCreated, map[string]string{"id": j.id})
}

// handleListRuns lists the runs started by this server, oldest first.
func (s *Server) handleListRuns(w http.ResponseWriter, _ *http.Request) {
	out := []Status{}
	for _, j := range s.queue.list() {
		out = append(out, s.status(j))
	}
	writeJSON(w, http.StatusOK, out)
}

// status describes j, with its place in the queue.
func (s *Server) status(j *job) Status {
	pos := s.queue.position(j)
	j.mu.Lock()
	defer j.mu.Unlock()
	st := j.status(s.roots.runs)
	st.Queue = pos
	return st
}

// job finds the run the path's {id} names, or answers 404.
func (s *Server) job(w http.ResponseWriter, r *http.Request) *job {
	j := s.queue.get(r.PathValue("id"))
	if j == nil {
		writeError(w, http.StatusNotFound, fmt.Errorf("no run %q", r.PathValue("id")))
	}
	return j
}

func (s *Server) handleGetRun(w http.ResponseWriter, r *http.Request) {
	if j := s.job(w, r); j != nil {
		writeJSON(w, http.StatusOK, s.status(j))
	}
}

func (s *Server) handleStop(w http.ResponseWriter, r *http.Request) {
	j := s.job(w, r)
	if j == nil {
		return
	}
	if err := s.queue.stop(j); err != nil {
		writeError(w, http.StatusConflict, err)
		return
	}
	writeJSON(w, http.StatusOK, s.status(j))
}

func (s *Server) handleResume(w http.ResponseWriter, r *http.Request) {
	j := s.job(w, r)
	if j == nil {
		return
	}
	if err := s.queue.resume(j); err != nil {
		writeError(w, http.StatusConflict, err)
		return
	}
	writeJSON(w, http.StatusOK, s.status(j))
}

// IterationEvent is the data of an SSE "iteration" event.
type IterationEvent struct {
	Iteration  int                 `json:"iteration"`
	Iterations int                 `json:"iterations"`
	Costs      map[string]*float64 `json:"costs"`
	// Image is the current image's URL; its v parameter counts up with
	// the iterations, so that a client knows when to fetch it again.
	Image string `json:"image"`
}

// handleEvents streams a run's progress as server-sent events: "state"
// (a Status) whenever the run's state changes, and "iteration" (an
// IterationEvent) for every step, from the first, so that a late client
// still draws the whole cost curve. A slow client gets the steps it
// missed in one burst; the run never waits for it.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	j := s.job(w, r)
	if j == nil {
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, errors.New("streaming unsupported"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	sent, lastState, lastIter := 0, "", -1
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		st := s.status(j)
		j.mu.Lock()
		var evs []IterationEvent
		for ; sent < len(j.history); sent++ {
			it := j.iters[sent]
			evs = append(evs, IterationEvent{Iteration: it, Iterations: j.iterations,
				Costs: costMap(j.terms, j.history[sent]), Image: fmt.Sprintf("/api/runs/%s/image?v=%d", j.id, it)})
		}
		changed := j.changed
		j.mu.Unlock()
		for _, ev := range evs {
			if err := sse(w, "iteration", ev); err != nil {
				return
			}
		}
		if st.State != lastState || st.Iteration != lastIter {
			if err := sse(w, "state", st); err != nil {
				return
			}
			lastState, lastIter = st.State, st.Iteration
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// sse writes one server-sent event.
func sse(w http.ResponseWriter, name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("event %s: %w", name, err)
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
	return err
}

// handleImage sends a run's current image as PNG: while it runs, the
// image of its latest step, which the run computes only because this
// request asked for it (see job.Observe); once it has ended, its final (or
// last) image file.
func (s *Server) handleImage(w http.ResponseWriter, r *http.Request) {
	j := s.job(w, r)
	if j == nil {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	deadline := time.NewTimer(imageWait)
	defer deadline.Stop()
	for {
		j.mu.Lock()
		running := j.state == StateRunning || j.state == StateStopping
		fresh := j.snap != nil && j.snapIter >= j.iteration
		final, changed := j.finalImage, j.changed
		if !running && final != "" {
			j.mu.Unlock()
			s.serveRunFile(w, r, final)
			return
		}
		if !running || fresh {
			data, err := j.encodeSnap()
			j.mu.Unlock()
			if err != nil {
				writeError(w, http.StatusInternalServerError, err)
				return
			}
			if data == nil {
				writeError(w, http.StatusNotFound, errors.New("the run has no image yet"))
				return
			}
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(data)
			return
		}
		j.want.Store(true)
		j.mu.Unlock()
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		case <-deadline.C:
			// The run is slow to take its next step: send what there is.
			j.mu.Lock()
			data, err := j.encodeSnap()
			j.mu.Unlock()
			if err != nil || data == nil {
				writeError(w, http.StatusServiceUnavailable, errors.New("the run has not handed over an image yet; try again"))
				return
			}
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(data)
			return
		}
	}
}

// encodeSnap returns the latest snapshot as PNG, encoding it once per
// snapshot whoever asks; nil when there is none. j.mu is held.
func (j *job) encodeSnap() ([]byte, error) {
	if j.snap == nil {
		return nil, nil
	}
	if j.pngBytes != nil && j.pngVer == j.snapVer {
		return j.pngBytes, nil
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, j.snap); err != nil {
		return nil, fmt.Errorf("encode image: %w", err)
	}
	j.pngBytes, j.pngVer = buf.Bytes(), j.snapVer
	return j.pngBytes, nil
}

// serveRunFile sends the file at the absolute path p, which must lie in
// the runs folder.
func (s *Server) serveRunFile(w http.ResponseWriter, r *http.Request, p string) {
	rel, err := filepath.Rel(s.roots.runs, p)
	if err != nil || !within(filepath.Join(s.roots.runs, rel), s.roots.runs) {
		writeError(w, http.StatusNotFound, errors.New("image not found"))
		return
	}
	s.serveFrom(w, r, s.roots.runs, filepath.ToSlash(rel))
}

// serveFrom sends the file name (relative, slash-separated) from dir,
// opened through os.Root so that nothing outside dir can be reached.
func (s *Server) serveFrom(w http.ResponseWriter, r *http.Request, dir, name string) {
	f, err := openIn(dir, name)
	if err != nil {
		writeError(w, http.StatusNotFound, fmt.Errorf("%s: not found", name))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		writeError(w, http.StatusNotFound, fmt.Errorf("%s: not a file", name))
		return
	}
	http.ServeContent(w, r, st.Name(), st.ModTime(), f)
}

// errNotServed answers requests for kinds of files the studio never sends.
var errNotServed = errors.New("only images, config.yaml, manifest.json, costs.csv and sweep sheets are served")

// servedExt lists the file name endings /api/files sends.
var servedExt = map[string]bool{".png": true, ".jpg": true, ".jpeg": true, ".yaml": true, ".json": true, ".csv": true}

// handleFile sends a file from the runs folder (uploads included).
func (s *Server) handleFile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("path")
	if !servedExt[filepath.Ext(name)] {
		writeError(w, http.StatusNotFound, errNotServed)
		return
	}
	s.serveFrom(w, r, s.roots.runs, name)
}

// handleExample sends an image from the examples folder.
func (s *Server) handleExample(w http.ResponseWriter, r *http.Request) {
	s.serveFrom(w, r, s.roots.examples, r.PathValue("name"))
}

// fileExists reports whether p is a regular file.
func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// Defaults answers GET /api/defaults: what the composer starts from.
type Defaults struct {
	// Base is YAML added after the keys the controls set.
	Base string `json:"base"`
	// Layers are the layer names offered; StyleLayers and ContentLayers
	// those ticked at first.
	Layers        []string `json:"layers"`
	StyleLayers   []string `json:"style_layers"`
	ContentLayers []string `json:"content_layers"`
	Size          int      `json:"size"`
	Iterations    int      `json:"iterations"`
	StyleWeight   float64  `json:"style_weight"`
	ContentWeight float64  `json:"content_weight"`
	TVWeight      float64  `json:"tv_weight"`
	Color         string   `json:"color"`
}

func (s *Server) handleDefaults(w http.ResponseWriter, _ *http.Request) {
	d := pipeline.Default()
	out := Defaults{Base: s.opt.Base, Layers: s.opt.Layers, Size: d.Size, Iterations: d.Optimizer.Iterations,
		StyleWeight: d.Weights.Style, ContentWeight: d.Weights.Content, TVWeight: d.Weights.TV, Color: d.Color}
	for _, l := range s.opt.Layers {
		if _, ok := pipeline.DefaultStyleLayers[l]; ok {
			out.StyleLayers = append(out.StyleLayers, l)
		}
		if _, ok := pipeline.DefaultContentLayers[l]; ok {
			out.ContentLayers = append(out.ContentLayers, l)
		}
	}
	if len(out.StyleLayers) == 0 {
		out.StyleLayers = s.opt.Layers
	}
	if len(out.ContentLayers) == 0 && len(s.opt.Layers) > 0 {
		out.ContentLayers = s.opt.Layers[len(s.opt.Layers)-1:]
	}
	writeJSON(w, http.StatusOK, out)
}

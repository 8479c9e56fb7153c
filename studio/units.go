package studio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nst-project/nst/pipeline"
	"github.com/nst-project/nst/unitviz"
)

// UnitsDir is the folder, inside the runs folder, that holds the contact
// sheets of units: the studio writes its sheets there, and lists every
// sheet there with its JSON listing beside it (nst units top --out
// runs/units/NAME.png puts one there).
const UnitsDir = "units"

// Bounds on a sheet the studio draws, beside unitviz's own (unit count,
// image size, sheet size) and the memory check of pipeline.UnitsTop.
const (
	// maxUnitsImages bounds the images one sheet searches.
	maxUnitsImages = 100
	// defaultUnitsTop is how many patches per unit a request that names
	// none gets, as nst units top's --top.
	defaultUnitsTop = 9
	// maxListingBytes bounds a listing the studio reads (4096 units of 9
	// patches take about 15 MB).
	maxListingBytes = 32 << 20
)

// Image sources a sheet may search.
const (
	SourceExamples = "examples" // the examples folder
	SourceUploads  = "uploads"  // the uploads folder
	SourceRuns     = "runs"     // the runs' final (or last) images, as the gallery shows them
)

// UnitsSource names the config whose backbone a units request uses: the
// YAML of a config (the composer's), or the run folder whose config.yaml
// to use. Either passes the checks of a posted config.
type UnitsSource struct {
	Config string `json:"config,omitempty"`
	Run    string `json:"run,omitempty"`
}

// UnitsRequest is the body of POST /api/units: a contact sheet of the top
// patches of units of a layer, as nst units top draws it.
type UnitsRequest struct {
	UnitsSource
	Layer string `json:"layer"`
	// Units lists the units as nst units top's --units: "0-15", "3,7,12-14".
	Units string `json:"units"`
	// Images lists the sources to search (SourceExamples, SourceUploads,
	// SourceRuns); none means the examples.
	Images []string `json:"images,omitempty"`
	// Size is the longer side images are resized to (0: the config's
	// size); Top the patches per unit (0: 9); Inside keeps only fields
	// wholly inside the image.
	Size   int  `json:"size,omitempty"`
	Top    int  `json:"top,omitempty"`
	Inside bool `json:"inside,omitempty"`
}

// UnitsCreated answers POST /api/units: the job's id (its state at
// /api/runs/{id}, stopped by /api/runs/{id}/stop) and where the sheet and
// its listing will be once it is done.
type UnitsCreated struct {
	ID string `json:"id"`
	// Name is the sheet's file name in the runs folder's units folder.
	Name    string `json:"name"`
	Sheet   string `json:"sheet"`
	Listing string `json:"listing"`
}

// UnitsLayer is a layer a sheet may be drawn for.
type UnitsLayer struct {
	Name     string `json:"name"`
	Channels int    `json:"channels"`
	Stride   int    `json:"stride"`
	Op       string `json:"op"`
	// Field is the receptive field's height and width in pixels.
	Field [2]int `json:"field"`
}

// UnitsLayers answers POST /api/units/layers: the backbone's layers, as
// nst model inspect lists them, those with a receptive field only.
type UnitsLayers struct {
	Model  string       `json:"model"`
	Size   int          `json:"size"`
	Layers []UnitsLayer `json:"layers"`
}

// UnitSheet is a contact sheet in the units folder.
type UnitSheet struct {
	// Name is the sheet's file name in the units folder.
	Name       string    `json:"name"`
	URL        string    `json:"url"`
	ListingURL string    `json:"listing_url"`
	Layer      string    `json:"layer"`
	Model      string    `json:"model"`
	Units      []int     `json:"units"`
	Images     int       `json:"images"`
	Patches    int       `json:"patches"`
	Created    time.Time `json:"created"`
}

// unitsWork is a units job's sheet: what pipeline.UnitsTop computes, on
// which config, and the sheet's file name in the units folder.
type unitsWork struct {
	cfg   *pipeline.Config
	opts  pipeline.UnitsTopOptions
	name  string
	label string
}

func (w *unitsWork) url() string { return "/api/files/" + path.Join(UnitsDir, w.name) }

func (w *unitsWork) listingURL() string {
	return "/api/files/" + path.Join(UnitsDir, strings.TrimSuffix(w.name, ".png")+".json")
}

// maxUnitsBody bounds the body of the units routes: a config, escaped.
const maxUnitsBody = 2*maxConfigBytes + 4096

// readUnitsJSON decodes a units route's JSON body into v, refusing
// unknown keys.
func readUnitsJSON(w http.ResponseWriter, r *http.Request, v any) (int, error) {
	raw, code, err := readBody(w, r, maxUnitsBody)
	if err != nil {
		return code, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return http.StatusBadRequest, fmt.Errorf("units: request body: %w", err)
	}
	return 0, nil
}

// unitsConfig loads the config src names through the checks of a posted
// config (paths in the roots, no zoo model, no runtime.library).
func (s *Server) unitsConfig(src UnitsSource) (*pipeline.Config, int, error) {
	var raw []byte
	switch {
	case src.Config != "" && src.Run != "":
		return nil, http.StatusBadRequest, errors.New("units: give a config or a run, not both")
	case src.Run != "":
		name := src.Run
		if name != filepath.Base(name) || strings.HasPrefix(name, ".") {
			return nil, http.StatusNotFound, fmt.Errorf("units: no run folder %q", name)
		}
		var err error
		if raw, err = s.readRunFile(name, "config.yaml"); err != nil {
			return nil, http.StatusNotFound, fmt.Errorf("units: run %q: %w", name, err)
		}
	case src.Config != "":
		if len(src.Config) > maxConfigBytes {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("units: config over the limit of %d bytes", maxConfigBytes)
		}
		raw = []byte(src.Config)
	default:
		return nil, http.StatusBadRequest, errors.New("units: no config; give the YAML of a config or the name of a run folder")
	}
	cfg, err := s.roots.loadConfig(raw)
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("units: config: %w", err)
	}
	return cfg, 0, nil
}

// handleUnitsLayers lists the layers of the backbone a config names, for
// the page's choice of layer. Opening a backbone reads its graph only (no
// session, nothing runs), so it does not wait for the queue.
func (s *Server) handleUnitsLayers(w http.ResponseWriter, r *http.Request) {
	var src UnitsSource
	if code, err := readUnitsJSON(w, r, &src); err != nil {
		writeError(w, code, err)
		return
	}
	cfg, code, err := s.unitsConfig(src)
	if err != nil {
		writeError(w, code, err)
		return
	}
	b, err := cfg.Model.OpenBackbone(r.Context(), io.Discard)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("units: open the backbone: %w", err))
		return
	}
	out := UnitsLayers{Model: b.Describe(), Size: cfg.Size, Layers: []UnitsLayer{}}
	for _, l := range b.Layers() {
		f, err := b.ReceptiveField(l.Name)
		if err != nil || l.AliasOf != "" {
			continue
		}
		out.Layers = append(out.Layers, UnitsLayer{Name: l.Name, Channels: l.Channels, Stride: l.Stride, Op: l.Op, Field: [2]int{f.Height, f.Width}})
	}
	writeJSON(w, http.StatusOK, out)
}

// handleCreateUnits checks a UnitsRequest, as far as it can without
// running the network (config, layer, units, size against memory, the
// sheet's size, the images), and queues its sheet behind the runs.
func (s *Server) handleCreateUnits(w http.ResponseWriter, r *http.Request) {
	var req UnitsRequest
	if code, err := readUnitsJSON(w, r, &req); err != nil {
		writeError(w, code, err)
		return
	}
	cfg, code, err := s.unitsConfig(req.UnitsSource)
	if err != nil {
		writeError(w, code, err)
		return
	}
	units, err := unitviz.ParseUnits(req.Units)
	switch {
	case req.Layer == "":
		err = errors.New("units: no layer; list them with POST /api/units/layers")
	case err != nil:
		err = fmt.Errorf("units: %w", err)
	case req.Size < 0 || req.Size > unitviz.MaxSize:
		err = fmt.Errorf("units: size %d; want 0 (the config's size) or a long side of 1 to %d pixels", req.Size, unitviz.MaxSize)
	case req.Top < 0:
		err = fmt.Errorf("units: top %d; want 0 (%d) or more patches per unit", req.Top, defaultUnitsTop)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if req.Size == 0 {
		req.Size = cfg.Size
	}
	if req.Top == 0 {
		req.Top = defaultUnitsTop
	}
	images, err := s.unitsImages(req.Images)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	network, err := pipeline.OpenUnitsNetwork(r.Context(), cfg, req.Layer, req.Size, io.Discard)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("units: %w", err))
		return
	}
	top := unitviz.TopOptions{Network: network, Layer: req.Layer, Units: units, Top: req.Top, Size: req.Size, Inside: req.Inside}
	if err := top.Check(len(images)); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("units: %w", err))
		return
	}
	field, err := network.Backbone.ReceptiveField(req.Layer)
	if err == nil {
		err = unitviz.CheckSheet(len(units), req.Top, field, unitviz.SheetOptions{})
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("units: %w", err))
		return
	}
	s.unitsMu.Lock()
	defer s.unitsMu.Unlock()
	dir, err := s.unitsDir()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	name := s.sheetName(dir, req.Layer, req.Units)
	sheet := filepath.Join(dir, name)
	work := &unitsWork{cfg: cfg, name: name, label: fmt.Sprintf("units %s %s", req.Layer, req.Units),
		opts: pipeline.UnitsTopOptions{Layer: req.Layer, Units: units, Top: req.Top, Inside: req.Inside,
			Images: images, Size: req.Size, Sheet: sheet, Listing: strings.TrimSuffix(sheet, ".png") + ".json"}}
	j := s.queue.addUnits(work)
	s.log.Info("studio: units queued", "id", j.id, "layer", req.Layer, "units", len(units), "images", len(images), "size", req.Size)
	writeJSON(w, http.StatusCreated, UnitsCreated{ID: j.id, Name: name, Sheet: work.url(), Listing: work.listingURL()})
}

// unitsImages lists the image files of the sources named (none: the
// examples), resolved and kept only where they lie in the roots: a run's
// final.png that links out of the runs folder is left out.
func (s *Server) unitsImages(sources []string) ([]string, error) {
	if len(sources) == 0 {
		sources = []string{SourceExamples}
	}
	var paths []string
	for _, src := range sources {
		switch src {
		case SourceExamples:
			paths = append(paths, unitsImagesIn(s.roots.examples)...)
		case SourceUploads:
			paths = append(paths, unitsImagesIn(s.roots.uploads)...)
		case SourceRuns:
			for _, g := range s.gallery() {
				if g.Image != "" {
					paths = append(paths, filepath.Join(s.roots.runs, g.Name, g.Image))
				}
			}
		default:
			return nil, fmt.Errorf("units: image source %q; want %s, %s or %s", src, SourceExamples, SourceUploads, SourceRuns)
		}
	}
	var out []string
	for _, p := range paths {
		if real, err := s.roots.readable(p); err == nil && !slices.Contains(out, real) {
			out = append(out, real)
		}
	}
	switch {
	case len(out) == 0:
		return nil, fmt.Errorf("units: no images in %s; choose another source, or upload images", strings.Join(sources, ", "))
	case len(out) > maxUnitsImages:
		return nil, fmt.Errorf("units: %d images in %s; a sheet searches at most %d", len(out), strings.Join(sources, ", "), maxUnitsImages)
	}
	return out, nil
}

// sheetImageExt lists the image files a units sheet may search: any an
// upload may be.
var sheetImageExt = map[string]bool{".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".bmp": true, ".tif": true, ".tiff": true}

// unitsImagesIn lists the paths of the image files directly in dir that a
// sheet may search (sheetImageExt), sorted.
func unitsImagesIn(dir string) []string {
	var out []string
	for _, name := range filesIn(dir, sheetImageExt) {
		out = append(out, filepath.Join(dir, name))
	}
	return out
}

// unitsDir returns the units folder, made if missing; it must be a
// folder of the runs folder itself, not a link to one elsewhere.
func (s *Server) unitsDir() (string, error) {
	dir := filepath.Join(s.roots.runs, UnitsDir)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("units: make the units folder: %w", err)
	}
	if st, err := os.Lstat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("units: %s is not a folder of the runs folder (a link?); the studio writes only inside the runs folder", UnitsDir)
	}
	if fileExists(filepath.Join(dir, "manifest.json")) {
		return "", fmt.Errorf("units: %s in the runs folder is a run's folder; rename it to keep sheets apart from runs", UnitsDir)
	}
	return dir, nil
}

// sheetName names a new sheet of layer's units in dir, LAYER_units_UNITS.png
// with -2, -3, ... where that name is taken by a file (the sheet or its
// listing) or by a sheet in the queue. s.unitsMu is held.
func (s *Server) sheetName(dir, layer, units string) string {
	base := runNameRE.ReplaceAllString(layer+"_units_"+strings.ReplaceAll(units, ",", "_"), "-")
	base = strings.Trim(base, ".-")
	if len(base) > 64 {
		base = base[:64]
	}
	if base == "" {
		base = "units"
	}
	taken := map[string]bool{}
	for _, j := range s.queue.list() {
		if j.units != nil {
			taken[j.units.name] = true
		}
	}
	for n := 1; ; n++ {
		name := base
		if n > 1 {
			name = fmt.Sprintf("%s-%d", base, n)
		}
		_, errSheet := os.Lstat(filepath.Join(dir, name+".png"))
		_, errListing := os.Lstat(filepath.Join(dir, name+".json"))
		if !taken[name+".png"] && errors.Is(errSheet, fs.ErrNotExist) && errors.Is(errListing, fs.ErrNotExist) {
			return name + ".png"
		}
	}
}

// sheetExt are the endings a sheet beside a listing may have.
var sheetExt = []string{".png", ".jpg", ".jpeg"}

// handleListUnits lists the sheets of the units folder, newest first: every
// listing (NAME.json, as unitviz.WriteListing writes it) with its sheet
// (NAME.png or .jpg) beside it. A sheet still being drawn has no listing
// yet and is not listed.
func (s *Server) handleListUnits(w http.ResponseWriter, _ *http.Request) {
	out := []UnitSheet{}
	root, err := os.OpenRoot(s.roots.runs)
	if err != nil {
		writeJSON(w, http.StatusOK, out)
		return
	}
	defer root.Close()
	entries, err := fs.ReadDir(root.FS(), UnitsDir)
	if err != nil {
		writeJSON(w, http.StatusOK, out) // no units folder yet
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		base := strings.TrimSuffix(name, ".json")
		sheet := ""
		for _, ext := range sheetExt {
			if st, err := root.Stat(path.Join(UnitsDir, base+ext)); err == nil && st.Mode().IsRegular() {
				sheet = base + ext
				break
			}
		}
		if sheet == "" {
			continue
		}
		l, mod, err := readListing(root, path.Join(UnitsDir, name))
		if err != nil {
			continue
		}
		u := UnitSheet{Name: sheet, URL: "/api/files/" + path.Join(UnitsDir, sheet), ListingURL: "/api/files/" + path.Join(UnitsDir, name),
			Layer: l.Layer, Model: l.Model, Units: []int{}, Images: l.Images, Patches: len(l.Patches), Created: mod}
		for _, p := range l.Patches {
			if !slices.Contains(u.Units, p.Unit) {
				u.Units = append(u.Units, p.Unit)
			}
		}
		out = append(out, u)
	}
	slices.SortStableFunc(out, func(a, b UnitSheet) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	writeJSON(w, http.StatusOK, out)
}

// readListing reads a units listing from root, within maxListingBytes,
// with its modification time; a file that is no listing (no layer) is an
// error.
func readListing(root *os.Root, name string) (*unitviz.Listing, time.Time, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, time.Time{}, fmt.Errorf("listing %s: not a file", name)
	}
	var l unitviz.Listing
	if err := json.NewDecoder(io.LimitReader(f, maxListingBytes)).Decode(&l); err != nil {
		return nil, time.Time{}, fmt.Errorf("listing %s: %w", name, err)
	}
	if l.Layer == "" {
		return nil, time.Time{}, fmt.Errorf("listing %s: no layer", name)
	}
	return &l, st.ModTime(), nil
}

// Package studio is nst's local web page: compose an experiment, watch it
// run (image, costs, progress), stop and resume it, compare the runs of a
// runs folder, and draw the contact sheets of what a layer's units respond
// to. It is a client of the run API: every run goes through pipeline.Run
// or pipeline.Resume and its observers, every sheet through
// pipeline.UnitsTop, one at a time.
//
// Everything the server reads or writes lies under its roots: the runs
// folder (uploads go to its .uploads folder, sheets of units to its units
// folder), the examples folder and the models folder. Every request must
// carry the server's access token.
package studio

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

//go:embed web
var webFiles embed.FS

// Limits on what a request may send.
const (
	// DefaultMaxUpload bounds an uploaded image file, in bytes.
	DefaultMaxUpload = 20 << 20
	// DefaultMaxUploadPixels bounds an uploaded image's width×height,
	// checked from its header before it is decoded.
	DefaultMaxUploadPixels = 40_000_000
	// maxConfigBytes bounds a config sent to /api/check or /api/runs.
	maxConfigBytes = 256 << 10
)

// UploadsDir is the folder, inside the runs folder, that holds uploads.
const UploadsDir = ".uploads"

// cookieName is the cookie the page keeps the token in after the first
// load with ?token=.
const cookieName = "nst_studio_token"

// Options configure a Server.
type Options struct {
	// RunsDir is the runs folder: runs are written there, the gallery
	// lists it and uploads go to its .uploads folder. It is created if
	// missing.
	RunsDir string
	// ExamplesDir holds example images offered to the composer (read
	// only); "" for none.
	ExamplesDir string
	// ModelsDir holds ONNX backbones a config may name in model.path (read
	// only); "" for none.
	ModelsDir string
	// Token is the access token; "" makes a random one (see Server.Token).
	Token string
	// MaxUpload bounds an upload in bytes (0: DefaultMaxUpload);
	// MaxUploadPixels its pixels (0: DefaultMaxUploadPixels).
	MaxUpload       int64
	MaxUploadPixels int64
	// Base is YAML the composer adds to the keys its controls set (a
	// model, runtime settings); "" for none.
	Base string
	// Layers are the layer names the composer offers; nil means VGG's.
	Layers []string
	// Log receives the server's log lines; nil means slog.Default().
	Log *slog.Logger
}

// Server is the studio's HTTP server: the page, the API and the run queue.
type Server struct {
	opt   Options
	roots *roots
	token string
	log   *slog.Logger
	queue *queue
	mux   *http.ServeMux
	// unitsMu makes choosing a new sheet's name and queueing it one step.
	unitsMu sync.Mutex
}

// New makes a server for o and starts its run queue, which runs until ctx
// is done (a running run is then stopped and leaves a checkpoint).
func New(ctx context.Context, o Options) (*Server, error) {
	if o.RunsDir == "" {
		return nil, errors.New("studio: no runs folder")
	}
	if o.MaxUpload <= 0 {
		o.MaxUpload = DefaultMaxUpload
	}
	if o.MaxUploadPixels <= 0 {
		o.MaxUploadPixels = DefaultMaxUploadPixels
	}
	if len(o.Layers) == 0 {
		o.Layers = []string{"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if err := os.MkdirAll(filepath.Join(o.RunsDir, UploadsDir), 0o755); err != nil {
		return nil, fmt.Errorf("studio: runs folder: %w", err)
	}
	r, err := newRoots(o.RunsDir, o.ExamplesDir, o.ModelsDir)
	if err != nil {
		return nil, fmt.Errorf("studio: %w", err)
	}
	token := o.Token
	if token == "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("studio: access token: %w", err)
		}
		token = hex.EncodeToString(b)
	}
	s := &Server{opt: o, roots: r, token: token, log: o.Log}
	s.queue = newQueue(ctx, o.Log)
	s.routes()
	return s, nil
}

// Token returns the access token every request must carry.
func (s *Server) Token() string { return s.token }

// Handler returns the server's HTTP handler: every route behind the token
// check.
func (s *Server) Handler() http.Handler { return s.authorize(s.mux) }

// Wait blocks until the run queue has stopped (after New's context is
// done).
func (s *Server) Wait() { s.queue.wait() }

// routes registers the page and the API.
func (s *Server) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(webFiles, "web") // cannot fail: web is embedded
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	})
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))

	m.HandleFunc("POST /api/check", s.handleCheck)
	m.HandleFunc("POST /api/runs", s.handleCreateRun)
	m.HandleFunc("GET /api/runs", s.handleListRuns)
	m.HandleFunc("GET /api/runs/{id}", s.handleGetRun)
	m.HandleFunc("GET /api/runs/{id}/events", s.handleEvents)
	m.HandleFunc("GET /api/runs/{id}/image", s.handleImage)
	m.HandleFunc("POST /api/runs/{id}/stop", s.handleStop)
	m.HandleFunc("POST /api/runs/{id}/resume", s.handleResume)

	m.HandleFunc("GET /api/images", s.handleImages)
	m.HandleFunc("POST /api/uploads", s.handleUpload)
	m.HandleFunc("GET /api/builtin/{name}", s.handleBuiltin)
	m.HandleFunc("GET /api/examples/{name}", s.handleExample)
	m.HandleFunc("GET /api/files/{path...}", s.handleFile)
	m.HandleFunc("GET /api/gallery", s.handleGallery)
	m.HandleFunc("POST /api/gallery/{name}/resume", s.handleGalleryResume)
	m.HandleFunc("GET /api/diff", s.handleDiff)
	m.HandleFunc("GET /api/sweeps", s.handleSweeps)
	m.HandleFunc("GET /api/defaults", s.handleDefaults)
	m.HandleFunc("POST /api/units/layers", s.handleUnitsLayers)
	m.HandleFunc("POST /api/units", s.handleCreateUnits)
	m.HandleFunc("GET /api/units", s.handleListUnits)
	s.mux = m
}

// authorize refuses, with 401, every request without the token: in an
// Authorization: Bearer header, a token query parameter, or the cookie.
// A page load with a valid ?token= sets the cookie and redirects to the
// same path without it, so that the token leaves the address bar.
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		q := r.URL.Query().Get("token")
		switch {
		case q != "" && s.valid(q):
			if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/") {
				s.setCookie(w, r)
				u := *r.URL
				vals := u.Query()
				vals.Del("token")
				u.RawQuery = vals.Encode()
				http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
				return
			}
		case s.valid(bearer(r)):
		case s.validCookie(r):
		default:
			h.Set("WWW-Authenticate", `Bearer realm="nst studio"`)
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong access token; open the URL nst serve printed"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// valid compares a presented token with the server's in constant time.
func (s *Server) valid(tok string) bool {
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) == 1
}

func (s *Server) validCookie(r *http.Request) bool {
	c, err := r.Cookie(cookieName)
	return err == nil && s.valid(c.Value)
}

// setCookie keeps the token in an HttpOnly, SameSite=Strict cookie, which
// page scripts cannot read and other sites' pages cannot send.
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: s.token, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// bearer returns the token of an Authorization: Bearer header.
func bearer(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// writeJSON sends v as JSON with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // a client that went away is not an error
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
	// Errors lists a config's problems one by one, where there are
	// several.
	Errors []string `json:"errors,omitempty"`
}

// writeError sends err as an apiError with status code.
func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, apiError{Error: err.Error(), Errors: splitErrors(err)})
}

// splitErrors lists the lines of err (errors.Join puts one per line).
func splitErrors(err error) []string {
	var out []string
	for l := range strings.SplitSeq(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// readBody reads at most limit bytes of r's body; a larger body is an
// error (413 from the caller).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, int, error) {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request body over the limit of %d bytes", limit)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("read request body: %w", err)
	}
	return raw, 0, nil
}

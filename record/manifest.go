package record

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/nst-project/nst/internal/atomicfile"
	"github.com/nst-project/nst/internal/runlock"
	"github.com/nst-project/nst/internal/safefile"
)

// Run states recorded in Manifest.Status. A failed run records "failed: "
// followed by the error; see exitStatus.
const (
	StatusRunning     = "running"
	StatusCompleted   = "completed"
	StatusInterrupted = "interrupted"
)

// Manifest describes one run well enough to reproduce it and to tell which
// inputs, model and build produced an output. Fields are written in the
// order declared here.
type Manifest struct {
	Program     Program   `json:"program"`
	Host        Host      `json:"host"`
	ONNXRuntime string    `json:"onnxruntime_version"`
	Threads     int       `json:"threads"`
	Seed        int64     `json:"seed"`
	Model       Model     `json:"model"`
	Inputs      []Input   `json:"inputs"`
	Settings    any       `json:"settings,omitempty"` // the resolved configuration, as the caller chooses to record it
	Start       time.Time `json:"start,omitzero"`
	End         time.Time `json:"end,omitzero"`
	Phases      []Phase   `json:"phases"`
	Iterations  int       `json:"iterations"`
	FinalCosts  []Cost    `json:"final_costs"`
	// Memory is the peak memory nst estimated before the run (the figure
	// it refuses runs by) beside the peak the process reached.
	Memory *Memory `json:"memory,omitempty"`
	// Converged lists the scales the convergence test ended early.
	Converged []Convergence `json:"converged,omitempty"`
	// Tiled lists the scales evaluated in tiles (runtime.tile).
	Tiled  []Tiling `json:"tiled,omitempty"`
	Status string   `json:"status"`
	// Killed is set by ReadRunManifest when the manifest said "running"
	// but the run's process was gone: it ended without a word (SIGKILL,
	// the OOM killer, a power cut), and Status now says interrupted.
	Killed bool `json:"-"`
}

// Tiling records a scale evaluated in tiles: the image's size, the tiles'
// side and count, and the crop each tile was evaluated on.
type Tiling struct {
	Scale  int    `json:"scale"`
	Size   string `json:"size"`
	Side   int    `json:"tile"`
	Tiles  int    `json:"tiles"`
	Crop   string `json:"crop"`
	Margin int    `json:"margin"`
}

// Memory compares a run's estimated and measured peak memory, in bytes.
type Memory struct {
	Estimated int64 `json:"estimated_peak_bytes"`
	// Measured is the process's peak resident memory (VmHWM) when the run
	// ended; 0 where the system does not say.
	Measured int64 `json:"measured_peak_bytes"`
}

// Convergence records a scale that stopped before its planned iterations
// because the cost had stopped falling.
type Convergence struct {
	// Scale is the scale's index and Iteration the run's step count then.
	Scale     int `json:"scale"`
	Iteration int `json:"iteration"`
	// Change is the relative fall of the cost over the last Window steps,
	// below Tolerance.
	Change    float64 `json:"relative_change"`
	Window    int     `json:"window"`
	Tolerance float64 `json:"tolerance"`
}

// Program identifies the nst build.
type Program struct {
	Version  string `json:"version"`            // module version, "(devel)" for a source build
	Revision string `json:"revision,omitempty"` // VCS commit, when the build recorded it
	Time     string `json:"vcs_time,omitempty"` // commit time, when recorded
	Modified bool   `json:"modified,omitempty"` // the working tree had uncommitted changes
}

// Host describes the machine and toolchain.
type Host struct {
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
}

// Model identifies the network that scored the images.
type Model struct {
	Description string `json:"description"`
	Path        string `json:"path,omitempty"`
	SHA256      string `json:"sha256"`
}

// Input is one input image.
type Input struct {
	Role   string `json:"role"` // "content", "style", "init", ...
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// Phase is the wall-clock time spent in one part of the run.
type Phase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// Cost is one named cost value.
type Cost struct {
	Name  string
	Value float64
}

// costJSON is Cost's encoding: JSON has no NaN or infinities, which a
// diverged run does produce, so those are written as the strings "NaN",
// "+Inf" and "-Inf".
type costJSON struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
}

// MarshalJSON implements json.Marshaler.
func (c Cost) MarshalJSON() ([]byte, error) {
	var v []byte
	if math.IsNaN(c.Value) || math.IsInf(c.Value, 0) {
		v = strconv.AppendQuote(nil, strconv.FormatFloat(c.Value, 'g', -1, 64))
	} else {
		v, _ = json.Marshal(c.Value) // cannot fail for a finite float
	}
	return json.Marshal(costJSON{Name: c.Name, Value: v})
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *Cost) UnmarshalJSON(data []byte) error {
	var cj costJSON
	if err := json.Unmarshal(data, &cj); err != nil {
		return err
	}
	raw := string(cj.Value)
	if s, err := strconv.Unquote(raw); err == nil {
		raw = s
	}
	v, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		return fmt.Errorf("cost %q: value %s is not a number", cj.Name, cj.Value)
	}
	c.Name, c.Value = cj.Name, v
	return nil
}

// NewManifest returns a manifest for a run starting at start, with the
// program and host filled in and status "running".
func NewManifest(start time.Time) *Manifest {
	return &Manifest{
		Program: ProgramInfo(),
		Host: Host{
			GoVersion: runtime.Version(),
			OS:        runtime.GOOS,
			Arch:      runtime.GOARCH,
			CPUs:      runtime.NumCPU(),
		},
		Start:  start,
		Status: StatusRunning,
	}
}

// ProgramInfo reads the build's identity from the binary's embedded build
// information: the main module's version and, when the build was made from
// a VCS checkout with -buildvcs (go build's default there), its revision.
// Release is the version of nst this tree is released as; a build from a
// checkout reports it with "-dev" and its revision.
const Release = "v0.2.0"

func ProgramInfo() Program {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Program{Version: "unknown"}
	}
	p := Program{Version: bi.Main.Version}
	if p.Version == "" || p.Version == "(devel)" {
		// Built from a checkout (go build, go run): the release this
		// tree leads to, marked as a development build.
		p.Version = Release + "-dev"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			p.Revision = s.Value
		case "vcs.time":
			p.Time = s.Value
		case "vcs.modified":
			p.Modified = s.Value == "true"
		}
	}
	return p
}

// String formats the build's identity for humans, e.g.
// "(devel) rev 0561453a9c1e, modified".
func (p Program) String() string {
	s := p.Version
	if p.Revision != "" {
		s += " rev " + p.Revision[:min(len(p.Revision), 12)]
	}
	if p.Modified {
		s += ", modified"
	}
	return s
}

// AddPhase adds d to the time of the named phase, appending the phase the
// first time it is seen so that phases stay in the order they first ran.
func (m *Manifest) AddPhase(name string, d time.Duration) {
	for i := range m.Phases {
		if m.Phases[i].Name == name {
			m.Phases[i].Seconds += d.Seconds()
			return
		}
	}
	m.Phases = append(m.Phases, Phase{Name: name, Seconds: d.Seconds()})
}

// Finish records the end of the run: its end time, the iterations done, the
// final costs and the status exitStatus derives from err.
func (m *Manifest) Finish(end time.Time, iterations int, final []Cost, err error) {
	m.End = end
	m.Iterations = iterations
	m.FinalCosts = final
	m.Status = exitStatus(err)
}

// exitStatus is the manifest status of a run that ended with err: completed
// when err is nil, interrupted when it was cancelled or ran out of time
// (context.Canceled, context.DeadlineExceeded), and "failed: <err>"
// otherwise.
func exitStatus(err error) string {
	switch {
	case err == nil:
		return StatusCompleted
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return StatusInterrupted
	default:
		return "failed: " + err.Error()
	}
}

// Write writes m to path as indented JSON, atomically.
func (m *Manifest) Write(path string) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("write manifest %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// ReadManifest reads a manifest written by Write.
func ReadManifest(path string) (*Manifest, error) {
	data, err := safefile.ReadFile(path, safefile.MaxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", path, err)
	}
	return &m, nil
}

// claimGrace is how long a "running" manifest may go without its
// folder's lock before its run is taken for dead: a fresh run writes the
// manifest an instant before it takes the lock.
const claimGrace = 5 * time.Second

// ReadRunManifest reads the manifest of the run folder dir. A manifest
// that says "running" while no process holds the folder's lock
// (internal/runlock; every run holds it while it runs) belongs to a run
// whose process died without a word: it is rewritten, under the lock, to
// say "interrupted", and returned so with Killed set. Where the manifest
// cannot be rewritten (a read-only folder) it is still returned as
// interrupted.
func ReadRunManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestName)
	m, err := ReadManifest(path)
	if err != nil || m.Status != StatusRunning || !runlock.Supported || runlock.Held(dir) {
		return m, err
	}
	if st, err := os.Stat(path); err != nil || time.Since(st.ModTime()) < claimGrace {
		return m, nil // just claimed, perhaps: as recorded
	}
	unlock, err := runlock.Lock(dir)
	if err != nil {
		return m, nil // a run or resumer took it meanwhile
	}
	defer unlock()
	// Read again under the lock: a resumer may have finished meanwhile.
	if m, err = ReadManifest(path); err != nil || m.Status != StatusRunning {
		return m, err
	}
	m.Status, m.Killed = StatusInterrupted, true
	_ = m.Write(path) // a read-only folder keeps its manifest; the reader still learns
	return m, nil
}

// FileSHA256 returns the hex-encoded SHA-256 of the regular file at path
// (a named pipe or a device is refused, not read; the bound is the largest
// kind of input nst hashes, a model's external data).
func FileSHA256(path string) (string, error) {
	f, err := safefile.Open(path, safefile.MaxExternalDataBytes)
	if err != nil {
		return "", fmt.Errorf("hash file: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash file %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// SHA256Hex returns the hex-encoded SHA-256 of data, for a model or image
// already in memory.
func SHA256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

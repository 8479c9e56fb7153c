// Package ortrt loads the ONNX Runtime shared library once per process and
// opens sessions with nst's settings (threads, execution provider).
//
// It is the only package that talks to onnxruntime_go's environment, so the
// library lookup order and its error messages live in one place:
// an explicit path (config runtime.library), then $ONNXRUNTIME_LIB, then
// onnxruntime/lib/ in the nst source tree (where scripts/install-onnxruntime.sh
// puts it), then the system's dynamic loader path.
package ortrt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// installHint is the command that installs the supported library.
const installHint = "scripts/install-onnxruntime.sh"

// libName is the file name the install script links to the versioned library.
const libName = "libonnxruntime.so"

var (
	mu      sync.Mutex
	libPath string
	// openSessions counts the sessions created and not yet closed, so that
	// ReleaseArena knows when no session holds the shared arena.
	openSessions int
)

// Init loads the ONNX Runtime library and creates the process-wide
// environment. explicit may be empty. Later calls are no-ops when the library
// is already loaded, and an error when they name a different one.
func Init(explicit string) error {
	mu.Lock()
	defer mu.Unlock()
	if ort.IsInitialized() {
		if explicit != "" && explicit != libPath {
			return fmt.Errorf("onnx runtime already loaded from %s, cannot switch to %s in the same process", libPath, explicit)
		}
		return nil
	}
	path, err := findLibrary(explicit)
	if err != nil {
		return err
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("load ONNX Runtime from %s: %v; install a supported version (1.24.x) with %s, or point runtime.library or ONNXRUNTIME_LIB at one", path, err, installHint)
	}
	if err := shareArena(); err != nil {
		return err
	}
	libPath = path
	return nil
}

// shareArena registers one CPU memory arena with the environment, which
// every session then allocates from (session.use_env_allocators): nst's
// sessions run one after another, never together, so one arena serves
// them all. It grows by what is asked, not by powers of two. Measurements:
// docs/performance.md, "ONNX Runtime settings".
func shareArena() error {
	info, err := ort.GetMemoryInfo()
	if err != nil {
		return fmt.Errorf("shared memory arena: %w", err)
	}
	const sameAsRequested = 1
	cfg, err := ort.NewArenaCfg(0, sameAsRequested, -1, -1)
	if err != nil {
		return fmt.Errorf("shared memory arena: %w", err)
	}
	defer cfg.Destroy()
	if err := ort.CreateAndRegisterAllocator(info, cfg); err != nil {
		return fmt.Errorf("shared memory arena: %w", err)
	}
	return nil
}

// LibraryPath reports the library loaded by Init, or "" before Init.
func LibraryPath() string {
	mu.Lock()
	defer mu.Unlock()
	return libPath
}

// Version reports the loaded ONNX Runtime's version string.
func Version() string {
	if !ort.IsInitialized() {
		return ""
	}
	return ort.GetVersion()
}

// findLibrary applies the lookup order documented on the package.
func findLibrary(explicit string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("ONNX Runtime library %q (runtime.library): %w; run %s or fix the path", explicit, errors.Unwrap(err), installHint)
		}
		return explicit, nil
	}
	if env := os.Getenv("ONNXRUNTIME_LIB"); env != "" {
		if _, err := os.Stat(env); err != nil {
			return "", fmt.Errorf("ONNX Runtime library %q (ONNXRUNTIME_LIB): %w; run %s or fix the variable", env, errors.Unwrap(err), installHint)
		}
		return env, nil
	}
	for _, dir := range searchRoots() {
		p := filepath.Join(dir, "onnxruntime", "lib", libName)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	user := UserLibraryDir()
	dirs := append([]string{user}, systemDirs()...)
	for _, dir := range dirs {
		for _, name := range []string{libName, libName + ".1"} {
			p := filepath.Join(dir, name)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("ONNX Runtime library not found: looked at runtime.library, ONNXRUNTIME_LIB, onnxruntime/lib in the working folder, the executable's folder and their parents, then %s; run %s (it installs into the nst tree and %s), or set ONNXRUNTIME_LIB to the library's path", strings.Join(dirs, ", "), installHint, user)
}

// UserLibraryDir is the per-user folder where scripts/install-onnxruntime.sh
// also installs the library, so that an installed nst run outside the tree
// finds it: $XDG_DATA_HOME/nst/onnxruntime/lib, by default
// ~/.local/share/nst/onnxruntime/lib.
func UserLibraryDir() string {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "nst", "onnxruntime", "lib")
}

// searchRoots lists the working directory, the executable's directory and
// their parents, so both `go test` in a package folder and an installed binary
// beside the tree find the library the install script put in the tree.
func searchRoots() []string {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	var roots []string
	seen := map[string]bool{}
	for _, s := range starts {
		for d := s; ; d = filepath.Dir(d) {
			if !seen[d] {
				seen[d] = true
				roots = append(roots, d)
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return roots
}

func systemDirs() []string {
	dirs := filepath.SplitList(os.Getenv("LD_LIBRARY_PATH"))
	return append(dirs, "/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64")
}

// SessionOptions are the per-session settings nst exposes in its config.
type SessionOptions struct {
	// Threads is the intra-op thread count; 0 means one per core.
	Threads int
	// Device is "cpu" (default) or "cuda".
	Device string
	// ProfilePrefix, when set, turns on ONNX Runtime's per-node profiling;
	// the JSON file (prefix_DATE.json) is written when the session closes.
	ProfilePrefix string
	// SaveOptimized, when set, is the file where ONNX Runtime writes the
	// session's graph once optimised, in its own (ORT) format, for a later
	// session to open with ORTFormat.
	SaveOptimized string
	// ORTFormat says the model is an optimised graph SaveOptimized wrote.
	// The session then runs on the model's bytes as they are, weights
	// included, without parsing, optimising or copying them: the bytes
	// must stay unchanged and alive until the session is closed.
	ORTFormat bool
}

// Session is an ONNX Runtime session with fixed input and output names.
// Inputs and outputs are passed as tensors the caller allocates once and
// reuses, so a run copies nothing into fresh Go memory.
type Session struct {
	s       *ort.DynamicAdvancedSession
	inputs  []string
	outputs []string
}

// NewSession creates a session from a serialized ONNX model.
// Init must have succeeded first.
func NewSession(model []byte, inputs, outputs []string, o SessionOptions) (*Session, error) {
	if !ort.IsInitialized() {
		return nil, errors.New("onnx runtime not initialized (ortrt.Init)")
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	defer opts.Destroy()
	if err := configure(opts, o); err != nil {
		return nil, err
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, inputs, outputs, opts)
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	mu.Lock()
	openSessions++
	mu.Unlock()
	return &Session{s: s, inputs: inputs, outputs: outputs}, nil
}

// configure applies nst's settings to a session's options.
func configure(opts *ort.SessionOptions, o SessionOptions) error {
	threads := o.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	if err := opts.SetIntraOpNumThreads(threads); err != nil {
		return fmt.Errorf("set threads: %w", err)
	}
	// nst's graphs are chains: a second thread pool for parallel branches only
	// competes with the intra-op pool for the same cores.
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return fmt.Errorf("set inter-op threads: %w", err)
	}
	// nst runs several sessions one after another (forward, Gram products,
	// backward): worker threads that busy-wait after a run would compete
	// with the next session's threads for the same cores.
	if err := opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
		return fmt.Errorf("disable spinning: %w", err)
	}
	if err := opts.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableAll); err != nil {
		return fmt.Errorf("set optimisation level: %w", err)
	}
	if err := opts.AddSessionConfigEntry("session.use_env_allocators", "1"); err != nil {
		return fmt.Errorf("share the memory arena: %w", err)
	}
	// A memory pattern plans one block for all of a run's intermediate
	// tensors ahead of time, larger than what allocating each from the
	// arena as it is needed keeps live, for no measurable gain on a graph
	// of a few dozen large tensors.
	if err := opts.SetMemPattern(false); err != nil {
		return fmt.Errorf("disable memory patterns: %w", err)
	}
	if o.SaveOptimized != "" {
		if err := opts.AddSessionConfigEntry("session.save_model_format", "ORT"); err != nil {
			return fmt.Errorf("save optimised graph: %w", err)
		}
		if err := opts.SetOptimizedModelFilePath(o.SaveOptimized); err != nil {
			return fmt.Errorf("save optimised graph: %w", err)
		}
	}
	if o.ORTFormat {
		for _, key := range []string{"session.use_ort_model_bytes_directly", "session.use_ort_model_bytes_for_initializers"} {
			if err := opts.AddSessionConfigEntry(key, "1"); err != nil {
				return fmt.Errorf("open optimised graph: %w", err)
			}
		}
	}
	if o.ProfilePrefix != "" {
		if err := opts.EnableProfiling(o.ProfilePrefix); err != nil {
			return fmt.Errorf("enable profiling: %w", err)
		}
	}
	switch strings.ToLower(o.Device) {
	case "", "cpu":
	case "cuda":
		if err := CheckDevice(o.Device); err != nil {
			return err
		}
		cuda, err := ort.NewCUDAProviderOptions()
		if err != nil {
			return &ProviderError{Device: "cuda", Err: err, Detail: "this ONNX Runtime build has no CUDA provider"}
		}
		defer cuda.Destroy()
		if err := opts.AppendExecutionProviderCUDA(cuda); err != nil {
			return &ProviderError{Device: "cuda", Err: err, Detail: "this ONNX Runtime build has no usable CUDA provider"}
		}
	default:
		return fmt.Errorf("runtime.device %q: want cpu or cuda", o.Device)
	}
	return nil
}

// ErrProvider is matched (errors.Is) by the error of a session whose
// execution provider (runtime.device) cannot be set up. It says nothing
// of the model: callers must not treat it as a damaged graph.
var ErrProvider = errors.New("execution provider unavailable")

// ProviderError reports an execution provider that cannot be set up.
type ProviderError struct {
	// Device is the runtime.device asked for.
	Device string
	// Detail says what is missing.
	Detail string
	// Err is ONNX Runtime's error, if it gave one.
	Err error
}

// Error is one line naming the device, what is missing and the fix.
func (e *ProviderError) Error() string {
	msg := "runtime.device " + e.Device + ": " + e.Detail
	if e.Err != nil {
		msg += " (" + firstLine(e.Err.Error()) + ")"
	}
	return msg + "; use runtime.device: cpu, or a GPU build of ONNX Runtime (runtime.library)"
}

// Is makes errors.Is match ErrProvider.
func (e *ProviderError) Is(target error) bool { return target == ErrProvider }

// Unwrap returns ONNX Runtime's error.
func (e *ProviderError) Unwrap() error { return e.Err }

// firstLine is s up to its first line break, trimmed.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

// providerLibs are the libraries an ONNX Runtime build with a device's
// execution provider installs beside libonnxruntime.so.
var providerLibs = map[string][]string{
	"cuda": {"libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"},
}

// CheckDevice reports, with a *ProviderError, a device whose execution
// provider the loaded library lacks, by looking for its libraries beside
// the library, before ONNX Runtime is asked for it: asked, a CPU-only
// build logs a dozen lines for every session before failing. It returns
// nil for the CPU, before Init, and where the provider's libraries exist
// (ONNX Runtime may still fail to start it, on a machine without a GPU).
func CheckDevice(device string) error {
	libs := providerLibs[strings.ToLower(device)]
	lib := LibraryPath()
	if len(libs) == 0 || lib == "" {
		return nil
	}
	dir := filepath.Dir(lib)
	for _, name := range libs {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return &ProviderError{Device: strings.ToLower(device),
				Detail: fmt.Sprintf("this ONNX Runtime build has no %s provider (no %s beside %s)", strings.ToUpper(device), name, lib)}
		}
	}
	return nil
}

// Run executes the session, reading inputs and writing into outputs, both in
// the order of the names given to NewSession.
func (s *Session) Run(inputs, outputs []ort.Value) error {
	return s.s.Run(inputs, outputs)
}

// Binding runs a session on inputs and outputs bound once, through ONNX
// Runtime's IoBinding: a run passes no argument slices across cgo and
// allocates nothing in Go, where Session.Run allocates a few small slices
// per call. The bound tensors must stay alive, and keep their shapes,
// until the Binding is closed.
type Binding struct {
	s *Session
	b *ort.IoBinding
}

// Bind binds inputs and outputs, in the order of the names given to
// NewSession, for runs through the returned Binding.
func (s *Session) Bind(inputs, outputs []ort.Value) (*Binding, error) {
	if s == nil || s.s == nil {
		return nil, errors.New("bind: session is closed")
	}
	return s.BindNamed(inputs, s.outputs, outputs)
}

// BindNamed binds inputs, in the order of the names given to NewSession,
// and the outputs named, a subset of the session's in any order: a run
// through the returned Binding computes only what those outputs need.
func (s *Session) BindNamed(inputs []ort.Value, outputNames []string, outputs []ort.Value) (*Binding, error) {
	if s == nil || s.s == nil {
		return nil, errors.New("bind: session is closed")
	}
	if len(inputs) != len(s.inputs) || len(outputs) != len(outputNames) || len(outputs) == 0 {
		return nil, fmt.Errorf("bind: %d inputs and %d outputs for %d input names and %d output names", len(inputs), len(outputs), len(s.inputs), len(outputNames))
	}
	for _, name := range outputNames {
		if !slices.Contains(s.outputs, name) {
			return nil, fmt.Errorf("bind: %q is not an output of the session", name)
		}
	}
	b, err := s.s.CreateIoBinding()
	if err != nil {
		return nil, fmt.Errorf("create binding: %w", err)
	}
	for i, v := range inputs {
		if err := b.BindInput(s.inputs[i], v); err != nil {
			b.Destroy()
			return nil, fmt.Errorf("bind input %q: %w", s.inputs[i], err)
		}
	}
	for i, v := range outputs {
		if err := b.BindOutput(outputNames[i], v); err != nil {
			b.Destroy()
			return nil, fmt.Errorf("bind output %q: %w", outputNames[i], err)
		}
	}
	return &Binding{s: s, b: b}, nil
}

// Run executes the session on the bound tensors.
func (b *Binding) Run() error {
	if b.b == nil || b.s.s == nil {
		return errors.New("run: binding or session is closed")
	}
	return b.s.s.RunWithBinding(b.b)
}

// Close releases the binding; the session and the tensors stay. Closing
// twice is harmless.
func (b *Binding) Close() error {
	if b == nil || b.b == nil {
		return nil
	}
	err := b.b.Destroy()
	b.b = nil
	return err
}

// Close releases the session.
func (s *Session) Close() error {
	if s == nil || s.s == nil {
		return nil
	}
	err := s.s.Destroy()
	s.s = nil
	mu.Lock()
	openSessions--
	mu.Unlock()
	return err
}

// ReleaseArena hands the shared arena's memory back to the system when no
// session is open, by registering a fresh arena in its place, and reports
// whether it did. The arena never shrinks by itself: after a coarse-to-fine
// run's scale change, the regions cut for the previous size's tensors would
// otherwise stay resident beside the new size's (at 4096 px after 2048 px,
// gigabytes).
func ReleaseArena() bool {
	mu.Lock()
	defer mu.Unlock()
	if openSessions != 0 || libPath == "" {
		return false
	}
	info, err := ort.GetMemoryInfo()
	if err != nil {
		return false
	}
	if err := ort.UnregisterAllocator(info); err != nil {
		return false
	}
	if err := shareArena(); err != nil {
		return false
	}
	ReleaseFreedMemory()
	return true
}

package models

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nst-project/nst/internal/hugemem"
	"github.com/nst-project/nst/internal/ortrt"
	"github.com/nst-project/nst/internal/safefile"
)

// The graph cache keeps the graphs ONNX Runtime has optimised, in its own
// (ORT) format, so that a later run with the same network, layers and size
// opens its sessions without parsing, optimising or copying the weights.
// Its design is in docs/design.md, "The graph cache"; what it saves in
// docs/performance.md.
//
// An entry is named by graphKey, written whole under a temporary name and
// renamed; an entry that fails to open is removed and rebuilt, unless
// what failed is the execution provider (ortrt.ErrProvider), which says
// nothing of the entry. The least
// recently used entries go once the folder holds more than graphCacheBytes.

// graphCacheBytes bounds the cache folder: an entry is about the size of
// the weights it holds, two per size.
const graphCacheBytes = 2 << 30

var (
	cacheMu  sync.Mutex
	cacheDir string
)

// UseGraphCache turns the graph cache on, in dir (created when missing),
// for every Net prepared from now on in this process; "" turns it off,
// which is the default. DefaultCacheDir is the usual place.
func UseGraphCache(dir string) {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	cacheDir = dir
}

// DefaultCacheDir is nst's graph cache folder: nst/graphs under the user's
// cache folder ($XDG_CACHE_HOME or ~/.cache on Linux), or "" when the
// system names none.
func DefaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "nst", "graphs")
}

func graphCache() string {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	return cacheDir
}

// cachedGraph is an open session with, when it was opened from a cache
// entry, the memory holding its graph, which must outlive it.
type cachedGraph struct {
	session *ortrt.Session
	bytes   *hugemem.Pages
	// hit says the entry existed before: the graph was neither built nor
	// optimised by this process.
	hit bool
}

// close closes the session, then frees its graph.
func (c *cachedGraph) close() error {
	if c == nil {
		return nil
	}
	err := c.session.Close()
	return errors.Join(err, c.bytes.Free())
}

// openGraph opens a session on the serialized ONNX model data, through the
// cache when it is on and the session does not profile. A cache that
// cannot be read or written costs the speed-up, never the session.
func openGraph(data []byte, inputs, outputs []string, o ortrt.SessionOptions) (*cachedGraph, error) {
	dir := graphCache()
	if dir == "" || o.ProfilePrefix != "" || o.SaveOptimized != "" || o.ORTFormat {
		s, err := ortrt.NewSession(data, inputs, outputs, o)
		if err != nil {
			return nil, err
		}
		return &cachedGraph{session: s}, nil
	}
	// A device whose provider is missing is no damaged entry: say so
	// before the cache is touched, so that no valid entry is removed.
	if err := ortrt.CheckDevice(o.Device); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, graphKey(data, o.Device)+".ort")
	if c, err := openCachedGraph(path, inputs, outputs, o); err == nil {
		c.hit = true
		return c, nil
	} else if errors.Is(err, ortrt.ErrProvider) {
		return nil, err
	} else if !errors.Is(err, fs.ErrNotExist) {
		slog.Warn("graph cache: rebuilding an entry that would not open", "file", path, "err", err)
		os.Remove(path)
	}
	save := o
	if err := os.MkdirAll(dir, 0o755); err == nil {
		save.SaveOptimized = fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	}
	s, err := ortrt.NewSession(data, inputs, outputs, save)
	if err != nil && save.SaveOptimized != "" {
		os.Remove(save.SaveOptimized)
		// Saving is the only difference; retry without it so that an
		// unwritable cache never fails a run.
		s, err = ortrt.NewSession(data, inputs, outputs, o)
		save.SaveOptimized = ""
	}
	if err != nil {
		return nil, err
	}
	if save.SaveOptimized == "" {
		return &cachedGraph{session: s}, nil
	}
	if err := os.Rename(save.SaveOptimized, path); err != nil {
		os.Remove(save.SaveOptimized)
		return &cachedGraph{session: s}, nil
	}
	trimGraphCache(dir, graphCacheBytes)
	// A session built from the ONNX graph keeps more memory than one
	// opened from the entry just written (the originals of the weights it
	// converted), and what building it freed stays in malloc's heaps until
	// trimmed.
	if c, err := openCachedGraph(path, inputs, outputs, o); err == nil {
		if err := s.Close(); err != nil {
			c.close()
			return nil, err
		}
		ortrt.ReleaseFreedMemory()
		return c, nil
	}
	return &cachedGraph{session: s}, nil
}

// openCachedGraph opens a session on a cache entry, read into memory of
// its own that the session keeps using.
func openCachedGraph(path string, inputs, outputs []string, o ortrt.SessionOptions) (*cachedGraph, error) {
	f, err := safefile.Open(path, safefile.MaxModelBytes)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf, err := hugemem.NewPages(int(f.Size()))
	if err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(f, buf.Bytes()); err != nil {
		buf.Free()
		return nil, err
	}
	o.ORTFormat = true
	s, err := ortrt.NewSession(buf.Bytes(), inputs, outputs, o)
	if err != nil {
		buf.Free()
		return nil, err
	}
	// The modification time records the last use, for trimGraphCache.
	now := time.Now()
	_ = os.Chtimes(path, now, now)
	return &cachedGraph{session: s, bytes: buf}, nil
}

// graphKey names the cache entry of an ONNX graph on this machine, for
// the execution provider of device: a graph optimised for one device is
// partitioned for its kernels, so each device has entries of its own (the
// CPU's, "" or "cpu", keep the names they always had).
func graphKey(data []byte, device string) string {
	h := sha256.New()
	fmt.Fprintf(h, "nst graph cache 1\x00%s\x00%s\x00%s\x00", ortrt.Version(), runtime.GOARCH, cpuFeatures())
	if d := strings.ToLower(device); d != "" && d != "cpu" {
		fmt.Fprintf(h, "device %s\x00", d)
	}
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// cpuFeatures describes the instruction sets ONNX Runtime's CPU kernels
// choose between: its blocked layout's block size follows them, so a graph
// optimised on one machine may not run on another. It is the processor's
// feature list as Linux reports it (any difference makes a new entry,
// which errs on the safe side), or "" where there is none.
func cpuFeatures() string {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(info)) {
		name, value, ok := strings.Cut(line, ":")
		if name = strings.TrimSpace(name); ok && (name == "flags" || name == "Features") {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

// trimGraphCache removes the least recently used entries (and temporary
// files older than an hour, left by crashed runs) until dir holds at most
// limit bytes.
func trimGraphCache(dir string, limit int64) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type file struct {
		path string
		size int64
		used time.Time
	}
	var files []file
	var total int64
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		switch {
		case strings.HasSuffix(e.Name(), ".tmp"):
			if time.Since(info.ModTime()) > time.Hour {
				os.Remove(path)
			}
		case strings.HasSuffix(e.Name(), ".ort"):
			files = append(files, file{path, info.Size(), info.ModTime()})
			total += info.Size()
		}
	}
	slices.SortFunc(files, func(a, b file) int { return a.used.Compare(b.used) })
	for _, f := range files {
		if total <= limit {
			break
		}
		if os.Remove(f.path) == nil {
			total -= f.size
		}
	}
}

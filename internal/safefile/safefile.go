// Package safefile opens files whose paths a user gave (images, configs,
// models, masks, arrays) so that a mistaken or hostile path cannot hang
// nst or make it read without end.
//
// os.Open of a named pipe blocks until a writer appears, and Ctrl-C does
// not interrupt it; a character device such as /dev/zero or /dev/urandom
// is read forever; a huge file is read into memory whole. Open and
// ReadFile therefore accept regular files only, checked on the opened
// descriptor itself (opened without blocking, then fstat), refuse a file
// larger than the caller's limit before reading it, and cap every read at
// that limit in case the file grows meanwhile. OpenDir, ReadDir and
// StatDir do the same for paths where a folder is expected.
//
// Error messages name paths through Quote, which shortens absurdly long
// ones, so that a message stays readable whatever the input.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Size limits for the kinds of file nst reads. Each bounds what one file
// may make nst read or hold; a file over its kind's limit is refused
// before any of it is read.
const (
	// MaxImageBytes bounds an image file (content, style, init): 1 GiB
	// holds any image within imageio's default 100-megapixel limit even
	// stored uncompressed at 8 bytes a pixel (16-bit RGBA TIFF or PNG).
	MaxImageBytes int64 = 1 << 30

	// MaxMaskBytes bounds a style mask: masks are images decoded by the
	// same code under the same pixel limit, so they get the image bound.
	MaxMaskBytes int64 = MaxImageBytes

	// MaxConfigBytes bounds the JSON descriptions nst writes beside its
	// outputs (manifest, checkpoint) and sweep files: those are a few KiB,
	// and a YAML parser holds several times its input in memory. A run's
	// YAML config has the tighter pipeline.MaxConfigBytes (1 MiB).
	MaxConfigBytes int64 = 4 << 20

	// MaxModelBytes bounds an ONNX model or a cached ORT-format graph:
	// protobuf (and flatbuffers) cannot encode a message of 2 GiB or more,
	// so a larger file is no model; larger weights live in external data.
	MaxModelBytes int64 = 2 << 30

	// MaxExternalDataBytes bounds a file of external weights beside a
	// model: only the ranges its tensors declare are read, each within
	// onnxgraph.MaxElements, so this only refuses files no machine nst
	// runs on could hold.
	MaxExternalDataBytes int64 = 256 << 30

	// MaxNPYBytes bounds a .npy volume (a checkpointed image): a 3-channel
	// float32 volume at the default 100-megapixel limit is 1.2 GB, and
	// 4 GiB leaves room for a raised limits.max_pixels.
	MaxNPYBytes int64 = 4 << 30

	// MaxWAVBytes bounds a WAV file: 1 GiB is 93 minutes of 48 kHz 16-bit
	// stereo, far longer than a clip held in memory for style transfer,
	// and a quarter of what RIFF's 32-bit sizes allow.
	MaxWAVBytes int64 = 1 << 30

	// MaxCostLogBytes bounds a run's costs.csv: one row per iteration, a
	// few hundred bytes each, for up to optimizer.iterations' 1,000,000.
	MaxCostLogBytes int64 = 512 << 20
)

// ErrNotRegular is matched (errors.Is) by the error for a path that is not
// a regular file where one was wanted: a folder, a named pipe, a device, a
// socket.
var ErrNotRegular = errors.New("not a regular file")

// ErrNotDir is matched (errors.Is) by the error for a path that is not a
// folder where one was wanted.
var ErrNotDir = errors.New("not a directory")

// ErrTooLarge is matched (errors.Is) by the error for a file over its size
// limit, whether found by its size or while it was read.
var ErrTooLarge = errors.New("file too large")

// TypeError reports a path naming the wrong type of file, such as a named
// pipe where a regular file is wanted.
type TypeError struct {
	// Path is the path as given; Error shortens it.
	Path string
	// Mode is the type found (only its type bits matter).
	Mode fs.FileMode
	// WantDir is true where a folder was wanted, false for a regular file.
	WantDir bool
}

// Error says what the path is and what was wanted, e.g. `"/tmp/p" is a
// named pipe, not a regular file`.
func (e *TypeError) Error() string {
	want := "a regular file"
	if e.WantDir {
		want = "a directory"
	}
	return fmt.Sprintf("%s is %s, not %s", Quote(e.Path), Describe(e.Mode), want)
}

// Is makes errors.Is match ErrNotDir or ErrNotRegular, whichever applies.
func (e *TypeError) Is(target error) bool {
	if e.WantDir {
		return target == ErrNotDir
	}
	return target == ErrNotRegular
}

// TooLargeError reports a file over its size limit.
type TooLargeError struct {
	// Path is the path as given; Error shortens it.
	Path string
	// Size is the file's size when opened, or -1 when it was within the
	// limit then and grew past it while being read.
	Size int64
	// Limit is the limit it exceeds, in bytes.
	Limit int64
}

// Error says how large the file is and what the limit is.
func (e *TooLargeError) Error() string {
	if e.Size < 0 {
		return fmt.Sprintf("%s grew past the limit of %s while being read", Quote(e.Path), sizeString(e.Limit))
	}
	return fmt.Sprintf("%s is %s, over the limit of %s", Quote(e.Path), sizeString(e.Size), sizeString(e.Limit))
}

// Is makes errors.Is match ErrTooLarge.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// sizeString writes n in bytes and, beyond 1 KiB, in binary units too, so
// that both the exact size and its magnitude show.
func sizeString(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " bytes"
	}
	v, suffix := float64(n), ""
	for _, s := range []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	return fmt.Sprintf("%d bytes (%.1f %s)", n, v, suffix)
}

// Describe names the type of file mode m describes, as messages use it:
// "a directory", "a named pipe", "a device", "a socket", "a symbolic
// link", "a regular file" or "an irregular file".
func Describe(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeDevice != 0: // block and character devices alike
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "an irregular file"
}

// Path lengths for Shorten: a path longer than maxPathBytes keeps its first
// headBytes and last tailBytes (the file name, which says most), joined by
// an ellipsis.
const (
	maxPathBytes = 200
	headBytes    = 60
	tailBytes    = maxPathBytes - headBytes - len(ellipsis)
	ellipsis     = "…" // not "...", which a path may hold itself
)

// Shorten returns path unchanged when it is at most 200 bytes long, and
// otherwise its start and end joined by "…", at most 200 bytes in all and
// cut at UTF-8 character boundaries. It is for messages: a path that a
// bug or an attacker made megabytes long must not flood the terminal.
func Shorten(path string) string {
	if len(path) <= maxPathBytes {
		return path
	}
	head := headBytes
	for head > 0 && !utf8.RuneStart(path[head]) {
		head--
	}
	tail := len(path) - tailBytes
	for tail < len(path) && !utf8.RuneStart(path[tail]) {
		tail++
	}
	return path[:head] + ellipsis + path[tail:]
}

// Quote returns Shorten(path) in double quotes with Go escapes, so that
// spaces, control characters and invalid UTF-8 in a path show plainly in a
// message. Other packages use it wherever they name a user-given path.
func Quote(path string) string { return strconv.Quote(Shorten(path)) }

// File is a regular file open for reading, whose reads stop at a size
// limit.
type File struct {
	f     *os.File
	path  string
	size  int64 // at open
	limit int64
	read  int64 // bytes Read has returned
	err   error // sticky: the file grew past the limit
}

// Open opens path for reading if it names a regular file (symbolic links
// are followed) of at most limit bytes, which must be positive. Named
// pipes, devices, sockets and folders are refused with a *TypeError
// without blocking; a larger file with a *TooLargeError before anything is
// read. Reads through the File return a *TooLargeError once more than
// limit bytes would have been read, should the file grow meanwhile.
//
// The check is made on the opened descriptor (opened with O_NONBLOCK so
// that a named pipe cannot block the open, then fstat), so a path swapped
// between check and open cannot slip through; a stat first also spares a
// device the side effects of being opened (a tape rewinding) in the
// common, unraced case.
func Open(path string, limit int64) (*File, error) {
	if err := checkLimit(path, limit); err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, pathError("open", path, err)
	}
	if err := checkFile(path, st, limit); err != nil {
		return nil, err
	}
	return openChecked(path, limit)
}

// OpenInRoot is Open for name inside root (os.Root: name may not climb
// out of root's folder, through ".." or symbolic links). Messages name
// the file as name.
func OpenInRoot(root *os.Root, name string, limit int64) (*File, error) {
	if err := checkLimit(name, limit); err != nil {
		return nil, err
	}
	st, err := root.Stat(name)
	if err != nil {
		return nil, pathError("open", name, err)
	}
	if err := checkFile(name, st, limit); err != nil {
		return nil, err
	}
	f, err := openNonblockIn(root, name)
	if err != nil {
		return nil, openError(name, err, root.Stat)
	}
	return finishOpen(f, name, limit)
}

// openChecked is Open without the stat before the open: what makes Open
// safe when the path changes under it, and what the tests exercise on
// named pipes and devices.
func openChecked(path string, limit int64) (*File, error) {
	f, err := openNonblock(path)
	if err != nil {
		return nil, openError(path, err, os.Stat)
	}
	return finishOpen(f, path, limit)
}

// openError is the error for an open of path that failed with err. A
// socket cannot be opened at all (ENXIO): where stat shows path to be no
// regular file, the *TypeError saying what it is explains more.
func openError(path string, err error, stat func(string) (fs.FileInfo, error)) error {
	if st, serr := stat(path); serr == nil && !st.Mode().IsRegular() {
		return &TypeError{Path: path, Mode: st.Mode()}
	}
	return pathError("open", path, err)
}

// finishOpen checks the descriptor f: a regular file within limit, which
// it then makes blocking again; anything else is closed and refused.
func finishOpen(f *os.File, path string, limit int64) (*File, error) {
	st, err := f.Stat()
	if err == nil {
		err = checkFile(path, st, limit)
	}
	if err == nil {
		err = setBlocking(f)
	}
	if err != nil {
		f.Close()
		return nil, pathError("open", path, err)
	}
	return &File{f: f, path: path, size: st.Size(), limit: limit}, nil
}

// checkLimit refuses a limit that bounds nothing.
func checkLimit(path string, limit int64) error {
	if limit <= 0 {
		return fmt.Errorf("open %s: size limit %d: want a positive number of bytes", Quote(path), limit)
	}
	return nil
}

// checkFile refuses what is not a regular file of at most limit bytes.
func checkFile(path string, st fs.FileInfo, limit int64) error {
	if !st.Mode().IsRegular() {
		return &TypeError{Path: path, Mode: st.Mode()}
	}
	if st.Size() > limit {
		return &TooLargeError{Path: path, Size: st.Size(), Limit: limit}
	}
	return nil
}

// pathError wraps err with op and the shortened path. Errors from package
// os carry the full path, which would repeat it unshortened, so only
// their cause is kept; errors of this package already name the path.
func pathError(op, path string, err error) error {
	var te *TypeError
	var tl *TooLargeError
	if errors.As(err, &te) || errors.As(err, &tl) {
		return err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s %s: %w", op, Quote(path), err)
}

// Read reads up to len(p) bytes, as os.File.Read does, but returns a
// *TooLargeError instead of any byte beyond the limit.
func (f *File) Read(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	if f.read >= f.limit {
		// At the limit: the file ends here, or it grew past the limit.
		var probe [1]byte
		n, err := f.f.Read(probe[:])
		if n == 0 {
			return 0, err
		}
		f.err = &TooLargeError{Path: f.path, Size: -1, Limit: f.limit}
		return 0, f.err
	}
	if left := f.limit - f.read; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := f.f.Read(p)
	f.read += int64(n)
	return n, err
}

// ReadAt reads len(p) bytes at offset off, as os.File.ReadAt does, but
// refuses a range that ends beyond the limit. Unlike Read it may be called
// concurrently.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset %d", Quote(f.path), off)
	}
	if off > f.limit || int64(len(p)) > f.limit-off {
		return 0, fmt.Errorf("read %s: %d bytes at offset %d end beyond the limit of %s: %w",
			Quote(f.path), len(p), off, sizeString(f.limit), ErrTooLarge)
	}
	return f.f.ReadAt(p, off)
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// Name returns the path as given to Open.
func (f *File) Name() string { return f.path }

// Size returns the file's size when it was opened; at most the limit.
func (f *File) Size() int64 { return f.size }

// Limit returns the size limit the file was opened with.
func (f *File) Limit() int64 { return f.limit }

// OS returns the underlying *os.File, for what needs one, such as mapping
// the file into memory. Reads through it are not capped: bound them by
// Size. Closing File closes it.
func (f *File) OS() *os.File { return f.f }

// ReadFile reads the whole regular file at path, of at most limit bytes,
// with Open's checks: anything that is not a regular file, or holds or
// grows to more than limit bytes, is refused.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := Open(path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(f)
}

// readAll reads f to its end. The buffer starts at the size f had when
// opened, which is exact for most files; /proc's report 0 and grow it.
func readAll(f *File) ([]byte, error) {
	data := make([]byte, 0, min(f.size, f.limit)+1) // +1: the read that finds the end
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, pathError("read", f.path, err)
		}
	}
}

// StatFile returns the information of path if it names a regular file
// (symbolic links are followed) of at most limit bytes, without opening
// it: for a path that another library opens, or a listing that skips
// what it cannot read. limit 0 or less checks the type only.
func StatFile(path string, limit int64) (fs.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, pathError("stat", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, &TypeError{Path: path, Mode: st.Mode()}
	}
	if limit > 0 && st.Size() > limit {
		return nil, &TooLargeError{Path: path, Size: st.Size(), Limit: limit}
	}
	return st, nil
}

// StatDir returns the information of path if it names a folder (symbolic
// links are followed), and otherwise an error wrapping the cause or a
// *TypeError saying what it is instead.
func StatDir(path string) (fs.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, pathError("stat", path, err)
	}
	if !st.IsDir() {
		return nil, &TypeError{Path: path, Mode: st.Mode(), WantDir: true}
	}
	return st, nil
}

// OpenDir opens the folder at path (symbolic links are followed) for
// listing or locking. What is not a folder is refused with a *TypeError
// without blocking: os.Open of a named pipe given where a folder is
// expected would wait for a writer. Where the platform allows, the open
// itself accepts folders only (O_DIRECTORY), so no swap between check and
// open slips through.
func OpenDir(path string) (*os.File, error) {
	if _, err := StatDir(path); err != nil {
		return nil, err
	}
	f, err := openDir(path)
	if err != nil {
		if _, serr := StatDir(path); serr != nil {
			return nil, serr // the path changed: say what it is now
		}
		return nil, pathError("open", path, err)
	}
	return f, nil
}

// ReadDir lists the folder at path, as os.ReadDir does (sorted by name),
// after OpenDir's checks.
func ReadDir(path string) ([]fs.DirEntry, error) {
	f, err := OpenDir(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	if err != nil {
		return entries, pathError("read", path, err)
	}
	return entries, nil
}

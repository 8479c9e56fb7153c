package zoo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nst-project/nst/internal/atomicfile"
)

// DefaultIdleTimeout is how long a download may receive nothing (no
// connection, no headers, no body bytes) before it is abandoned. There is
// no total timeout: 548 MiB on a slow line legitimately takes long.
const DefaultIdleTimeout = 30 * time.Second

const (
	// maxRedirects bounds the redirects followed per request (a loop ends
	// in an error); GitHub's raw URLs take a few hops to the file store.
	maxRedirects = 10
	// maxResumes bounds how often one URL is resumed within one Fetch
	// after its transfer broke off with bytes received; the next Fetch
	// resumes again from the partial file.
	maxResumes = 5
	// defaultRetryDelay is the pause before resuming, so that a line that
	// just dropped has a moment to come back.
	defaultRetryDelay = 2 * time.Second
	// copyBuffer is the read size of the download loop.
	copyBuffer = 256 << 10
	userAgent  = "nst (github.com/nst-project/nst; model zoo fetch)"
)

// Fetcher finds registry entries' files in a cache folder and downloads
// the missing ones. The zero Fetcher uses the Default registry, DefaultDir
// (which reads NST_MODEL_DIR) and the entries' own URLs, and shows no
// progress; NewFetcher also reads NST_MODEL_MIRROR. A Fetcher may be used
// by several goroutines at once.
type Fetcher struct {
	// Registry lists the entries; nil means Default().
	Registry Registry
	// Dir is the cache folder, created when needed; "" means DefaultDir().
	Dir string
	// Mirror, when set, is a base URL that replaces every entry's URLs:
	// Mirror + "/" + Entry.File is the only URL tried.
	Mirror string
	// IdleTimeout abandons a transfer that receives nothing for this long;
	// zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Progress receives a progress bar (a terminal) or log lines (anything
	// else) and the fetcher's messages; nil shows nothing.
	Progress io.Writer

	// retryDelay is the pause before resuming a broken transfer; zero
	// means defaultRetryDelay. Tests shorten it.
	retryDelay time.Duration
}

// NewFetcher returns a Fetcher for the Default registry configured by the
// environment: the cache folder DefaultDir ($NST_MODEL_DIR) and the mirror
// $NST_MODEL_MIRROR. progress receives the progress and messages (nil for
// none).
func NewFetcher(progress io.Writer) (*Fetcher, error) {
	dir, err := DefaultDir()
	if err != nil {
		return nil, err
	}
	mirror := os.Getenv(EnvMirror)
	if mirror != "" {
		if err := checkHTTPURL(mirror); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvMirror, err)
		}
	}
	return &Fetcher{Registry: Default(), Dir: dir, Mirror: mirror, Progress: progress}, nil
}

// Resolve is what loading model.path "zoo:NAME" needs: the entry and the
// path of its verified file, downloaded first if missing, with NewFetcher's
// settings. ref is "zoo:NAME" or "NAME".
func Resolve(ctx context.Context, ref string, progress io.Writer) (path string, e Entry, err error) {
	f, err := NewFetcher(progress)
	if err != nil {
		return "", Entry{}, fmt.Errorf("%s: %w", ref, err)
	}
	if e, err = f.Lookup(ref); err != nil {
		return "", Entry{}, err
	}
	if path, err = f.Fetch(ctx, ref); err != nil {
		return "", Entry{}, err
	}
	return path, e, nil
}

// Lookup returns the entry called name ("NAME" or "zoo:NAME") in the
// fetcher's registry.
func (f *Fetcher) Lookup(name string) (Entry, error) {
	r := f.Registry
	if r == nil {
		r = Default()
	}
	return r.Lookup(name)
}

// Path returns where the file of entry name lives in the cache folder,
// whether or not it is there. It does no I/O.
func (f *Fetcher) Path(name string) (string, error) {
	e, err := f.Lookup(name)
	if err != nil {
		return "", err
	}
	dir, err := f.dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, e.File), nil
}

func (f *Fetcher) dir() (string, error) {
	if f.Dir != "" {
		return f.Dir, nil
	}
	return DefaultDir()
}

func (f *Fetcher) idleTimeout() time.Duration {
	if f.IdleTimeout > 0 {
		return f.IdleTimeout
	}
	return DefaultIdleTimeout
}

func (f *Fetcher) retryPause() time.Duration {
	if f.retryDelay > 0 {
		return f.retryDelay
	}
	return defaultRetryDelay
}

// urls lists the URLs to try for e, in order.
func (f *Fetcher) urls(e Entry) ([]string, error) {
	if f.Mirror != "" {
		if err := checkHTTPURL(f.Mirror); err != nil {
			return nil, fmt.Errorf("mirror: %w", err)
		}
		return []string{strings.TrimRight(f.Mirror, "/") + "/" + url.PathEscape(e.File)}, nil
	}
	if len(e.URLs) == 0 {
		return nil, fmt.Errorf("no URL to download %s from; set %s", e.File, EnvMirror)
	}
	return e.URLs, nil
}

// Fetch returns the path of the verified file of entry name ("NAME" or
// "zoo:NAME"), downloading it when the cache folder lacks it or holds a
// file with another checksum.
//
// The download goes to FILE.part next to the file and resumes from there
// (HTTP Range) after a cut, within this call or the next; it is checked
// against the entry's SHA-256 before it is renamed into place, and removed
// when the checksum differs. The URLs are tried in order. While one
// process downloads, FILE.lock is locked; a second process waits for it
// and then uses the result. ctx cancels the wait and the download, keeping
// the partial file. When every URL fails, the error says what failed, the
// `nst model fetch` command to run where there is a network and the
// built-in backbone that works offline, in one line.
func (f *Fetcher) Fetch(ctx context.Context, name string) (string, error) {
	e, err := f.Lookup(name)
	if err != nil {
		return "", err
	}
	ref := Prefix + e.Name
	dir, err := f.dir()
	if err != nil {
		return "", fmt.Errorf("%s: %w", ref, err)
	}
	urls, err := f.urls(e)
	if err != nil {
		return "", fmt.Errorf("%s: %w", ref, err)
	}
	target := filepath.Join(dir, e.File)
	m := newMeter(f.Progress, e.File, e.Size)

	// The file only ever appears complete (renamed into place), so a
	// verified one is used without taking the lock.
	state, err := f.checkCached(target, e, m)
	if err != nil {
		return "", fmt.Errorf("%s: %w", ref, err)
	}
	if state == cacheVerified {
		return target, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%s: model cache folder: %w", ref, err)
	}
	unlock, err := lock(ctx, target+lockSuffix, func() {
		m.printf("waiting for another nst process to finish downloading %s (it holds %s)", e.File, target+lockSuffix)
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w", ref, err)
	}
	defer unlock()

	// Another process may have fetched it while this one waited.
	if state, err = f.checkCached(target, e, m); err != nil {
		return "", fmt.Errorf("%s: %w", ref, err)
	}
	switch state {
	case cacheVerified:
		return target, nil
	case cacheWrong:
		m.printf("%s is not the file the registry names (size or SHA-256 differ); downloading it again", target)
		for _, p := range []string{target, target + verifiedSuffix} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return "", fmt.Errorf("%s: remove the wrong file: %w", ref, err)
			}
		}
	}

	var failures []error
	for i, u := range urls {
		err := f.download(ctx, e, u, target+partSuffix, m)
		m.finish()
		if err == nil {
			if err := install(target+partSuffix, target, e); err != nil {
				return "", fmt.Errorf("%s: %w", ref, err)
			}
			m.printf("%s: verified (SHA-256 %s)", target, e.SHA256)
			return target, nil
		}
		if ctx.Err() != nil {
			kept := ""
			if dropEmpty(target+partSuffix) > 0 {
				kept = " (the partial file is kept for resuming)"
			}
			return "", fmt.Errorf("%s: download %s%s: %w", ref, e.File, kept, ctx.Err())
		}
		failures = append(failures, err)
		if i+1 < len(urls) {
			m.printf("%v; trying the next URL", err)
		}
	}
	dropEmpty(target + partSuffix)
	return "", &fetchError{entry: e, dir: dir, failures: failures}
}

// dropEmpty removes the partial file at path if nothing was received (an
// empty file there would only puzzle whoever lists the folder) and returns
// the length of what is left.
func dropEmpty(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if info.Size() == 0 {
		os.Remove(path)
	}
	return info.Size()
}

// checkCached is the package's checkCached with a message when a file
// was hashed.
func (f *Fetcher) checkCached(target string, e Entry, m *meter) (cacheState, error) {
	state, hashed, err := checkCached(target, e)
	if err == nil && hashed && state == cacheVerified {
		m.printf("%s: verified (SHA-256 %s); later runs trust its size and time", target, e.SHA256)
	}
	return state, err
}

// install renames the verified download into place and stamps it. The
// rename is atomic: a reader sees no file or the whole file.
func install(part, target string, e Entry) error {
	if err := os.Rename(part, target); err != nil {
		return fmt.Errorf("put the download in place: %w", err)
	}
	atomicfile.SyncDir(filepath.Dir(target))
	info, err := os.Stat(target)
	if err != nil {
		return fmt.Errorf("put the download in place: %w", err)
	}
	// Without a stamp the file is hashed once more on its next use.
	_ = writeStamp(target, info, e.SHA256)
	return nil
}

// fetchError is Fetch's error when no URL gave a verified file.
type fetchError struct {
	entry    Entry
	dir      string
	failures []error // one per URL, in order; each names its URL
}

// Error says, in one line, what failed, what to run where there is a
// network and how to run offline instead.
func (e *fetchError) Error() string {
	reasons := make([]string, len(e.failures))
	for i, f := range e.failures {
		reasons[i] = strings.Join(strings.Fields(f.Error()), " ")
	}
	return fmt.Sprintf("%s%s: cannot download %s (%s); run \"nst model fetch %s\" where there is a network (it saves the file in %s), or use --set model.path=builtin:%s to run offline with random weights",
		Prefix, e.entry.Name, e.entry.File, strings.Join(reasons, "; "), e.entry.Name, e.dir, e.entry.Arch)
}

// Unwrap returns the failures, one per URL.
func (e *fetchError) Unwrap() []error { return e.failures }

// download fetches URL u into part until it holds e's verified file. A
// transfer that breaks off after receiving bytes is resumed, up to
// maxResumes times; a partial file the server refuses to resume (416) is
// started over once.
func (f *Fetcher) download(ctx context.Context, e Entry, u, part string, m *meter) error {
	restarted := false
	var sum partHash
	for resumes := 0; ; {
		got, err := f.attempt(ctx, e, u, part, &sum, m)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errRestart) && !restarted:
			restarted = true
			m.printf("%s: the server cannot resume the partial download; starting over", u)
			continue
		}
		var cut *cutError
		if !errors.As(err, &cut) || got == 0 || resumes >= maxResumes {
			return fmt.Errorf("%s: %w", u, err)
		}
		resumes++
		m.finish()
		m.printf("%s: %v; resuming (%d of %d)", u, err, resumes, maxResumes)
		if err := sleep(ctx, f.retryPause()); err != nil {
			return err
		}
	}
}

// errRestart reports that the server refused to resume (416) and the
// partial file was emptied.
var errRestart = errors.New("range not satisfiable")

// errStalled is the cause of a request cancelled by the idle timer.
var errStalled = errors.New("stalled")

// cutError is a transfer that broke off mid-body (connection closed or
// reset, or stalled): worth resuming.
type cutError struct{ err error }

func (c *cutError) Error() string { return c.err.Error() }
func (c *cutError) Unwrap() error { return c.err }

// partHash is the SHA-256 state of a partial file's first n bytes, kept
// between the attempts of one download so that resuming does not read the
// bytes already there again.
type partHash struct {
	h hash.Hash
	n int64
}

// attempt makes one request for u, appending to part when it holds a
// prefix of the file, and returns how many bytes it received. It returns
// nil when part holds the whole file with e's checksum; a wrong checksum
// removes part. sum carries the hash of the part from one attempt to the
// next.
func (f *Fetcher) attempt(ctx context.Context, e Entry, u, part string, sum *partHash, m *meter) (got int64, err error) {
	file, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return 0, fmt.Errorf("partial download: %w", err)
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return 0, fmt.Errorf("partial download: %w", err)
	}
	have := info.Size()
	if have > e.Size {
		// Longer than the file: not a prefix of it.
		have = 0
	}
	if have == e.Size {
		// Complete but unchecked (interrupted before its check): no request
		// is needed, and servers refuse a range past the end.
		h := sha256.New()
		if _, err := io.Copy(h, file); err != nil {
			return 0, fmt.Errorf("read partial download: %w", err)
		}
		if hex.EncodeToString(h.Sum(nil)) == e.SHA256 {
			return 0, nil
		}
		m.printf("%s is complete but its SHA-256 is wrong; downloading it again", part)
		have = 0
	}

	idle := f.idleTimeout()
	reqCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The idle timer covers connecting, the headers and every body read.
	timer := time.AfterFunc(idle, func() { cancel(errStalled) })
	defer timer.Stop()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, u, nil)
	if err != nil {
		return 0, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("User-Agent", userAgent)
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, transferErr(reqCtx, err, idle)
	}
	defer resp.Body.Close()

	switch resp.StatusCode {
	case http.StatusOK:
		if have > 0 {
			m.printf("%s ignored the request to resume at %s; downloading from the start", u, formatBytes(have))
			have = 0
		}
		if resp.ContentLength >= 0 && resp.ContentLength != e.Size {
			return 0, fmt.Errorf("the server sends %d bytes, want %d (another file?)", resp.ContentLength, e.Size)
		}
	case http.StatusPartialContent:
		cr := resp.Header.Get("Content-Range")
		start, total, ok := parseContentRange(cr)
		if !ok || start != have {
			return 0, fmt.Errorf("asked to resume at byte %d, the server sent Content-Range %q", have, cr)
		}
		if total >= 0 && total != e.Size {
			return 0, fmt.Errorf("the server's file is %d bytes, want %d (another file?)", total, e.Size)
		}
	case http.StatusRequestedRangeNotSatisfiable:
		if have > 0 {
			if err := file.Truncate(0); err != nil {
				return 0, fmt.Errorf("partial download: %w", err)
			}
			return 0, errRestart
		}
		return 0, statusError(resp)
	default:
		return 0, statusError(resp)
	}

	// The hash covers the bytes kept, then the new ones as they arrive.
	if err := file.Truncate(have); err != nil {
		return 0, fmt.Errorf("partial download: %w", err)
	}
	if sum.h == nil || sum.n != have {
		sum.h, sum.n = sha256.New(), 0
		if _, err := file.Seek(0, io.SeekStart); err != nil {
			return 0, fmt.Errorf("partial download: %w", err)
		}
		if _, err := io.CopyN(sum.h, file, have); err != nil {
			return 0, fmt.Errorf("read partial download: %w", err)
		}
		sum.n = have
	}
	if _, err := file.Seek(have, io.SeekStart); err != nil {
		return 0, fmt.Errorf("partial download: %w", err)
	}
	if have > 0 {
		m.printf("resuming %s at %s of %s from %s", e.File, formatBytes(have), formatBytes(e.Size), u)
	} else {
		m.printf("downloading %s (%s) from %s", e.File, formatBytes(e.Size), u)
	}
	m.start(have)
	got, err = receive(resp.Body, file, sum.h, e.Size-have, timer, idle, m)
	sum.n += got
	if err != nil {
		if errors.Is(err, errTooLong) {
			file.Close()
			os.Remove(part)
		}
		var cut *cutError
		if errors.As(err, &cut) {
			err = &cutError{transferErr(reqCtx, cut.err, idle)}
		}
		return got, err
	}
	if err := file.Sync(); err != nil {
		return got, fmt.Errorf("write partial download: %w", err)
	}
	if sum := hex.EncodeToString(sum.h.Sum(nil)); sum != e.SHA256 {
		file.Close()
		if err := os.Remove(part); err != nil {
			return got, fmt.Errorf("downloaded file has SHA-256 %s, want %s (removing it failed: %w)", sum, e.SHA256, err)
		}
		return got, fmt.Errorf("downloaded file has SHA-256 %s, want %s (removed it)", sum, e.SHA256)
	}
	return got, nil
}

// errTooLong reports a body longer than the entry's file.
var errTooLong = errors.New("the server sent more bytes than the file has")

// receive copies body to file and h until want bytes have come, rearming
// the idle timer after every read, and returns how many bytes it wrote to
// both. A body that ends early or fails to read is a cutError; one that
// goes on past want bytes is errTooLong.
func receive(body io.Reader, file *os.File, h hash.Hash, want int64, timer *time.Timer, idle time.Duration, m *meter) (got int64, err error) {
	buf := make([]byte, copyBuffer)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			timer.Reset(idle)
			if got+int64(n) > want {
				return got, errTooLong
			}
			if _, err := file.Write(buf[:n]); err != nil {
				return got, fmt.Errorf("write partial download: %w", err)
			}
			h.Write(buf[:n])
			got += int64(n)
			m.add(n)
		}
		if rerr == io.EOF {
			if got < want {
				return got, &cutError{io.ErrUnexpectedEOF}
			}
			return got, nil
		}
		if rerr != nil {
			return got, &cutError{rerr}
		}
	}
}

// transferErr describes a failed request or body read: the idle timer's
// cancellation as a stall, an early end as a closed connection, and
// otherwise the underlying error without the "Get URL:" that the caller
// adds anyway.
func transferErr(reqCtx context.Context, err error, idle time.Duration) error {
	if errors.Is(context.Cause(reqCtx), errStalled) {
		return fmt.Errorf("no data for %s: the server stalled", idle)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("the connection closed before the end of the file")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// statusError describes an HTTP error status, naming where a redirect led.
func statusError(resp *http.Response) error {
	where := ""
	if resp.Request != nil && resp.Request.URL != nil {
		if orig := originalURL(resp.Request); orig != resp.Request.URL.String() {
			where = " at " + resp.Request.URL.String()
		}
	}
	return fmt.Errorf("HTTP %s%s", resp.Status, where)
}

// originalURL is the URL first asked for in a chain of redirects.
func originalURL(req *http.Request) string {
	for req.Response != nil && req.Response.Request != nil {
		req = req.Response.Request
	}
	return req.URL.String()
}

// parseContentRange reads "bytes START-END/TOTAL" (TOTAL may be "*", given
// as -1).
func parseContentRange(s string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	span, size, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	first, last, found := strings.Cut(span, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	end, err2 := strconv.ParseInt(last, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	total = -1
	if size != "*" {
		t, err := strconv.ParseInt(size, 10, 64)
		if err != nil || t <= end {
			return 0, 0, false
		}
		total = t
	}
	return start, total, true
}

// httpClient follows at most maxRedirects redirects and has no total
// timeout (the idle timer stands in). Compression is off so that byte
// counts and ranges refer to the file itself.
var httpClient = &http.Client{
	Transport: newTransport(),
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		// via holds the requests so far: the first and one per redirect.
		if len(via) > maxRedirects {
			return fmt.Errorf("more than %d redirects", maxRedirects)
		}
		return nil
	},
}

// newTransport is the default transport (proxies from the environment
// included) without transparent compression.
func newTransport() http.RoundTripper {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultTransport
	}
	t = t.Clone()
	t.DisableCompression = true
	return t
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

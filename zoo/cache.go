package zoo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nst-project/nst/internal/atomicfile"
	"github.com/nst-project/nst/internal/safefile"
)

// Environment variables that configure NewFetcher.
const (
	// EnvDir names the cache folder, replacing os.UserCacheDir()/nst/models.
	EnvDir = "NST_MODEL_DIR"
	// EnvMirror is a base URL that replaces every entry's URLs: the entry's
	// file name is appended to it.
	EnvMirror = "NST_MODEL_MIRROR"
)

// DefaultDir returns the cache folder: $NST_MODEL_DIR when set, else
// os.UserCacheDir()/nst/models (~/.cache/nst/models on Linux). It does not
// create the folder.
func DefaultDir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("model cache folder: %w; set %s", err, EnvDir)
	}
	return filepath.Join(base, "nst", "models"), nil
}

// Files next to an entry's file in the cache folder.
const (
	partSuffix     = ".part"     // the download in progress, resumed from its length
	lockSuffix     = ".lock"     // flocked while one process downloads; left in place
	verifiedSuffix = ".verified" // the last verification, see stamp
)

// stamp records that the file of size Size and modification time MtimeNs
// had SHA-256 SHA256, so that later runs trust it without reading 548 MiB
// again. Any change to the file changes its size or mtime, and a registry
// with another checksum does not match the recorded one.
type stamp struct {
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtime_ns"`
}

// stampOf is the stamp for a file with info and checksum sum.
func stampOf(info fs.FileInfo, sum string) stamp {
	return stamp{SHA256: sum, Size: info.Size(), MtimeNs: info.ModTime().UnixNano()}
}

// cacheState is what checkCached found.
type cacheState int

const (
	cacheMissing  cacheState = iota // no file
	cacheVerified                   // the file has the entry's checksum
	cacheWrong                      // the file exists with another size or checksum
)

// checkCached reports whether path holds e's file. It trusts a stamp that
// matches the file's size and mtime and e's checksum; otherwise it hashes
// the file once and, when it matches, writes a stamp. hashed tells the
// caller that the slow path ran (for a log line). Errors are I/O errors:
// an unreadable file or cache folder.
func checkCached(path string, e Entry) (state cacheState, hashed bool, err error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cacheMissing, false, nil
	}
	if err != nil {
		return cacheMissing, false, fmt.Errorf("check cached model: %w", err)
	}
	if !info.Mode().IsRegular() {
		return cacheMissing, false, fmt.Errorf("check cached model: %s is not a regular file", path)
	}
	if info.Size() != e.Size {
		return cacheWrong, false, nil
	}
	if s, ok := readStamp(path + verifiedSuffix); ok && s == stampOf(info, e.SHA256) {
		return cacheVerified, false, nil
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return cacheMissing, true, fmt.Errorf("check cached model: %w", err)
	}
	if sum != e.SHA256 {
		return cacheWrong, true, nil
	}
	// A failure to record the stamp only costs a hash next time.
	_ = writeStamp(path, info, sum)
	return cacheVerified, true, nil
}

// maxStampBytes bounds a stamp file, a line of JSON.
const maxStampBytes = 64 << 10

// readStamp reads a stamp file; ok is false when it is missing or garbled,
// which only means the file gets hashed.
func readStamp(path string) (s stamp, ok bool) {
	b, err := safefile.ReadFile(path, maxStampBytes)
	if err != nil {
		return stamp{}, false
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return stamp{}, false
	}
	return s, true
}

// writeStamp records that the file at path, described by info, has
// checksum sum.
func writeStamp(path string, info fs.FileInfo, sum string) error {
	b, err := json.Marshal(stampOf(info, sum))
	if err != nil {
		return fmt.Errorf("stamp %s: %w", path, err)
	}
	return atomicfile.WriteFile(path+verifiedSuffix, append(b, '\n'), 0o644)
}

// fileSHA256 returns the hex SHA-256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := safefile.Open(path, safefile.MaxModelBytes)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

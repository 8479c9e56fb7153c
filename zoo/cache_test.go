package zoo

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// sumOf is the hex SHA-256 of b.
func sumOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestDefaultDir(t *testing.T) {
	t.Setenv(EnvDir, "/somewhere/models")
	if d, err := DefaultDir(); err != nil || d != "/somewhere/models" {
		t.Errorf("with %s set: DefaultDir() = %q, %v", EnvDir, d, err)
	}
	t.Setenv(EnvDir, "")
	t.Setenv("XDG_CACHE_HOME", "/xdg/cache") // os.UserCacheDir on Linux and BSD
	t.Setenv("HOME", "/home/user")           // and on macOS, /home/user/Library/Caches
	base, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	if d, err := DefaultDir(); err != nil || d != filepath.Join(base, "nst", "models") {
		t.Errorf("DefaultDir() = %q, %v, want %s", d, err, filepath.Join(base, "nst", "models"))
	}
}

func TestCheckCached(t *testing.T) {
	content := []byte("the right weights")
	e := Entry{Name: "t", Arch: "vgg19", File: "t.onnx", Size: int64(len(content)), SHA256: sumOf(content)}
	past := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		// setup prepares the file at path.
		setup      func(t *testing.T, path string)
		want       cacheState
		wantHashed bool
		wantStamp  bool // a stamp matching the file is there afterwards
	}{
		{"missing", func(*testing.T, string) {}, cacheMissing, false, false},
		{"wrong size, not hashed", func(t *testing.T, p string) { write(t, p, []byte("short")) }, cacheWrong, false, false},
		{"right file, first use", func(t *testing.T, p string) { write(t, p, content) }, cacheVerified, true, true},
		{"right file, stamped", func(t *testing.T, p string) {
			write(t, p, content)
			stampNow(t, p, e.SHA256)
		}, cacheVerified, false, true},
		{"same size, other bytes", func(t *testing.T, p string) { write(t, p, []byte("the wrong weights")) }, cacheWrong, true, false},
		{"changed after its stamp", func(t *testing.T, p string) {
			write(t, p, content)
			stampNow(t, p, e.SHA256)
			write(t, p, []byte("the wrong weights"))
			touch(t, p, past) // another mtime than the stamp's
		}, cacheWrong, true, false},
		{"stamp for another checksum", func(t *testing.T, p string) {
			write(t, p, content)
			stampNow(t, p, sumOf([]byte("older registry")))
		}, cacheVerified, true, true},
		{"garbled stamp", func(t *testing.T, p string) {
			write(t, p, content)
			write(t, p+verifiedSuffix, []byte("{not json"))
		}, cacheVerified, true, true},
		// The trade-off of the stamp: a change that keeps size and mtime
		// goes unnoticed, as with make and rsync.
		{"changed, size and mtime kept", func(t *testing.T, p string) {
			write(t, p, content)
			touch(t, p, past)
			stampNow(t, p, e.SHA256)
			write(t, p, []byte("the wrong weights"))
			touch(t, p, past)
		}, cacheVerified, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), e.File)
			tt.setup(t, path)
			state, hashed, err := checkCached(path, e)
			if err != nil {
				t.Fatal(err)
			}
			if state != tt.want || hashed != tt.wantHashed {
				t.Errorf("checkCached = state %d hashed %v, want %d %v", state, hashed, tt.want, tt.wantHashed)
			}
			s, ok := readStamp(path + verifiedSuffix)
			var current bool
			if info, err := os.Stat(path); err == nil && ok {
				current = s == stampOf(info, e.SHA256)
			}
			if current != tt.wantStamp {
				t.Errorf("a current stamp: %v, want %v (stamp %+v)", current, tt.wantStamp, s)
			}
		})
	}
}

func TestCheckCachedNotAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.onnx")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, err := checkCached(path, Entry{Size: 1})
	if err == nil || err.Error() != "check cached model: "+path+" is not a regular file" {
		t.Errorf("error %v, want one saying it is not a regular file", err)
	}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func touch(t *testing.T, path string, when time.Time) {
	t.Helper()
	if err := os.Chtimes(path, when, when); err != nil {
		t.Fatal(err)
	}
}

// stampNow records sum as the checksum of the file at path as it is now.
func stampNow(t *testing.T, path, sum string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeStamp(path, info, sum); err != nil {
		t.Fatal(err)
	}
}

package safefile

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// writeFile writes n bytes to a new file in a temporary folder.
func writeFile(t *testing.T, n int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(p, bytes.Repeat([]byte{'x'}, n), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenSizeLimit(t *testing.T) {
	const limit = 1000
	tests := []struct {
		name     string
		size     int64
		limit    int64
		wantSize int64 // in the *TooLargeError; 0 when the file is accepted
	}{
		{"empty", 0, limit, 0},
		{"under the limit", limit - 1, limit, 0},
		{"at the limit", limit, limit, 0},
		{"one byte over", limit + 1, limit, limit + 1},
		// Sparse: refused by its size at once, not read.
		{"1 TiB", 1 << 40, MaxImageBytes, 1 << 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, tt.size); err != nil {
				t.Skipf("truncate to %d: %v", tt.size, err)
			}
			data, err := ReadFile(p, tt.limit)
			if tt.wantSize == 0 {
				if err != nil || int64(len(data)) != tt.size {
					t.Errorf("ReadFile = %d bytes, %v; want %d bytes", len(data), err, tt.size)
				}
				return
			}
			var tl *TooLargeError
			if !errors.As(err, &tl) || !errors.Is(err, ErrTooLarge) {
				t.Fatalf("ReadFile: error %v, want a *TooLargeError", err)
			}
			if tl.Size != tt.wantSize || tl.Limit != tt.limit {
				t.Errorf("TooLargeError size %d, limit %d; want %d, %d", tl.Size, tl.Limit, tt.wantSize, tt.limit)
			}
			if !strings.Contains(err.Error(), "over the limit of") {
				t.Errorf("error %q does not say it is over the limit", err)
			}
		})
	}
}

func TestReadStopsAtTheLimitWhenTheFileGrows(t *testing.T) {
	const limit = 100
	tests := []struct {
		name     string
		initial  int // bytes when opened
		appended int // bytes written after the open, before reading
		wantErr  bool
	}{
		{"grows within the limit", 60, 40, false},
		{"grows past the limit", 60, 41, true},
		{"at the limit, then grows", limit, 1, true},
		{"at the limit, then grows a lot", limit, 1 << 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, tt.initial)
			f, err := Open(p, limit)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Size() != int64(tt.initial) || f.Limit() != limit || f.Name() != p {
				t.Errorf("Size, Limit, Name = %d, %d, %q; want %d, %d, %q", f.Size(), f.Limit(), f.Name(), tt.initial, limit, p)
			}
			w, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(bytes.Repeat([]byte{'y'}, tt.appended)); err != nil {
				t.Fatal(err)
			}
			w.Close()
			data, err := readAll(f)
			if !tt.wantErr {
				if err != nil || len(data) != tt.initial+tt.appended {
					t.Errorf("read %d bytes, %v; want %d", len(data), err, tt.initial+tt.appended)
				}
				return
			}
			var tl *TooLargeError
			if !errors.As(err, &tl) || tl.Size != -1 || tl.Limit != limit {
				t.Fatalf("error %v, want a *TooLargeError of size -1, limit %d", err, limit)
			}
			if !strings.Contains(err.Error(), "grew past the limit of 100 bytes") {
				t.Errorf("error %q does not say the file grew", err)
			}
			// Read keeps refusing, and io.ReadAll sees no byte past the limit.
			if n, err := f.Read(make([]byte, 10)); n != 0 || !errors.Is(err, ErrTooLarge) {
				t.Errorf("Read after the error = %d, %v; want 0, ErrTooLarge", n, err)
			}
		})
	}
	t.Run("io.ReadAll gets at most the limit", func(t *testing.T) {
		p := writeFile(t, limit)
		f, err := Open(p, limit)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := os.WriteFile(p, bytes.Repeat([]byte{'z'}, 5*limit), 0o600); err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(f)
		if len(data) > limit || !errors.Is(err, ErrTooLarge) {
			t.Errorf("io.ReadAll = %d bytes, %v; want at most %d and ErrTooLarge", len(data), err, limit)
		}
	})
}

func TestReadAt(t *testing.T) {
	p := writeFile(t, 50)
	f, err := Open(p, 50)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tests := []struct {
		off     int64
		n       int
		wantErr error // nil: n bytes read
	}{
		{0, 50, nil},
		{40, 10, nil},
		{41, 10, ErrTooLarge},
		{51, 0, ErrTooLarge},
		{-1, 1, nil}, // refused, but not for size: checked below
	}
	for _, tt := range tests {
		got, err := f.ReadAt(make([]byte, tt.n), tt.off)
		switch {
		case tt.off < 0:
			if err == nil || errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "negative offset") {
				t.Errorf("ReadAt(%d bytes at %d): %v, want a negative offset error", tt.n, tt.off, err)
			}
		case tt.wantErr != nil:
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("ReadAt(%d bytes at %d): %v, want %v", tt.n, tt.off, err, tt.wantErr)
			}
		case got != tt.n || (err != nil && err != io.EOF):
			t.Errorf("ReadAt(%d bytes at %d) = %d, %v", tt.n, tt.off, got, err)
		}
	}
}

func TestReadFileOfProc(t *testing.T) {
	// /proc files are regular but report size 0: the cap alone bounds them.
	const p = "/proc/self/status"
	if _, err := os.Stat(p); err != nil {
		t.Skip("no /proc")
	}
	data, err := ReadFile(p, 1<<20)
	if err != nil || !bytes.Contains(data, []byte("VmHWM")) && !bytes.Contains(data, []byte("Name:")) {
		t.Errorf("ReadFile(%s) = %q, %v", p, data, err)
	}
	if _, err := ReadFile(p, 10); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadFile(%s, 10): %v, want ErrTooLarge", p, err)
	}
}

func TestBadLimit(t *testing.T) {
	p := writeFile(t, 1)
	for _, limit := range []int64{0, -1} {
		if _, err := Open(p, limit); err == nil || !strings.Contains(err.Error(), "want a positive number of bytes") {
			t.Errorf("Open with limit %d: %v, want it refused", limit, err)
		}
		if _, err := ReadFile(p, limit); err == nil {
			t.Errorf("ReadFile with limit %d: no error", limit)
		}
	}
}

func TestMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing.png")
	for name, f := range map[string]func() error{
		"Open":     func() error { _, err := Open(p, 1); return err },
		"ReadFile": func() error { _, err := ReadFile(p, 1); return err },
		"StatFile": func() error { _, err := StatFile(p, 1); return err },
		"StatDir":  func() error { _, err := StatDir(p); return err },
	} {
		err := f()
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), Quote(p)) {
			t.Errorf("%s: %v, want ErrNotExist naming %s", name, err, Quote(p))
		}
		// The os error's own copy of the path is dropped: the path shows once.
		if err != nil && strings.Count(err.Error(), "missing.png") != 1 {
			t.Errorf("%s: %q names the path more than once", name, err)
		}
	}
}

func TestShorten(t *testing.T) {
	long := strings.Repeat("d/", 150) + "image.png" // 309 bytes
	tests := []struct {
		name string
		in   string
		want string // "" to check only the invariants
	}{
		{"empty", "", ""},
		{"short", "a/b.png", "a/b.png"},
		{"200 bytes", strings.Repeat("x", 200), strings.Repeat("x", 200)},
		{"201 bytes", strings.Repeat("x", 201), strings.Repeat("x", 60) + "…" + strings.Repeat("x", 137)},
		{"long path", long, long[:60] + "…" + long[len(long)-137:]},
		{"multibyte", strings.Repeat("é", 300), ""},
		{"4-byte runes", strings.Repeat("😀", 100), ""},
		{"invalid UTF-8", strings.Repeat("\xff", 300), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Shorten(tt.in)
			if tt.want != "" && got != tt.want {
				t.Errorf("Shorten = %q, want %q", got, tt.want)
			}
			if len(tt.in) <= 200 && got != tt.in {
				t.Errorf("Shorten changed a path of %d bytes", len(tt.in))
			}
			if len(tt.in) > 200 {
				if len(got) > 200 || !strings.Contains(got, "…") {
					t.Errorf("Shorten = %d bytes %q, want at most 200 with an ellipsis", len(got), got)
				}
				if utf8.ValidString(tt.in) && !utf8.ValidString(got) {
					t.Errorf("Shorten cut a character: %q", got)
				}
				if !strings.HasSuffix(tt.in, strings.SplitN(got, "…", 2)[1]) || !strings.HasPrefix(tt.in, strings.SplitN(got, "…", 2)[0]) {
					t.Errorf("Shorten = %q, want the path's start and end", got)
				}
			}
		})
	}
	if got, want := Quote("a\nb"), `"a\nb"`; got != want {
		t.Errorf("Quote = %s, want %s", got, want)
	}
}

func TestStatFile(t *testing.T) {
	p := writeFile(t, 10)
	tests := []struct {
		limit  int64
		wantIs error
	}{
		{10, nil},
		{0, nil}, // type only
		{9, ErrTooLarge},
	}
	for _, tt := range tests {
		st, err := StatFile(p, tt.limit)
		if tt.wantIs == nil && (err != nil || st.Size() != 10) || tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
			t.Errorf("StatFile(limit %d) = %v, %v; want error %v", tt.limit, st, err, tt.wantIs)
		}
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		mode fs.FileMode
		want string
	}{
		{0o644, "a regular file"},
		{fs.ModeDir | 0o755, "a directory"},
		{fs.ModeNamedPipe, "a named pipe"},
		{fs.ModeDevice | fs.ModeCharDevice, "a device"},
		{fs.ModeDevice, "a device"},
		{fs.ModeSocket, "a socket"},
		{fs.ModeSymlink, "a symbolic link"},
		{fs.ModeIrregular, "an irregular file"},
	}
	for _, tt := range tests {
		if got := Describe(tt.mode); got != tt.want {
			t.Errorf("Describe(%v) = %q, want %q", tt.mode, got, tt.want)
		}
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 bytes"},
		{1023, "1023 bytes"},
		{1024, "1024 bytes (1.0 KiB)"},
		{MaxImageBytes, "1073741824 bytes (1.0 GiB)"},
		{3 << 39, "1649267441664 bytes (1.5 TiB)"},
	}
	for _, tt := range tests {
		if got := sizeString(tt.n); got != tt.want {
			t.Errorf("sizeString(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// FuzzShorten checks Shorten's contract on any input: at most 200 bytes,
// the path's own start and end, and valid UTF-8 kept valid.
func FuzzShorten(f *testing.F) {
	for _, s := range []string{"", "a/b", strings.Repeat("é", 150), strings.Repeat("\xff", 250)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Shorten(s)
		if len(s) <= 200 {
			if got != s {
				t.Errorf("Shorten changed %q", s)
			}
			return
		}
		head, tail, ok := strings.Cut(got, "…")
		if len(got) > 200 || !ok || !strings.HasPrefix(s, head) || !strings.HasSuffix(s, tail) {
			t.Errorf("Shorten(%q) = %q", s, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Errorf("Shorten(%q) = %q, invalid UTF-8", s, got)
		}
	})
}

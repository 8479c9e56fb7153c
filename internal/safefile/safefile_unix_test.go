//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package safefile

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// within runs f and returns its error, failing the test if f has not
// returned after a few seconds: a regression that blocks in open(2) then
// fails instead of hanging the test binary (the stuck goroutine is left
// behind; the test binary ends anyway).
func within(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("still blocked after 5s: the open waited instead of refusing")
		return nil
	}
}

// mkfifo makes a named pipe in a new temporary folder and returns its path,
// skipping the test where the platform has none.
func mkfifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	return p
}

func TestOpenRefusesWhatIsNotARegularFile(t *testing.T) {
	tests := []struct {
		name    string
		path    func(t *testing.T) string
		wantMsg string
	}{
		{"named pipe", mkfifo, "is a named pipe, not a regular file"},
		{"link to a named pipe", func(t *testing.T) string {
			p := mkfifo(t)
			link := p + ".link"
			if err := os.Symlink(p, link); err != nil {
				t.Skipf("symlink: %v", err)
			}
			return link
		}, "is a named pipe, not a regular file"},
		{"/dev/zero", func(t *testing.T) string { return device(t, "/dev/zero") }, `"/dev/zero" is a device, not a regular file`},
		{"/dev/null", func(t *testing.T) string { return device(t, "/dev/null") }, `"/dev/null" is a device, not a regular file`},
		{"directory", func(t *testing.T) string { return t.TempDir() }, "is a directory, not a regular file"},
		{"socket", func(t *testing.T) string {
			// Socket paths are short (108 bytes on Linux): use a short folder.
			dir, err := os.MkdirTemp("", "sf")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			p := filepath.Join(dir, "s")
			l, err := net.Listen("unix", p)
			if err != nil {
				t.Skipf("unix socket: %v", err)
			}
			t.Cleanup(func() { l.Close() })
			return p
		}, "is a socket, not a regular file"},
	}
	opens := []struct {
		name string
		open func(path string) error
	}{
		{"Open", func(p string) error {
			f, err := Open(p, MaxImageBytes)
			if err == nil {
				f.Close()
			}
			return err
		}},
		// openChecked skips the stat before the open, as when the path is
		// swapped for a pipe between the two: the descriptor's own check
		// must refuse it, and the open must not block.
		{"openChecked", func(p string) error {
			f, err := openChecked(p, MaxImageBytes)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"ReadFile", func(p string) error { _, err := ReadFile(p, MaxImageBytes); return err }},
		{"StatFile", func(p string) error { _, err := StatFile(p, MaxImageBytes); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.path(t)
			for _, o := range opens {
				err := within(t, func() error { return o.open(p) })
				if !errors.Is(err, ErrNotRegular) {
					t.Errorf("%s: error %v, want ErrNotRegular", o.name, err)
				}
				var te *TypeError
				if !errors.As(err, &te) {
					t.Errorf("%s: error %T, want a *TypeError", o.name, err)
				}
				if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("%s: error %q does not say %q", o.name, err, tt.wantMsg)
				}
			}
		})
	}
}

// device returns path, a device node, or skips the test where it is absent
// or is not a device (a sandbox may replace it).
func device(t *testing.T, path string) string {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil || st.Mode()&fs.ModeDevice == 0 {
		t.Skipf("%s is not a device here", path)
	}
	return path
}

func TestLongPathInMessages(t *testing.T) {
	dir := t.TempDir()
	long := filepath.Join(dir, strings.Repeat("long-folder-name/", 300), "cat.jpg") // about 5 KB
	pipe := filepath.Join(dir, strings.Repeat("p", 250))
	if err := syscall.Mkfifo(pipe, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	big := filepath.Join(dir, strings.Repeat("b", 250))
	if err := os.WriteFile(big, make([]byte, 10), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  func() error
	}{
		{"missing", func() error { _, err := Open(long, 1); return err }},
		{"named pipe", func() error { _, err := Open(pipe, 1); return err }},
		{"too large", func() error { _, err := ReadFile(big, 1); return err }},
		{"not a directory", func() error { _, err := StatDir(big); return err }},
	}
	for _, tt := range tests {
		err := tt.err()
		if err == nil {
			t.Fatalf("%s: no error", tt.name)
		}
		msg := err.Error()
		if len(msg) > 300 || !strings.Contains(msg, "…") {
			t.Errorf("%s: message of %d bytes %q, want the path shortened", tt.name, len(msg), msg)
		}
	}
}

func TestStatDir(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, 3)
	tests := []struct {
		name    string
		path    string
		wantIs  error
		wantMsg string
	}{
		{"folder", dir, nil, ""},
		{"regular file", file, ErrNotDir, "is a regular file, not a directory"},
		{"named pipe", mkfifo(t), ErrNotDir, "is a named pipe, not a directory"},
		{"missing", filepath.Join(dir, "none"), fs.ErrNotExist, "no such file"},
	}
	for _, tt := range tests {
		st, err := StatDir(tt.path)
		if tt.wantIs == nil {
			if err != nil || !st.IsDir() {
				t.Errorf("%s: StatDir = %v, %v", tt.name, st, err)
			}
			continue
		}
		if !errors.Is(err, tt.wantIs) || !strings.Contains(err.Error(), tt.wantMsg) {
			t.Errorf("%s: StatDir error %v, want %v saying %q", tt.name, err, tt.wantIs, tt.wantMsg)
		}
	}
}

func TestOpenInRoot(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), []byte("weights"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	tests := []struct {
		name    string
		limit   int64
		want    string // content; "" when refused
		wantMsg string
	}{
		{"w.bin", 100, "weights", ""},
		{"w.bin", 3, "", "over the limit of 3 bytes"},
		{"pipe", 100, "", `"pipe" is a named pipe, not a regular file`},
		{"sub", 100, "", `"sub" is a directory`},
		{"../outside", 100, "", "escapes"},
	}
	for _, tt := range tests {
		var got []byte
		err := within(t, func() error {
			f, err := OpenInRoot(root, tt.name, tt.limit)
			if err != nil {
				return err
			}
			defer f.Close()
			got, err = readAll(f)
			return err
		})
		if tt.want != "" {
			if err != nil || string(got) != tt.want {
				t.Errorf("OpenInRoot(%s) read %q, %v; want %q", tt.name, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
			t.Errorf("OpenInRoot(%s): %v, want an error saying %q", tt.name, err, tt.wantMsg)
		}
	}
}

func TestOpenDirAndReadDir(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.png", "a.jpg", "c"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		path    string
		want    string // names listed; "" when refused
		wantIs  error
		wantMsg string
	}{
		{"folder", dir, "a.jpg b.png c", nil, ""},
		{"named pipe", mkfifo(t), "", ErrNotDir, "is a named pipe, not a directory"},
		{"regular file", filepath.Join(dir, "c"), "", ErrNotDir, "is a regular file, not a directory"},
		{"missing", filepath.Join(dir, "none"), "", fs.ErrNotExist, "no such file"},
	}
	for _, tt := range tests {
		var names []string
		err := within(t, func() error {
			entries, err := ReadDir(tt.path)
			for _, e := range entries {
				names = append(names, e.Name())
			}
			return err
		})
		if tt.want != "" {
			if err != nil || strings.Join(names, " ") != tt.want {
				t.Errorf("%s: ReadDir = %v, %v; want %s", tt.name, names, err, tt.want)
			}
			continue
		}
		if !errors.Is(err, tt.wantIs) || !strings.Contains(err.Error(), tt.wantMsg) {
			t.Errorf("%s: ReadDir error %v, want %v saying %q", tt.name, err, tt.wantIs, tt.wantMsg)
		}
	}
	// The open itself refuses a named pipe, as when one is swapped in
	// after the stat: it must fail, not block.
	pipe := mkfifo(t)
	err := within(t, func() error {
		f, err := openDir(pipe)
		if err == nil {
			f.Close()
		}
		return err
	})
	if !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("openDir(named pipe): %v, want ENOTDIR", err)
	}
}

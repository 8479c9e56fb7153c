package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	errWriter := errors.New("simulated writer failure")
	tests := []struct {
		name     string
		existing string // content of a file already at the destination; "" for none
		destDir  bool   // the destination is a folder, so the final rename fails
		write    func(io.Writer) error
		wantErr  error // nil: success expected
		want     string
	}{
		{
			name:  "new file",
			write: writeString("fresh"),
			want:  "fresh",
		},
		{
			name:     "replaces existing file",
			existing: "old",
			write:    writeString("new content"),
			want:     "new content",
		},
		{
			name:     "writer failure keeps old file",
			existing: "old",
			write: func(w io.Writer) error {
				io.WriteString(w, "partial")
				return errWriter
			},
			wantErr: errWriter,
			want:    "old",
		},
		{
			name: "large content crosses buffer size",
			write: func(w io.Writer) error {
				_, err := io.WriteString(w, strings.Repeat("x", 200<<10))
				return err
			},
			want: strings.Repeat("x", 200<<10),
		},
		{
			name:    "destination is a folder",
			destDir: true,
			write:   writeString("never lands"),
			wantErr: errAny,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.txt")
			if tc.existing != "" {
				if err := os.WriteFile(path, []byte(tc.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.destDir {
				if err := os.Mkdir(path, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			err := Write(path, 0o640, tc.write)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Write: %v", err)
			case tc.wantErr == errAny && err == nil, tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("Write error = %v, want %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			if !tc.destDir {
				got, rerr := os.ReadFile(path)
				if rerr != nil {
					t.Fatal(rerr)
				}
				if string(got) != tc.want {
					t.Errorf("content = %.20q (len %d), want %.20q (len %d)", got, len(got), tc.want, len(tc.want))
				}
			}
			if tc.wantErr == nil {
				st, serr := os.Stat(path)
				if serr != nil {
					t.Fatal(serr)
				}
				if st.Mode().Perm() != 0o640 {
					t.Errorf("mode = %v, want 0640", st.Mode().Perm())
				}
			}
			assertOnlyEntry(t, dir, "out.txt")
		})
	}
}

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.bin")
	data := []byte{0, 1, 2, 255}
	if err := WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(data) {
		t.Errorf("content = %v, want %v", got, data)
	}
}

func TestWriteMissingFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent", "out.txt")
	err := WriteFile(path, []byte("x"), 0o644)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("error = %v, want os.ErrNotExist", err)
	}
}

// errAny marks a case that must fail without a specific cause.
var errAny = errors.New("any error")

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

// assertOnlyEntry fails unless dir holds exactly name: no temporary file may
// survive a write, successful or not.
func assertOnlyEntry(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != name {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("folder holds %q, want only %q", names, name)
	}
}

package record

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nst-project/nst/internal/runlock"
)

// TestReadRunManifestSeesAKilledRun: a manifest that says "running" while
// no process holds its folder's lock belongs to a run killed without a
// word (SIGKILL, OOM): it reads, and is rewritten, as interrupted. A run
// whose lock is held, or whose folder was claimed an instant ago, reads
// as running.
func TestReadRunManifestSeesAKilledRun(t *testing.T) {
	if !runlock.Supported {
		t.Skip("no flock on this platform")
	}
	dir, err := RunDir(filepath.Join(t.TempDir(), "run"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, ManifestName)
	old := time.Now().Add(-time.Minute)
	tests := []struct {
		name       string
		locked     bool
		mtime      time.Time
		wantStatus string
	}{
		{"just claimed, not locked yet", false, time.Now(), StatusRunning},
		{"running, lock held", true, old, StatusRunning},
		{"killed: lock free", false, old, StatusInterrupted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.locked {
				unlock, err := runlock.Lock(dir)
				if err != nil {
					t.Fatal(err)
				}
				defer unlock()
			}
			if err := os.Chtimes(path, tt.mtime, tt.mtime); err != nil {
				t.Fatal(err)
			}
			m, err := ReadRunManifest(dir)
			if err != nil {
				t.Fatal(err)
			}
			if m.Status != tt.wantStatus || m.Killed != (tt.wantStatus == StatusInterrupted) {
				t.Errorf("status %q, killed %v; want %q", m.Status, m.Killed, tt.wantStatus)
			}
			again, err := ReadManifest(path)
			if err != nil {
				t.Fatal(err)
			}
			if again.Status != tt.wantStatus {
				t.Errorf("manifest.json says %q, want %q", again.Status, tt.wantStatus)
			}
		})
	}
}

// TestRunDirLeavesNoHalfMadeFolder: a folder whose claiming manifest
// cannot be written (a full disk) is removed, and the error says why.
func TestRunDirLeavesNoHalfMadeFolder(t *testing.T) {
	prev := writePlaceholder
	writePlaceholder = func(io.Writer, string) (int, error) { return 0, syscall.ENOSPC }
	t.Cleanup(func() { writePlaceholder = prev })
	base := filepath.Join(t.TempDir(), "runs", "run")
	_, err := RunDir(base)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("RunDir: %v, want no space left on device", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(base))
	if len(entries) != 0 {
		t.Errorf("%s holds %v after the failed claim, want nothing", filepath.Dir(base), entries)
	}
}

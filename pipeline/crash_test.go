package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nst-project/nst/internal/runlock"
	"github.com/nst-project/nst/record"
)

// TestRunHoldsItsFolderLock: a run holds its folder's lock while it runs,
// so that another process can tell it from a run that was killed, and
// releases it when it ends.
func TestRunHoldsItsFolderLock(t *testing.T) {
	if !runlock.Supported {
		t.Skip("no flock on this platform")
	}
	var held []bool
	cfg := tinyConfig(t, "", "optimizer.iterations=2")
	res, err := Run(context.Background(), cfg, RunOptions{Observers: []Observer{ObserverFunc(func(ev *Event) error {
		if ev.Kind == EventIteration {
			held = append(held, runlock.Held(ev.Dir))
		}
		return nil
	})}})
	if err != nil {
		t.Fatal(err)
	}
	if len(held) == 0 || slicesContainFalse(held) {
		t.Errorf("lock held at each iteration: %v, want true", held)
	}
	if runlock.Held(res.Dir) {
		t.Error("the lock outlived the run")
	}
}

func slicesContainFalse(b []bool) bool {
	for _, v := range b {
		if !v {
			return true
		}
	}
	return false
}

// TestResumeOfAKilledRun: a run killed without a word (SIGKILL: no
// checkpoint, manifest still "running") is named as such by --resume,
// which rewrites its manifest to interrupted and offers its latest image
// as the start of a new run (init: image).
func TestResumeOfAKilledRun(t *testing.T) {
	cfg := tinyConfig(t, "", "optimizer.iterations=3", "output.save_every=1")
	res := runOK(t, cfg)
	// What SIGKILL near the end leaves: intermediate images, no
	// final image, no checkpoint, the manifest as the run claimed it.
	if err := os.Remove(filepath.Join(res.Dir, "final.png")); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(res.Dir, record.ManifestName)
	if err := os.WriteFile(manifest, []byte(`{"status": "running"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Resume(context.Background(), res.Dir, RunOptions{})
	if !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("Resume: %v, want ErrNoCheckpoint", err)
	}
	for _, want := range []string{
		"the run's process was killed before it could save one (its manifest said running; now interrupted)",
		"restart from its latest image with: nst run -c " + filepath.Join(res.Dir, ResolvedConfigName) + " --set init=image --set init_image=" + filepath.Join(res.Dir, "iter_00002.png"),
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	m, err := record.ReadManifest(manifest)
	if err != nil || m.Status != record.StatusInterrupted {
		t.Errorf("manifest after resume: %+v, %v; want status interrupted", m, err)
	}
	// The suggested command runs.
	again, err := LoadConfig(filepath.Join(res.Dir, ResolvedConfigName), []string{"init=image", "init_image=" + filepath.Join(res.Dir, "iter_00002.png"), "output.dir=" + t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	runOK(t, again)
}

// TestFailedStartLeavesNoFolder: a run whose first writes fail (a full
// disk) removes the folder it claimed.
func TestFailedStartLeavesNoFolder(t *testing.T) {
	prev := writeResolvedConfig
	writeResolvedConfig = func(string, []byte, os.FileMode) error { return syscall.ENOSPC }
	t.Cleanup(func() { writeResolvedConfig = prev })
	cfg := tinyConfig(t, "")
	_, err := Run(context.Background(), cfg, RunOptions{})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Run: %v, want no space left on device", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(cfg.Output.Dir))
	if len(entries) != 0 {
		t.Errorf("%s holds %v after the failed start, want nothing", filepath.Dir(cfg.Output.Dir), entries)
	}
}

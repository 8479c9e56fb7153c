package video

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nst-project/nst/pipeline"
)

// TestVideoResume: a video run cancelled in the middle of frame 4 of 6
// continues with Resume: frames 1-3 are neither run again nor rewritten,
// frame 4 continues from its checkpoint, and every final frame is
// byte-identical to an uninterrupted run's.
func TestVideoResume(t *testing.T) {
	model := writeTinyModel(t)
	dir := writePan(t, 6, 40, 32, 2)
	const extra = "video: {iterations_first: 12, iterations: 8}"
	whole, err := Run(context.Background(), tinyVideoConfig(t, model, dir, 40, extra), Options{})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopper := pipeline.ObserverFunc(func(ev *pipeline.Event) error {
		if filepath.Base(ev.Dir) == "frame_04" && ev.Kind == pipeline.EventIteration && ev.Iteration == 3 {
			cancel()
		}
		return nil
	})
	cfg := tinyVideoConfig(t, model, dir, 40, extra)
	_, err = Run(ctx, cfg, Options{Observers: []pipeline.Observer{stopper}})
	if !errors.Is(err, pipeline.ErrInterrupted) || !strings.Contains(err.Error(), "nst run --resume") {
		t.Fatalf("interrupted run: %v; want ErrInterrupted naming the resume command", err)
	}
	runDir := cfg.Output.Dir
	if !IsRunDir(runDir) {
		t.Fatalf("%s is not recognised as a video run folder", runDir)
	}
	mtimes := map[string]time.Time{}
	for _, name := range []string{"frame_01.png", "frame_02.png", "frame_03.png"} {
		st, err := os.Stat(filepath.Join(runDir, framesDir, name))
		if err != nil {
			t.Fatalf("frame done before the interruption: %v", err)
		}
		mtimes[name] = st.ModTime()
	}
	if _, err := os.Stat(filepath.Join(runDir, framesDir, "frame_04.png")); err == nil {
		t.Fatal("the interrupted frame has an output")
	}
	time.Sleep(20 * time.Millisecond) // so that a rewrite would change an mtime

	var mu sync.Mutex
	starts := map[string]int{} // frame run folder → iteration it started at
	counter := pipeline.ObserverFunc(func(ev *pipeline.Event) error {
		if ev.Kind == pipeline.EventStart {
			mu.Lock()
			starts[filepath.Base(ev.Dir)] = ev.Iteration
			mu.Unlock()
		}
		return nil
	})
	res, err := Resume(context.Background(), runDir, Options{Observers: []pipeline.Observer{counter}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"frame_01", "frame_02", "frame_03"} {
		if _, ran := starts[name]; ran {
			t.Errorf("%s ran again on resume", name)
		}
	}
	if it, ok := starts["frame_04"]; !ok || it != 3 {
		t.Errorf("frame_04 resumed at iteration %d (ran: %v); want its checkpoint's 3", it, ok)
	}
	for _, name := range []string{"frame_05", "frame_06"} {
		if it, ok := starts[name]; !ok || it != 0 {
			t.Errorf("%s: started %v at iteration %d; want a fresh run", name, ok, it)
		}
	}
	for name, mt := range mtimes {
		st, err := os.Stat(filepath.Join(runDir, framesDir, name))
		if err != nil || !st.ModTime().Equal(mt) {
			t.Errorf("%s rewritten on resume (%v)", name, err)
		}
	}
	if len(res.Frames) != 6 {
		t.Fatalf("%d frames after resume, want 6", len(res.Frames))
	}
	for i, p := range res.Frames {
		got, err1 := os.ReadFile(p)
		want, err2 := os.ReadFile(whole.Frames[i])
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("frame %d after resume differs from the uninterrupted run's", i+1)
		}
	}
	m, err := readManifest(filepath.Join(runDir, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != "completed" || !m.Frames[0].Reused || m.Frames[4].Reused || m.Frames[4].Iterations != 8 {
		t.Errorf("manifest: status %q, frames %+v", m.Status, m.Frames)
	}

	// A rerun of the same config never reuses the earlier folder.
	again, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Dir == runDir {
		t.Errorf("a second run wrote into %s again", runDir)
	}
}

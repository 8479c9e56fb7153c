package video

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nst-project/nst/record"
	"github.com/nst-project/nst/video/frames"
)

// TestVideoKeysShapeTheRun checks what the video keys without a test of
// their own do to a run of a 4-frame pan: video.iterations_first and
// video.iterations set each frame's steps, video.long_term [1, 2] gives the
// third frame on a temporal cost per offset, video.frame_rate is the rate
// of the video encoded from the folder, and video.max_frames refuses a
// longer input before any work.
func TestVideoKeysShapeTheRun(t *testing.T) {
	model := writeTinyModel(t)
	pan := writePan(t, 4, 32, 24, 2)
	const keys = "video: {iterations_first: 3, iterations: 2, long_term: [1, 2], frame_rate: 7}\noptimizer: {tolerance: 0}\n"
	cfg := tinyVideoConfig(t, model, pan, 32, keys)
	res, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Frames) != 4 {
		t.Fatalf("%d stylised frames, want 4", len(res.Frames))
	}
	costs, err := filepath.Glob(filepath.Join(res.Dir, "runs", "*", record.CostsCSVName))
	if err != nil || len(costs) != 4 {
		t.Fatalf("frame runs' costs.csv: %v (%v), want 4", costs, err)
	}
	slices.Sort(costs)
	for i, path := range costs {
		table, err := record.ReadCosts(path)
		if err != nil {
			t.Fatal(err)
		}
		wantRows, wantTemporal := 2, []string{"temporal_1", "temporal_2"}
		switch i {
		case 0:
			wantRows, wantTemporal = 3, nil
		case 1:
			wantTemporal = wantTemporal[:1] // no frame two back yet
		}
		if len(table.Iterations) != wantRows {
			t.Errorf("frame %d: %d iterations, want %d", i+1, len(table.Iterations), wantRows)
		}
		var temporal []string
		for _, term := range table.Terms {
			if strings.HasPrefix(term, "temporal_") {
				temporal = append(temporal, term)
			}
		}
		if !slices.Equal(temporal, wantTemporal) {
			t.Errorf("frame %d: temporal columns %v, want %v", i+1, temporal, wantTemporal)
		}
	}

	if _, err := exec.LookPath("ffprobe"); err == nil && res.Video != "" {
		info, err := frames.Probe(context.Background(), res.Video)
		if err != nil {
			t.Fatal(err)
		}
		if info.Frames != 4 || info.Rate != (frames.Rate{Num: 7, Den: 1}) {
			t.Errorf("styled video: %d frames at %v, want 4 at video.frame_rate 7/1", info.Frames, info.Rate)
		}
	} else if os.Getenv("CI") == "true" {
		t.Errorf("no styled video checked on CI (ffprobe: %v, video %q)", err, res.Video)
	}

	limited := tinyVideoConfig(t, model, pan, 32, "video: {max_frames: 3}\n")
	if _, err := Run(context.Background(), limited, Options{}); err == nil || !strings.Contains(err.Error(), "over the limit of 3") {
		t.Errorf("4 frames with video.max_frames 3: error %v, want one saying over the limit of 3", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(limited.Output.Dir)); len(entries) != 0 {
		t.Errorf("the refused run left %d entries in its output folder", len(entries))
	}
}

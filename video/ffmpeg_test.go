package video

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/nst-project/nst/video/frames"
)

// TestVideoFileRoundTrip: a 6-frame clip made with ffmpeg's lavfi sources,
// with and without audio, comes back as styled.mp4 with 6 frames at the
// input's rate, and with an audio track exactly when the input had one.
// Without ffmpeg the test skips, except on CI (CI=true), where it fails.
func TestVideoFileRoundTrip(t *testing.T) {
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not on PATH on CI", tool)
			}
			t.Skipf("%s not on PATH", tool)
		}
	}
	model := writeTinyModel(t)
	for _, c := range []struct {
		name  string
		audio bool
	}{{"with audio", true}, {"silent", false}} {
		t.Run(c.name, func(t *testing.T) {
			clip := filepath.Join(t.TempDir(), "clip.mp4")
			args := []string{"-v", "error", "-f", "lavfi", "-i", "testsrc=size=48x32:rate=12:duration=0.5"}
			if c.audio {
				args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=0.5", "-c:a", "aac")
			}
			args = append(args, "-frames:v", "6", "-c:v", "libx264", "-pix_fmt", "yuv420p", clip)
			if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
				t.Fatalf("make the clip: %v: %s", err, out)
			}
			cfg := tinyVideoConfig(t, model, clip, 48, "video: {iterations_first: 6, iterations: 3}")
			res, err := Run(context.Background(), cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Video != filepath.Join(res.Dir, VideoName) || len(res.Frames) != 6 {
				t.Fatalf("result %+v; want styled.mp4 and 6 frames", res)
			}
			info, err := frames.Probe(context.Background(), res.Video)
			if err != nil {
				t.Fatal(err)
			}
			if info.Frames != 6 || info.Rate != (frames.Rate{Num: 12, Den: 1}) || info.Audio != c.audio {
				t.Errorf("styled video: %d frames at %v, audio %v; want 6 at 12/1, audio %v", info.Frames, info.Rate, info.Audio, c.audio)
			}
			m, err := readManifest(filepath.Join(res.Dir, ManifestName))
			if err != nil {
				t.Fatal(err)
			}
			if m.Source != clip || m.Rate != "12/1" || m.Audio != c.audio || m.Video != res.Video {
				t.Errorf("manifest: source %q rate %q audio %v video %q", m.Source, m.Rate, m.Audio, m.Video)
			}
		})
	}
}

// TestVideoNoFFmpeg: a video file without ffmpeg on PATH fails with
// frames.ErrNoFFmpeg and a message saying how to install it.
func TestVideoNoFFmpeg(t *testing.T) {
	clip := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(clip, []byte("not really a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir())
	cfg := tinyVideoConfig(t, writeTinyModel(t), clip, 48, "")
	_, err := Run(context.Background(), cfg, Options{})
	if !errors.Is(err, frames.ErrNoFFmpeg) {
		t.Fatalf("error %v; want frames.ErrNoFFmpeg", err)
	}
}

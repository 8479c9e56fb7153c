package frames

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nst-project/nst/imageio"
)

// needFFmpeg skips the test when ffmpeg or ffprobe is missing, except on CI
// (CI=true), where a missing ffmpeg is a broken setup and fails the test.
func needFFmpeg(t *testing.T) {
	t.Helper()
	for _, name := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(name); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not on PATH on CI; .ci/run must run scripts/install-ffmpeg.sh", name)
			}
			t.Skipf("%s not on PATH; install it with scripts/install-ffmpeg.sh to run this test", name)
		}
	}
}

// media describes a synthetic test video made with ffmpeg's lavfi sources.
type media struct {
	file       string // name, whose extension picks the container
	size       string // "64x48"
	rate       string // "10"
	seconds    string // "1"
	videoCodec string // ffmpeg encoder: "libx264", "ffv1"
	audioCodec string // "" for no audio, else an encoder: "aac", "pcm_s16le"
}

// make writes the video into dir and returns its path.
func (m media) make(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, m.file)
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=%s:rate=%s:duration=%s", m.size, m.rate, m.seconds)}
	if m.audioCodec != "" {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration="+m.seconds, "-c:a", m.audioCodec)
	}
	args = append(args, "-c:v", m.videoCodec)
	if m.videoCodec == "libx264" {
		args = append(args, "-pix_fmt", "yuv420p", "-preset", "ultrafast")
	}
	args = append(args, p)
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("make test video: %v: %s", err, out)
	}
	return p
}

// TestRoundTrip decodes synthetic videos to frames, encodes the frames
// back with the input's rate and audio, and checks what ffprobe reports
// about both files.
func TestRoundTrip(t *testing.T) {
	needFFmpeg(t)
	cases := []struct {
		name         string
		in           media
		out          string
		w, h, frames int
		rate         Rate
		audioOut     string // audio codec of the output; "" for none
		reencoded    bool
		outW, outH   int
	}{
		{"mp4 with AAC audio", media{"in.mp4", "64x48", "10", "1", "libx264", "aac"}, "out.mp4", 64, 48, 10, Rate{10, 1}, "aac", false, 64, 48},
		{"silent, NTSC rate", media{"in.mp4", "32x32", "30000/1001", "0.5", "libx264", ""}, "out.mkv", 32, 32, 15, Rate{30000, 1001}, "", false, 32, 32},
		{"odd size, PCM audio into mp4", media{"in.mkv", "33x25", "12", "0.5", "ffv1", "pcm_s16le"}, "out.mp4", 33, 25, 6, Rate{12, 1}, "aac", true, 34, 26},
		{"PCM audio into mov", media{"in.mkv", "32x24", "8", "0.5", "ffv1", "pcm_s16le"}, "out.mov", 32, 24, 4, Rate{8, 1}, "pcm_s16le", false, 32, 24},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			in := c.in.make(t, dir)

			info, err := Probe(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if info.Width != c.w || info.Height != c.h || info.Rate != c.rate || info.Audio != (c.in.audioCodec != "") {
				t.Errorf("probe: %dx%d at %v, audio %v; want %dx%d at %v, audio %v", info.Width, info.Height, info.Rate, info.Audio, c.w, c.h, c.rate, c.in.audioCodec != "")
			}
			if info.Frames < c.frames-1 || info.Frames > c.frames+1 {
				t.Errorf("probe: %d frames, want about %d", info.Frames, c.frames)
			}

			seq, err := Decode(ctx, in, filepath.Join(dir, "frames"), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if len(seq.Frames) != c.frames || seq.Width != c.w || seq.Height != c.h || seq.Rate != c.rate || seq.Source != in || seq.Audio != info.Audio {
				t.Fatalf("decoded %d frames of %dx%d at %v (audio %v, source %q), want %d of %dx%d at %v", len(seq.Frames), seq.Width, seq.Height, seq.Rate, seq.Audio, seq.Source, c.frames, c.w, c.h, c.rate)
			}
			if seq.Frames[0].Name != "frame_000001.png" || seq.Frames[c.frames-1].Name != fmt.Sprintf("frame_%06d.png", c.frames) {
				t.Errorf("frame names %q … %q", seq.Frames[0].Name, seq.Frames[c.frames-1].Name)
			}
			// testsrc draws colour bars: the first frame is far from flat.
			img, err := imageio.Load(seq.Frames[0].Path, imageio.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			lo, hi := 255, 0
			for i := 0; i < len(img.Pix); i += 4 {
				lo, hi = min(lo, int(img.Pix[i])), max(hi, int(img.Pix[i]))
			}
			if hi-lo < 100 {
				t.Errorf("first frame's red channel spans %d-%d; want colour bars", lo, hi)
			}

			out := filepath.Join(dir, c.out)
			var paths []string
			for _, f := range seq.Frames {
				paths = append(paths, f.Path)
			}
			res, err := Encode(ctx, paths, out, EncodeOptions{Rate: seq.Rate, Audio: seq.Source, Preset: "ultrafast"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Audio != (c.audioOut != "") || res.AudioReencoded != c.reencoded || res.Width != c.outW || res.Height != c.outH {
				t.Errorf("encode result %+v, want audio %v (re-encoded %v), %dx%d", res, c.audioOut != "", c.reencoded, c.outW, c.outH)
			}
			got, err := Probe(ctx, out)
			if err != nil {
				t.Fatal(err)
			}
			if got.Codec != "h264" || got.PixelFormat != "yuv420p" || got.Width != c.outW || got.Height != c.outH || got.Rate != c.rate {
				t.Errorf("output: %s %s %dx%d at %v, want h264 yuv420p %dx%d at %v", got.Codec, got.PixelFormat, got.Width, got.Height, got.Rate, c.outW, c.outH, c.rate)
			}
			if got.Audio != (c.audioOut != "") || got.AudioCodec != c.audioOut {
				t.Errorf("output audio %v (%q), want %q", got.Audio, got.AudioCodec, c.audioOut)
			}
			// Count the frames written by decoding the output again.
			again, err := Decode(ctx, out, filepath.Join(dir, "again"), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if len(again.Frames) != c.frames {
				t.Errorf("output has %d frames, want %d", len(again.Frames), c.frames)
			}
			leftovers, _ := filepath.Glob(filepath.Join(dir, ".*tmp-*"))
			if len(leftovers) > 0 {
				t.Errorf("temporary files left: %v", leftovers)
			}
		})
	}
}

// TestDecodeRefuses checks that limits are enforced before decoding, that
// a non-empty folder and non-videos are refused, and that nothing is left
// behind.
func TestDecodeRefuses(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	in := media{"in.mp4", "64x48", "10", "1", "libx264", ""}.make(t, dir)
	notVideo := filepath.Join(dir, "notes.mp4")
	os.WriteFile(notVideo, []byte("not a video at all"), 0o644)
	full := filepath.Join(dir, "full")
	os.Mkdir(full, 0o755)
	os.WriteFile(filepath.Join(full, "keep.txt"), nil, 0o644)
	cases := []struct {
		name, path, out string
		lim             Limits
		want            string
	}{
		{"too many frames", in, "f1", Limits{MaxFrames: 5}, "over the limit of 5"},
		{"too many pixels", in, "f2", Limits{MaxPixels: 1000}, "over the limit of 1000 pixels"},
		{"folder not empty", in, "full", Limits{}, "not empty"},
		{"not a video", notVideo, "f3", Limits{}, "ffprobe cannot read it"},
		{"missing", filepath.Join(dir, "missing.mp4"), "f4", Limits{}, "no such file"},
		{"a folder", full, "f5", Limits{}, "is a folder"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, c.out)
			_, err := Decode(context.Background(), c.path, out, c.lim)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if c.out != "full" {
				if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("frame folder %q left behind", out)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(full, "keep.txt")); err != nil {
		t.Error("Decode touched a non-empty folder's files")
	}
}

// TestCancel checks that a cancelled context stops decoding and encoding
// with the context's error and leaves no frames or partial video.
func TestCancel(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	in := media{"in.mp4", "64x48", "10", "1", "libx264", "aac"}.make(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(dir, "frames")
	if _, err := Decode(ctx, in, out, Limits{}); !errors.Is(err, context.Canceled) {
		t.Errorf("decode: error %v, want context.Canceled", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Error("decode left its frame folder")
	}
	frame := filepath.Join(dir, "1.png")
	writePNG(t, frame, 8, 8)
	video := filepath.Join(dir, "out.mp4")
	if _, err := Encode(ctx, []string{frame, frame}, video, EncodeOptions{Rate: Rate{10, 1}, Audio: in}); !errors.Is(err, context.Canceled) {
		t.Errorf("encode: error %v, want context.Canceled", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if n := e.Name(); n != "in.mp4" && n != "1.png" {
			t.Errorf("left behind: %s", n)
		}
	}
}

// TestEncodeRefuses checks Encode's argument checks and that a frame of
// the wrong size fails without replacing an existing output.
func TestEncodeRefuses(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")
	writePNG(t, a, 8, 8)
	writePNG(t, b, 8, 6)
	out := filepath.Join(dir, "out.mp4")
	os.WriteFile(out, []byte("old"), 0o644)
	ok := EncodeOptions{Rate: Rate{10, 1}, Preset: "ultrafast"}
	cases := []struct {
		name  string
		paths []string
		out   string
		o     EncodeOptions
		want  string
	}{
		{"sizes differ", []string{a, a, b}, out, ok, "frame 3 (b.png) is 8x6, the first is 8x8"},
		{"no frames", nil, out, ok, "no frames"},
		{"no rate", []string{a}, out, EncodeOptions{}, "frame rate 0/0"},
		{"bad extension", []string{a}, filepath.Join(dir, "out.avi"), ok, "use .mp4, .m4v, .mov or .mkv"},
		{"bad CRF", []string{a}, out, EncodeOptions{Rate: Rate{10, 1}, CRF: 52}, "CRF 52"},
		{"bad preset", []string{a}, out, EncodeOptions{Rate: Rate{10, 1}, Preset: "warp"}, "preset"},
		{"too many frames", []string{a, a, a}, out, EncodeOptions{Rate: Rate{10, 1}, Limits: Limits{MaxFrames: 2}}, "over the limit of 2"},
		{"missing frame", []string{a, filepath.Join(dir, "gone.png")}, out, ok, "gone.png"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Encode(context.Background(), c.paths, c.out, c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if data, _ := os.ReadFile(out); string(data) != "old" {
		t.Error("a failed encode replaced the existing output")
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

// TestNoFFmpeg checks the error when ffmpeg is not on PATH: it names the
// fix. It needs no ffmpeg, so it always runs.
func TestNoFFmpeg(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	video := filepath.Join(dir, "in.mp4")
	os.WriteFile(video, []byte("x"), 0o644)
	frame := filepath.Join(dir, "1.png")
	writePNG(t, frame, 4, 4)
	const want = "ffmpeg not found on PATH; install it with scripts/install-ffmpeg.sh or apt-get install ffmpeg"
	_, err1 := Decode(context.Background(), video, filepath.Join(dir, "f"), Limits{})
	_, err2 := Probe(context.Background(), video)
	_, err3 := Encode(context.Background(), []string{frame}, filepath.Join(dir, "o.mp4"), EncodeOptions{Rate: Rate{25, 1}})
	for i, err := range []error{err1, err2, err3} {
		if !errors.Is(err, ErrNoFFmpeg) || !strings.Contains(err.Error(), want) {
			t.Errorf("call %d: error %v, want one wrapping ErrNoFFmpeg (%q)", i+1, err, want)
		}
	}
}

// TestOpen checks that Open lists a folder and decodes a file.
func TestOpen(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	in := media{"in.mp4", "16x16", "5", "1", "libx264", ""}.make(t, dir)
	work := filepath.Join(dir, "work")
	seq, err := Open(context.Background(), in, work, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(seq.Frames) != 5 || seq.Rate != (Rate{5, 1}) || filepath.Dir(seq.Frames[0].Path) != work {
		t.Errorf("video: %d frames at %v in %q, want 5 at 5/1 in %q", len(seq.Frames), seq.Rate, filepath.Dir(seq.Frames[0].Path), work)
	}
	listed, err := Open(context.Background(), work, filepath.Join(dir, "unused"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed.Frames) != 5 || !listed.Rate.IsZero() || listed.Source != "" {
		t.Errorf("folder: %d frames at %v from %q, want 5 with no rate or source", len(listed.Frames), listed.Rate, listed.Source)
	}
	if _, err := os.Stat(filepath.Join(dir, "unused")); !errors.Is(err, os.ErrNotExist) {
		t.Error("Open made a work folder for a folder input")
	}
	if _, err := Open(context.Background(), filepath.Join(dir, "missing"), work, Limits{}); err == nil {
		t.Error("missing input: no error")
	}
}

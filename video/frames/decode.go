package frames

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
)

// DecodedPattern is how Decode names frames: frame_000001.png,
// frame_000002.png and so on.
const DecodedPattern = "frame_%06d.png"

// Decode splits the video file at path into PNG frames (8-bit RGB) in dir,
// named by DecodedPattern, one file per frame the video stream holds (no
// frames are dropped or repeated to fit a constant rate). dir must be
// empty or not exist yet. The video is probed first and refused, before
// anything is decoded, when a frame has more than lim.MaxPixels pixels or
// the stream more than lim.MaxFrames frames. On failure or cancellation
// the frames written so far are removed.
//
// The Sequence returned carries the video's frame rate and whether it has
// audio, for Encode.
func Decode(ctx context.Context, path, dir string, lim Limits) (*Sequence, error) {
	lim, err := lim.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("decode %q: %w", path, err)
	}
	ffmpeg, err := tool("ffmpeg")
	if err != nil {
		return nil, fmt.Errorf("decode %q: %w", path, err)
	}
	info, err := Probe(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if px := int64(info.Width) * int64(info.Height); px > lim.MaxPixels {
		return nil, fmt.Errorf("decode %q: frames are %dx%d, over the limit of %d pixels a frame; scale the video down first (ffmpeg -vf scale=...) or raise the limit", path, info.Width, info.Height, lim.MaxPixels)
	}
	if info.Frames > lim.MaxFrames {
		return nil, fmt.Errorf("decode %q: about %d frames (%.1f s at %.3g frames a second), over the limit of %d; cut the video first (ffmpeg -t ...) or raise the limit", path, info.Frames, info.Duration, info.Rate.Float(), lim.MaxFrames)
	}

	created, err := prepareDir(dir)
	if err != nil {
		return nil, fmt.Errorf("decode %q: %w", path, err)
	}
	cleanup := func() {
		if created {
			os.RemoveAll(dir)
			return
		}
		removeDecoded(dir)
	}

	// "file:" keeps ffmpeg from reading a name such as "concat:a|b" or
	// "http:x" as a protocol. One frame over the limit is decoded, so that
	// a stream longer than its header says is still caught.
	args := []string{
		"-nostdin", "-hide_banner", "-loglevel", "error",
		"-i", "file:" + path,
		"-map", "0:v:0", "-vsync", "passthrough",
		"-frames:v", strconv.Itoa(lim.MaxFrames + 1),
		"-pix_fmt", "rgb24", "-start_number", "1", "-f", "image2",
		"file:" + filepath.Join(dir, DecodedPattern),
	}
	cmd := command(ctx, ffmpeg, args...)
	var stderr tailWriter
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		cleanup()
		return nil, runError(ctx, fmt.Sprintf("decode %q: ffmpeg failed", path), err, &stderr)
	}
	seq, err := ListFolder(dir, lim)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("decode %q: %w", path, err)
	}
	seq.Rate, seq.Audio, seq.Source = info.Rate, info.Audio, path
	return seq, nil
}

// prepareDir makes sure dir exists and is empty, creating it (and its
// parents) if needed; created reports whether it did.
func prepareDir(dir string) (created bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return false, fmt.Errorf("frame folder: %w", err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("frame folder: %w", err)
	case len(entries) > 0:
		return false, fmt.Errorf("frame folder %q is not empty (%d entries); decoded frames need an empty or new folder", dir, len(entries))
	}
	return false, nil
}

// decodedName matches the names DecodedPattern produces.
var decodedName = regexp.MustCompile(`^frame_[0-9]{6,}\.png$`)

// removeDecoded removes the files Decode writes from dir (the folder was
// empty before, so nothing else matches).
func removeDecoded(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if decodedName.MatchString(e.Name()) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

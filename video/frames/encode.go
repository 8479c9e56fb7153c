package frames

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nst-project/nst/imageio"
)

// Containers Encode writes, by the output's extension (lower case).
var containers = map[string]bool{".mp4": true, ".m4v": true, ".mov": true, ".mkv": true}

// presets are libx264's speed presets.
var presets = map[string]bool{
	"ultrafast": true, "superfast": true, "veryfast": true, "faster": true, "fast": true,
	"medium": true, "slow": true, "slower": true, "veryslow": true,
}

// EncodeOptions controls Encode.
type EncodeOptions struct {
	// Rate is the output's frame rate, normally the input's (Sequence.Rate).
	// Required.
	Rate Rate
	// Audio is a media file whose audio tracks are copied into the output,
	// normally the input video (Sequence.Source); empty, or a file without
	// audio, gives a silent video.
	Audio string
	// CRF is libx264's constant rate factor, 0 (lossless) to 51; 0 here
	// means the default, 18, at which compression is hard to see.
	CRF int
	// Preset is libx264's speed preset (default "medium").
	Preset string
	// Limits bounds the frames, as for the input.
	Limits Limits
}

// EncodeResult reports what Encode wrote.
type EncodeResult struct {
	// Width and Height are the video's size: the frames' size rounded up to
	// even numbers, as yuv420p needs (the added row or column is black).
	Width, Height int
	// Audio reports whether audio was written; AudioReencoded that its
	// codec cannot go into the chosen container unchanged, so it was
	// converted to AAC.
	Audio, AudioReencoded bool
}

// Encode writes the frame images at paths, in order, to a video file at
// out: H.264 in yuv420p at o.Rate, in the container out's extension names
// (.mp4, .m4v, .mov or .mkv), with the audio of o.Audio copied. The frames
// are read with imageio.Load, so PNG and JPEG both work, and must all have
// one size. The write is atomic: on failure or cancellation no partial
// video is left and an existing file at out is unchanged.
func Encode(ctx context.Context, paths []string, out string, o EncodeOptions) (EncodeResult, error) {
	var res EncodeResult
	fail := func(err error) (EncodeResult, error) { return EncodeResult{}, fmt.Errorf("encode %q: %w", out, err) }
	lim, err := o.Limits.withDefaults()
	if err != nil {
		return fail(err)
	}
	ext := strings.ToLower(filepath.Ext(out))
	switch {
	case !containers[ext]:
		return fail(fmt.Errorf("unsupported extension %q; use .mp4, .m4v, .mov or .mkv", filepath.Ext(out)))
	case len(paths) == 0:
		return fail(errors.New("no frames"))
	case len(paths) > lim.MaxFrames:
		return fail(fmt.Errorf("%d frames, over the limit of %d", len(paths), lim.MaxFrames))
	case o.CRF < 0 || o.CRF > 51:
		return fail(fmt.Errorf("CRF %d is outside 0-51", o.CRF))
	}
	if err := o.Rate.Check(); err != nil {
		return fail(err)
	}
	crf := o.CRF
	if crf == 0 {
		crf = 18
	}
	preset := o.Preset
	if preset == "" {
		preset = "medium"
	}
	if !presets[preset] {
		return fail(fmt.Errorf("unknown x264 preset %q (ultrafast to veryslow)", preset))
	}
	ffmpeg, err := tool("ffmpeg")
	if err != nil {
		return fail(err)
	}

	first, err := imageio.Load(paths[0], imageio.LoadOptions{MaxPixels: lim.MaxPixels})
	if err != nil {
		return fail(err)
	}
	w, h := first.Bounds().Dx(), first.Bounds().Dy()
	res.Width, res.Height = w+w%2, h+h%2

	copyAudio := false
	if o.Audio != "" {
		info, err := Probe(ctx, o.Audio)
		if err != nil {
			return fail(fmt.Errorf("audio source: %w", err))
		}
		if info.Audio {
			res.Audio = true
			copyAudio, err = audioFits(ctx, ffmpeg, o.Audio, ext)
			if err != nil {
				return fail(err)
			}
			res.AudioReencoded = !copyAudio
		}
	}

	// A temporary name in out's folder, keeping the extension that tells
	// ffmpeg the container; renamed over out once complete.
	tmp, err := tempName(out, ext)
	if err != nil {
		return fail(err)
	}
	done := false
	defer func() {
		if !done {
			os.Remove(tmp)
		}
	}()

	args := []string{
		"-nostdin", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-s", fmt.Sprintf("%dx%d", w, h),
		"-framerate", o.Rate.String(), "-i", "pipe:0",
	}
	if res.Audio {
		args = append(args, "-i", "file:"+o.Audio)
	}
	args = append(args, "-map", "0:v:0")
	if res.Audio {
		args = append(args, "-map", "1:a")
		if copyAudio {
			args = append(args, "-c:a", "copy")
		} else {
			args = append(args, "-c:a", "aac", "-b:a", "192k")
		}
	}
	if w%2 != 0 || h%2 != 0 {
		args = append(args, "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2")
	}
	args = append(args, "-c:v", "libx264", "-preset", preset, "-crf", strconv.Itoa(crf), "-pix_fmt", "yuv420p")
	if ext != ".mkv" {
		// The index at the front lets players start before the whole file
		// has arrived.
		args = append(args, "-movflags", "+faststart")
	}
	args = append(args, "file:"+tmp)

	cmd := command(ctx, ffmpeg, args...)
	var stderr tailWriter
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fail(err)
	}
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("start ffmpeg: %w", err))
	}
	feedErr := feed(ctx, stdin, paths, w, h, lim.MaxPixels)
	stdin.Close()
	waitErr := cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return fail(ctx.Err())
	case feedErr != nil && !errors.Is(feedErr, errPipe):
		return fail(feedErr)
	case waitErr != nil:
		return EncodeResult{}, runError(ctx, fmt.Sprintf("encode %q: ffmpeg failed", out), waitErr, &stderr)
	case feedErr != nil:
		return fail(feedErr)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fail(fmt.Errorf("replace: %w", err))
	}
	done = true
	return res, nil
}

// errPipe marks a write to ffmpeg that failed because ffmpeg stopped
// reading; ffmpeg's own error then says why.
var errPipe = errors.New("ffmpeg stopped reading frames")

// feed writes each frame as raw 8-bit RGB to w, checking that all frames
// have the first one's size.
func feed(ctx context.Context, w io.Writer, paths []string, width, height int, maxPixels int64) error {
	buf := make([]byte, 3*width*height)
	for i, p := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		img, err := imageio.Load(p, imageio.LoadOptions{MaxPixels: maxPixels})
		if err != nil {
			return err
		}
		if b := img.Bounds(); b.Dx() != width || b.Dy() != height {
			return fmt.Errorf("frame %d (%s) is %dx%d, the first is %dx%d; all frames must be one size", i+1, filepath.Base(p), b.Dx(), b.Dy(), width, height)
		}
		for j := 0; j < width*height; j++ {
			copy(buf[3*j:3*j+3], img.Pix[4*j:4*j+3])
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("%w (frame %d): %v", errPipe, i+1, err)
		}
	}
	return nil
}

// audioFits reports whether the audio of src can be copied unchanged into
// a file of the container ext, by letting ffmpeg mux one second of it into
// a scratch file: the muxer, not a table kept here, knows which codecs each
// container takes.
func audioFits(ctx context.Context, ffmpeg, src, ext string) (bool, error) {
	dir, err := os.MkdirTemp("", "nst-audio-*")
	if err != nil {
		return false, fmt.Errorf("audio check: %w", err)
	}
	defer os.RemoveAll(dir)
	cmd := command(ctx, ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
		"-i", "file:"+src, "-map", "0:a", "-c", "copy", "-t", "1", "file:"+filepath.Join(dir, "a"+ext))
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("audio check: %w", ctx.Err())
		}
		return false, nil
	}
	return true, nil
}

// tempName reserves a hidden temporary file beside out, ending in ext.
func tempName(out, ext string) (string, error) {
	dir, base := filepath.Split(out)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+strings.TrimSuffix(base, filepath.Ext(base))+".tmp-*"+ext)
	if err != nil {
		return "", err
	}
	name := f.Name()
	f.Close()
	return name, nil
}

package frames

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// stderrTail is how much of a failing ffmpeg's error output goes into the
// error returned: the end, where ffmpeg says what went wrong.
const stderrTail = 2000

// tool returns the path of ffmpeg or ffprobe on PATH, or an error wrapping
// ErrNoFFmpeg.
func tool(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		if name == "ffmpeg" {
			return "", ErrNoFFmpeg
		}
		return "", fmt.Errorf("%s not found on PATH (it comes with ffmpeg): %w", name, ErrNoFFmpeg)
	}
	return p, nil
}

// tailWriter keeps the last stderrTail bytes written to it.
type tailWriter struct{ b []byte }

func (t *tailWriter) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2*stderrTail {
		t.b = append(t.b[:0], t.b[len(t.b)-stderrTail:]...)
	}
	return len(p), nil
}

// String returns the kept bytes, trimmed, on one line per message.
func (t *tailWriter) String() string {
	b := t.b
	if len(b) > stderrTail {
		b = b[len(b)-stderrTail:]
	}
	return strings.TrimSpace(string(b))
}

// command returns an exec.Cmd for the tool that the context stops: on
// cancellation the process gets SIGKILL and Wait gives up on its pipes
// after a second, so a wedged ffmpeg cannot hold the caller.
func command(ctx context.Context, path string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.WaitDelay = time.Second
	return cmd
}

// runError describes a failed tool run: the context's error when it was
// cancelled, otherwise the exit status and the end of stderr.
func runError(ctx context.Context, what string, err error, stderr *tailWriter) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", what, ctxErr)
	}
	if msg := stderr.String(); msg != "" {
		return fmt.Errorf("%s: %w: %s", what, err, msg)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Info is what Probe learns about a video file.
type Info struct {
	Width, Height int
	// Rate is the video stream's average frame rate (its nominal rate
	// where the container gives no average).
	Rate Rate
	// Frames is the number of video frames: the container's count, or the
	// duration times the rate where the container has none. It bounds the
	// input before decoding; Decode counts the frames it writes.
	Frames int
	// Duration is the file's duration in seconds, 0 if unknown.
	Duration float64
	// Codec is the video stream's codec name, as ffprobe spells it.
	Codec string
	// PixelFormat is the video stream's pixel format ("yuv420p").
	PixelFormat string
	// Audio reports whether the file has at least one audio stream;
	// AudioCodec names the first one's codec.
	Audio      bool
	AudioCodec string
}

// probeOutput is the part of ffprobe's JSON that Probe reads.
type probeOutput struct {
	Streams []struct {
		CodecType    string `json:"codec_type"`
		CodecName    string `json:"codec_name"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		PixFmt       string `json:"pix_fmt"`
		AvgFrameRate string `json:"avg_frame_rate"`
		RFrameRate   string `json:"r_frame_rate"`
		NbFrames     string `json:"nb_frames"`
		Duration     string `json:"duration"`
		Disposition  struct {
			AttachedPic int `json:"attached_pic"`
		} `json:"disposition"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// Probe runs ffprobe on the video file at path and returns its first video
// stream's size, frame rate and frame count and whether it has audio.
// Cover art (a still image attached to an audio file) does not count as
// video.
func Probe(ctx context.Context, path string) (Info, error) {
	ffprobe, err := tool("ffprobe")
	if err != nil {
		return Info{}, fmt.Errorf("probe %q: %w", path, err)
	}
	if err := checkFile(path); err != nil {
		return Info{}, fmt.Errorf("probe %q: %w", path, err)
	}
	cmd := command(ctx, ffprobe, "-v", "error", "-print_format", "json",
		"-show_entries", "stream=codec_type,codec_name,width,height,pix_fmt,avg_frame_rate,r_frame_rate,nb_frames,duration:stream_disposition=attached_pic:format=duration",
		"--", path)
	var stdout bytes.Buffer
	var stderr tailWriter
	cmd.Stdout = &limitedBuffer{b: &stdout, n: 1 << 20}
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return Info{}, runError(ctx, fmt.Sprintf("probe %q: ffprobe cannot read it as a video", path), err, &stderr)
	}
	var out probeOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return Info{}, fmt.Errorf("probe %q: ffprobe's answer: %w", path, err)
	}
	var info Info
	video := false
	for _, s := range out.Streams {
		switch {
		case s.CodecType == "audio" && !info.Audio:
			info.Audio, info.AudioCodec = true, s.CodecName
		case s.CodecType == "video" && !video && s.Disposition.AttachedPic == 0:
			video = true
			info.Width, info.Height = s.Width, s.Height
			info.Codec, info.PixelFormat = s.CodecName, s.PixFmt
			info.Rate, err = ParseRate(s.AvgFrameRate)
			if err != nil {
				info.Rate, err = ParseRate(s.RFrameRate)
			}
			if err != nil {
				return Info{}, fmt.Errorf("probe %q: the video stream has no usable frame rate (average %q, nominal %q)", path, s.AvgFrameRate, s.RFrameRate)
			}
			if n, err := strconv.Atoi(s.NbFrames); err == nil && n > 0 {
				info.Frames = n
			}
			if d, err := strconv.ParseFloat(s.Duration, 64); err == nil && d > 0 {
				info.Duration = d
			}
		}
	}
	if !video {
		return Info{}, fmt.Errorf("probe %q: no video stream", path)
	}
	if info.Width <= 0 || info.Height <= 0 {
		return Info{}, fmt.Errorf("probe %q: the video stream declares no size (%dx%d)", path, info.Width, info.Height)
	}
	if info.Duration == 0 {
		if d, err := strconv.ParseFloat(out.Format.Duration, 64); err == nil && d > 0 {
			info.Duration = d
		}
	}
	if info.Frames == 0 && info.Duration > 0 {
		info.Frames = int(min(info.Duration*info.Rate.Float()+0.5, maxFramesCap+1))
	}
	return info, nil
}

// limitedBuffer writes into b until n bytes, then fails: ffprobe's JSON for
// a sane file is a few kilobytes.
type limitedBuffer struct {
	b *bytes.Buffer
	n int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.b.Len()+len(p) > l.n {
		return 0, errors.New("ffprobe printed more than 1 MB")
	}
	return l.b.Write(p)
}

// checkFile reports a path that is missing, a folder or empty, which
// ffmpeg would describe less clearly.
func checkFile(path string) error {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		var pe *os.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	case st.IsDir():
		return errors.New("is a folder, not a video file")
	case st.Size() == 0:
		return errors.New("empty file")
	}
	return nil
}

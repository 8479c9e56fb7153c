// Package frames turns a video's input into numbered frame images and the
// stylised frames back into a video.
//
// An input is either a folder of frames (PNG or JPEG files, taken in
// natural order, so that frame10.png follows frame9.png) or a video file,
// which Decode splits into PNG frames by running ffmpeg. Encode runs ffmpeg
// to write stylised frames as an H.264 video (yuv420p, so every player
// shows it) at the input's frame rate, copying the input's audio.
//
// ffmpeg and ffprobe run as subprocesses found on PATH, stopped when the
// caller's context is cancelled. A missing ffmpeg is reported with the
// command that installs it; folders of frames need no ffmpeg until they are
// encoded.
//
// Every input is bounded before work starts: Limits caps the number of
// frames and the pixels of one frame, so that a mistaken path (a feature
// film, an 8K clip) fails at once with a message saying which limit to
// raise instead of filling the disk.
package frames

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Default limits.
const (
	// DefaultMaxFrames is 10,000 frames: nearly seven minutes at 25 frames a
	// second, and at about two minutes of styling per 512-pixel frame,
	// already two weeks of computing.
	DefaultMaxFrames = 10_000
	// DefaultMaxPixels is 4096×4096 pixels a frame, which admits 4K video;
	// styling time and memory grow with the pixel count.
	DefaultMaxPixels = 4096 * 4096
	// maxFramesCap is the most frames any limit allows: decoded frames are
	// numbered with six digits.
	maxFramesCap = 999_999
)

// Limits bounds the input accepted. Zero fields take the defaults.
type Limits struct {
	// MaxFrames is the most frames accepted (default DefaultMaxFrames, at
	// most 999,999).
	MaxFrames int
	// MaxPixels is the most pixels, width × height, of one frame (default
	// DefaultMaxPixels).
	MaxPixels int64
}

// withDefaults fills in zero fields and checks the rest.
func (l Limits) withDefaults() (Limits, error) {
	if l.MaxFrames == 0 {
		l.MaxFrames = DefaultMaxFrames
	}
	if l.MaxPixels == 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.MaxFrames < 0 || l.MaxFrames > maxFramesCap {
		return l, fmt.Errorf("frame limit %d is outside 1 to %d", l.MaxFrames, maxFramesCap)
	}
	if l.MaxPixels < 0 {
		return l, fmt.Errorf("pixel limit %d is negative", l.MaxPixels)
	}
	return l, nil
}

// Frame is one frame image of a sequence.
type Frame struct {
	// Name is the file's base name; the stylised frame gets the same name
	// in the output folder.
	Name string
	// Path is where the file is.
	Path string
}

// Sequence is the ordered frames of one input and what is known about
// where they came from.
type Sequence struct {
	Frames        []Frame
	Width, Height int
	// Rate is the video's frame rate; zero for a folder of frames, whose
	// rate the caller must choose.
	Rate Rate
	// Audio reports whether the source video has at least one audio
	// track, which Encode can copy.
	Audio bool
	// Source is the video file the frames were decoded from; empty for a
	// folder of frames.
	Source string
}

// OutputPaths returns, for each frame in order, the path its stylised
// version gets in dir: the same base name as the input frame.
func (s *Sequence) OutputPaths(dir string) []string {
	out := make([]string, len(s.Frames))
	for i, f := range s.Frames {
		out[i] = filepath.Join(dir, f.Name)
	}
	return out
}

// Rate is a frame rate as a fraction, frames per second = Num/Den, as
// ffprobe reports it (30000/1001 for NTSC's 29.97).
type Rate struct {
	Num, Den int
}

// maxRate is the highest frame rate accepted, in frames a second.
const maxRate = 1000

// ParseRate reads a rate written "30000/1001", "25/1", "25" or "29.97".
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	var r Rate
	if num, den, ok := strings.Cut(s, "/"); ok {
		n, err1 := strconv.Atoi(num)
		d, err2 := strconv.Atoi(den)
		if err1 != nil || err2 != nil {
			return Rate{}, fmt.Errorf("frame rate %q: want a fraction of whole numbers such as 30000/1001", s)
		}
		r = Rate{n, d}
	} else if n, err := strconv.Atoi(s); err == nil {
		r = Rate{n, 1}
	} else if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		// Three decimals are as precise as a typed rate gets (29.97).
		r = Rate{int(math.Round(f * 1000)), 1000}
	} else {
		return Rate{}, fmt.Errorf("frame rate %q: want a number such as 25 or 29.97, or a fraction such as 30000/1001", s)
	}
	if err := r.Check(); err != nil {
		return Rate{}, err
	}
	return r.reduced(), nil
}

// Check reports whether r is a usable frame rate: positive and at most 1000
// frames a second.
func (r Rate) Check() error {
	if r.Num <= 0 || r.Den <= 0 || float64(r.Num) > maxRate*float64(r.Den) {
		return fmt.Errorf("frame rate %d/%d is outside (0, %d] frames per second", r.Num, r.Den, maxRate)
	}
	return nil
}

// IsZero reports whether r is unset.
func (r Rate) IsZero() bool { return r == Rate{} }

// Float returns the rate in frames per second.
func (r Rate) Float() float64 { return float64(r.Num) / float64(r.Den) }

// String writes r as ffmpeg reads it: "30000/1001".
func (r Rate) String() string { return fmt.Sprintf("%d/%d", r.Num, r.Den) }

// reduced returns r in lowest terms.
func (r Rate) reduced() Rate {
	a, b := r.Num, r.Den
	for b != 0 {
		a, b = b, a%b
	}
	if a <= 1 {
		return r
	}
	return Rate{r.Num / a, r.Den / a}
}

// ErrNoFFmpeg is returned, wrapped, when a video file must be decoded or
// frames encoded and ffmpeg or ffprobe is not on PATH.
var ErrNoFFmpeg = errors.New("ffmpeg not found on PATH; install it with scripts/install-ffmpeg.sh or apt-get install ffmpeg")

// Open reads the input at path: a folder is listed with ListFolder; a file
// is decoded with Decode into workDir, which must be empty or not exist
// yet (the caller removes it when done).
func Open(ctx context.Context, path, workDir string, lim Limits) (*Sequence, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open video input: %w", err)
	}
	if st.IsDir() {
		return ListFolder(path, lim)
	}
	return Decode(ctx, path, workDir, lim)
}

package pipeline

import (
	"fmt"
	"math"
	"strconv"

	"github.com/nst-project/nst/video/frames"
)

// VideoConfig is the video block: how a run whose content is a video file or
// a folder of frames keeps its stylised frames consistent over time (Ruder,
// Dosovitskiy and Brox, "Artistic style transfer for videos", 2016). A
// config whose content is one image ignores it.
type VideoConfig struct {
	// TemporalWeight is γ, the weight of each temporal cost
	// 1/D·Σ c·(x − warped previous)² added to J; 0 styles every frame on
	// its own.
	TemporalWeight float64 `mapstructure:"temporal_weight" yaml:"temporal_weight"`
	// IterationsFirst and Iterations replace optimizer.iterations for the
	// first frame and for every later one, which starts close to its result.
	IterationsFirst int `mapstructure:"iterations_first" yaml:"iterations_first"`
	Iterations      int `mapstructure:"iterations" yaml:"iterations"`
	// Init is where a later frame starts: VideoInitPrevWarped (the previous
	// stylised frame warped along the flow) or VideoInitContent (the
	// config's init, as for the first frame).
	Init string `mapstructure:"init" yaml:"init"`
	// LongTerm lists the earlier frames, as offsets back from the current
	// one, that get a temporal cost: [1] is the short-term cost alone,
	// [1, 2, 4] Ruder et al.'s long-term set.
	LongTerm []int `mapstructure:"long_term" yaml:"long_term,flow"`
	// FrameRate is a folder of frames' rate in frames per second, for the
	// encoded video; a video file keeps its own rate.
	FrameRate float64 `mapstructure:"frame_rate" yaml:"frame_rate"`
	// MaxFrames is the most frames an input may have.
	MaxFrames int `mapstructure:"max_frames" yaml:"max_frames"`
	// FlowDir, when set, is a folder of Middlebury .flo files to use
	// instead of computing the optical flow: CUR_to_PREV.flo and
	// PREV_to_CUR.flo for every pair of frames compared, named after the
	// input frames without their extensions, at the styling size.
	FlowDir string `mapstructure:"flow_dir" yaml:"flow_dir"`
}

// Video init modes (the video.init key).
const (
	VideoInitPrevWarped = "prev_warped"
	VideoInitContent    = "content"
)

// maxLongTermOffset bounds video.long_term: Ruder et al. go back at most 40
// frames, and each offset costs one flow computation per frame.
const maxLongTermOffset = 100

// defaultVideo is the video block's defaults. γ = 100 and 100 iterations
// after a first frame of 300 are measured choices: see configs/README.md.
func defaultVideo() VideoConfig {
	return VideoConfig{
		TemporalWeight:  100,
		IterationsFirst: 300,
		Iterations:      100,
		Init:            VideoInitPrevWarped,
		LongTerm:        []int{1},
		FrameRate:       25,
		MaxFrames:       frames.DefaultMaxFrames,
	}
}

// Rate returns FrameRate as a fraction, as the video tools want it.
func (v VideoConfig) Rate() (frames.Rate, error) {
	r, err := frames.ParseRate(strconv.FormatFloat(v.FrameRate, 'f', -1, 64))
	if err != nil {
		return frames.Rate{}, fmt.Errorf("video.frame_rate: %w", err)
	}
	return r, nil
}

// validate checks the video block's values.
func (v VideoConfig) validate() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !finiteNonNeg(v.TemporalWeight) {
		bad("video.temporal_weight: %v; want a finite number >= 0 (0 styles frames independently)", v.TemporalWeight)
	}
	if v.IterationsFirst < 0 || v.IterationsFirst > 1_000_000 {
		bad("video.iterations_first: %d; want 0 to 1000000", v.IterationsFirst)
	}
	if v.Iterations < 0 || v.Iterations > 1_000_000 {
		bad("video.iterations: %d; want 0 to 1000000", v.Iterations)
	}
	switch v.Init {
	case VideoInitPrevWarped, VideoInitContent:
	default:
		bad("video.init: %q; want prev_warped or content", v.Init)
	}
	if len(v.LongTerm) == 0 {
		bad("video.long_term: empty; want offsets of earlier frames such as [1] or [1, 2, 4]")
	}
	for i, j := range v.LongTerm {
		if j < 1 || j > maxLongTermOffset {
			bad("video.long_term[%d]: %d; want 1 to %d frames back", i, j, maxLongTermOffset)
		} else if i > 0 && j <= v.LongTerm[i-1] {
			bad("video.long_term: %v; want increasing offsets, closest first", v.LongTerm)
			break
		}
	}
	if math.IsNaN(v.FrameRate) {
		bad("video.frame_rate: NaN; want frames per second such as 25 or 29.97")
	} else if _, err := v.Rate(); err != nil {
		bad("%v", err)
	}
	if v.MaxFrames < 1 || v.MaxFrames > 999_999 {
		bad("video.max_frames: %d; want 1 to 999999", v.MaxFrames)
	}
	return errs
}

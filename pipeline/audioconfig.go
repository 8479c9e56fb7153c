package pipeline

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/nst-project/nst/audio"
	"github.com/nst-project/nst/models"
)

// AudioConfig is the audio block: how a run whose content is a WAV file
// turns its clips into spectrograms and the result back into sound
// (Ulyanov & Lebedev, "Audio texture synthesis and style transfer",
// 2016). A config whose content is an image ignores it.
//
// Every clip is mixed to mono, resampled to SampleRate and analysed by one
// STFT into log1p(|X|), a [Bins, Frames] spectrogram that is the
// optimiser's variable with Bins channels, height 1 and Frames columns;
// the backbone (builtin:audio) convolves along time only.
type AudioConfig struct {
	// Config is the analysis, package audio's one definition of it, its
	// fields the block's keys sample_rate, n_fft, hop and window (squashed
	// into the block) and its defaults audio's.
	audio.Config `mapstructure:",squash" yaml:",inline"`
	// Filters is the built-in audio backbone's filter count, all kernel
	// widths together.
	Filters int `mapstructure:"filters" yaml:"filters"`
	// GriffinLim turns the result's magnitudes into samples.
	GriffinLim GriffinLimConfig `mapstructure:"griffin_lim" yaml:"griffin_lim"`
}

// GriffinLimConfig is audio.griffin_lim: fast Griffin–Lim's iterations and
// momentum (0 is the plain algorithm). Its initial phase is drawn from the
// config's seed, so a config always gives the same WAV bytes.
type GriffinLimConfig struct {
	Iterations int     `mapstructure:"iterations" yaml:"iterations"`
	Momentum   float64 `mapstructure:"momentum" yaml:"momentum"`
}

// maxGriffinLimIterations bounds audio.griffin_lim.iterations.
const maxGriffinLimIterations = 100_000

// defaultAudio is the audio block's defaults: audio's analysis
// (audio.DefaultConfig), the built-in backbones' filter count
// (models.DefaultAudioFilters), and audio's Griffin–Lim
// defaults.
func defaultAudio() AudioConfig {
	gl := audio.DefaultGriffinLimOptions()
	return AudioConfig{
		Config:     audio.DefaultConfig(),
		Filters:    models.DefaultAudioFilters,
		GriffinLim: GriffinLimConfig{Iterations: gl.Iterations, Momentum: gl.Momentum},
	}
}

// STFT returns the block's analysis settings as package audio takes them.
func (a AudioConfig) STFT() audio.Config { return a.Config }

// validate checks the audio block's values.
func (a AudioConfig) validate() []error {
	var errs []error
	if err := a.STFT().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("audio: %w", err))
	}
	if a.Filters < 1 || a.Filters > models.MaxAudioFilters {
		errs = append(errs, fmt.Errorf("audio.filters: %d; want 1 to %d", a.Filters, models.MaxAudioFilters))
	}
	if a.GriffinLim.Iterations < 0 || a.GriffinLim.Iterations > maxGriffinLimIterations {
		errs = append(errs, fmt.Errorf("audio.griffin_lim.iterations: %d; want 0 to %d", a.GriffinLim.Iterations, maxGriffinLimIterations))
	}
	if !(a.GriffinLim.Momentum >= 0 && a.GriffinLim.Momentum < 2) {
		errs = append(errs, fmt.Errorf("audio.griffin_lim.momentum: %v; want 0 (plain Griffin–Lim) up to below 2", a.GriffinLim.Momentum))
	}
	return errs
}

// isAudioPath reports whether path names an audio file: a .wav extension,
// in any case.
func isAudioPath(path string) bool {
	return strings.EqualFold(filepath.Ext(path), ".wav")
}

// IsAudio reports whether the config is an audio run: its content is a
// .wav file. Styles must then be .wav files too (Validate).
func (c *Config) IsAudio() bool { return isAudioPath(c.Content) }

// audioDefaults fills what an audio run defaults to unlike an image one:
// the built-in audio backbone, and its ReLU layers for content and style
// when the config names none.
func (c *Config) audioDefaults() {
	if c.Model.Path == "" {
		c.Model.Path = models.BuiltinPrefix + models.AudioArch
	}
	var relus []string
	switch c.Model.Path {
	case models.BuiltinPrefix + models.AudioArch:
		relus = []string{"relu1_1"}
	case models.BuiltinPrefix + models.AudioMultiArch:
		for _, w := range models.AudioMultiWidths {
			relus = append(relus, fmt.Sprintf("relu_w%d", w))
		}
	}
	layers := map[string]float64{}
	for _, r := range relus {
		layers[r] = 1 / float64(len(relus))
	}
	if len(c.Layers.Content) == 0 && len(layers) > 0 {
		c.Layers.Content = clone(layers)
	}
	if len(c.Layers.Style) == 0 && len(layers) > 0 {
		c.Layers.Style = clone(layers)
	}
}

// validateMedium checks that content and styles are all audio or all
// images, and refuses for audio what only images have (colour modes,
// masks, scales, style scales, an init image, image backbones).
func (c *Config) validateMedium() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Content == "" || c.IsVolume() {
		return nil // a volume content: validateVolume checks the mix
	}
	if !c.IsAudio() {
		for i, s := range c.Style {
			if isAudioPath(s.Path) {
				bad("style[%d].path: %q is audio but content %q is an image; give an image style, or a .wav content for an audio run", i, s.Path, c.Content)
			}
		}
		if strings.HasPrefix(c.Model.Path, models.BuiltinPrefix) && models.IsAudioArch(strings.TrimPrefix(c.Model.Path, models.BuiltinPrefix)) {
			bad("model.path: %s is for audio runs; content %q is an image", c.Model.Path, c.Content)
		}
		return errs
	}
	for i, s := range c.Style {
		if s.Path != "" && !isAudioPath(s.Path) {
			bad("style[%d].path: %q is not a .wav file but content %q is audio; audio runs take .wav styles", i, s.Path, c.Content)
		}
		if s.Mask != "" {
			bad("style[%d].mask: masks apply to images; an audio run has none", i)
		}
		if s.Scale != 1 {
			bad("style[%d].scale: %v; audio runs take styles at their own length (leave it at 1)", i, s.Scale)
		}
	}
	if c.Color != ColorNone {
		bad("color: %q; colour modes apply to images; an audio run needs color: none", c.Color)
	}
	if len(c.Scales) > 0 {
		bad("scales: coarse-to-fine applies to images; an audio run has one scale (remove scales)")
	}
	if c.Init == "image" {
		bad("init: image applies to images; an audio run starts from content or noise")
	}
	if arch := strings.TrimPrefix(c.Model.Path, models.BuiltinPrefix); !strings.HasPrefix(c.Model.Path, models.BuiltinPrefix) || !models.IsAudioArch(arch) {
		bad("model.path: %q; an audio run needs builtin:audio or builtin:audio-multi", c.Model.Path)
	}
	return errs
}

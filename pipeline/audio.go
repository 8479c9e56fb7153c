package pipeline

import (
	"context"
	"fmt"
	"image"
	"log/slog"
	"math"
	"path/filepath"
	"slices"

	"github.com/nst-project/nst/audio"
	"github.com/nst-project/nst/record"
)

// Audio runs (content and styles .wav files; see AudioConfig). They go
// through the same loop, costs and records as image runs; what differs is
// only what the optimiser's variable is and how it is saved:
//
//   - variable: the content's log-magnitude spectrogram, Bins channels ×
//     height 1 × Frames columns (init: content or noise, noise_ratio as for
//     images); total variation, when weighted, acts along time only;
//   - intermediate saves: the spectrogram as a PNG (name.png);
//   - result: name.wav, the spectrogram clamped to non-negative log1p
//     magnitudes and turned into samples by fast Griffin–Lim seeded with
//     the config's seed (the same config gives the same bytes), normalised
//     to a 0.9 peak and written as 16-bit PCM; beside it
//     content_spectrogram.png, style<N>_spectrogram.png and
//     result_spectrogram.png, drawn against one reference magnitude so
//     that equal colours mean equal levels.

// audioPeak is the peak a result clip is normalised to: Griffin–Lim's
// samples can exceed full scale.
const audioPeak = 0.9

// audioInputs are an audio run's clips as spectrograms.
type audioInputs struct {
	stft    *audio.STFT
	content audio.Spectrogram
	styles  []audio.Spectrogram
	rate    int     // the sample rate of every clip and of the result
	samples int     // the content clip's length, the result's
	ref     float64 // the pictures' shared reference magnitude
}

// loadAudio reads the content and style clips into spectrograms and
// records each file in the manifest's inputs.
func (e *experiment) loadAudio() error {
	cfg := e.cfg.Audio
	stft, err := audio.NewSTFT(cfg.STFT())
	if err != nil {
		return fmt.Errorf("audio: %w", err)
	}
	a := &audioInputs{stft: stft, rate: cfg.SampleRate}
	var clip audio.Clip
	if a.content, clip, err = e.loadSpectrogram(stft, "content", e.cfg.Content); err != nil {
		return err
	}
	a.samples = len(clip.Samples)
	a.ref = a.content.PeakMagnitude()
	for i, s := range e.cfg.Style {
		spec, _, err := e.loadSpectrogram(stft, fmt.Sprintf("style[%d]", i), s.Path)
		if err != nil {
			return err
		}
		a.styles = append(a.styles, spec)
		a.ref = max(a.ref, spec.PeakMagnitude())
	}
	e.audio = a
	e.color.bins = a.content.Bins
	return nil
}

// loadSpectrogram reads the clip at path (role names its config key in
// errors and the manifest) and analyses it.
func (e *experiment) loadSpectrogram(stft *audio.STFT, role, path string) (audio.Spectrogram, audio.Clip, error) {
	clip, _, err := audio.LoadClip(path, e.cfg.Audio.SampleRate, audio.DecodeOptions{})
	if err != nil {
		return audio.Spectrogram{}, audio.Clip{}, fmt.Errorf("%s: %w", role, err)
	}
	// Two frames are the least a kernel slides over; a shorter clip has
	// no texture to speak of.
	if stft.Frames(len(clip.Samples)) < 2 {
		return audio.Spectrogram{}, audio.Clip{}, fmt.Errorf("%s: %q lasts %d samples; want at least one hop (%d samples at %d Hz)", role, path, len(clip.Samples), e.cfg.Audio.Hop, e.cfg.Audio.SampleRate)
	}
	sum, err := record.FileSHA256(path)
	if err != nil {
		return audio.Spectrogram{}, audio.Clip{}, fmt.Errorf("%s: %w", role, err)
	}
	e.inputs = append(e.inputs, record.Input{Role: role, Path: path, SHA256: sum})
	return stft.Analyze(clip.Samples), clip, nil
}

// audioSizes returns, for an audio run, the output's size (frames × 1)
// and each style's, as the memory estimate wants them.
func (e *experiment) audioSizes() (w, h int, styles [][2]int) {
	if e.audio == nil {
		return 0, 0, nil
	}
	for _, s := range e.audio.styles {
		styles = append(styles, [2]int{s.Frames, 1})
	}
	return e.audio.content.Frames, 1, styles
}

// spectrogram views the variable x of an audio run as a spectrogram.
func (e *experiment) spectrogram(x []float32) audio.Spectrogram {
	return audio.Spectrogram{Bins: e.audio.content.Bins, Frames: e.audio.content.Frames, Data: x}
}

// pictureOptions draws an audio run's spectrograms against its shared
// reference magnitude.
func (e *experiment) pictureOptions() audio.PictureOptions {
	return audio.PictureOptions{RefMagnitude: e.audio.ref}
}

// saveSpectrogram writes the variable x of an audio run as dir/name.png.
func (e *experiment) saveSpectrogram(dir, name string, x []float32) (string, error) {
	path := filepath.Join(dir, name+".png")
	if err := audio.SaveSpectrogramPNG(path, e.spectrogram(x), e.pictureOptions()); err != nil {
		return "", err
	}
	return path, nil
}

// audioResult returns the variable x as the result's spectrogram: log1p
// magnitudes below 0 (magnitudes below 0, which the optimiser is free to
// reach) clamped to 0.
func (e *experiment) audioResult(x []float32) audio.Spectrogram {
	out := slices.Clone(x)
	for i, v := range out {
		out[i] = max(v, 0)
	}
	return e.spectrogram(out)
}

// saveAudioResult writes an audio run's result for the variable x as
// dir/name.wav (see the top of this file) with the content, style and
// result spectrogram pictures, and returns the WAV's path.
func (e *experiment) saveAudioResult(dir, name string, x []float32) (string, error) {
	spec := e.audioResult(x)
	o := e.pictureOptions()
	pictures := []struct {
		name string
		spec audio.Spectrogram
	}{{"content_spectrogram", e.audio.content}, {"result_spectrogram", spec}}
	for i, s := range e.audio.styles {
		pictures = append(pictures, struct {
			name string
			spec audio.Spectrogram
		}{fmt.Sprintf("style%d_spectrogram", i+1), s})
	}
	for _, p := range pictures {
		if err := audio.SaveSpectrogramPNG(filepath.Join(dir, p.name+".png"), p.spec, o); err != nil {
			return "", err
		}
	}
	gl := audio.DefaultGriffinLimOptions()
	gl.Iterations, gl.Momentum = e.cfg.Audio.GriffinLim.Iterations, e.cfg.Audio.GriffinLim.Momentum
	gl.Seed, gl.Samples = uint64(e.cfg.Seed), e.audio.samples
	res, err := e.audio.stft.GriffinLim(context.Background(), spec, gl)
	if err != nil {
		return "", fmt.Errorf("result %s.wav: %w", name, err)
	}
	// How closely the samples' spectrogram matches the optimised one
	// (TestGriffinLimConvergence: -31.8 dB on a known signal).
	slog.Info("griffin-lim", "file", name+".wav", "iterations", gl.Iterations, "spectral_convergence_dB", math.Round(res.ConvergenceDB*10)/10)
	res.Clip.Normalize(audioPeak)
	path := filepath.Join(dir, name+".wav")
	if err := audio.SaveWAV(path, res.Clip, audio.PCM16); err != nil {
		return "", err
	}
	return path, nil
}

// spectrogramImage draws the variable x of an audio run, for events.
func (e *experiment) spectrogramImage(x []float32) *image.NRGBA {
	img, err := audio.SpectrogramImage(e.spectrogram(x), e.pictureOptions())
	if err != nil {
		return nil
	}
	return img
}

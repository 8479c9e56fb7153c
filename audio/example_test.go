package audio_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nst-project/nst/audio"
)

// Example walks through the data side of an audio style-transfer run on
// synthetic clips: decode, resample to the run's rate, analyse, (optimise
// the spectrogram: here it is kept as is), reconstruct, save.
func Example() {
	dir, _ := os.MkdirTemp("", "nst-audio-example")
	defer os.RemoveAll(dir)
	// A content clip at 44.1 kHz, as a user might hand it in.
	content := audio.HarmonicTone(44100, 1, 220, 10, 0.5)
	in := filepath.Join(dir, "content.wav")
	if err := audio.SaveWAV(in, content, audio.PCM16); err != nil {
		fmt.Println(err)
		return
	}

	clip, info, err := audio.LoadWAV(in, audio.DecodeOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	stft, _ := audio.NewSTFT(audio.DefaultConfig())
	clip, _ = audio.Resample(clip, stft.Config().SampleRate)
	spec := stft.Analyze(clip.Samples) // [bins, frames]: the backbone's input
	fmt.Printf("%d Hz %d-bit → %d Hz: %d bins × %d frames\n", info.SampleRate, info.BitsPerSample, clip.Rate, spec.Bins, spec.Frames)

	o := audio.DefaultGriffinLimOptions()
	o.Iterations = 30
	o.Samples = len(clip.Samples)
	res, err := stft.GriffinLim(context.Background(), spec, o)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("converged below -15 dB:", res.ConvergenceDB < -15)
	if err := audio.SaveWAV(filepath.Join(dir, "result.wav"), res.Clip, audio.PCM16); err != nil {
		fmt.Println(err)
	}
	if err := audio.SaveSpectrogramPNG(filepath.Join(dir, "result.png"), spec, audio.PictureOptions{}); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 44100 Hz 16-bit → 22050 Hz: 257 bins × 173 frames
	// converged below -15 dB: true
}

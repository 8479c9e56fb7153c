// Package audio holds the data side of audio style transfer (Ulyanov &
// Lebedev 2016): reading and writing WAV files, resampling every clip of a
// run to one rate, the short-time Fourier transform and its inverse, the
// log-magnitude spectrogram log1p(|STFT|) that the 1D backbone sees as a
// [freq, time] signal (frequency bins as channels, convolution over time),
// phase reconstruction by (fast) Griffin–Lim, spectrogram pictures and
// synthetic test sounds.
//
// A run goes: LoadWAV → Resample to Config.SampleRate → STFT.Analyze gives a
// Spectrogram per clip → the optimiser works on the result's Spectrogram →
// GriffinLim turns it back into samples → SaveWAV.
//
// Samples are float32 in [-1, 1] (full scale), mono. Internally the
// transforms run in float64, so that the float32 input and output are the
// only rounding that shows.
package audio

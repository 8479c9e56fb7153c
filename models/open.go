package models

import (
	"fmt"
	"log/slog"
	"strings"
)

// BuiltinPrefix marks a built-in backbone in model.path: builtin:vgg19 or
// builtin:vgg16, nst's random-weight VGGs (see Synth).
const BuiltinPrefix = "builtin:"

// OpenOptions say which backbone to open, as a config's model keys do.
type OpenOptions struct {
	// Path is an ONNX file, builtin:vgg19 or builtin:vgg16; empty means
	// the built-in VGG of Arch.
	Path string
	// Arch is vgg19, vgg16 or auto. A file must be a chain of that VGG
	// (auto takes any graph); for an empty Path it chooses the built-in
	// VGG, VGG19 for auto.
	Arch string
	// Seed seeds a built-in backbone's random weights.
	Seed int64
	// AudioBins is the spectrogram's bin count, the input channels of
	// builtin:audio and builtin:audio-multi (an audio run sets it), and
	// AudioFilters their filter count (0: DefaultAudioFilters).
	AudioBins, AudioFilters int
	// VolumeChannels is a volume's channel count, the input channels of
	// builtin:volume (a volume run sets it), and VolumeFilters its
	// filters per block (nil: DefaultVolumeFilters).
	VolumeChannels int
	VolumeFilters  []int
}

// Open loads the backbone o describes and checks that it is what o.Arch
// says. A built-in backbone is announced as such in the log, since its
// random weights do not give the classic look.
func Open(o OpenOptions) (*Backbone, error) {
	arch, builtin := o.Arch, o.Path == ""
	if arch != NamingVGG16 {
		arch = NamingVGG19
	}
	if name, ok := strings.CutPrefix(o.Path, BuiltinPrefix); ok {
		arch, builtin = name, true
		if IsAudioArch(name) {
			return openAudio(name, o)
		}
		if IsVolumeArch(name) {
			return openVolume(o)
		}
	}
	if !builtin {
		b, err := Load(o.Path)
		if err != nil {
			return nil, err
		}
		return b, checkArch(b, o)
	}
	b, err := Synth(arch, o.Seed)
	if err != nil {
		return nil, err
	}
	slog.Info("using the "+b.Describe()+"; set model.path: zoo:vgg19 (downloaded on first use) or a pretrained file for the classic look", "arch", arch)
	return b, checkArch(b, o)
}

// checkArch checks that the backbone b opened from o is what o.Arch says.
func checkArch(b *Backbone, o OpenOptions) error {
	switch {
	case o.Arch == "auto":
		return nil
	case o.Path == "" || strings.HasPrefix(o.Path, BuiltinPrefix):
		if b.Naming() != o.Arch {
			return fmt.Errorf("model.arch is %s but model.path names the built-in %s; make them agree", o.Arch, b.Naming())
		}
		return nil
	case b.Naming() == o.Arch:
		return nil
	case b.Naming() == NamingONNX:
		return fmt.Errorf("model.arch is %s but %s is not a VGG-style chain; set model.arch: auto and name layers by ONNX tensor (nst model inspect %s)", o.Arch, o.Path, o.Path)
	case b.Naming() == NamingVGG:
		// A VGG-style chain of another depth: its layers have VGG names,
		// but no arch but auto describes it.
		return fmt.Errorf("model.arch is %s but %s is a VGG-style chain of another depth (%d convolutions); set model.arch: auto (its layers keep VGG names such as relu1_1; nst model inspect %s lists them)", o.Arch, o.Path, b.convs, o.Path)
	default:
		return fmt.Errorf("model.arch is %s but %s is a %s; set model.arch: %s", o.Arch, o.Path, b.Naming(), b.Naming())
	}
}

// openAudio makes the built-in audio backbone arch for o's bins and
// filters. model.arch names image architectures and does not apply.
func openAudio(arch string, o OpenOptions) (*Backbone, error) {
	if o.AudioBins <= 0 {
		return nil, fmt.Errorf("model.path %s%s is for audio runs: its input is a spectrogram, so content and style must be .wav files", BuiltinPrefix, arch)
	}
	spec, err := audioSpecFor(arch, o.AudioBins, o.AudioFilters)
	if err != nil {
		return nil, err
	}
	b, err := SynthAudio(spec, o.Seed)
	if err != nil {
		return nil, err
	}
	slog.Info("using the " + b.Describe())
	return b, nil
}

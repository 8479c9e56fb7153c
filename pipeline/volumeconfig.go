package pipeline

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nst-project/nst/models"
)

// VolumeConfig is the volume block: how a run whose content is a .npy
// volume sizes it and which built-in backbone it uses. A config whose
// content is an image or a sound ignores it.
type VolumeConfig struct {
	// Size is the output's longest side in voxels, the content volume
	// resampled (trilinear) to it with its proportions; 0 keeps the
	// content's own shape.
	Size int `mapstructure:"size" yaml:"size"`
	// Filters are the built-in volume backbone's filters per block
	// (builtin:volume: one 3×3×3 convolution, ReLU and 2×2×2 pooling each).
	Filters []int `mapstructure:"filters" yaml:"filters,flow"`
}

// maxVolumeSide bounds volume.size, and every side a volume run works at.
const maxVolumeSide = 2048

// defaultVolume is the volume block's defaults: the content's own shape,
// and models' filters for builtin:volume.
func defaultVolume() VolumeConfig {
	return VolumeConfig{Filters: slices.Clone(models.DefaultVolumeFilters)}
}

// validate checks the volume block's values.
func (v VolumeConfig) validate() []error {
	var errs []error
	if v.Size != 0 && (v.Size < 4 || v.Size > maxVolumeSide) {
		errs = append(errs, fmt.Errorf("volume.size: %d; want 0 (the content's shape) or 4 to %d voxels", v.Size, maxVolumeSide))
	}
	if len(v.Filters) < 1 || len(v.Filters) > 8 {
		errs = append(errs, fmt.Errorf("volume.filters: %d blocks; want 1 to 8 filter counts, such as [16, 32, 64]", len(v.Filters)))
	}
	for i, f := range v.Filters {
		if f < 1 || f > models.MaxVolumeFilters {
			errs = append(errs, fmt.Errorf("volume.filters[%d]: %d; want 1 to %d", i, f, models.MaxVolumeFilters))
		}
	}
	return errs
}

// isVolumePath reports whether path names a volume: a .npy extension, in
// any case.
func isVolumePath(path string) bool {
	return strings.EqualFold(filepath.Ext(path), ".npy")
}

// IsVolume reports whether the config is a volume run: its content is a
// .npy file. Styles must then be .npy volumes too (Validate).
func (c *Config) IsVolume() bool { return isVolumePath(c.Content) }

// Default layers of builtin:volume: every block's ReLU for style, the
// second for content.
var (
	volumeContentLayers = map[string]float64{"relu2_1": 1}
	volumeStyleLayers   = []string{"relu1_1", "relu2_1", "relu3_1"}
)

// volumeDefaults fills what a volume run defaults to unlike an image one:
// the built-in volume backbone, and its layers for content and style when
// the config names none.
func (c *Config) volumeDefaults() {
	if c.Model.Path == "" {
		c.Model.Path = models.BuiltinPrefix + models.VolumeArch
	}
	if c.Model.Path != models.BuiltinPrefix+models.VolumeArch {
		return
	}
	blocks := min(len(c.Volume.Filters), len(volumeStyleLayers))
	if len(c.Layers.Content) == 0 && blocks >= 2 {
		c.Layers.Content = clone(volumeContentLayers)
	}
	if len(c.Layers.Content) == 0 && blocks == 1 {
		c.Layers.Content = map[string]float64{"relu1_1": 1}
	}
	if len(c.Layers.Style) == 0 && blocks > 0 {
		c.Layers.Style = map[string]float64{}
		for _, l := range volumeStyleLayers[:blocks] {
			c.Layers.Style[l] = 1 / float64(blocks)
		}
	}
}

// validateVolume checks that a volume content has volume styles and a
// volume backbone, refuses for volumes what only images have (colour
// modes, masks, scales, style scales, an init image), and refuses a volume
// style with any other content.
func (c *Config) validateVolume() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Content == "" {
		return nil
	}
	if c.Limits.MaxVoxels <= 0 {
		bad("limits.max_voxels: %d; want a positive voxel count", c.Limits.MaxVoxels)
	}
	if !c.IsVolume() {
		for i, s := range c.Style {
			if isVolumePath(s.Path) {
				bad("style[%d].path: %q is a volume but content %q is not; give a .npy content for a volume run", i, s.Path, c.Content)
			}
		}
		if name, ok := strings.CutPrefix(c.Model.Path, models.BuiltinPrefix); ok && models.IsVolumeArch(name) {
			bad("model.path: %s is for volume runs; content %q is not a .npy volume", c.Model.Path, c.Content)
		}
		return errs
	}
	for i, s := range c.Style {
		if s.Path != "" && !isVolumePath(s.Path) {
			bad("style[%d].path: %q is not a .npy volume but content %q is one; volume runs take .npy styles", i, s.Path, c.Content)
		}
		if s.Mask != "" {
			bad("style[%d].mask: masks apply to images; a volume run has none", i)
		}
		if s.Scale != 1 {
			bad("style[%d].scale: %v; volume runs take styles at their own size (leave it at 1)", i, s.Scale)
		}
	}
	if c.Color != ColorNone {
		bad("color: %q; colour modes apply to images; a volume run needs color: none", c.Color)
	}
	if len(c.Scales) > 0 {
		bad("scales: coarse-to-fine applies to images; a volume run has one scale (remove scales, set volume.size)")
	}
	if c.Init == "image" {
		bad("init: image applies to images; a volume run starts from content or noise")
	}
	if t := c.Runtime.Tile; t != "" && t != TileAuto && t != TileOff {
		bad("runtime.tile: %q; a volume run is evaluated whole (leave runtime.tile at auto)", t)
	}
	if name, ok := strings.CutPrefix(c.Model.Path, models.BuiltinPrefix); ok && !models.IsVolumeArch(name) {
		bad("model.path: %q; a volume run needs builtin:volume or an ONNX file with 3-D convolutions", c.Model.Path)
	}
	if strings.HasPrefix(c.Model.Path, "zoo:") {
		bad("model.path: %q is a 2-D image backbone; a volume run needs builtin:volume or an ONNX file with 3-D convolutions", c.Model.Path)
	}
	return errs
}

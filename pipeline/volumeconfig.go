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

// validateVolume checks that a volume content has styles its backbone
// takes (.npy volumes for builtin:volume, images for a 2-D backbone),
// refuses for volumes what only images have (colour modes, masks, scales,
// an init image), and refuses a volume style with any other content.
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
			if s.Axis != "" {
				bad("style[%d].axis: %q applies to volume runs on a 2-D backbone; content %q is not a .npy volume (remove it)", i, s.Axis, c.Content)
			}
		}
		if name, ok := strings.CutPrefix(c.Model.Path, models.BuiltinPrefix); ok && models.IsVolumeArch(name) {
			bad("model.path: %s is for volume runs; content %q is not a .npy volume", c.Model.Path, c.Content)
		}
		return errs
	}
	// A built-in or zoo backbone says now whether the run is 3-D or
	// slice-wise; a file says so once loaded (checkVolumeBackbone).
	name, builtin := strings.CutPrefix(c.Model.Path, models.BuiltinPrefix)
	threeD := builtin && models.IsVolumeArch(name)
	twoD := strings.HasPrefix(c.Model.Path, "zoo:") || builtin && !threeD
	if builtin && models.IsAudioArch(name) {
		bad("model.path: %q is for audio runs; a volume run needs builtin:volume, a 2-D image backbone (builtin:vgg19) for its slices, or an ONNX file", c.Model.Path)
		twoD = false
	}
	for i, s := range c.Style {
		switch {
		case s.Path == "":
		case isAudioPath(s.Path):
			bad("style[%d].path: %q is audio but content %q is a volume; give a .npy volume or an image style", i, s.Path, c.Content)
		case threeD && !isVolumePath(s.Path):
			bad("style[%d].path: %q is not a .npy volume but model.path %s takes volumes; give a .npy style, or a 2-D backbone (builtin:vgg19) to style the slices from an image", i, s.Path, c.Model.Path)
		case twoD && isVolumePath(s.Path):
			bad("style[%d].path: %q is a volume but model.path %s is a 2-D backbone, which styles the slices from images; give a PNG or JPEG, or model.path: builtin:volume", i, s.Path, c.Model.Path)
		}
		if s.Mask != "" {
			bad("style[%d].mask: masks apply to images; a volume run has none (style[%d].axis picks the slices a style applies to)", i, i)
		}
		if s.Scale != 1 && isVolumePath(s.Path) {
			bad("style[%d].scale: %v; volume styles are used at their own size (leave it at 1)", i, s.Scale)
		}
		switch s.Axis {
		case "", AxisAll, AxisDepth, AxisHeight, AxisWidth:
		default:
			bad("style[%d].axis: %q; want all, depth, height or width", i, s.Axis)
		}
		if s.Axis != "" && s.Axis != AxisAll && (threeD || isVolumePath(s.Path)) {
			bad("style[%d].axis: %q applies to image styles on a 2-D backbone; a 3-D backbone sees the whole volume (remove it)", i, s.Axis)
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
	return errs
}

// Package pipeline runs style transfer experiments: it reads a config, loads
// images and the backbone, optimises the pixels and leaves a complete record
// of the run beside its output.
//
// Run is the one run loop. It reports every step to observers (see Event):
// the run's own records (costs.csv, intermediate images, progress,
// checkpoints) are observers, and so is a caller's callback, given in
// RunOptions.Observers. Resume continues a stopped run from its checkpoint
// through the same loop. See ExampleRun.
package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/nst-project/nst/builtinimg"
	"github.com/nst-project/nst/internal/safefile"
	"github.com/nst-project/nst/internal/suggest"
	"github.com/nst-project/nst/internal/sysmem"
	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/optim"
	"github.com/nst-project/nst/volume"
	"github.com/nst-project/nst/zoo"
)

// Config is an experiment. Key names are fixed: external tools read them.
// configs/README.md documents every key and its default.
type Config struct {
	Content    string        `mapstructure:"content" yaml:"content"`
	Style      []StyleConfig `mapstructure:"style" yaml:"style"`
	Size       int           `mapstructure:"size" yaml:"size"`
	Init       string        `mapstructure:"init" yaml:"init"`
	InitImage  string        `mapstructure:"init_image" yaml:"init_image"`
	NoiseRatio float64       `mapstructure:"noise_ratio" yaml:"noise_ratio"`
	Seed       int64         `mapstructure:"seed" yaml:"seed"`
	Color      string        `mapstructure:"color" yaml:"color"`
	Scales     []ScaleConfig `mapstructure:"scales" yaml:"scales"`
	Model      ModelConfig   `mapstructure:"model" yaml:"model"`
	Layers     LayersConfig  `mapstructure:"layers" yaml:"layers"`
	Weights    Weights       `mapstructure:"weights" yaml:"weights"`
	Optimizer  Optimizer     `mapstructure:"optimizer" yaml:"optimizer"`
	Output     Output        `mapstructure:"output" yaml:"output"`
	Runtime    Runtime       `mapstructure:"runtime" yaml:"runtime"`
	Limits     Limits        `mapstructure:"limits" yaml:"limits"`
	Video      VideoConfig   `mapstructure:"video" yaml:"video"`
	Audio      AudioConfig   `mapstructure:"audio" yaml:"audio"`
	Volume     VolumeConfig  `mapstructure:"volume" yaml:"volume"`
}

// StyleConfig is one style image, its share of the style cost, its size
// relative to the output and, optionally, the region where it applies.
type StyleConfig struct {
	Path   string  `mapstructure:"path" yaml:"path"`
	Weight float64 `mapstructure:"weight" yaml:"weight"`
	// Scale is the style image's longer side relative to the output's
	// (1 when not given): below 1 the brush strokes come out smaller.
	Scale float64 `mapstructure:"scale" yaml:"scale"`
	// Mask is a greyscale image, white where this style applies; empty for
	// everywhere.
	Mask string `mapstructure:"mask" yaml:"mask"`
	// Axis is, for a volume run on a 2-D backbone, the axis whose slices
	// this style image applies to: depth, height, width, or all (also the
	// meaning of ""). See volumeslices.go.
	Axis string `mapstructure:"axis" yaml:"axis,omitempty"`
}

// ScaleConfig is one step of a coarse-to-fine run: the output's longer side
// at this step and the optimiser steps taken there.
type ScaleConfig struct {
	Size       int `mapstructure:"size" yaml:"size"`
	Iterations int `mapstructure:"iterations" yaml:"iterations"`
}

// Colour modes (the color key).
const (
	ColorNone      = "none"
	ColorLuminance = "luminance"
	ColorHistogram = "histogram"
	ColorAfter     = "after"
)

// ModelConfig selects the backbone and how it wants its pixels.
type ModelConfig struct {
	Path       string     `mapstructure:"path" yaml:"path"`
	Arch       string     `mapstructure:"arch" yaml:"arch"`
	Pooling    string     `mapstructure:"pooling" yaml:"pooling"`
	Seed       int64      `mapstructure:"seed" yaml:"seed"`
	Preprocess Preprocess `mapstructure:"preprocess" yaml:"preprocess"`
}

// Preprocess maps RGB pixels in [0,1] to the backbone's input:
// (x·scale − mean) / std per channel, in the channel order given.
type Preprocess struct {
	Mean     []float64 `mapstructure:"mean" yaml:"mean,flow"`
	Std      []float64 `mapstructure:"std" yaml:"std,flow"`
	Scale    float64   `mapstructure:"scale" yaml:"scale"`
	Channels string    `mapstructure:"channels" yaml:"channels"`
}

// LayersConfig weights the layers whose activations drive each cost.
type LayersConfig struct {
	Content map[string]float64 `mapstructure:"content" yaml:"content"`
	Style   map[string]float64 `mapstructure:"style" yaml:"style"`
}

// Weights are α, β and the total-variation weight of J = α·Jc + β·Js + tv·Jtv.
type Weights struct {
	Content float64 `mapstructure:"content" yaml:"content"`
	Style   float64 `mapstructure:"style" yaml:"style"`
	TV      float64 `mapstructure:"tv" yaml:"tv"`
}

// Optimizer selects the pixel optimiser. LR and History, when the config
// does not set them, take the method's defaults from package optim
// (optim.DefaultLBFGSConfig, optim.DefaultAdamConfig).
type Optimizer struct {
	Name       string  `mapstructure:"name" yaml:"name"`
	Iterations int     `mapstructure:"iterations" yaml:"iterations"`
	LR         float64 `mapstructure:"lr" yaml:"lr"`
	History    int     `mapstructure:"history" yaml:"history"`
	// Tolerance ends a scale once the cost fell by less than this fraction
	// over the last Window steps; 0 never ends one early.
	Tolerance float64 `mapstructure:"tolerance" yaml:"tolerance"`
	Window    int     `mapstructure:"window" yaml:"window"`
}

// Output says where and how a run writes.
type Output struct {
	Dir         string `mapstructure:"dir" yaml:"dir"`
	SaveEvery   int    `mapstructure:"save_every" yaml:"save_every"`
	Format      string `mapstructure:"format" yaml:"format"`
	JPEGQuality int    `mapstructure:"jpeg_quality" yaml:"jpeg_quality"`
}

// Runtime configures ONNX Runtime.
type Runtime struct {
	Threads int    `mapstructure:"threads" yaml:"threads"`
	Library string `mapstructure:"library" yaml:"library"`
	Device  string `mapstructure:"device" yaml:"device"`
	// MaxMemory caps the estimated peak ("1.5GB", "800MiB"); empty means
	// the memory the system has available.
	MaxMemory string `mapstructure:"max_memory" yaml:"max_memory"`
	// GraphCache keeps prepared forward and backward graphs in the user's
	// cache folder, so later runs of the same backbone and size start fast.
	GraphCache bool `mapstructure:"graph_cache" yaml:"graph_cache"`
	// Tile is how an image is evaluated: auto (in tiles only when the
	// whole does not fit in memory), off, or a tile side in pixels
	// (tiles.go).
	Tile TileSide `mapstructure:"tile" yaml:"tile"`
	// GraphCacheDir is the graph cache's folder; empty means
	// models.DefaultCacheDir(). It is no config key: nst bench sets it, so
	// that its first pass starts from an empty cache.
	GraphCacheDir string `mapstructure:"-" yaml:"-"`
}

// TileSide is runtime.tile: auto, off, or a tile side in pixels, which
// YAML may write as a number.
type TileSide string

// Limits bound what a run accepts.
type Limits struct {
	MaxPixels int64 `mapstructure:"max_pixels" yaml:"max_pixels"`
	// MaxVoxels refuses .npy volumes whose header declares more voxels,
	// before reading them.
	MaxVoxels int64 `mapstructure:"max_voxels" yaml:"max_voxels"`
}

// Models converts the config's preprocessing to the backbone's.
func (p Preprocess) Models() (models.Preprocess, error) {
	var m models.Preprocess
	if len(p.Mean) != 3 || len(p.Std) != 3 {
		return m, fmt.Errorf("model.preprocess: mean and std need 3 values each")
	}
	for i := range 3 {
		m.Mean[i], m.Std[i] = float32(p.Mean[i]), float32(p.Std[i])
	}
	m.Scale = float32(p.Scale)
	m.BGR = p.Channels == "bgr"
	return m, nil
}

// applyZooEntry gives a zoo:NAME backbone its registry entry's
// architecture and preprocessing, unless the config set model.arch
// (archSet) or model.preprocess (preprocessSet); an unknown name is an
// error naming the known ones.
func (m *ModelConfig) applyZooEntry(archSet, preprocessSet bool) error {
	if !strings.HasPrefix(m.Path, zoo.Prefix) {
		return nil
	}
	entry, err := zooRegistry().Lookup(m.Path)
	if err != nil {
		return fmt.Errorf("model.path: %w", err)
	}
	if !archSet {
		m.Arch = entry.Arch
	}
	if !preprocessSet {
		m.Preprocess = preprocessOf(entry.Preprocess)
	}
	return nil
}

// resolve says which backbone the model keys name; a zoo:NAME path is
// downloaded into the model cache on first use (progress on w, nil for
// none).
func (m *ModelConfig) resolve(ctx context.Context, w io.Writer) (models.OpenOptions, error) {
	o := models.OpenOptions{Path: m.Path, Arch: m.Arch, Seed: m.Seed}
	if !strings.HasPrefix(m.Path, zoo.Prefix) {
		return o, nil
	}
	f, err := zoo.NewFetcher(w)
	if err != nil {
		return o, fmt.Errorf("%s: %w", m.Path, err)
	}
	f.Registry = zooRegistry()
	o.Path, err = f.Fetch(ctx, m.Path)
	return o, err
}

// zooRegistry is the registry zoo: paths name; tests add entries of their
// own.
var zooRegistry = zoo.Default

// OpenBackbone opens the backbone the model keys name (downloading a zoo:
// backbone on first use) and checks it is what model.arch says, as a run
// does before it starts.
func (m *ModelConfig) OpenBackbone(ctx context.Context, progress io.Writer) (*models.Backbone, error) {
	o, err := m.resolve(ctx, progress)
	if err != nil {
		return nil, err
	}
	return models.Open(o)
}

// preprocessOf is the config form of a backbone's preprocessing.
func preprocessOf(p models.Preprocess) Preprocess {
	c := Preprocess{Scale: float64(p.Scale), Channels: "rgb"}
	for i := range 3 {
		c.Mean = append(c.Mean, float64(p.Mean[i]))
		c.Std = append(c.Std, float64(p.Std[i]))
	}
	if p.BGR {
		c.Channels = "bgr"
	}
	return c
}

// Default returns the config every key falls back to.
func Default() Config {
	return Config{
		Size:  512,
		Init:  "content",
		Color: ColorNone,
		Model: ModelConfig{
			Arch:    "vgg19",
			Pooling: "avg",
			Preprocess: Preprocess{
				Mean:     []float64{0.485, 0.456, 0.406},
				Std:      []float64{0.229, 0.224, 0.225},
				Scale:    1,
				Channels: "rgb",
			},
		},
		// Tuned on real photos and paintings with the built-in random-weight
		// VGG19 at 256 px (style 40 barely shows, 1000+ loses the content
		// of busy paintings; tv 1 removes the random network's speckle).
		Weights: Weights{Content: 10, Style: 300, TV: 1},
		// lr and history are left to the optimiser's own defaults (see
		// Optimizer.fillDefaults).
		// The tolerance stops a run whose cost fell by less than 0.1% over
		// 20 steps: at 256 px the demo's still falls 0.3% at its 200th.
		Optimizer: Optimizer{Name: "lbfgs", Iterations: 500, Tolerance: 1e-3, Window: 20},
		Output:    Output{Dir: "runs/nst", SaveEvery: 50, Format: "png", JPEGQuality: 95},
		Runtime:   Runtime{Device: "cpu", GraphCache: true, Tile: TileAuto},
		Limits:    Limits{MaxPixels: 100_000_000, MaxVoxels: volume.DefaultMaxVoxels},
		Video:     defaultVideo(),
		Audio:     defaultAudio(),
		Volume:    defaultVolume(),
	}
}

// DefaultContentLayers and DefaultStyleLayers apply when a config names no
// layers of that kind. Maps are not viper defaults on purpose: viper would
// merge a user's map into the default one instead of replacing it.
var (
	DefaultContentLayers = map[string]float64{"relu4_2": 1}
	DefaultStyleLayers   = map[string]float64{"relu1_1": 0.2, "relu2_1": 0.2, "relu3_1": 0.2, "relu4_1": 0.2, "relu5_1": 0.2}
)

// LoadConfig reads a config file, applies NST_* environment overrides and
// then the key=value overrides in sets, fills defaults, and checks every key
// and value that can be checked without loading images or the model.
func LoadConfig(path string, sets []string) (*Config, error) {
	raw, err := safefile.ReadFile(path, MaxConfigBytes)
	if errors.Is(err, safefile.ErrTooLarge) {
		return nil, fmt.Errorf("read config: %w for a config: a config is a few KiB; is this the file you meant?", err)
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return loadConfig(raw, path, filepath.Dir(path), sets)
}

// LoadConfigBytes is LoadConfig for a config without a file: raw is its
// YAML (nil for none, every key at its default until sets sets it), and
// its paths are relative to the working folder.
func LoadConfigBytes(raw []byte, sets []string) (*Config, error) {
	return loadConfig(raw, commandLine, ".", sets)
}

// loadConfig does LoadConfig's work on raw, the config's YAML; label names
// it in errors and dir is the folder its paths are relative to.
func loadConfig(raw []byte, label, dir string, sets []string) (*Config, error) {
	if len(raw) > MaxConfigBytes {
		return nil, fmt.Errorf("config %s: %w", label, configTooLarge(int64(len(raw))))
	}
	doc, err := decodeYAMLDoc(raw)
	if err != nil {
		return nil, fmt.Errorf("config %s: %s", label, yamlSyntaxMessage(raw, err))
	}
	if doc == nil {
		doc = map[string]any{}
	}
	if err := checkKeys(doc, reflect.TypeFor[Config](), ""); err != nil {
		return nil, fmt.Errorf("config %s: %w", label, err)
	}

	if err := emptyLayerMap(doc, ""); err != nil {
		return nil, fmt.Errorf("config %s: %w", label, err)
	}
	overrides, err := envOverrides()
	if err != nil {
		return nil, err
	}
	for _, kv := range sets {
		key, val, ok := strings.Cut(kv, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("--set %q: want key=value, for example --set optimizer.iterations=100", kv)
		}
		overrides = append(overrides, override{key: key, value: val, where: "--set " + key})
	}

	v := viper.New()
	v.SetConfigType("yaml")
	setDefaults(v)
	// Layer maps stay out of viper, which would split raw ONNX names such
	// as "input.4" at the dot and lower-case them; they are read below.
	rest := make(map[string]any, len(doc))
	for k, val := range doc {
		if strings.ToLower(k) != "layers" {
			rest[k] = val
		}
	}
	forViper, err := yaml.Marshal(rest)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", label, err)
	}
	if err := v.ReadConfig(bytes.NewReader(forViper)); err != nil {
		return nil, fmt.Errorf("config %s: %w", label, err)
	}
	// The environment's overrides come first, --set's after them, so
	// that --set wins; each is checked as a file's value is.
	layerSets := map[string]float64{}
	for _, o := range overrides {
		key := o.key
		parsed, err := parseOverride(o)
		if err != nil {
			return nil, err
		}
		if lk := strings.ToLower(key); lk == "layers" || lk == "layers.content" || lk == "layers.style" {
			// A whole layer map replaces the file's, like any other value.
			if err := setLayerMaps(doc, lk, parsed); err != nil {
				return nil, fmt.Errorf("%s: %w", o.where, err)
			}
			if err := emptyLayerMap(doc, o.where+": "); err != nil {
				return nil, err
			}
			continue
		}
		if strings.HasPrefix(key, "layers.content.") || strings.HasPrefix(key, "layers.style.") {
			f, ok := toFloat(parsed)
			if !ok {
				return nil, fmt.Errorf("%s: layer weight %q is not a number", o.where, o.value)
			}
			layerSets[key] = f
			continue
		}
		if err := checkKeyPath(key); err != nil {
			return nil, fmt.Errorf("%s: %w", o.where, err)
		}
		if err := checkKeys(setDoc(key, parsed), reflect.TypeFor[Config](), ""); err != nil {
			if o.env != "" {
				return nil, fmt.Errorf("%s: %w", o.where, err)
			}
			return nil, fmt.Errorf("--set %w", err)
		}
		v.Set(key, parsed)
	}

	cfg := Default()
	err = v.Unmarshal(&cfg, func(dc *mapstructure.DecoderConfig) {
		// Weak typing lets NST_* variables (always strings) reach numeric
		// keys; the file's own values were type-checked by checkKeys.
		dc.WeaklyTypedInput = true
		dc.ZeroFields = true
	})
	if err != nil {
		return nil, fmt.Errorf("config %s: %s", label, decodeMessage(err))
	}
	// Viper lower-cases keys, but raw ONNX tensor names are case-sensitive
	// and may hold dots: take the layer maps from the YAML itself.
	cfg.Layers = LayersConfig{Content: layerMap(doc, "content"), Style: layerMap(doc, "style")}
	for key, w := range layerSets {
		kind, name, _ := strings.Cut(strings.TrimPrefix(key, "layers."), ".")
		m := &cfg.Layers.Content
		if kind == "style" {
			m = &cfg.Layers.Style
		}
		if *m == nil {
			*m = map[string]float64{}
		}
		(*m)[name] = w
	}
	defaultStyleKeys(&cfg, v.Get("style"))
	relativeToFile(&cfg, dir, func(key string) bool { return isOverridden(v, key, sets) })
	if err := cfg.Model.applyZooEntry(v.InConfig("model.arch") || isOverridden(v, "model.arch", sets),
		v.InConfig("model.preprocess") || isOverridden(v, "model.preprocess", sets)); err != nil {
		return nil, fmt.Errorf("config %s: %w", label, err)
	}
	if err := cfg.complete(v.IsSet("optimizer.lr"), v.IsSet("optimizer.history")); err != nil {
		return nil, attribute(label, err, overrides, label != commandLine)
	}
	return &cfg, nil
}

// relativeToFile makes the file paths a config file gives relative to its
// folder dir, so that a config kept in git works from any working folder.
// Paths given by --set or NST_ variables (overridden reports which keys)
// stay relative to the working folder, as paths on a command line are.
func relativeToFile(c *Config, dir string, overridden func(key string) bool) {
	join := func(key string, p *string) {
		if overridden(key) || *p == "" || filepath.IsAbs(*p) || strings.HasPrefix(*p, builtinimg.Prefix) ||
			strings.HasPrefix(*p, models.BuiltinPrefix) || strings.HasPrefix(*p, zoo.Prefix) {
			return
		}
		*p = filepath.Join(dir, *p)
	}
	join("content", &c.Content)
	join("init_image", &c.InitImage)
	join("model.path", &c.Model.Path)
	join("runtime.library", &c.Runtime.Library)
	join("video.flow_dir", &c.Video.FlowDir)
	for i := range c.Style {
		join("style", &c.Style[i].Path)
		join("style", &c.Style[i].Mask)
	}
}

// isOverridden reports whether key, or a key below it, was given by --set
// (sets) or an NST_ variable.
func isOverridden(v *viper.Viper, key string, sets []string) bool {
	for _, kv := range sets {
		k, _, _ := strings.Cut(kv, "=")
		if k = strings.ToLower(k); k == key || strings.HasPrefix(k, key+".") {
			return true
		}
	}
	for _, k := range v.AllKeys() {
		if k == key || strings.HasPrefix(k, key+".") {
			env := "NST_" + strings.ToUpper(strings.ReplaceAll(k, ".", "_"))
			if _, ok := os.LookupEnv(env); ok {
				return true
			}
		}
	}
	return false
}

// Complete fills in the defaults Default cannot hold, because they are maps
// or depend on another key, into keys left at their zero value: the layer
// maps, and optimizer.lr and optimizer.history from the chosen method's
// defaults. It then checks the config (Validate). A config built in Go
// starts from Default, sets its keys (style entries with their Weight and
// Scale) and calls Complete; LoadConfig does the same for a file.
func (c *Config) Complete() error { return c.complete(false, false) }

// complete is Complete, leaving optimizer.lr and optimizer.history alone
// where the config set them (to zero, which Validate then refuses).
func (c *Config) complete(lrSet, historySet bool) error {
	c.Optimizer.fillDefaults(lrSet || c.Optimizer.LR != 0, historySet || c.Optimizer.History != 0)
	if len(c.Scales) == 0 {
		c.Scales = nil // as in Default: no schedule, one scale
	}
	if c.IsAudio() {
		c.audioDefaults()
	}
	if c.IsVolume() {
		c.volumeDefaults()
	}
	if len(c.Layers.Content) == 0 {
		c.Layers.Content = clone(DefaultContentLayers)
	}
	if len(c.Layers.Style) == 0 {
		c.Layers.Style = clone(DefaultStyleLayers)
	}
	return c.Validate()
}

// methodDefaults are the keys whose defaults depend on another key's value
// (the optimiser's name): viper only learns of them for the environment,
// so that IsSet tells whether the config gave them.
var methodDefaults = []string{"optimizer.lr", "optimizer.history"}

// fillDefaults gives LR and History the chosen method's defaults where the
// config did not set them (lrSet, historySet).
func (o *Optimizer) fillDefaults(lrSet, historySet bool) {
	lbfgs := optim.DefaultLBFGSConfig()
	if !lrSet {
		switch o.Name {
		case "adam":
			o.LR = optim.DefaultAdamConfig().LR
		case "lbfgs":
			o.LR = lbfgs.LR
		}
	}
	if !historySet {
		o.History = lbfgs.History // an L-BFGS setting; Adam ignores it
	}
}

// setDefaults registers every leaf of Default with viper, so that NST_*
// variables reach them (viper binds the environment only to keys it knows).
func setDefaults(v *viper.Viper) {
	for _, k := range methodDefaults {
		_ = v.BindEnv(k)
	}
	b, _ := yaml.Marshal(Default())
	var m map[string]any
	_ = yaml.Unmarshal(b, &m)
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, val := range m {
			if sub, ok := val.(map[string]any); ok {
				walk(prefix+k+".", sub)
				continue
			}
			if slices.Contains(methodDefaults, prefix+k) {
				continue
			}
			v.SetDefault(prefix+k, val)
		}
	}
	walk("", m)
}

// defaultStyleKeys sets style[i].weight and style[i].scale to 1 where the
// config does not give them. Defaults do not reach into lists, and a zero
// left by decoding cannot be told from an explicit 0 (which Validate must
// reject): raw is the style list as the file or --set gave it.
func defaultStyleKeys(cfg *Config, raw any) {
	items, _ := raw.([]any)
	for i := range cfg.Style {
		var weight, scale bool
		if i < len(items) {
			if m, ok := items[i].(map[string]any); ok {
				for k := range m {
					weight = weight || strings.EqualFold(k, "weight")
					scale = scale || strings.EqualFold(k, "scale")
				}
			}
		}
		if !weight {
			cfg.Style[i].Weight = 1
		}
		if !scale {
			cfg.Style[i].Scale = 1
		}
	}
}

// setLayerMaps puts a --set value for layers, layers.content or
// layers.style into the decoded file, where the layer maps are read from,
// after checking it as the file's own value would be.
func setLayerMaps(doc map[string]any, key string, val any) error {
	layers, _ := doc["layers"].(map[string]any)
	if layers == nil {
		layers = map[string]any{}
	}
	if key == "layers" {
		m, ok := val.(map[string]any)
		if !ok {
			return fmt.Errorf("want a mapping like {content: {relu4_2: 1}, style: {relu1_1: 1}}")
		}
		layers = m
	} else {
		layers[strings.TrimPrefix(key, "layers.")] = val
	}
	if err := checkKeys(map[string]any{"layers": layers}, reflect.TypeFor[Config](), ""); err != nil {
		return err
	}
	doc["layers"] = layers
	return nil
}

func layerMap(doc map[string]any, kind string) map[string]float64 {
	layers, _ := doc["layers"].(map[string]any)
	m, _ := layers[kind].(map[string]any)
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]float64, len(m))
	for k, v := range m {
		f, _ := toFloat(v)
		out[k] = f
	}
	return out
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func clone(m map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// yamlMessage turns a YAML error into one line.
func yamlMessage(err error) string {
	return strings.ReplaceAll(strings.TrimPrefix(err.Error(), "yaml: "), "\n", "; ")
}

// checkKeys walks a decoded YAML document against the config struct and
// reports the first unknown key with the nearest valid one: a typo must
// never silently do nothing.
func checkKeys(doc map[string]any, t reflect.Type, prefix string) error {
	fields := map[string]reflect.Type{}
	var names []string
	for _, f := range keyFields(t) {
		name := f.Tag.Get("mapstructure")
		fields[name] = f.Type
		names = append(names, name)
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ft, ok := fields[strings.ToLower(k)]
		if !ok {
			return fmt.Errorf("unknown key %q%s", prefix+k, suggestHint(k, names, prefix))
		}
		val := doc[k]
		switch ft.Kind() {
		case reflect.Struct:
			sub, ok := val.(map[string]any)
			if !ok {
				if val == nil {
					continue
				}
				return fmt.Errorf("key %q: want a mapping of %s", prefix+k, strings.Join(fieldNames(ft), ", "))
			}
			if err := checkKeys(sub, ft, prefix+k+"."); err != nil {
				return err
			}
		case reflect.Slice:
			if ft.Elem().Kind() != reflect.Struct {
				items, ok := val.([]any)
				if !ok && val != nil {
					return fmt.Errorf("key %q: want a list of numbers, for example [0.485, 0.456, 0.406]", prefix+k)
				}
				for _, it := range items {
					if _, ok := toFloat(it); !ok {
						return fmt.Errorf("key %q: %v is not a number", prefix+k, it)
					}
				}
				continue
			}
			items, ok := val.([]any)
			if !ok {
				if val == nil {
					continue
				}
				return fmt.Errorf("key %q: want a list of {%s}", prefix+k, strings.Join(fieldNames(ft.Elem()), ", "))
			}
			for i, it := range items {
				sub, ok := it.(map[string]any)
				if !ok {
					return fmt.Errorf("key %s[%d]: want a mapping of %s", prefix+k, i, strings.Join(fieldNames(ft.Elem()), ", "))
				}
				if err := checkKeys(sub, ft.Elem(), fmt.Sprintf("%s%s[%d].", prefix, k, i)); err != nil {
					return err
				}
			}
		case reflect.Int, reflect.Int64:
			if _, ok := val.(int); !ok && val != nil {
				return fmt.Errorf("key %q: %v is not a whole number", prefix+k, val)
			}
		case reflect.Float64:
			if _, ok := toFloat(val); !ok && val != nil {
				return fmt.Errorf("key %q: %v is not a number", prefix+k, val)
			}
		case reflect.String:
			if _, isInt := val.(int); isInt && ft == reflect.TypeFor[TileSide]() {
				continue
			}
			if _, ok := val.(string); !ok && val != nil {
				return fmt.Errorf("key %q: %v is not a string (quote it)", prefix+k, val)
			}
		case reflect.Map:
			sub, ok := val.(map[string]any)
			if !ok && val != nil {
				return fmt.Errorf("key %q: want a mapping of layer name to weight, for example {relu4_2: 1.0}", prefix+k)
			}
			for name, w := range sub {
				if _, ok := toFloat(w); !ok {
					return fmt.Errorf("key %q: weight %v is not a number", prefix+k+"."+name, w)
				}
			}
		}
	}
	return nil
}

func suggestHint(k string, names []string, prefix string) string {
	if s, ok := suggest.Nearest(k, names); ok {
		return fmt.Sprintf(" (did you mean %q?)", prefix+s)
	}
	return fmt.Sprintf(" (valid keys here: %s)", strings.Join(names, ", "))
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for _, f := range keyFields(t) {
		names = append(names, f.Tag.Get("mapstructure"))
	}
	return names
}

// keyFields lists the fields of the config struct t that are keys: its
// own, and those of a struct it embeds with the tag mapstructure:",squash"
// (AudioConfig's audio.Config) as if they were its own, their Index a
// path from t for FieldByIndex.
func keyFields(t reflect.Type) []reflect.StructField {
	var fields []reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Tag.Get("mapstructure") == ",squash" {
			for _, g := range keyFields(f.Type) {
				g.Index = append([]int{i}, g.Index...)
				fields = append(fields, g)
			}
			continue
		}
		fields = append(fields, f)
	}
	return fields
}

// checkKeyPath validates a dotted key given with --set.
// CheckKey reports whether key names a config key as --set takes it:
// a leaf or section of the config, or a layer of layers.content or
// layers.style.
func CheckKey(key string) error {
	lk := strings.ToLower(key)
	if lk == "layers" || lk == "layers.content" || lk == "layers.style" ||
		strings.HasPrefix(key, "layers.content.") || strings.HasPrefix(key, "layers.style.") {
		return nil
	}
	return checkKeyPath(key)
}

// Fingerprint is the config as YAML without what does not change its
// result: the output folder and the runtime settings. Equal fingerprints
// mean the same experiment, on any machine (paths are kept as loaded).
func (c *Config) Fingerprint() ([]byte, error) {
	f := *c
	f.Output.Dir = ""
	f.Runtime = Runtime{}
	return yaml.Marshal(&f)
}

func checkKeyPath(key string) error {
	t := reflect.TypeFor[Config]()
	parts := strings.Split(key, ".")
	for i, p := range parts {
		if t.Kind() != reflect.Struct {
			return fmt.Errorf("unknown key %q", key)
		}
		var next reflect.Type
		for _, f := range keyFields(t) {
			if f.Tag.Get("mapstructure") == strings.ToLower(p) {
				next = f.Type
			}
		}
		if next == nil {
			return fmt.Errorf("unknown key %q%s", key, suggestHint(p, fieldNames(t), strings.Join(parts[:i], ".")+dotIf(i)))
		}
		t = next
	}
	return nil
}

func dotIf(i int) string {
	if i == 0 {
		return ""
	}
	return "."
}

// Validate checks every value that can be checked without heavy work.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Content == "" {
		bad("content: missing; give the path of the content photo")
	}
	if len(c.Style) == 0 {
		bad("style: missing; give at least one {path: ..., weight: 1.0}")
	}
	for i, s := range c.Style {
		if s.Path == "" {
			bad("style[%d].path: missing", i)
		}
		if !finiteNonNeg(s.Weight) {
			bad("style[%d].weight: %v; want a finite number >= 0", i, s.Weight)
		}
		if !(s.Scale >= MinStyleScale && s.Scale <= MaxStyleScale) {
			bad("style[%d].scale: %v; want %v to %v (the style image's longer side relative to the output's)", i, s.Scale, MinStyleScale, MaxStyleScale)
		}
	}
	if total := sumStyleWeights(c.Style); len(c.Style) > 0 && total <= 0 {
		bad("style weights sum to %v; at least one must be positive", total)
	}
	if c.Size < 16 || c.Size > 16384 {
		bad("size: %d; want 16 to 16384 (the output's longer side in pixels)", c.Size)
	}
	switch c.Color {
	case ColorNone, ColorLuminance, ColorHistogram, ColorAfter:
	default:
		bad("color: %q; want none, luminance, histogram or after", c.Color)
	}
	errs = append(errs, c.validateScales()...)
	switch c.Init {
	case "content", "noise":
	case "image":
		if c.InitImage == "" {
			bad("init_image: missing; init: image needs the path of the starting image")
		}
	default:
		bad("init: %q; want content, noise or image", c.Init)
	}
	if !(c.NoiseRatio >= 0 && c.NoiseRatio <= 1) {
		bad("noise_ratio: %v; want 0 to 1", c.NoiseRatio)
	}
	switch c.Model.Arch {
	case "vgg19", "vgg16", "auto":
	default:
		bad("model.arch: %q; want vgg19, vgg16 or auto", c.Model.Arch)
	}
	switch c.Model.Pooling {
	case "max", "avg":
	default:
		bad("model.pooling: %q; want max or avg", c.Model.Pooling)
	}
	p := c.Model.Preprocess
	if len(p.Mean) != 3 || len(p.Std) != 3 {
		bad("model.preprocess: mean and std need 3 values each (one per channel), got %d and %d", len(p.Mean), len(p.Std))
	} else {
		for i := range 3 {
			if math.IsNaN(p.Mean[i]) || math.IsInf(p.Mean[i], 0) || !(p.Std[i] > 0) || math.IsInf(p.Std[i], 0) {
				bad("model.preprocess: mean %v / std %v; means must be finite and stds positive", p.Mean, p.Std)
				break
			}
		}
	}
	if !(p.Scale > 0) || math.IsInf(p.Scale, 0) {
		bad("model.preprocess.scale: %v; want a positive number (1 for inputs in [0,1], 255 for caffe-style)", p.Scale)
	}
	if p.Channels != "rgb" && p.Channels != "bgr" {
		bad("model.preprocess.channels: %q; want rgb or bgr", p.Channels)
	}
	// Fixed orders, not map ranges: the same config must always give the
	// same message.
	for _, l := range []struct {
		kind string
		m    map[string]float64
	}{{"content", c.Layers.Content}, {"style", c.Layers.Style}} {
		for _, name := range slices.Sorted(maps.Keys(l.m)) {
			if w := l.m[name]; !finiteNonNeg(w) {
				bad("layers.%s.%s: %v; want a finite number >= 0", l.kind, name, w)
			}
		}
	}
	for _, w := range []struct {
		name  string
		value float64
	}{{"content", c.Weights.Content}, {"style", c.Weights.Style}, {"tv", c.Weights.TV}} {
		if !finiteNonNeg(w.value) {
			bad("weights.%s: %v; want a finite number >= 0", w.name, w.value)
		}
	}
	switch c.Optimizer.Name {
	case "lbfgs", "adam":
	default:
		bad("optimizer.name: %q; want lbfgs or adam", c.Optimizer.Name)
	}
	if c.Optimizer.Iterations < 0 || c.Optimizer.Iterations > 1_000_000 {
		bad("optimizer.iterations: %d; want 0 to 1000000", c.Optimizer.Iterations)
	}
	if !(c.Optimizer.LR > 0) || math.IsInf(c.Optimizer.LR, 0) {
		bad("optimizer.lr: %v; want a positive number", c.Optimizer.LR)
	}
	if c.Optimizer.History < 1 || c.Optimizer.History > 1000 {
		bad("optimizer.history: %d; want 1 to 1000", c.Optimizer.History)
	}
	if !(c.Optimizer.Tolerance >= 0 && c.Optimizer.Tolerance < 1) {
		bad("optimizer.tolerance: %v; want 0 (never stop early) up to below 1", c.Optimizer.Tolerance)
	}
	if c.Optimizer.Window < 1 || c.Optimizer.Window > 10000 {
		bad("optimizer.window: %d; want 1 to 10000 iterations", c.Optimizer.Window)
	}
	if c.Output.SaveEvery < 0 {
		bad("output.save_every: %d; want 0 (never) or a positive number of iterations", c.Output.SaveEvery)
	}
	switch c.Output.Format {
	case "png", "jpeg", "jpg":
	default:
		bad("output.format: %q; want png or jpeg", c.Output.Format)
	}
	if c.Output.JPEGQuality < 1 || c.Output.JPEGQuality > 100 {
		bad("output.jpeg_quality: %d; want 1 to 100", c.Output.JPEGQuality)
	}
	if c.Output.Dir == "" {
		bad("output.dir: missing")
	}
	if max := sysmem.MaxThreads(); c.Runtime.Threads < 0 || c.Runtime.Threads > max {
		bad("runtime.threads: %d; want 0 (all cores) up to %d (%d per usable CPU: more only take turns)", c.Runtime.Threads, max, sysmem.ThreadsPerCPU)
	}
	if c.Runtime.Device != "cpu" && c.Runtime.Device != "cuda" {
		bad("runtime.device: %q; want cpu or cuda", c.Runtime.Device)
	}
	if c.Runtime.MaxMemory != "" {
		if _, err := sysmem.ParseMemory(c.Runtime.MaxMemory); err != nil {
			bad("runtime.max_memory: %v", err)
		}
	}
	if _, err := parseTile(string(c.Runtime.Tile)); err != nil {
		errs = append(errs, err)
	}
	if c.Limits.MaxPixels <= 0 {
		bad("limits.max_pixels: %d; want a positive pixel count", c.Limits.MaxPixels)
	}
	errs = append(errs, c.Video.validate()...)
	errs = append(errs, c.Audio.validate()...)
	errs = append(errs, c.validateMedium()...)
	errs = append(errs, c.Volume.validate()...)
	errs = append(errs, c.validateVolume()...)
	return errors.Join(errs...)
}

func finiteNonNeg(x float64) bool { return x >= 0 && !math.IsInf(x, 0) }

func sumStyleWeights(s []StyleConfig) float64 {
	t := 0.0
	for _, x := range s {
		t += x.Weight
	}
	return t
}

// Resolved renders the config with every default filled in and every path
// made absolute, so the file re-runs as it is from any folder.
func (c *Config) Resolved() ([]byte, error) {
	r := *c
	r.Content = absPath(r.Content)
	r.InitImage = absPath(r.InitImage)
	r.Model.Path = absPath(r.Model.Path)
	r.Runtime.Library = absPath(r.Runtime.Library)
	r.Style = append([]StyleConfig(nil), c.Style...)
	for i := range r.Style {
		r.Style[i].Path = absPath(r.Style[i].Path)
		r.Style[i].Mask = absPath(r.Style[i].Mask)
	}
	var buf bytes.Buffer
	buf.WriteString("# Resolved by nst: every key with its value for this run.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("encode resolved config: %w", err)
	}
	return buf.Bytes(), enc.Close()
}

// absPath makes a file path absolute; built-in image names pass through.
func absPath(p string) string {
	if p == "" || strings.HasPrefix(p, builtinimg.Prefix) || filepath.IsAbs(p) {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

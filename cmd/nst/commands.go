package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/internal/atomicfile"
	"github.com/nst-project/nst/internal/ortrt"
	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/pipeline"
	"github.com/nst-project/nst/record"
	"github.com/nst-project/nst/video"
	"github.com/nst-project/nst/zoo"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "nst",
		Short: "Neural style transfer on ONNX Runtime",
		Long: `nst paints a content photo in the style of an artwork (Gatys et al.).
Nothing is trained: the pixels of the output are optimised so that a ConvNet
(VGG19 by default) sees the photo's content and the artwork's style.

Experiments are YAML files (see configs/README.md); every run writes its image,
the resolved config, a manifest, a cost log and a cost plot into its own folder.

Every config key can also be set with an NST_ variable: NST_OPTIMIZER_ITERATIONS=50.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	// An unknown subcommand is a usage mistake too (exit 2), with cobra's
	// suggestion of the nearest command.
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		hint := ""
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			hint = fmt.Sprintf(" (did you mean %q?)", s[0])
		}
		return usageError{fmt.Errorf("unknown command %q%s", args[0], hint)}
	}
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	root.AddCommand(newRunCmd(), newEvalCmd(), newModelCmd(), newUnitsCmd(), newBenchCmd(), newSweepCmd(), newServeCmd(), newVersionCmd())
	for _, c := range root.Commands() {
		usageArgs(c)
	}
	return root
}

// usageArgs makes a wrong argument count or an unknown subcommand a usage
// error (exit 2) in c and every command below it, as flag errors are: a
// command's own argument check returns a plain error, which would exit 1.
// A command that only groups subcommands names an unknown one, and says
// which there are when given none, instead of printing its help and
// exiting 0.
func usageArgs(c *cobra.Command) {
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
	if c.HasSubCommands() && !c.Runnable() {
		c.SuggestionsMinimumDistance = 2 // cobra's own default for unknown commands
		var names []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		c.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			hint := ""
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				hint = fmt.Sprintf(" (did you mean %q?)", s[0])
			}
			return fmt.Errorf("unknown command %q for %q%s", args[0], cmd.CommandPath(), hint)
		}
		c.RunE = func(cmd *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("%s needs a subcommand: %s", cmd.Name(), strings.Join(names, ", "))}
		}
	}
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			err := check(cmd, args)
			if err == nil || errors.As(err, new(usageError)) {
				return err
			}
			return usageError{err}
		}
	}
}

// configFlags are the flags run and eval share.
type configFlags struct {
	config string
	sets   []string
	out    string
}

func (f *configFlags) register(cmd *cobra.Command, outHelp string) {
	cmd.Flags().StringVarP(&f.config, "config", "c", "", "experiment config (YAML), for example configs/demo.yaml")
	cmd.Flags().StringArrayVar(&f.sets, "set", nil, "override a config key, key=value (repeatable): --set optimizer.iterations=100")
	cmd.Flags().StringVar(&f.out, "out", "", outHelp)
}

func (f *configFlags) load() (*pipeline.Config, error) {
	if f.config == "" {
		return nil, usageError{fmt.Errorf("missing -c CONFIG; try -c configs/demo.yaml")}
	}
	cfg, err := pipeline.LoadConfig(f.config, f.sets)
	if err != nil {
		return nil, err
	}
	f.override(cfg)
	return cfg, nil
}

// override applies the flags that replace config keys after loading: --out.
func (f *configFlags) override(cfg *pipeline.Config) {
	if f.out != "" {
		cfg.Output.Dir = f.out
	}
}

// oneOff are the run flags that make a config of their own, or override a
// config's keys: nst run --content PHOTO --style PAINTING.
type oneOff struct {
	content string
	styles  []string
	size    int
	output  string
}

func (o *oneOff) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.content, "content", "", "content image (sets content)")
	cmd.Flags().StringArrayVar(&o.styles, "style", nil, "style image, repeatable (sets style, each with weight 1)")
	cmd.Flags().IntVar(&o.size, "size", 0, "longer side of the output in pixels (sets size)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "also copy the final image to `FILE` (its format from the extension: .png, .jpg)")
}

// sets turns the flags into --set overrides, which come after the user's
// own --set and so win over them.
func (o *oneOff) sets() []string {
	var sets []string
	if o.content != "" {
		sets = append(sets, "content="+yamlString(o.content))
	}
	if len(o.styles) > 0 {
		var entries []string
		for _, s := range o.styles {
			entries = append(entries, "{path: "+yamlString(s)+", weight: 1}")
		}
		sets = append(sets, "style=["+strings.Join(entries, ", ")+"]")
	}
	if o.size != 0 {
		sets = append(sets, fmt.Sprintf("size=%d", o.size))
	}
	return sets
}

// yamlString quotes s as a YAML string, so that a path with a colon or a
// brace reads as the path it is.
func yamlString(s string) string { return strconv.Quote(s) }

func newRunCmd() *cobra.Command {
	var f configFlags
	var one oneOff
	var resume string
	cmd := &cobra.Command{
		Use:   "run -c CONFIG [--set key=value ...] [--out DIR] [-o FILE] | run --content PHOTO --style PAINTING [...] | run --resume DIR",
		Short: "Run a style transfer experiment",
		Long: `Run optimises an image as the config says and writes into a new folder
(output.dir, or output.dir-2, -3, ... when it is taken): the final image,
intermediate images every output.save_every iterations, config.yaml (the
resolved config, which re-runs as it is), manifest.json, costs.csv and costs.png.

Without -c, --content and --style make a one-off run with every other key at
its default (runs/nst, 512 px, built-in VGG19); with -c they override the
config's keys, as --size does. -o FILE also copies the final image to FILE.

Common keys for --set (configs/README.md lists them all):
  size=512  optimizer.iterations=500  weights.style=300  weights.content=10
  color=luminance  model.path=zoo:vgg19  init=noise  seed=1
  output.save_every=50  runtime.threads=2

A run stopped by Ctrl-C, SIGTERM or a failed write (a full disk) saves a
checkpoint in its folder; run --resume DIR continues it there and ends with
exactly the image an uninterrupted run would have made.

When content is a folder of frames or a video file, run styles it frame by
frame with a temporal cost (the config's video keys) and writes the frames,
the flows and styled.mp4 into its folder; --resume continues such a folder
from the first unfinished frame.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := pipeline.RunOptions{Progress: os.Stderr}
			var res *pipeline.Result
			var err error
			if resume != "" {
				if f.config != "" || len(f.sets) > 0 || f.out != "" || len(one.sets()) > 0 {
					return usageError{fmt.Errorf("--resume continues a run as its own config.yaml says; it takes no -c, --set, --out, --content, --style or --size")}
				}
				if video.IsRunDir(resume) {
					vres, err := video.Resume(cmd.Context(), resume, video.Options{Progress: os.Stderr})
					return printVideo(cmd, vres, err)
				}
				res, err = pipeline.Resume(cmd.Context(), resume, opts)
			} else {
				var cfg *pipeline.Config
				if cfg, err = one.load(&f); err != nil {
					return err
				}
				if one.output != "" {
					if err := checkOutputFile(one.output); err != nil {
						return err
					}
				}
				if video.IsInput(cfg.Content) {
					if one.output != "" {
						return usageError{fmt.Errorf("-o FILE copies one image; a video run's frames and video are in its folder")}
					}
					vres, err := video.Run(cmd.Context(), cfg, video.Options{Progress: os.Stderr})
					return printVideo(cmd, vres, err)
				}
				res, err = pipeline.Run(cmd.Context(), cfg, opts)
			}
			if err != nil {
				return err
			}
			if one.output != "" {
				if err := copyImage(res.Image, one.output); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), one.output)
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Image)
			return nil
		},
	}
	f.register(cmd, "output folder base (overrides output.dir)")
	one.register(cmd)
	cmd.Flags().StringVar(&resume, "resume", "", "continue the stopped run in folder `DIR` from its checkpoint")
	return cmd
}

// printVideo prints where a video run put its result: the video, or the
// frames' folder when no video was encoded.
func printVideo(cmd *cobra.Command, res *video.Result, err error) error {
	if err != nil {
		return err
	}
	out := res.Video
	if out == "" {
		out = filepath.Join(res.Dir, "frames")
	}
	fmt.Fprintln(cmd.OutOrStdout(), out)
	return nil
}

// load makes the run's config: the -c file with --set and these flags, or
// without -c a one-off config of these flags and the defaults.
func (o *oneOff) load(f *configFlags) (*pipeline.Config, error) {
	if f.config != "" {
		g := *f
		g.sets = append(slices.Clone(f.sets), o.sets()...)
		return g.load()
	}
	if o.content == "" || len(o.styles) == 0 {
		return nil, usageError{fmt.Errorf("missing -c CONFIG, or --content PHOTO and --style PAINTING for a one-off run; try -c configs/demo.yaml")}
	}
	cfg, err := pipeline.LoadConfigBytes(nil, append(slices.Clone(f.sets), o.sets()...))
	if err != nil {
		return nil, err
	}
	f.override(cfg)
	return cfg, nil
}

// checkOutputFile refuses an -o FILE that exists or whose folder does not,
// before the run, so that hours of work never end in a refused write.
func checkOutputFile(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("-o %s: the file exists; choose another name or remove it", path)
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return fmt.Errorf("-o %s: no folder %s to write into", path, filepath.Dir(path))
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png", ".jpg", ".jpeg":
		return nil
	}
	return usageError{fmt.Errorf("-o %s: want a .png or .jpg file", path)}
}

// copyImage writes the run's final image src to dst in dst's format,
// refusing to replace a file.
func copyImage(src, dst string) error {
	img, err := imageio.Load(src, imageio.LoadOptions{})
	if err != nil {
		return fmt.Errorf("-o %s: %w", dst, err)
	}
	format := "png"
	if ext := strings.ToLower(filepath.Ext(dst)); ext == ".jpg" || ext == ".jpeg" {
		format = "jpeg"
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("-o %s: the file appeared during the run; the image is %s", dst, src)
	}
	if err := imageio.Save(dst, img, format, 95); err != nil {
		return fmt.Errorf("-o %s: %w", dst, err)
	}
	return nil
}

func newEvalCmd() *cobra.Command {
	var f configFlags
	var evalForce bool
	cmd := &cobra.Command{
		Use:   "eval -c CONFIG [--set key=value ...] --out DIR",
		Short: "Evaluate the cost and its gradient once, at the initial image",
		Long: `Eval computes J and dJ/dx once, at the initial image, and writes into DIR:
costs.json  {"content": {layer: raw cost}, "style": {layer: raw cost}, "tv": t, "total": J}
            (per-layer values before alpha, beta and layer weights; total is J as the optimiser sees it)
image.npy   x, the RGB image in [0,1] fed to preprocessing, float32 [1,3,H,W]
grad.npy    dJ/dx at that x, float32 [1,3,H,W]`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.out == "" {
				return usageError{fmt.Errorf("eval needs --out DIR")}
			}
			var outs []string
			for _, name := range []string{"costs.json", "image.npy", "grad.npy"} {
				outs = append(outs, filepath.Join(f.out, name))
			}
			if err := os.MkdirAll(f.out, 0o755); err != nil {
				return fmt.Errorf("eval --out: %w", err)
			}
			if err := checkOutputs(evalForce, nil, outs...); err != nil {
				return err
			}
			cfg, err := f.load()
			if err != nil {
				return err
			}
			return pipeline.Eval(cmd.Context(), cfg, f.out)
		},
	}
	f.register(cmd, "folder for costs.json, image.npy and grad.npy (required)")
	cmd.Flags().BoolVar(&evalForce, "force", false, "replace costs.json, image.npy and grad.npy if they exist")
	return cmd
}

func newModelCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "model", Short: "Inspect backbones or write random-weight ones"}
	cmd.AddCommand(newInspectCmd(), newSynthCmd(), newFetchCmd())
	return cmd
}

func newInspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect FILE",
		Short: "List every nameable layer of an ONNX backbone",
		Long: `Inspect prints each layer a config can name (layers.content, layers.style):
its name, channel count, stride relative to the input, receptive field
and the ONNX op. The field is given along each of the input's spatial
axes: height x width pixels for an image backbone, depth x height x width
voxels for a volume backbone (3-D convolutions), frames for an audio one.
VGG-style chains get the conventional names (conv1_1, relu1_1, ..., pool5);
other graphs use their ONNX tensor names. FILE may be builtin:vgg19,
builtin:vgg16, builtin:audio, builtin:audio-multi, builtin:volume, or
zoo:vgg19 / zoo:vgg16 (downloaded on first use). The built-in audio and
volume backbones are shown as a run with the default audio and volume keys
makes them (a grey volume); their fields do not depend on those keys.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			if strings.HasPrefix(path, zoo.Prefix) {
				p, _, err := zoo.Resolve(cmd.Context(), path, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				path = p
			}
			d := pipeline.Default()
			b, err := models.Open(models.OpenOptions{
				Path: path, Arch: "auto",
				AudioBins: d.Audio.STFT().Bins(), AudioFilters: d.Audio.Filters,
				VolumeChannels: 1, VolumeFilters: d.Volume.Filters,
			})
			if err != nil {
				return err
			}
			return b.Inspect(cmd.OutOrStdout())
		},
	}
}

func newSynthCmd() *cobra.Command {
	var arch, layout, out string
	var seed int64
	var force bool
	cmd := &cobra.Command{
		Use:   "synth --arch vgg19|vgg16 [--layout builtin|zoo] --seed N --out FILE.onnx",
		Short: "Write a VGG backbone with deterministic random weights",
		Long: `Synth writes a VGG-architecture ONNX model with He-normal random weights
and zero biases. The same arguments give a byte-identical file. Random-weight
VGG still transfers style (He, Wang and Hopcroft, NeurIPS 2016).

--layout builtin (the default) writes the built-in backbone, used when
model.path is empty: the features only, free input size; 80 MB for vgg19.

--layout zoo writes a full-size look-alike of the ONNX model zoo's
vgg19-7.onnx or vgg16-7.onnx (MXNet export): opset 7, a 1x3x224x224 input
named data, weights in float_data and listed among the graph inputs, nodes
named vgg0_conv0_fwd ..., and the classifier head (fc6 25088x4096, fc7
4096x4096, fc8 4096x1000): 575 MB for vgg19 (548 MiB, as the zoo's file),
553 MB for vgg16. It loads like the real file and has the same convolution
weights as the built-in backbone; it serves to measure start-up and memory
with a zoo-sized file where the zoo cannot be reached (nst bench --model FILE).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{fmt.Errorf("synth needs --out FILE.onnx")}
			}
			if err := checkOutputs(force, nil, out); err != nil {
				return err
			}
			var write func(io.Writer, string, int64) error
			switch layout {
			case "builtin":
				write = models.WriteSynth
			case "zoo":
				write = models.WriteZooLookalike
			default:
				return usageError{fmt.Errorf("--layout %q: want builtin or zoo", layout)}
			}
			return atomicfile.Write(out, 0o644, func(w io.Writer) error {
				return write(w, arch, seed)
			})
		},
	}
	cmd.Flags().StringVar(&arch, "arch", "vgg19", "vgg19 or vgg16")
	cmd.Flags().StringVar(&layout, "layout", "builtin", "builtin (nst's feature extractor) or zoo (the ONNX model zoo's full vgg19-7/vgg16-7 layout)")
	cmd.Flags().Int64Var(&seed, "seed", 0, "random seed of the weights")
	cmd.Flags().StringVar(&out, "out", "", "output file (required)")
	cmd.Flags().BoolVar(&force, "force", false, "replace the output file if it exists")
	return cmd
}

func newFetchCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "fetch NAME... | fetch --all",
		Short: "Download pretrained backbones (zoo:NAME) into the model cache",
		Long: `Fetch downloads each named backbone into the model cache ($NST_MODEL_DIR,
else ~/.cache/nst/models) with a progress bar, resumes an interrupted
download, checks the file's SHA-256 before it is used, and prints its path.
A verified file is not downloaded again. NST_MODEL_MIRROR=URL downloads
URL/FILE instead of the ONNX model zoo. Names: vgg19 (548 MiB), vgg16
(528 MiB). A config names them as model.path: zoo:vgg19.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := zoo.NewFetcher(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if all {
				args = f.Registry.Names()
			}
			if len(args) == 0 {
				return usageError{fmt.Errorf("fetch needs a model name (%s) or --all", strings.Join(f.Registry.Names(), ", "))}
			}
			for _, name := range args {
				path, err := f.Fetch(cmd.Context(), name)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), path)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "fetch every model of the registry")
	return cmd
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the versions of nst and of the ONNX Runtime it loads",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "nst %s\n", record.ProgramInfo())
			if err := ortrt.Init(""); err != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "onnxruntime: not loaded (%v)\n", err)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "onnxruntime %s (%s)\n", ortrt.Version(), ortrt.LibraryPath())
			return nil
		},
	}
}

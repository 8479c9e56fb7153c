package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/pipeline"
	"github.com/nst-project/nst/record"
	"github.com/nst-project/nst/unitviz"
)

func newUnitsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "units",
		Short: "See what single units of the backbone respond to",
		Long: `Units shows what a unit (one channel of a layer) of the backbone responds to,
to help choose style and content layers: "top" finds the image patches where
it fires most, "dream" paints an image that excites it. Both run the backbone
as a run with the same config would (model, pooling, preprocessing, runtime).`,
	}
	cmd.AddCommand(newUnitsTopCmd(), newUnitsDreamCmd())
	return cmd
}

// unitsFlags are the flags both units commands share.
type unitsFlags struct {
	config string
	sets   []string
	layer  string
	out    string
	force  bool
	size   int
}

func (f *unitsFlags) register(cmd *cobra.Command, outHelp, sizeHelp string) {
	cmd.Flags().StringVarP(&f.config, "config", "c", "", "experiment config (YAML) whose model settings to use, for example configs/demo.yaml")
	cmd.Flags().StringArrayVar(&f.sets, "set", nil, "override a config key, key=value (repeatable): --set model.pooling=max")
	cmd.Flags().StringVar(&f.layer, "layer", "", "layer name, for example conv1_1 or relu4_2 (nst model inspect lists them; required)")
	cmd.Flags().StringVar(&f.out, "out", "", outHelp)
	cmd.Flags().BoolVar(&f.force, "force", false, "replace output files that exist")
	cmd.Flags().IntVar(&f.size, "size", 0, sizeHelp)
}

// load checks the shared flags and reads the config; a --size of 0
// becomes the config's size.
func (f *unitsFlags) load() (*pipeline.Config, error) {
	switch {
	case f.config == "":
		return nil, usageError{errors.New("missing -c CONFIG; try -c configs/demo.yaml")}
	case f.layer == "":
		return nil, usageError{errors.New("missing --layer, for example --layer conv1_1")}
	case f.out == "":
		return nil, usageError{errors.New("missing --out FILE.png")}
	case f.size < 0 || f.size > unitviz.MaxSize:
		return nil, usageError{fmt.Errorf("--size %d: want 1 to %d pixels (0: the config's size)", f.size, unitviz.MaxSize)}
	}
	cfg, err := pipeline.LoadConfig(f.config, f.sets)
	if err != nil {
		return nil, err
	}
	if f.size == 0 {
		f.size = cfg.Size
	}
	return cfg, nil
}

// sizeFlag names the size of a *pipeline.UnitsSizeError as the user set
// it, --size.
func sizeFlag(err error) error {
	var se *pipeline.UnitsSizeError
	if errors.As(err, &se) {
		return fmt.Errorf("--size %d: %w", se.Size, se.Err)
	}
	return err
}

// interruptedUnits turns a cancelled context into pipeline.ErrInterrupted, which
// main reports with exit code 130.
func interruptedUnits(err error, what string) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: %s", pipeline.ErrInterrupted, what)
	}
	return err
}

func newUnitsTopCmd() *cobra.Command {
	var f unitsFlags
	var images, unitList, listing string
	var unit, top, perImage, cell int
	var inside bool
	cmd := &cobra.Command{
		Use:   "top -c CONFIG --layer LAYER (--unit N | --units LIST) --images DIR --out SHEET.png",
		Short: "Find the image patches where units fire most",
		Long: `Top runs every image in DIR (png, jpeg, gif, tiff, bmp; not sub-folders)
through the backbone, resized so that the longer side is --size pixels, and
keeps for each unit the --top positions where it fires most, at most
--per-image of them from one image and none overlapping another by more than
half. Each patch is the unit's receptive field, computed from the graph
(kernel sizes, strides, padding and dilation of every op up to the layer),
grey where the field reaches past the image (Zeiler and Fergus, 2014).
Units often fire most where their field meets the image's edge; --inside
keeps only fields wholly inside the image.

It writes a contact sheet, each unit's patches in a near-square block (3x3
for nine) best first, the units' blocks in the order given, row by row; and a
JSON listing (--json, by default the sheet's name with .json) with, for each
patch: unit, rank, layer, image, x and y on the activation grid, activation,
and the crop box in the pixels the network saw and in the file's pixels.`,
		Example: `  nst units top -c configs/demo.yaml --layer conv1_1 --unit 5 --images photos/ --out unit5.png
  nst units top -c configs/demo.yaml --layer relu3_1 --units 0-15 --images photos/ --out relu3_1.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			unitsChanged, unitChanged := cmd.Flags().Changed("units"), cmd.Flags().Changed("unit")
			if unitsChanged == unitChanged {
				return usageError{errors.New("give either --unit N or --units LIST (for example --units 0-15)")}
			}
			chosen := []int{unit}
			if unitsChanged {
				var err error
				if chosen, err = unitviz.ParseUnits(unitList); err != nil {
					return usageError{err}
				}
			}
			if images == "" {
				return usageError{errors.New("missing --images DIR")}
			}
			if listing == "" {
				listing = strings.TrimSuffix(f.out, filepath.Ext(f.out)) + ".json"
			}
			paths, err := unitviz.ListImages(images)
			if err != nil {
				return err
			}
			if err := checkOutputs(f.force, paths, f.out, listing); err != nil {
				return err
			}
			cfg, err := f.load()
			if err != nil {
				return err
			}
			_, err = pipeline.UnitsTop(cmd.Context(), cfg, pipeline.UnitsTopOptions{
				Layer: f.layer, Units: chosen, Top: top, PerImage: perImage, Inside: inside,
				Images: paths, Size: f.size, Cell: cell, Sheet: f.out, Listing: listing, Progress: os.Stderr,
			})
			if err != nil {
				return interruptedUnits(sizeFlag(err), "nothing written")
			}
			fmt.Fprintln(cmd.OutOrStdout(), f.out)
			fmt.Fprintln(cmd.OutOrStdout(), listing)
			return nil
		},
	}
	f.register(cmd, "contact sheet to write, .png or .jpg (required)", "longer side, in pixels, images are resized to (default: the config's size)")
	cmd.Flags().StringVar(&images, "images", "", "folder of images to search (required)")
	cmd.Flags().IntVar(&unit, "unit", 0, "the unit (channel) to rank patches for")
	cmd.Flags().StringVar(&unitList, "units", "", "several units as numbers and ranges, for example 0-15 or 3,7,12-14")
	cmd.Flags().IntVar(&top, "top", 9, "patches per unit")
	cmd.Flags().IntVar(&perImage, "per-image", 0, "most patches one image may give a unit (default: as few as fill --top)")
	cmd.Flags().BoolVar(&inside, "inside", false, "only patches whose field lies wholly inside the image, not touching the padding")
	cmd.Flags().IntVar(&cell, "cell", 0, "side in pixels of a patch on the sheet (default: from the field's size, 64 to 128)")
	cmd.Flags().StringVar(&listing, "json", "", "JSON listing to write (default: the sheet's name with .json)")
	return cmd
}

func newUnitsDreamCmd() *cobra.Command {
	var f unitsFlags
	o := unitviz.DefaultDreamOptions()
	cmd := &cobra.Command{
		Use:   "dream -c CONFIG --layer LAYER --unit N --out IMAGE.png",
		Short: "Paint an image that excites a unit",
		Long: `Dream paints a --size x --size image that excites one unit: gradient ascent
(Adam) on its activation, starting from faint noise. The regularisers keep
the image readable: a random shift of up to --jitter pixels before every
step, a Gaussian blur every --blur-every steps, an optional total variation
penalty (--tv), and pixel values kept in [0,1].

By default the unit's mean over the whole image is raised, which tiles the
image with its pattern; --neuron raises the value at the centre only, which
paints one instance of the pattern, the size of the unit's receptive field.
For a ReLU layer (relu4_2) the ascent is on the unit's value before the ReLU
(conv4_2), so that places where the unit is off still get a gradient. The
same options and seed give the same image. Progress is shown as in run; the
cost is minus that value, plus the TV penalty.`,
		Example: `  nst units dream -c configs/demo.yaml --layer relu4_2 --unit 17 --out unit17.png
  nst units dream -c configs/demo.yaml --layer relu3_1 --unit 4 --neuron --size 128 --out neuron4.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("unit") {
				return usageError{errors.New("missing --unit N")}
			}
			if f.out != "" {
				if err := checkOutputs(f.force, nil, f.out); err != nil {
					return err
				}
			}
			cfg, err := f.load()
			if err != nil {
				return err
			}
			network, err := pipeline.OpenUnitsNetwork(cmd.Context(), cfg, f.layer, f.size, os.Stderr)
			if err != nil {
				return interruptedUnits(sizeFlag(err), "nothing written")
			}
			if !cmd.Flags().Changed("seed") {
				o.Seed = cfg.Seed
			}
			o.Network, o.Layer, o.Width, o.Height = network, f.layer, f.size, f.size
			o.Progress = record.NewProgress(os.Stderr, o.Steps, "dream")
			slog.Info("units dream", "layer", f.layer, "unit", o.Unit, "size", f.size, "steps", o.Steps, "neuron", o.Neuron)
			res, err := unitviz.Dream(cmd.Context(), o)
			if res == nil {
				return err
			}
			// Whatever stopped the dream, keep the image it reached.
			if saveErr := imageio.Save(f.out, imageio.FromTensor(res.Image, res.Width, res.Height), "", 0); saveErr != nil {
				return errors.Join(err, saveErr)
			}
			if err != nil {
				return interruptedUnits(err, fmt.Sprintf("after %d steps; the image so far is %s", res.Steps, f.out))
			}
			slog.Info("units dream done", "activation_on_noise", res.Start, "activation", res.Final)
			fmt.Fprintln(cmd.OutOrStdout(), f.out)
			return nil
		},
	}
	f.register(cmd, "image to write, .png or .jpg (required)", "side of the square image in pixels (default: the config's size)")
	fl := cmd.Flags()
	fl.IntVar(&o.Unit, "unit", 0, "the unit (channel) to excite (required)")
	fl.BoolVar(&o.Neuron, "neuron", false, "excite the unit at the centre only, not its mean over the image")
	fl.IntVar(&o.Steps, "steps", o.Steps, "gradient steps")
	fl.Float64Var(&o.LR, "lr", o.LR, "Adam step size, in pixel values (0 to 1)")
	fl.IntVar(&o.Jitter, "jitter", o.Jitter, "largest random shift in pixels before each step (0: none)")
	fl.IntVar(&o.BlurEvery, "blur-every", o.BlurEvery, "blur the image every this many steps (0: never)")
	fl.Float64Var(&o.BlurSigma, "blur-sigma", o.BlurSigma, "standard deviation of the blur, in pixels")
	fl.Float64Var(&o.TV, "tv", o.TV, "weight of the total variation penalty (0: none)")
	fl.Int64Var(&o.Seed, "seed", 0, "seed of the starting noise and the jitter (default: the config's seed)")
	return cmd
}

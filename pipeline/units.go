package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/internal/ortrt"
	"github.com/nst-project/nst/internal/sysmem"
	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/unitviz"
)

// UnitsSizeError says that the network of a units visualisation would not
// fit in memory at Size×Size pixels; Err names the largest size that fits.
// Callers name the size as their users set it (nst units: --size).
type UnitsSizeError struct {
	Size int
	Err  error
}

// Error says the size and why it does not fit.
func (e *UnitsSizeError) Error() string { return fmt.Sprintf("size %d: %v", e.Size, e.Err) }

// Unwrap returns the memory check's error.
func (e *UnitsSizeError) Unwrap() error { return e.Err }

// OpenUnitsNetwork opens the backbone cfg's model keys name and returns it
// as the units visualisations (unitviz) run it: as a run with cfg would
// (model, pooling, preprocessing, runtime threads and device). Before that
// it refuses, with a *UnitsSizeError, a network up to layer at size×size
// pixels (square: the worst case of an image whose longer side is size)
// that would not fit in memory, through the run's own estimate and limit
// (FootprintOf, CheckMemory, runtime.max_memory). A layer the backbone
// lacks is left to unitviz, which names the layers there are. progress
// receives a zoo download's progress.
func OpenUnitsNetwork(ctx context.Context, cfg *Config, layer string, size int, progress io.Writer) (unitviz.Network, error) {
	if err := ortrt.Init(cfg.Runtime.Library); err != nil {
		return unitviz.Network{}, err
	}
	b, err := cfg.Model.OpenBackbone(ctx, progress)
	if err != nil {
		return unitviz.Network{}, err
	}
	if err := checkUnitsMemory(cfg, b, layer, size); err != nil {
		return unitviz.Network{}, err
	}
	pre, err := cfg.Model.Preprocess.Models()
	if err != nil {
		return unitviz.Network{}, err
	}
	return unitviz.Network{
		Backbone: b, Pooling: cfg.Model.Pooling, Preprocess: pre,
		Session: ortrt.SessionOptions{Threads: cfg.Runtime.Threads, Device: cfg.Runtime.Device},
	}, nil
}

// checkUnitsMemory is OpenUnitsNetwork's memory check.
func checkUnitsMemory(cfg *Config, b *models.Backbone, layer string, size int) error {
	f, err := FootprintOf(b, []string{layer}, cfg, size, size, nil)
	if err != nil {
		return nil // an unknown layer: unitviz reports it
	}
	var limit int64
	if cfg.Runtime.MaxMemory != "" {
		if limit, err = sysmem.ParseMemory(cfg.Runtime.MaxMemory); err != nil {
			return fmt.Errorf("runtime.max_memory: %w", err)
		}
	}
	if _, err := CheckMemory(f, size, size, limit); err != nil {
		return &UnitsSizeError{Size: size, Err: err}
	}
	return nil
}

// UnitsTopOptions say what UnitsTop ranks, on which images, and where it
// writes the result.
type UnitsTopOptions struct {
	// Layer, Units, Top, PerImage and Inside are unitviz.TopOptions'.
	Layer    string
	Units    []int
	Top      int
	PerImage int
	Inside   bool
	// Images are the image files to search.
	Images []string
	// Size is the longer side, in pixels, images are resized to; 0 means
	// the config's size.
	Size int
	// Cell is unitviz.SheetOptions' cell size (0: from the field).
	Cell int
	// Sheet is the contact sheet to write (.png or .jpg), Listing its
	// JSON listing (unitviz.WriteListing).
	Sheet, Listing string
	// Progress receives a zoo download's progress; nil discards it.
	Progress io.Writer
}

// UnitsTop is nst units top: it opens cfg's backbone as a run would
// (OpenUnitsNetwork), checks the options (unitviz.TopOptions.Check) and
// that the contact sheet will not be too large (unitviz.CheckSheet), finds
// each unit's top patches (unitviz.Top) and writes the sheet, then the
// listing: a sheet with its listing beside it is complete. Images are read
// within cfg's limits.max_pixels. It writes nothing when ctx is cancelled
// before the patches are found; the error then wraps ctx's.
func UnitsTop(ctx context.Context, cfg *Config, o UnitsTopOptions) (*unitviz.TopResult, error) {
	if o.Size == 0 {
		o.Size = cfg.Size
	}
	if o.Size < 0 || o.Size > unitviz.MaxSize {
		return nil, fmt.Errorf("units top: size %d; want 0 (the config's size) or a long side of 1 to %d pixels", o.Size, unitviz.MaxSize)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	network, err := OpenUnitsNetwork(ctx, cfg, o.Layer, o.Size, o.Progress)
	if err != nil {
		return nil, err
	}
	slog.Info("units top", "layer", o.Layer, "units", len(o.Units), "images", len(o.Images), "size", o.Size)
	topOpts := unitviz.TopOptions{
		Network: network, Layer: o.Layer, Units: o.Units, Top: o.Top, PerImage: o.PerImage,
		Size: o.Size, MaxPixels: cfg.Limits.MaxPixels, Inside: o.Inside,
	}
	if err := topOpts.Check(len(o.Images)); err != nil {
		return nil, err
	}
	sheetOpts := unitviz.SheetOptions{Cell: o.Cell}
	if field, err := network.Backbone.ReceptiveField(o.Layer); err == nil {
		if err := unitviz.CheckSheet(len(o.Units), o.Top, field, sheetOpts); err != nil {
			return nil, err
		}
	}
	res, err := unitviz.Top(ctx, o.Images, topOpts)
	if err != nil {
		return nil, err
	}
	sheet, err := res.Sheet(sheetOpts)
	if err != nil {
		return nil, err
	}
	if err := imageio.Save(o.Sheet, sheet, "", 0); err != nil {
		return nil, err
	}
	if err := unitviz.WriteListing(o.Listing, res); err != nil {
		return nil, err
	}
	return res, nil
}

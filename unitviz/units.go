// Package units shows what single units of a backbone respond to, the view
// an artist choosing style and content layers wants:
//
//   - Top runs a folder of images through the backbone and keeps, for each
//     chosen unit (a channel of a layer), the image patches where it fires
//     most, each cropped to the unit's receptive field (Zeiler and Fergus,
//     "Visualizing and Understanding Convolutional Networks", 2014). Sheet
//     lays them out as a contact sheet; WriteListing records them as JSON.
//   - Dream synthesises an image that excites a unit, by gradient ascent on
//     its activation from noise with the regularisers that keep such images
//     readable: random jitter, periodic blur, total variation and the pixel
//     range (Erhan et al. 2009; Yosinski et al., "Understanding Neural
//     Networks Through Deep Visualization", 2015).
//
// Both run the backbone the way a style transfer run does (same model,
// pooling and preprocessing), through models.Net.
package unitviz

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nst-project/nst/internal/ortrt"
	"github.com/nst-project/nst/models"
)

// Network says which backbone to run and how, as a style transfer run
// does.
type Network struct {
	Backbone *models.Backbone
	// Pooling is models.PoolingMax or models.PoolingAvg.
	Pooling string
	// Preprocess maps [0,1] RGB pixels to the model's input.
	Preprocess models.Preprocess
	// Session configures ONNX Runtime.
	Session ortrt.SessionOptions
}

// prepare builds a Net that returns layers at w x h.
func (n Network) prepare(layers []string, w, h int, forwardOnly bool) (*models.Net, error) {
	if n.Backbone == nil {
		return nil, errors.New("no backbone")
	}
	return n.Backbone.Prepare(models.Options{
		Layers: layers, Pooling: n.Pooling, Height: h, Width: w,
		Preprocess: n.Preprocess, Session: n.Session, ForwardOnly: forwardOnly,
	})
}

// maxUnits bounds a unit list: a sheet of more units would be unreadable,
// and a typo such as 0-50000 should fail rather than run for hours.
const maxUnits = 4096

// ParseUnits reads a list of unit (channel) numbers written as
// comma-separated numbers and inclusive ranges: "5", "0-15", "0-3,8,12-13".
// Units keep the order written; a unit listed twice is an error.
func ParseUnits(s string) ([]int, error) {
	var units []int
	seen := map[int]bool{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		loText, hiText, isRange := strings.Cut(part, "-")
		lo, err := parseUnit(loText)
		if err != nil {
			return nil, fmt.Errorf("units %q: %w", s, err)
		}
		hi := lo
		if isRange {
			if hi, err = parseUnit(hiText); err != nil {
				return nil, fmt.Errorf("units %q: %w", s, err)
			}
			if hi < lo {
				return nil, fmt.Errorf("units %q: range %s runs backwards", s, part)
			}
		}
		if hi-lo >= maxUnits || len(units)+hi-lo >= maxUnits {
			return nil, fmt.Errorf("units %q: more than %d units", s, maxUnits)
		}
		for u := lo; u <= hi; u++ {
			if seen[u] {
				return nil, fmt.Errorf("units %q: unit %d is listed twice", s, u)
			}
			seen[u] = true
			units = append(units, u)
		}
	}
	return units, nil
}

// parseUnit reads one unit number.
func parseUnit(s string) (int, error) {
	s = strings.TrimSpace(s)
	u, err := strconv.Atoi(s)
	if err != nil || u < 0 {
		return 0, fmt.Errorf("%q is not a unit number (0, 1, 2, ...); write ranges as 0-15", s)
	}
	return u, nil
}

// MaxSize bounds the side, in pixels, of the images Top and Dream run
// through the network: a run's largest size (the config's size).
const MaxSize = 16384

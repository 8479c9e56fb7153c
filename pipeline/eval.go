package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nst-project/nst/internal/atomicfile"
	"github.com/nst-project/nst/record"
)

// EvalCosts is the content of costs.json written by Eval. Per-layer values
// are raw costs, before α, β and layer weights; Total is J as the optimiser
// sees it.
type EvalCosts struct {
	Content map[string]float64 `json:"content"`
	Style   map[string]float64 `json:"style"`
	TV      float64            `json:"tv"`
	Total   float64            `json:"total"`
}

// Eval evaluates the cost and its gradient once, at the initial image (of
// the first scale, with scales), and writes costs.json, image.npy (x,
// float32 [1,3,H,W] in [0,1]; [1,1,H,W], the luminance, with color:
// luminance) and grad.npy (dJ/dx) into dir.
func Eval(ctx context.Context, cfg *Config, dir string) error {
	e, err := newExperiment(ctx, cfg, nil)
	if err != nil {
		return interrupted(err)
	}
	defer e.Close()
	x, err := e.initImage()
	if err != nil {
		return err
	}
	grad := make([]float32, len(x))
	total, err := e.evaluate(ctx, x, grad)
	if err != nil {
		return interrupted(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("eval output: %w", err)
	}
	spec := e.objective.Spec()
	costs := EvalCosts{Content: map[string]float64{}, Style: map[string]float64{}, TV: e.costs.TV, Total: total}
	for i, l := range spec.Content {
		costs.Content[l.Name] = e.costs.Content[i]
	}
	for i, l := range spec.Style {
		costs.Style[l.Name] = e.costs.Style[i]
	}
	js, err := json.MarshalIndent(costs, "", "  ")
	if err != nil {
		return fmt.Errorf("encode costs: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "costs.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("write costs.json: %w", err)
	}
	shape := []int{1, e.color.channels(), e.height, e.width}
	if err := record.WriteNPY(filepath.Join(dir, "image.npy"), shape, x); err != nil {
		return err
	}
	return record.WriteNPY(filepath.Join(dir, "grad.npy"), shape, grad)
}

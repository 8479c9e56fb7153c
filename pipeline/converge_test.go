package pipeline_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nst-project/nst/pipeline"
	"github.com/nst-project/nst/record"
)

// TestConvergenceStopsEarly: with a loose tolerance the cost test ends a
// run on its last scale (the result is final.png, the manifest says where
// and why), and ends an earlier scale by moving on to the next one, whose
// steps are numbered from the earlier scale's planned end.
func TestConvergenceStopsEarly(t *testing.T) {
	tests := []struct {
		name      string
		sets      []string
		wantScale []int // scales the test ended, in order
		maxIters  int
	}{
		{"last scale", []string{"optimizer.iterations=40", "optimizer.tolerance=0.2", "optimizer.window=3"}, []int{0}, 39},
		{"earlier scale", []string{"scales=[{size: 16, iterations: 40}, {size: 32, iterations: 2}]", "optimizer.tolerance=0.2", "optimizer.window=3"}, []int{0}, 42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := pipeline.Run(context.Background(), tinyExternalConfig(t, tt.sets...), pipeline.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			m, err := record.ReadManifest(filepath.Join(res.Dir, record.ManifestName))
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Converged) != len(tt.wantScale) || m.Converged[0].Scale != tt.wantScale[0] || !(m.Converged[0].Change < 0.2) || m.Converged[0].Window != 3 {
				t.Fatalf("manifest converged %+v, want scales %v", m.Converged, tt.wantScale)
			}
			table, err := record.ReadCosts(filepath.Join(res.Dir, record.CostsCSVName))
			if err != nil {
				t.Fatal(err)
			}
			last := table.Iterations[len(table.Iterations)-1]
			if res.Iterations != last || res.Iterations > tt.maxIters || filepath.Base(res.Image) != "final.png" {
				t.Errorf("result %+v, last costs.csv row %d", res, last)
			}
			if tt.name == "earlier scale" {
				if last != 42 || table.Iterations[len(table.Iterations)-2] != 41 || m.Converged[0].Iteration >= 40 {
					t.Errorf("iterations %v: the second scale's steps should be 41 and 42", table.Iterations)
				}
			} else if m.Converged[0].Iteration != res.Iterations {
				t.Errorf("converged at %d, result says %d", m.Converged[0].Iteration, res.Iterations)
			}
		})
	}
}

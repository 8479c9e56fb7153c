package video

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/nst-project/nst/video/flow"
)

// TestSuppliedFlows: with video.flow_dir set, the user's .flo files are
// used as they are instead of computing the flow, and a missing or
// mis-sized file is an error naming it.
func TestSuppliedFlows(t *testing.T) {
	dir := t.TempDir()
	fwd, _ := flow.NewField(4, 3)
	back, _ := flow.NewField(4, 3)
	for i := range fwd.U {
		fwd.U[i], fwd.V[i], back.U[i], back.V[i] = 1.5, -0.5, -1.5, 0.5
	}
	if err := flow.SaveFlo(filepath.Join(dir, "f2_to_f1.flo"), fwd); err != nil {
		t.Fatal(err)
	}
	if err := flow.SaveFlo(filepath.Join(dir, "f1_to_f2.flo"), back); err != nil {
		t.Fatal(err)
	}
	img := flow.Image{C: 3, H: 3, W: 4, Pix: make([]float32, 36)}
	gotF, gotB, err := flows(t.Context(), dir, t.TempDir(), "f2", "f1", img, img)
	if err != nil {
		t.Fatal(err)
	}
	if gotF.U[5] != 1.5 || gotF.V[5] != -0.5 || gotB.U[5] != -1.5 || gotB.V[5] != 0.5 {
		t.Errorf("flows %v %v / %v %v, want the supplied ones", gotF.U[5], gotF.V[5], gotB.U[5], gotB.V[5])
	}
	if _, _, err := flows(t.Context(), dir, t.TempDir(), "f3", "f2", img, img); err == nil || !strings.Contains(err.Error(), "f3_to_f2.flo") {
		t.Errorf("missing file: %v", err)
	}
	big := flow.Image{C: 3, H: 6, W: 8, Pix: make([]float32, 144)}
	if _, _, err := flows(t.Context(), dir, t.TempDir(), "f2", "f1", big, big); err == nil || !strings.Contains(err.Error(), "4x3") {
		t.Errorf("wrong size: %v", err)
	}
}

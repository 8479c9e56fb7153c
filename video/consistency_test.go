package video

import (
	"context"
	"path/filepath"
	"testing"
)

// TestVideoTemporalCostStabilises: on a 10-frame pan (2 px a frame) the
// mean warping error of consecutive stylised frames, measured on the
// pixels the consistency check trusts, is at least 3× lower with the
// default temporal weight than without the temporal cost, both with the
// same warped-previous-frame start and with frames styled independently;
// and the temporal run still applies the style.
func TestVideoTemporalCostStabilises(t *testing.T) {
	model := writeTinyModel(t)
	dir := writePan(t, 10, 48, 32, 2)
	contents, err := filepath.Glob(filepath.Join(dir, "*.png"))
	if err != nil || len(contents) != 10 {
		t.Fatalf("pan frames: %v, %v", contents, err)
	}
	style := func(extra string) (float64, []string) {
		t.Helper()
		cfg := tinyVideoConfig(t, model, dir, 48, "video: {iterations_first: 40, iterations: 20"+extra+"}")
		res, err := Run(context.Background(), cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Frames) != 10 {
			t.Fatalf("%d stylised frames, want 10", len(res.Frames))
		}
		return meanWarpError(t, contents, res.Frames), res.Frames
	}
	withCost, outs := style("")
	for _, c := range []struct {
		name, extra string
	}{
		{"temporal_weight 0, warped start", ", temporal_weight: 0"},
		{"independent frames", ", temporal_weight: 0, init: content"},
	} {
		without, _ := style(c.extra)
		t.Logf("warping error: %.3g with the temporal cost, %.3g with %s (%.0f×)", withCost, without, c.name, without/withCost)
		if !(withCost*3 <= without) {
			t.Errorf("warping error %.3g with the temporal cost, %.3g with %s; want at least 3× lower", withCost, without, c.name)
		}
	}
	// The style still shows: the last frame is far from its content.
	last, w, h := loadTensor(t, outs[9])
	content, err := frameTensor(contents[9], w, h, 0)
	if err != nil {
		t.Fatal(err)
	}
	var d float64
	for i := range last {
		d += float64(last[i]-content[i]) * float64(last[i]-content[i])
	}
	if d /= float64(len(last)); d < 20*withCost {
		t.Errorf("last frame differs from its content by %.3g (mean squared); want the style to show (≥ %.3g)", d, 20*withCost)
	}
}

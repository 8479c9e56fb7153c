package models

import (
	"testing"

	"github.com/nst-project/nst/models/internal/trunks"
)

// TestForwardOnlySharesSession checks that a forward-only Net of another
// size runs on an open Net's forward session, gives the activations a Net
// of its own gives, and keeps working when the first Net closes; and that
// the first Net's own results do not change in between.
func TestForwardOnlySharesSession(t *testing.T) {
	b, err := SynthFrom(SynthSpec{Blocks: [][]int{{4}, {8}}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	layers := []string{"relu1_1", "relu2_1"}
	opts := func(h, w int, forwardOnly bool) Options {
		return Options{Layers: layers, Pooling: PoolingAvg, Height: h, Width: w, Preprocess: ImageNetPreprocess, ForwardOnly: forwardOnly, Session: ortrtOptions}
	}
	small := randImage(12, 20, 5)
	// Reference: a forward-only Net with a session of its own (nothing
	// to share yet).
	alone, err := b.Prepare(opts(12, 20, true))
	if err != nil {
		t.Fatal(err)
	}
	want := forwardCopy(t, alone, small)
	if err := alone.Close(); err != nil {
		t.Fatal(err)
	}

	full, err := b.Prepare(opts(16, 16, false))
	if err != nil {
		t.Fatal(err)
	}
	img := randImage(16, 16, 6)
	before := forwardCopy(t, full, img)
	shared, err := b.Prepare(opts(12, 20, true))
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	if shared.forward != full.forward {
		t.Errorf("forward-only Net created a session of its own while one could serve it")
	}
	checkSame(t, "shared session", forwardCopy(t, shared, small), want)
	checkSame(t, "full Net after the shared run", forwardCopy(t, full, img), before)
	if err := full.Close(); err != nil {
		t.Fatal(err)
	}
	checkSame(t, "shared Net after the full Net closed", forwardCopy(t, shared, small), want)
}

// forwardCopy runs n on img and copies the activations.
func forwardCopy(t *testing.T, n *Net, img []float32) [][]float32 {
	t.Helper()
	acts, err := n.Forward(img)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]float32, len(acts))
	for i, a := range acts {
		out[i] = append([]float32(nil), a.Data...)
	}
	return out
}

func checkSame(t *testing.T, what string, got, want [][]float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d activations, want %d", what, len(got), len(want))
	}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("%s: activation %d has %d values, want %d", what, i, len(got[i]), len(want[i]))
		}
		for j := range got[i] {
			if d := got[i][j] - want[i][j]; d > 1e-5 || d < -1e-5 {
				t.Fatalf("%s: activation %d value %d = %v, want %v", what, i, j, got[i][j], want[i][j])
			}
		}
	}
}

// TestSizeDependentForwardSharing checks a backbone whose graph computes
// shapes at run time (ShuffleNet's channel shuffle): its Nets' graphs are
// folded at their size, so a forward-only Net shares an open Net's
// session only at that Net's size, and at another size runs one of its
// own that gives what a Net of its own gives.
func TestSizeDependentForwardSharing(t *testing.T) {
	path, _ := writeTrunk(t, "shufflenet_v2_x1_0", trunks.Options{Seed: 3, Width: 0.125, Depth: 1})
	b, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	layers := []string{"stage2", "stage3"}
	opts := func(h, w int, forwardOnly bool) Options {
		return Options{Layers: layers, Height: h, Width: w, Preprocess: ImageNetPreprocess, ForwardOnly: forwardOnly, Session: ortrtOptions}
	}
	other := randImage(48, 40, 5)
	alone, err := b.Prepare(opts(48, 40, true))
	if err != nil {
		t.Fatal(err)
	}
	want := forwardCopy(t, alone, other)
	if err := alone.Close(); err != nil {
		t.Fatal(err)
	}
	full := prepare(t, b, opts(32, 32, false))
	img := randImage(32, 32, 6)
	before := forwardCopy(t, full, img)

	resized := prepare(t, b, opts(48, 40, true))
	if resized.forward == full.forward {
		t.Error("a forward-only Net of another size runs on a session folded for 32x32")
	}
	checkSame(t, "forward-only Net of another size", forwardCopy(t, resized, other), want)

	same := prepare(t, b, opts(32, 32, true))
	if same.forward != full.forward {
		t.Error("a forward-only Net of the same size created a session of its own")
	}
	checkSame(t, "forward-only Net of the same size", forwardCopy(t, same, img), before)
}

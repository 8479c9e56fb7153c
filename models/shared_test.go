package models

import (
	"testing"
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

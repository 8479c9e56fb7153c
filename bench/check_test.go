package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestCheckRefusesWhatDoesNotFit: sizes and MatMuls that would not fit in
// memory are refused before anything is allocated, naming the largest
// that fits (which does fit); absurd values are refused outright.
func TestCheckRefusesWhatDoesNotFit(t *testing.T) {
	const limit = 1 << 30
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"size above the config's", Options{Sizes: []int{20000}, MatMulSize: -1}, "bench: --sizes 20000: want 16 to 16384 pixels"},
		{"MatMul above the bound", Options{Sizes: []int{64}, MatMulSize: 100000}, "bench: --matmul 100000: want at most 32768 (or -1 to skip)"},
		{"MatMul over the memory", Options{Sizes: []int{64}, MatMulSize: 16384, MaxMemory: limit},
			"bench: --matmul 16384 needs about 4.3 GB of memory, more than the 1.1 GB set by --max-memory; the largest that fits is --matmul 8192"},
		{"size over the memory, untiled", Options{Sizes: []int{64, 4096}, MatMulSize: -1, MaxMemory: limit, Tile: "off"},
			"bench: --sizes 4096: a 4096x4096 run needs about"},
		{"size whose content image does not fit, tiles automatic", Options{Sizes: []int{16384}, MatMulSize: -1, MaxMemory: limit},
			"bench: --sizes 16384: making its 16384x16384 content image needs about 8.6 GB of memory, more than the 1.1 GB set by --max-memory"},
		{"size over the memory in tiles", Options{Sizes: []int{4096}, MatMulSize: -1, MaxMemory: 1 << 20, Tile: "512"},
			"bench: --sizes 4096 --tile 512: the tiled run needs about"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(context.Background(), tt.o)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Check: %v, want an error starting %q", err, tt.want)
			}
		})
	}
	// The size named as fitting fits, under the same limit.
	err := Check(context.Background(), Options{Sizes: []int{4096}, MatMulSize: -1, MaxMemory: limit, Tile: "off"})
	_, fit, ok := strings.Cut(err.Error(), "the largest size that fits is --sizes ")
	if !ok {
		t.Fatalf("%v: names no size that fits", err)
	}
	var size int
	if _, serr := fmt.Sscan(fit, &size); serr != nil || size < 16 || size >= 4096 {
		t.Fatalf("%v: largest fitting size %q", err, fit)
	}
	if err := Check(context.Background(), Options{Sizes: []int{size}, MatMulSize: -1, MaxMemory: limit, Tile: "off"}); err != nil {
		t.Errorf("the size named as fitting, %d, is refused: %v", size, err)
	}
	if err := Check(context.Background(), Options{Sizes: []int{size + 1}, MatMulSize: -1, MaxMemory: limit, Tile: "off"}); err == nil {
		t.Errorf("size %d, above the one named as the largest that fits, is accepted", size+1)
	}
}

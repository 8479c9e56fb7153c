package sysmem

import (
	"math"
	"testing"
)

func TestParseMemory(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		// pipeline.ParseMemory's cases: the behaviour moves unchanged.
		{"1200000000", 1_200_000_000, false},
		{"1.5GB", 1_500_000_000, false},
		{"800MiB", 800 << 20, false},
		{" 2 GiB ", 2 << 30, false},
		{"512KB", 512_000, false},
		{"100B", 100, false},
		{"", 0, true},
		{"lots", 0, true},
		{"-1GB", 0, true},
		{"1.5XB", 0, true},
		// Further edges.
		{"1TiB", 1 << 40, false},
		{"2TB", 2e12, false},
		{"0", 0, false},
		{"1e3", 1000, false},
		{"GB", 0, true},
		{"NaN", 0, true}, // pipeline's returned a negative size
		{"NaNGB", 0, true},
		{"Inf", 0, true},
		{"+Inf MB", 0, true},
		{"4611686018427387904", 1 << 62, false}, // 2^62, the largest taken
		{"4194304TiB", 1 << 62, false},
		{"4194305TiB", 0, true},
		{"1e19", 0, true},
		{"1 GB extra", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseMemory(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 MB"},
		{499_999, "0 MB"},
		{500_000, "1 MB"},
		{812_345_678, "812 MB"},
		{999_999_999, "1000 MB"},
		{1_000_000_000, "1.0 GB"},
		{3_250_000_000, "3.2 GB"},
		{math.MaxInt64, "9223372036.9 GB"},
	}
	for _, tt := range tests {
		if got := Format(tt.n); got != tt.want {
			t.Errorf("Format(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// FuzzParseMemory checks that no input panics and that every size taken
// is within the documented range.
func FuzzParseMemory(f *testing.F) {
	for _, s := range []string{"1.5GB", "800MiB", "NaN", "-0", "1e308TiB", "0x10p3KB", " B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := ParseMemory(s); err == nil && (v < 0 || v > 1<<62) {
			t.Errorf("ParseMemory(%q) = %d", s, v)
		}
	})
}

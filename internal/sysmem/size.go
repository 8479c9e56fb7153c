package sysmem

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseMemory reads a memory size as runtime.max_memory gives it: bytes,
// or a number with a unit (KB, MB, GB, TB in powers of 1000; KiB, MiB,
// GiB, TiB in powers of 1024), such as 1.5GB or 800MiB. Negative, infinite
// and not-a-number sizes, and sizes over 2^62 bytes, are refused.
// It is pipeline.ParseMemory moved here, except that it refuses "NaN",
// which pipeline's accepted as a negative size.
func ParseMemory(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		scale  float64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
	}
	scale := 1.0
	for _, u := range units {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, scale = strings.TrimSpace(rest), u.scale
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	// !(v >= 0) also refuses NaN, which compares false with everything.
	if err != nil || !(v >= 0) || math.IsInf(v, 0) || v*scale > math.MaxInt64/2 {
		return 0, fmt.Errorf("memory size %q: want bytes or a number with KB, MB, GB, KiB, MiB or GiB, for example 1.5GB", s)
	}
	return int64(v * scale), nil
}

// Format writes a size in MB or GB (powers of 1000), as people read them
// off a machine's specification: "812 MB", "3.2 GB". It is pipeline's
// formatBytes moved here, unchanged.
func Format(n int64) string {
	if n >= 1e9 {
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	}
	return fmt.Sprintf("%d MB", (n+5e5)/1e6)
}

package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRunRefusesWhatDoesNotFitMaxMemory(t *testing.T) {
	tests := []struct {
		name, limit, size, tile string
		want                    string // in the error; "" for none
	}{
		{"nothing fits", "1MB", "32", "auto", "no size fits"},
		{"a smaller size fits", "1.3GB", "2048", "off", "the largest size that fits is"},
		{"in tiles, it fits", "1.3GB", "2048", "auto", ""},
		{"generous limit", "8GB", "32", "auto", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tinyConfig(t, "", "runtime.max_memory="+tt.limit, "size="+tt.size, "runtime.tile="+tt.tile, "optimizer.iterations=1")
			_, err := Run(context.Background(), cfg, RunOptions{})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var me *MemoryError
			if !errors.As(err, &me) {
				t.Fatalf("error %v, want a *MemoryError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
	if _, err := LoadConfig(writeConfig(t, minimal+"runtime: {max_memory: lots}\n"), nil); err == nil || !strings.Contains(err.Error(), "runtime.max_memory") {
		t.Errorf("max_memory: lots: error %v", err)
	}
}

package suggest

import "testing"

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"relu4_2", "relu4_2", 0},
		{"relu4_2", "relu4_1", 1},
		{"kitten", "sitting", 3},
		{"iterations", "iteratoins", 2},
		{"größe", "grüße", 1},
	}
	for _, tt := range tests {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestNearest(t *testing.T) {
	keys := []string{"iterations", "lr", "name", "history"}
	tests := []struct {
		name string
		want string
		ok   bool
	}{
		{"iteratons", "iterations", true},
		{"Name", "name", true},
		{"zzzzzzzzzz", "", false},
	}
	for _, tt := range tests {
		got, ok := Nearest(tt.name, keys)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("Nearest(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// Package layering holds the test that keeps nst's imports in the
// direction docs/design.md's package map gives.
package layering

// Package suggest finds the nearest valid name to a misspelt one, so that
// error messages about unknown config keys and layer names can say what the
// user probably meant.
package suggest

import "strings"

// Nearest returns the candidate closest to name by edit distance, and false
// when none is close enough to be a plausible typo (more than a third of the
// longer name would have to change).
func Nearest(name string, candidates []string) (string, bool) {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := distance(strings.ToLower(name), strings.ToLower(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist < 0 {
		return "", false
	}
	limit := max(len(name), len(best))/3 + 1
	return best, bestDist <= limit
}

// Hint is " (did you mean NAME?)" for the candidate nearest to name, or ""
// when none is near.
func Hint(name string, candidates []string) string {
	if s, ok := Nearest(name, candidates); ok {
		return " (did you mean " + s + "?)"
	}
	return ""
}

// distance is the Levenshtein distance between a and b, counted in runes.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

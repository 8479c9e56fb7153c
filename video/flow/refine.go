package flow

import "math"

// candidateOffsets are the distances, along each axis in both directions, at
// which refine borrows a neighbour's flow as a candidate for a pixel.
var candidateOffsets = [...]int{1, 2, 4, 8}

// patchRadius is the half-width of the square patch refine compares. A 3×3
// patch is the smallest that still tells textures apart; each step larger
// lets a patch straddling an object's edge prefer the object's flow one
// pixel further out.
const patchRadius = 1

// refineThreshold is the flow difference, in pixels of the level, between a
// pixel and a neighbour at most triggerReach away above which refine tests
// the pixel's candidates. Smooth motion (zoom, rotation) changes the flow
// by a few hundredths of a pixel per pixel, so it triggers nothing; the
// ramps and steps at object edges change it by a pixel or more.
const refineThreshold = 0.5

// triggerReach is the farthest candidate offset whose difference triggers
// refinement.
const triggerReach = 2

// refine sharpens motion boundaries. Where the flow changes (a neighbour
// within triggerReach differs from the pixel's own flow by more than
// refineThreshold in either component), it compares the pixel's patch in
// i0 with the patch in i1 that each candidate flow points to, and keeps the
// flow of the best match: the pixel's own or that of a neighbour at one of
// candidateOffsets. It runs at the end of every pyramid level.
//
// Why: coarse-to-fine TV-L1 smears the flow of a moving object a few pixels
// into the background beside it, most where the object covers or uncovers
// background. Total variation is indifferent between a ramp and a step, and
// the linearised data term cannot see a correct flow several pixels away,
// so nothing later removes the smear, and the consistency check then marks
// visible background as disoccluded. Testing the flows found nearby, as
// PatchMatch's propagation step does, moves the boundary back to the image
// evidence; below the full-size level, the next level's warps regularise
// the result again.
func refine(i0, i1, u1, u2 plane, r rows) (plane, plane) {
	w, h := i0.w, i0.h
	n1, n2 := newPlane(w, h), newPlane(w, h)
	copy(n1.p, u1.p)
	copy(n2.p, u2.p)
	r.do(h, func(y0, y1 int) float64 {
		var cu, cv [1 + 4*len(candidateOffsets)]float32
		for y := y0; y < y1; y++ {
			for x := 0; x < w; x++ {
				i := y*w + x
				a, b := u1.p[i], u2.p[i]
				k := 0
				cu[k], cv[k] = a, b
				k++
				varies := false
				for _, d := range candidateOffsets {
					for _, q := range [4][2]int{{x - d, y}, {x + d, y}, {x, y - d}, {x, y + d}} {
						if q[0] < 0 || q[1] < 0 || q[0] >= w || q[1] >= h {
							continue
						}
						j := q[1]*w + q[0]
						ca, cb := u1.p[j], u2.p[j]
						if d <= triggerReach && (abs32(ca-a) > refineThreshold || abs32(cb-b) > refineThreshold) {
							varies = true
						}
						cu[k], cv[k] = ca, cb
						k++
					}
				}
				if !varies {
					continue
				}
				best, bestCost := 0, float32(math.Inf(1))
				for c := 0; c < k; c++ {
					if cost := patchCost(i0, i1, x, y, cu[c], cv[c], bestCost); cost < bestCost {
						best, bestCost = c, cost
					}
				}
				n1.p[i], n2.p[i] = cu[best], cv[best]
			}
		}
		return 0
	})
	return n1, n2
}

// outsideCost is what one patch sample that a flow carries out of the frame
// adds to its cost: half the working range, worse than a typical mismatch,
// so that a flow agreeing with the images inside the frame wins.
const outsideCost = 128

// patchCost returns the sum of absolute differences between the patch of i0
// around (x, y) and the patch of i1 the flow (u, v) points to, sampled
// bilinearly. It stops early, returning a value not below limit, once the
// sum reaches limit.
func patchCost(i0, i1 plane, x, y int, u, v, limit float32) float32 {
	w, h := i0.w, i0.h
	var sum float32
	for dy := -patchRadius; dy <= patchRadius; dy++ {
		py := min(max(y+dy, 0), h-1)
		for dx := -patchRadius; dx <= patchRadius; dx++ {
			px := min(max(x+dx, 0), w-1)
			tx, ty := float32(px)+u, float32(py)+v
			if !inside(tx, ty, w, h) {
				sum += outsideCost
				continue
			}
			sum += abs32(i0.p[py*w+px] - newSampler(tx, ty, w, h).at(i1.p))
		}
		if sum >= limit {
			return sum
		}
	}
	return sum
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// Package flow computes dense optical flow between video frames and the
// pieces of Ruder, Dosovitskiy and Brox's temporal cost ("Artistic style
// transfer for videos", 2016) that sit below the style-transfer run loop:
// backward warping, forward–backward consistency weights, long-term weights
// and the temporal cost with its gradient.
//
// # Flow method
//
// Compute implements TV-L1 optical flow (Zach, Pock and Bischof, "A duality
// based approach for realtime TV-L1 optical flow", 2007, with the
// improvements of Wedel, Pock, Zach, Bischof and Cremers, "An improved
// algorithm for TV-L1 optical flow", 2009): the energy
//
//	E(w) = ∫ |∇u| + |∇v| + λ·|I₁(x + w(x)) − I₀(x)| dx
//
// is linearised around the current flow, split by a quadratic coupling term
// into a total-variation denoising problem (solved by Chambolle's dual
// projection) and a pointwise L1 problem (solved in closed form by
// thresholding), and minimised coarse to fine over an image pyramid with
// several warps per level and a 3×3 median filter on the flow after each
// warp.
//
// One step is added to the published method: at the end of each level,
// pixels where the flow changes test the flows of neighbours up to 8 pixels
// away against a 3×3 patch comparison and keep the best (PatchMatch's
// propagation step). Coarse-to-fine TV-L1 otherwise smears a moving
// object's flow a few pixels into the background it covers or uncovers,
// and the consistency check then marks visible background as disoccluded.
//
// TV-L1 was chosen over Horn–Schunck with robust penalties because its
// absolute-value data term and total-variation regulariser keep motion
// boundaries sharp, which the consistency check needs to find disoccluded
// regions, and because each of its iterations is a fixed stencil with no
// linear system to solve, so the work splits across goroutines by rows with
// nothing shared but two barriers per iteration.
//
// Frames are reduced to luminance (Rec. 601 weights), smoothed slightly
// and, the two together, stretched to the range 0–255, in which the default
// parameters (those of Sánchez, Meinhardt-Llopis and Facciolo's IPOL
// description of the method) are tuned.
//
// Like every coarse-to-fine method, TV-L1 can lose an object that is small
// compared with its own motion (at the coarsest level it is a pixel or two
// moving as far); the consistency check then marks it unreliable rather
// than trusting a wrong warp.
//
// # Conventions
//
// A Field w computed from frame a to frame b says where each pixel of a is
// found in b: a(x) ≈ b(x + w(x)), with U the horizontal (x, to the right)
// and V the vertical (y, downwards) component in pixels. Warping b by w
// (Warp) therefore gives an image aligned with a. For the temporal cost of
// frame i, the stylised frame i−1 is warped by the flow from frame i to frame
// i−1, and the consistency weights use that flow together with the flow from
// frame i−1 to frame i.
package flow

// Package losses computes the costs that steer neural style transfer
// (Gatys et al.) and their gradients: content, style and total variation.
//
// For a layer with nC channels of nH×nW activations a (batch 1, NCHW, as
// ONNX Runtime returns them):
//
//	J_content = 1/(4·nH·nW·nC) · Σ (a_C − a_G)²
//	J_style   = 1/(4·nC²·(nH·nW)²) · Σ (G_S − G_G)²,  G = A·Aᵀ
//	J         = α·Σ_l w_l·J_content^l + β·Σ_l λ_l·J_style^l + tv·J_tv
//
// where A = [nC, nH·nW] is the activation read channel-first: row c of A is
// channel c's plane, exactly the NCHW data. (Reading [nH·nW, nC] data, the
// layout of HWC frameworks, as [nC, nH·nW] is the classic bug; the tests use
// shapes where nC, nH and nW all differ so that it cannot pass.)
//
// The style image may differ in size from the generated one, so the style
// cost is computed on size-normalised Grams Ĝ = A·Aᵀ/M with M = nH·nW of the
// image the Gram comes from:
//
//	J_style = 1/(4·nC²) · Σ (Ĝ_S − Ĝ_G)²
//
// which is exactly the formula above when M_S = M_G, and compares the
// per-position feature correlations otherwise. Several style images blend
// their normalised Grams with weights that are normalised to sum 1.
//
// A style image may also be restricted to a region of the generated image
// by a mask (spatial control, Gatys et al. 2017): its term then compares a
// guided Gram, of the activations weighted by the mask, with the style's
// own Gram. See SetGuidedStyleTargets and guided.go for the formulas.
//
// An Objective holds the targets (computed once per run) and the buffers of
// one iteration; Eval writes the gradients into caller-owned buffers and
// allocates nothing. EvalInPlace writes them over the activations instead,
// saving buffers as large as all of them: plain style gradients go through
// column blocks of about 1 MiB, masked ones through one layer-sized buffer.
// The heavy products (about 2·nC²·nH·nW flops for each Gram and for each
// gradient) go through a Kernel, so that a fast implementation
// (internal/gemm's ONNX Runtime kernel) and a plain-Go reference are
// interchangeable.
package losses

// Activation is one layer's output for a batch of one image: C channel planes
// of H×W values each, channel-major (NCHW). Its fields match the models
// package's activations, so the pipeline converts by copying the header.
type Activation struct {
	Name    string
	C, H, W int
	Data    []float32
}

// Kernel computes the dense products of the style cost on row-major float32
// matrices. dst must not overlap the inputs, and slice lengths must equal the
// products of their dimensions.
//
// A kernel that keeps state per buffer (internal/gemm's ORT kernel caches
// tensor wrappers, which keep their buffers alive) may also implement
// Forget(data []float32); the Objective calls it for buffers it will not
// pass again: the style images' activations and replaced scratch buffers.
type Kernel interface {
	// Gram sets dst[rows×rows] = a·aᵀ for a[rows×cols].
	Gram(dst, a []float32, rows, cols int) error
	// MatMul sets dst[m×n] = a[m×k]·b[k×n].
	MatMul(dst, a, b []float32, m, k, n int) error
}

// forgetter is the optional Forget method described on Kernel.
type forgetter interface {
	Forget(data []float32)
}

// Layer names a backbone layer and the weight of its cost.
type Layer struct {
	Name   string
	Weight float64
}

// Spec selects the cost terms and their weights.
type Spec struct {
	// Content are the content layers and their weights w_l.
	Content []Layer
	// Style are the style layers and their weights λ_l.
	Style []Layer
	// Alpha, Beta and TV weigh the content, style and total-variation costs.
	Alpha, Beta, TV float64
}

// Costs reports one iteration's costs. Slices are indexed like the Spec's
// layers. Raw costs are before any weight.
type Costs struct {
	// Content holds J_content of each content layer.
	Content []float64
	// Style holds J_style of each style layer.
	Style []float64
	// TV is J_tv of the image; zero until AddTV is called for the iteration.
	TV float64
	// ContentTotal is Σ w_l·Content[l].
	ContentTotal float64
	// StyleTotal is Σ λ_l·Style[l].
	StyleTotal float64
	// Total is α·ContentTotal + β·StyleTotal + tv·TV.
	Total float64
}

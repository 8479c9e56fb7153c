// Package models turns a pretrained ConvNet in ONNX form into what style
// transfer needs from it: the activations at chosen layers for an image, and
// the gradient of a cost with respect to the image's pixels. ONNX Runtime does
// the heavy work both ways; this package prepares the graphs it runs.
//
// A Backbone is a model loaded once (Load for a file, Synth for the built-in
// random-weight VGG) and normalised into a canonical form: ai.onnx opset 17
// semantics whatever opset the file was exported with (old attribute forms of
// Clip, Pad, Reshape, Dropout, BatchNormalization and others become inputs or
// disappear), Constant nodes become initializers, Identity and Dropout nodes
// are bypassed, and the image input's height and width are freed so any size
// runs. A graph whose input is a volume, [1,C,D,H,W] (3-D convolutions; the
// built-in random-weight SynthVolume), is a volume backbone: its Nets take
// Options.Depth and return activations with the depth folded into H. Layers get names: the conventional conv1_1 ... pool5 derived from the
// order of convolution, activation and pooling nodes for VGG-style chains,
// raw ONNX tensor names for other graphs, and in both cases the names of
// the file's graph outputs (scripts/export_backbone.py names a trunk's
// stages that way).
//
// Prepare cuts the canonical graph after the deepest requested layer, swaps
// max for average pooling when asked, folds shapes computed at run time
// (dynamic-size exports) into constants for the image size, has package
// autodiff generate the backward graph, and opens two ONNX Runtime sessions whose tensors are
// allocated once: a Net. Net.Forward and Net.Backward then run without
// allocating in Go.
//
// ONNX files are read and written with the protobuf types generated from
// onnx.proto in github.com/advancedclimatesystems/gonnx/onnx (through
// internal/onnxgraph); docs/design.md, "ONNX files", says why.
//
// Loading treats the file as untrusted: external-data references that leave
// the model's folder are refused, tensor sizes are bounded before anything is
// allocated for them, and damaged files give errors naming the file.
package models

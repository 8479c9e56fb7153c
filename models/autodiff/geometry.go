package autodiff

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// window is the resolved geometry of a Conv or pooling node along its
// spatial axes: explicit pads whatever auto_pad said, and the output sizes.
type window struct {
	kernel    []int64
	strides   []int64
	dilations []int64
	padBegin  []int64
	padEnd    []int64
	out       []int64
}

// extent is the span of input covered by one window along axis i.
func (w window) extent(i int) int64 {
	return w.dilations[i]*(w.kernel[i]-1) + 1
}

// unitStrides reports whether every stride is 1.
func (w window) unitStrides() bool {
	for _, s := range w.strides {
		if s != 1 {
			return false
		}
	}
	return true
}

// overlapping reports whether two windows can share an input element.
func (w window) overlapping() bool {
	for i := range w.kernel {
		if w.strides[i] < w.extent(i) {
			return true
		}
	}
	return false
}

// windowAttrs reads kernel-relative attributes shared by Conv and pooling,
// with ONNX's defaults, and validates their lengths.
func windowAttrs(n *onnx.NodeProto, kernel []int64) (window, error) {
	r := len(kernel)
	w := window{kernel: kernel}
	w.strides = onnxgraph.AttrInts(n, "strides", nil)
	if len(w.strides) == 0 {
		w.strides = ones64(r)
	}
	w.dilations = onnxgraph.AttrInts(n, "dilations", nil)
	if len(w.dilations) == 0 {
		w.dilations = ones64(r)
	}
	pads := onnxgraph.AttrInts(n, "pads", nil)
	if len(pads) == 0 {
		pads = make([]int64, 2*r)
	}
	if len(w.strides) != r || len(w.dilations) != r || len(pads) != 2*r {
		return window{}, fmt.Errorf("strides %v, dilations %v or pads %v do not match a %d-d kernel", w.strides, w.dilations, pads, r)
	}
	for i := range r {
		if kernel[i] <= 0 || w.strides[i] <= 0 || w.dilations[i] <= 0 {
			return window{}, fmt.Errorf("kernel %v, strides %v and dilations %v must be positive", kernel, w.strides, w.dilations)
		}
		if pads[i] < 0 || pads[r+i] < 0 {
			return window{}, fmt.Errorf("negative pads %v", pads)
		}
	}
	w.padBegin = append([]int64(nil), pads[:r]...)
	w.padEnd = append([]int64(nil), pads[r:]...)
	return w, nil
}

// convWindow resolves a Conv's geometry for spatial input sizes in, as ONNX
// Runtime does: SAME_* pads total (out-1)*stride + extent - in, the odd one
// at the end for SAME_UPPER and at the beginning for SAME_LOWER.
func convWindow(n *onnx.NodeProto, in, kernel []int64) (window, error) {
	if len(in) != len(kernel) {
		return window{}, fmt.Errorf("%d spatial input dims for a %d-d kernel", len(in), len(kernel))
	}
	w, err := windowAttrs(n, kernel)
	if err != nil {
		return window{}, err
	}
	autoPad := onnxgraph.AttrString(n, "auto_pad", "NOTSET")
	if autoPad != "NOTSET" && autoPad != "" && onnxgraph.Attr(n, "pads") != nil {
		// ONNX Runtime refuses such a Conv when it creates the session.
		return window{}, fmt.Errorf("both auto_pad %s and pads are set", autoPad)
	}
	w.out = make([]int64, len(in))
	for i := range in {
		ext := w.extent(i)
		switch autoPad {
		case "NOTSET", "":
			num := in[i] + w.padBegin[i] + w.padEnd[i] - ext
			if num < 0 {
				return window{}, fmt.Errorf("padded input %d is smaller than the kernel extent %d on spatial axis %d", in[i]+w.padBegin[i]+w.padEnd[i], ext, i)
			}
			w.out[i] = num/w.strides[i] + 1
		case "VALID":
			w.padBegin[i], w.padEnd[i] = 0, 0
			if in[i] < ext {
				return window{}, fmt.Errorf("input %d is smaller than the kernel extent %d on spatial axis %d", in[i], ext, i)
			}
			w.out[i] = (in[i]-ext)/w.strides[i] + 1
		case "SAME_UPPER", "SAME_LOWER":
			w.out[i] = ceilDiv(in[i], w.strides[i])
			need := max((w.out[i]-1)*w.strides[i]+ext-in[i], 0)
			if autoPad == "SAME_LOWER" {
				w.padBegin[i] = (need + 1) / 2
			} else {
				w.padBegin[i] = need / 2
			}
			w.padEnd[i] = need - w.padBegin[i]
		default:
			return window{}, fmt.Errorf("auto_pad %q: want NOTSET, VALID, SAME_UPPER or SAME_LOWER", autoPad)
		}
	}
	return w, nil
}

// poolWindow resolves a MaxPool or AveragePool's geometry for spatial input
// sizes in, following ONNX Runtime 1.24: ceil_mode rounds the window count
// up but drops a last window that would start in the end padding, and
// SAME_* pads are computed from the undilated kernel.
func poolWindow(n *onnx.NodeProto, in []int64) (window, error) {
	kernel := onnxgraph.AttrInts(n, "kernel_shape", nil)
	if len(kernel) == 0 {
		return window{}, fmt.Errorf("missing kernel_shape")
	}
	if len(in) != len(kernel) {
		return window{}, fmt.Errorf("%d spatial input dims for kernel_shape %v", len(in), kernel)
	}
	w, err := windowAttrs(n, append([]int64(nil), kernel...))
	if err != nil {
		return window{}, err
	}
	for i, k := range w.kernel {
		if w.padBegin[i] >= k || w.padEnd[i] >= k {
			return window{}, fmt.Errorf("pads %v must be smaller than kernel_shape %v", onnxgraph.AttrInts(n, "pads", nil), w.kernel)
		}
	}
	ceil := onnxgraph.AttrInt(n, "ceil_mode", 0) != 0
	autoPad := onnxgraph.AttrString(n, "auto_pad", "NOTSET")
	w.out = make([]int64, len(in))
	for i := range in {
		var total int64
		switch autoPad {
		case "NOTSET", "":
			total = w.padBegin[i] + w.padEnd[i]
		case "VALID":
			w.padBegin[i], w.padEnd[i] = 0, 0
		case "SAME_UPPER", "SAME_LOWER":
			target := ceilDiv(in[i], w.strides[i])
			total = (target-1)*w.strides[i] + w.kernel[i] - in[i]
			if autoPad == "SAME_LOWER" {
				w.padBegin[i] = (total + 1) / 2
			} else {
				w.padBegin[i] = total / 2
			}
			w.padEnd[i] = total - w.padBegin[i]
		default:
			return window{}, fmt.Errorf("auto_pad %q: want NOTSET, VALID, SAME_UPPER or SAME_LOWER", autoPad)
		}
		num := in[i] + total - w.extent(i)
		if num < 0 {
			return window{}, fmt.Errorf("padded input %d is smaller than the kernel extent %d on spatial axis %d", in[i]+total, w.extent(i), i)
		}
		if ceil {
			w.out[i] = ceilDiv(num, w.strides[i]) + 1
			if (w.out[i]-1)*w.strides[i] >= in[i]+w.padBegin[i] {
				w.out[i]--
			}
		} else {
			w.out[i] = num/w.strides[i] + 1
		}
	}
	return w, nil
}

// ceilDiv is ceil(a/b) for a >= 0, b > 0.
func ceilDiv(a, b int64) int64 {
	return (a + b - 1) / b
}

func ones64(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

package models

import (
	"fmt"
	"math"
)

// Preprocess maps an RGB image x with values in [0,1] to the model's input:
//
//	input = (x*Scale - Mean) / Std
//
// per channel, then channels reordered to B, G, R when BGR is set. Mean and
// Std are indexed by the RGB channel of x whatever the model's order: the
// caffe mean usually printed in BGR order as [103.939, 116.779, 123.68] is
// Mean {123.68, 116.779, 103.939} with Scale 255 and BGR set. The zero
// Preprocess passes the image through unchanged.
type Preprocess struct {
	Mean, Std [3]float32
	Scale     float32
	BGR       bool
}

// ImageNetPreprocess is what torchvision's pretrained models and the ONNX
// model zoo's vgg16-7 and vgg19-7 expect: RGB, ImageNet mean and standard
// deviation on [0,1] values.
var ImageNetPreprocess = Preprocess{Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225}, Scale: 1}

// affine is a Preprocess reduced to input[k] = x[src[k]]*mul[k] + add[k]
// for model channel k.
type affine struct {
	src      [3]int
	mul, add [3]float32
	// identity passes the input through unchanged, whatever its channel
	// count (inputs other than RGB).
	identity bool
}

// compile validates p and reduces it to an affine map.
func (p Preprocess) compile() (affine, error) {
	if p == (Preprocess{}) {
		p = Preprocess{Std: [3]float32{1, 1, 1}, Scale: 1}
	}
	if p.Scale == 0 || math.IsNaN(float64(p.Scale)) || math.IsInf(float64(p.Scale), 0) {
		return affine{}, fmt.Errorf("preprocess scale %v: want a finite non-zero number", p.Scale)
	}
	var a affine
	for c := range 3 {
		std, mean := p.Std[c], p.Mean[c]
		if std == 0 || math.IsNaN(float64(std)) || math.IsInf(float64(std), 0) || math.IsNaN(float64(mean)) || math.IsInf(float64(mean), 0) {
			return affine{}, fmt.Errorf("preprocess mean %v, std %v: want finite numbers, std non-zero", p.Mean, p.Std)
		}
		k := c
		if p.BGR {
			k = 2 - c
		}
		a.src[k] = c
		a.mul[k] = p.Scale / std
		a.add[k] = -mean / std
	}
	return a, nil
}

// apply writes the model input for img (both [3,H*W] planes) into dst.
func (a *affine) apply(dst, img []float32) {
	if a.identity {
		copy(dst, img)
		return
	}
	plane := len(img) / 3
	for k := range 3 {
		src := img[a.src[k]*plane : (a.src[k]+1)*plane]
		out := dst[k*plane : (k+1)*plane]
		mul, add := a.mul[k], a.add[k]
		for i, v := range src {
			out[i] = v*mul + add
		}
	}
}

// backprop turns dJ/d(model input) into dJ/d(img): the chain rule of apply.
func (a *affine) backprop(dimg, dinput []float32) {
	if a.identity {
		copy(dimg, dinput)
		return
	}
	plane := len(dinput) / 3
	for k := range 3 {
		in := dinput[k*plane : (k+1)*plane]
		out := dimg[a.src[k]*plane : (a.src[k]+1)*plane]
		mul := a.mul[k]
		for i, v := range in {
			out[i] = v * mul
		}
	}
}

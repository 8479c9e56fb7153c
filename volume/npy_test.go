package volume

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// npyFile builds a .npy file by hand, independently of WriteNPY: magic,
// version major.0, the header length field of that version and the dict
// padded to 64 bytes, then data.
func npyFile(major byte, dict string, data []byte) []byte {
	prefix := 10
	if major >= 2 {
		prefix = 12
	}
	pad := (64 - (prefix+len(dict)+1)%64) % 64
	h := dict + strings.Repeat(" ", pad) + "\n"
	b := []byte("\x93NUMPY")
	b = append(b, major, 0)
	if major >= 2 {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(h)))
	} else {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(h)))
	}
	return append(append(b, h...), data...)
}

func header(descr, shape string) string {
	return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }"
}

func f32le(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func f32be(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.BigEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func f64(order binary.AppendByteOrder, v ...float64) []byte {
	var b []byte
	for _, x := range v {
		b = order.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

func writeTemp(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "v.npy")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadNPY(t *testing.T) {
	tests := []struct {
		name       string
		file       []byte
		d, h, w, c int
		want       []float32
		dtype      string
	}{
		{
			name: "uint8 [2,2,2] scaled by 1/255",
			file: npyFile(1, header("|u1", "(2, 2, 2)"), []byte{0, 51, 102, 153, 204, 255, 1, 128}),
			d:    2, h: 2, w: 2, c: 1, dtype: "|u1",
			want: []float32{0, 0.2, 0.4, 0.6, 0.8, 1, 1.0 / 255, 128.0 / 255},
		},
		{
			name: "float32 little-endian RGB [1,1,2,3]",
			file: npyFile(1, header("<f4", "(1, 1, 2, 3)"), f32le(0.1, 0.2, 0.3, -1, 2.5, 0)),
			d:    1, h: 1, w: 2, c: 3, dtype: "<f4",
			want: []float32{0.1, 0.2, 0.3, -1, 2.5, 0},
		},
		{
			name: "float32 big-endian [3,1,1]",
			file: npyFile(1, header(">f4", "(3, 1, 1)"), f32be(1, -0.5, 0.25)),
			d:    3, h: 1, w: 1, c: 1, dtype: ">f4",
			want: []float32{1, -0.5, 0.25},
		},
		{
			name: "float64 little-endian [1,2,2] converted",
			file: npyFile(1, header("<f8", "(1, 2, 2)"), f64(binary.LittleEndian, 0.5, -1.25, 0.1, 3)),
			d:    1, h: 2, w: 2, c: 1, dtype: "<f8",
			want: []float32{0.5, -1.25, 0.1, 3},
		},
		{
			name: "float64 big-endian [1,1,1,1]",
			file: npyFile(1, header(">f8", "(1, 1, 1, 1)"), f64(binary.BigEndian, 0.75)),
			d:    1, h: 1, w: 1, c: 1, dtype: ">f8",
			want: []float32{0.75},
		},
		{
			name: "format 2.0",
			file: npyFile(2, header("<f4", "(1, 1, 2)"), f32le(7, 8)),
			d:    1, h: 1, w: 2, c: 1, dtype: "<f4",
			want: []float32{7, 8},
		},
		{
			name: "format 3.0, keys reordered, Python 2 longs, no trailing comma",
			file: npyFile(3, "{ \"shape\" : (1L, 2L, 1L),'fortran_order':False,'descr':'u1' }", []byte{255, 0}),
			d:    1, h: 2, w: 1, c: 1, dtype: "u1",
			want: []float32{1, 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, info, err := ReadNPY(writeTemp(t, tc.file), ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if v.D != tc.d || v.H != tc.h || v.W != tc.w || v.C != tc.c || info.DType != tc.dtype {
				t.Fatalf("shape %d×%d×%d×%d dtype %q, want %d×%d×%d×%d %q", v.D, v.H, v.W, v.C, info.DType, tc.d, tc.h, tc.w, tc.c, tc.dtype)
			}
			for i, w := range tc.want {
				if v.Data[i] != w {
					t.Errorf("value %d = %v, want %v", i, v.Data[i], w)
				}
			}
		})
	}
}

func TestReadNPYErrors(t *testing.T) {
	f4 := func(shape string, n int) []byte { return npyFile(1, header("<f4", shape), make([]byte, 4*n)) }
	v2Long := []byte("\x93NUMPY\x02\x00\x00\x00\x00\x40")
	tests := []struct {
		name string
		file []byte
		opts ReadOptions
		want string
	}{
		{"not npy", []byte("PK\x03\x04 a zip file"), ReadOptions{}, `not a .npy file`},
		{"empty", nil, ReadOptions{}, "not a .npy file"},
		{"version 4", []byte("\x93NUMPY\x04\x00\x10\x00"), ReadOptions{}, "unsupported .npy format version 4.0"},
		{"header implausibly long", v2Long, ReadOptions{}, "header of 1073741824 bytes is implausibly long"},
		{"header truncated", npyFile(1, header("<f4", "(1, 1, 1)"), nil)[:40], ReadOptions{}, "header of 118 bytes is truncated: the file has 40"},
		{"fortran order", npyFile(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2, 2), }", make([]byte, 32)), ReadOptions{}, "Fortran order are not supported"},
		{"object array", npyFile(1, header("|O", "(1, 1, 1)"), make([]byte, 8)), ReadOptions{}, `object arrays (dtype "|O") are not supported`},
		{"int16", npyFile(1, header("<i2", "(1, 1, 1)"), make([]byte, 2)), ReadOptions{}, `dtype "<i2" (int16) is not supported; want uint8`},
		{"uint16", npyFile(1, header(">u2", "(1, 1, 1)"), make([]byte, 2)), ReadOptions{}, `dtype ">u2" (uint16)`},
		{"bool", npyFile(1, header("|b1", "(1, 1, 1)"), make([]byte, 1)), ReadOptions{}, `dtype "|b1" (bool)`},
		{"float16", npyFile(1, header("<f2", "(1, 1, 1)"), make([]byte, 2)), ReadOptions{}, `dtype "<f2" (float16)`},
		{"complex", npyFile(1, header("<c8", "(1, 1, 1)"), make([]byte, 8)), ReadOptions{}, `dtype "<c8" (complex64)`},
		{"unicode", npyFile(1, header("<U5", "(1, 1, 1)"), make([]byte, 20)), ReadOptions{}, `dtype "<U5" (strings, bytes, records or dates)`},
		{"structured", npyFile(1, "{'descr': [('a', '<f4'), ('b', '|u1')], 'fortran_order': False, 'shape': (1, 1, 1), }", make([]byte, 5)), ReadOptions{}, "structured arrays"},
		{"2-d", f4("(2, 2)", 4), ReadOptions{}, "shape [2 2]: want [D, H, W] or [D, H, W, C] with C 1 or 3"},
		{"5-d", f4("(1, 1, 1, 1, 1)", 1), ReadOptions{}, "shape [1 1 1 1 1]"},
		{"4 channels", f4("(1, 1, 1, 4)", 4), ReadOptions{}, "shape [1 1 1 4]"},
		{"zero depth", f4("(0, 2, 2)", 0), ReadOptions{}, "shape [0 2 2] is empty"},
		{"absurd shape", f4("(100000, 100000, 100000)", 1), ReadOptions{}, "shape [100000 100000 100000] has over 134217728 voxels (the limit); raise limits.max_voxels"},
		{"over a small limit", f4("(2, 3, 4)", 24), ReadOptions{MaxVoxels: 23}, "has over 23 voxels"},
		{"at a small limit", f4("(2, 3, 4)", 23), ReadOptions{MaxVoxels: 24}, "truncated data: shape [2 3 4] of float32 (\"<f4\") needs 96 bytes of data, the file holds 92"},
		{"trailing data", f4("(1, 1, 2)", 3), ReadOptions{}, "4 bytes after the 8 of data"},
		{"negative limit", f4("(1, 1, 1)", 1), ReadOptions{MaxVoxels: -1}, "voxel limit -1 is negative"},
		{"nan", npyFile(1, header("<f4", "(1, 1, 2)"), f32le(0, float32(math.NaN()))), ReadOptions{}, "value 1 (voxel 1, channel 0) is NaN"},
		{"inf float64", npyFile(1, header("<f8", "(1, 1, 1, 3)"), f64(binary.LittleEndian, 0, 0, math.Inf(1))), ReadOptions{}, "value 2 (voxel 0, channel 2) is +Inf"},
		{"float64 beyond float32", npyFile(1, header("<f8", "(1, 1, 1)"), f64(binary.LittleEndian, 1e300)), ReadOptions{}, "value 0, 1e+300, is beyond the float32 range"},
		{"header missing shape", npyFile(1, "{'descr': '<f4', 'fortran_order': False}", nil), ReadOptions{}, `no "shape" key`},
		{"header duplicate key", npyFile(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1)}", make([]byte, 4)), ReadOptions{}, `key "descr" twice`},
		{"header unknown key", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1), 'x': 1}", make([]byte, 4)), ReadOptions{}, `unexpected key "x"`},
		{"header not a dict", npyFile(1, "[1, 2, 3]", nil), ReadOptions{}, `expected '{' at offset 0`},
		{"header bad dimension", npyFile(1, header("<f4", "(1, -1, 1)"), nil), ReadOptions{}, "bad dimension at offset"},
		{"header unterminated", npyFile(1, "{'descr': '<f4", nil), ReadOptions{}, "unterminated string"},
		{"header text after dict", npyFile(1, header("<f4", "(1, 1, 1)")+" junk", make([]byte, 4)), ReadOptions{}, "text after the dict"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeTemp(t, tc.file)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			v, _, err := ReadNPY(p, tc.opts)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), `read volume "`+p+`": `) {
				t.Fatalf("error %v, want one naming the file and containing %q", err, tc.want)
			}
			if v != nil {
				t.Error("volume returned with the error")
			}
			// Refusals come before the array is allocated.
			if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
				t.Errorf("allocated %d bytes before refusing", got)
			}
		})
	}
	dir := t.TempDir()
	if _, _, err := ReadNPY(dir, ReadOptions{}); err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Errorf("folder: %v", err)
	}
	if _, _, err := ReadNPY(filepath.Join(dir, "missing.npy"), ReadOptions{}); !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

func TestWriteNPY(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		c         int
		wantShape string
	}{{1, "(2, 3, 4)"}, {3, "(2, 3, 4, 3)"}} {
		v, _ := New(2, 3, 4, tc.c)
		for i := range v.Data {
			v.Data[i] = float32(i)*0.25 - 3
		}
		p := filepath.Join(dir, "out.npy")
		if err := WriteNPY(p, v); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		// The exact bytes: a 64-byte-aligned version 1.0 header, then the
		// values as little-endian float32.
		want := npyFile(1, header("<f4", tc.wantShape), f32le(v.Data...))
		if !bytes.Equal(b, want) {
			t.Errorf("C=%d: file\n%q\nwant\n%q", tc.c, b[:80], want[:80])
		}
		if hl := int(binary.LittleEndian.Uint16(b[8:])); (10+hl)%64 != 0 || b[9+hl] != '\n' {
			t.Errorf("C=%d: data starts at %d, want a multiple of 64 after a newline", tc.c, 10+hl)
		}
		back, info, err := ReadNPY(p, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if back.D != 2 || back.H != 3 || back.W != 4 || back.C != tc.c || info.DType != "<f4" || info.Version != "1.0" {
			t.Errorf("read back %d×%d×%d×%d %+v", back.D, back.H, back.W, back.C, info)
		}
		for i := range v.Data {
			if back.Data[i] != v.Data[i] {
				t.Fatalf("value %d: %v became %v", i, v.Data[i], back.Data[i])
			}
		}
	}
	for _, bad := range []*Volume{nil, {D: 1, H: 1, W: 1, C: 2, Data: make([]float32, 2)}, {D: 1, H: 1, W: 2, C: 1, Data: make([]float32, 1)}} {
		if err := WriteNPY(filepath.Join(dir, "bad.npy"), bad); err == nil || !strings.Contains(err.Error(), "not a valid volume") {
			t.Errorf("%s: error %v", describe(bad), err)
		}
	}
}

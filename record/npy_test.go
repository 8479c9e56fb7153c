package record

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestWriteNPYBytes(t *testing.T) {
	// Worked out by hand from the format description: the dict is 59
	// bytes; 10 bytes of prefix, the dict and the final newline make 70, so
	// 58 spaces pad the data start to 128 and the header length is 118
	// (0x76).
	data := []float32{0, 1, -2, 0.5, 3.25, -1e-3}
	want := []byte("\x93NUMPY\x01\x00\x76\x00" +
		"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" +
		strings.Repeat(" ", 58) + "\n")
	for _, hex := range []string{"00000000", "0000803f", "000000c0", "0000003f", "00005040", "6f1283ba"} {
		var b [4]byte
		for i := range 4 {
			b[i] = byte(unhex(hex[2*i])<<4 | unhex(hex[2*i+1]))
		}
		want = append(want, b[:]...)
	}
	path := filepath.Join(t.TempDir(), "a.npy")
	if err := WriteNPY(path, []int{2, 3}, data); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("file is\n%q\nwant\n%q", got, want)
	}
}

func unhex(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 10
	}
	return c - '0'
}

func TestNPYRoundTrip(t *testing.T) {
	big := make([]float32, 3*70*90) // more than one 16 KiB chunk
	for i := range big {
		big[i] = float32(math.Sin(float64(i))) * 1e3
	}
	tests := []struct {
		name  string
		shape []int
		data  []float32
	}{
		{"scalar", []int{}, []float32{7.5}},
		{"vector", []int{4}, []float32{1, math.MaxFloat32, float32(math.Inf(-1)), math.SmallestNonzeroFloat32}},
		{"empty", []int{0, 3}, []float32{}},
		{"image tensor", []int{1, 3, 70, 90}, big},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.npy")
			if err := WriteNPY(path, tc.shape, tc.data); err != nil {
				t.Fatal(err)
			}
			shape, data, err := ReadNPY(path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(shape, tc.shape) {
				t.Errorf("shape %v, want %v", shape, tc.shape)
			}
			if !slices.Equal(data, tc.data) {
				t.Errorf("data differs (len %d, want %d)", len(data), len(tc.data))
			}
		})
	}
}

func TestWriteNPYErrors(t *testing.T) {
	tests := []struct {
		name  string
		shape []int
		n     int
		want  string
	}{
		{"too few values", []int{2, 2}, 3, "holds 4 values, have 3"},
		{"negative dimension", []int{-1, 2}, 2, "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.npy")
			err := WriteNPY(path, tc.shape, make([]float32, tc.n))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Error("a refused write left a file")
			}
		})
	}
}

func TestReadNPYVariants(t *testing.T) {
	le := func(vs ...float32) []byte {
		b := make([]byte, 4*len(vs))
		for i, v := range vs {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		return b
	}
	be := func(vs ...float32) []byte {
		b := make([]byte, 4*len(vs))
		for i, v := range vs {
			binary.BigEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		return b
	}
	v1 := func(dict string) []byte {
		return []byte("\x93NUMPY\x01\x00" + string([]byte{byte(len(dict)), 0}) + dict)
	}
	v2 := func(dict string) []byte {
		return []byte("\x93NUMPY\x02\x00" + string([]byte{byte(len(dict)), 0, 0, 0}) + dict)
	}
	tests := []struct {
		name      string
		file      []byte
		wantShape []int
		wantData  []float32
		wantErr   string
	}{
		{
			name:      "keys in another order, double quotes, no trailing comma",
			file:      append(v1(`{"shape": (2,), "fortran_order": False, "descr": "<f4"}`+"\n"), le(1, 2)...),
			wantShape: []int{2}, wantData: []float32{1, 2},
		},
		{
			name:      "big-endian",
			file:      append(v1("{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2), }\n"), be(-3, 0.25)...),
			wantShape: []int{1, 2}, wantData: []float32{-3, 0.25},
		},
		{
			name:      "version 2.0",
			file:      append(v2("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n"), le(9)...),
			wantShape: []int{1}, wantData: []float32{9},
		},
		{
			name:      "Python 2 long dimensions",
			file:      append(v1("{'descr': '<f4', 'fortran_order': False, 'shape': (1L, 2L), }\n"), le(5, 6)...),
			wantShape: []int{1, 2}, wantData: []float32{5, 6},
		},
		{name: "bad magic", file: []byte("PK\x03\x04 not numpy"), wantErr: "bad magic"},
		{name: "float64", file: append(v1("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }\n"), 0, 0, 0, 0, 0, 0, 0, 0), wantErr: "not float32"},
		{name: "Fortran order", file: append(v1("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }\n"), le(1)...), wantErr: "Fortran"},
		{name: "truncated data", file: append(v1("{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 1000), }\n"), le(1)...), wantErr: "needs 4000"},
		{name: "missing key", file: append(v1("{'descr': '<f4', 'shape': (1,), }\n"), le(1)...), wantErr: `no "fortran_order" key`},
		{name: "version 9", file: []byte("\x93NUMPY\x09\x00\x00\x00"), wantErr: "version 9.0"},
		{name: "garbage header", file: v1("{'descr' '<f4'}\n"), wantErr: "expected ':'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.npy")
			if err := os.WriteFile(path, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			shape, data, err := ReadNPY(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(shape, tc.wantShape) || !slices.Equal(data, tc.wantData) {
				t.Errorf("got %v %v, want %v %v", shape, data, tc.wantShape, tc.wantData)
			}
		})
	}
}

func BenchmarkWriteNPY(b *testing.B) {
	data := make([]float32, 3*512*512)
	path := filepath.Join(b.TempDir(), "x.npy")
	b.SetBytes(int64(4 * len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteNPY(path, []int{1, 3, 512, 512}, data); err != nil {
			b.Fatal(err)
		}
	}
}

package npyfmt

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"
)

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name string
		h    string
		want Header
	}{
		{"as NumPy writes it", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" + strings.Repeat(" ", 58) + "\n",
			Header{Descr: "<f4", Shape: []int{2, 3}}},
		{"keys in another order, double quotes, no trailing comma", `{"shape": (2,), "fortran_order": False, "descr": "<f4"}` + "\n",
			Header{Descr: "<f4", Shape: []int{2}}},
		{"big-endian, Fortran order", "{'descr': '>f8', 'fortran_order': True, 'shape': (1, 2), }",
			Header{Descr: ">f8", Fortran: true, Shape: []int{1, 2}}},
		{"scalar", "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", Header{Descr: "<f4", Shape: []int{}}},
		{"Python 2 longs, spaces around keys and colons", "{ \"shape\" : (1L, 2L, 1L),'fortran_order':False,'descr':'u1' }",
			Header{Descr: "u1", Shape: []int{1, 2, 1}}},
		{"tabs, newlines and NUL padding", "{'descr':\t'|u1',\n'fortran_order': False,\r\n'shape': (4,)}\x00\x00\n",
			Header{Descr: "|u1", Shape: []int{4}}},
		{"structured dtype skipped", "{'descr': [('a', '<f4'), ('b', '|u1', (2,)), ('c]', '<i2')], 'fortran_order': False, 'shape': (1, 1, 1), }",
			Header{Structured: true, Shape: []int{1, 1, 1}}},
		{"32 dimensions", "{'descr': '<f4', 'fortran_order': False, 'shape': (" + strings.Repeat("1, ", 31) + "1), }",
			Header{Descr: "<f4", Shape: slices.Repeat([]int{1}, 32)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHeader(tc.h)
			if err != nil {
				t.Fatal(err)
			}
			if got.Descr != tc.want.Descr || got.Structured != tc.want.Structured || got.Fortran != tc.want.Fortran ||
				!slices.Equal(got.Shape, tc.want.Shape) || got.Shape == nil {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseHeaderErrors(t *testing.T) {
	tests := []struct {
		name, h, want string
	}{
		{"missing shape", "{'descr': '<f4', 'fortran_order': False}", `no "shape" key`},
		{"missing fortran_order", "{'descr': '<f4', 'shape': (1,), }\n", `no "fortran_order" key`},
		{"duplicate key", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1)}", `key "descr" twice`},
		{"unknown key", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1), 'x': 1}", `unexpected key "x"`},
		{"not a dict", "[1, 2, 3]", `expected '{' at offset 0`},
		{"no colon", "{'descr' '<f4'}\n", `expected ':' at offset 9`},
		{"key not a string", "{descr: '<f4'}", "expected a string at offset 1"},
		{"negative dimension", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, -1, 1), }", "bad dimension at offset"},
		{"shape not a tuple", "{'descr': '<f4', 'fortran_order': False, 'shape': [1], }", `expected '(' at offset`},
		{"bad tuple separator", "{'descr': '<f4', 'fortran_order': False, 'shape': (1; 2), }", `expected ',' or ')' at offset`},
		{"fortran_order not a bool", "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", "expected True or False at offset"},
		{"unterminated string", "{'descr': '<f4", "unterminated string"},
		{"unterminated list", "{'descr': [('a', '<f4'), 'fortran_order': False", "unterminated list"},
		{"unclosed dict", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", `expected '}' at offset`},
		{"text after the dict", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1), } junk", "text after the dict"},
		{"33 dimensions", "{'descr': '<f4', 'fortran_order': False, 'shape': (" + strings.Repeat("1, ", 32) + "1), }", "more than 32 dimensions"},
		{"empty", "", `expected '{' at offset 0`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHeader(tc.h)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "corrupt header ") {
				t.Fatalf("error %v, want one starting %q and containing %q", err, "corrupt header ", tc.want)
			}
		})
	}
}

func TestParseHeaderClipsLongText(t *testing.T) {
	h := "{'descr': '<f4', 'x" + strings.Repeat("y", 1000)
	_, err := ParseHeader(h)
	if err == nil || !strings.Contains(err.Error(), "unterminated string") {
		t.Fatalf("error %v", err)
	}
	if len(err.Error()) > 300 || !strings.Contains(err.Error(), "…") {
		t.Errorf("error of %d bytes does not clip the header: %.80s", len(err.Error()), err)
	}
}

func TestEncodeHeaderBytes(t *testing.T) {
	// Worked out by hand from the format description: the dict is 59
	// bytes; 10 bytes of prefix, the dict and the final newline make 70, so
	// 58 spaces pad the data start to 128 and the header length is 118
	// (0x76).
	want := "\x93NUMPY\x01\x00\x76\x00" +
		"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" +
		strings.Repeat(" ", 58) + "\n"
	got, err := EncodeHeader("<f4", []int{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("header is\n%q\nwant\n%q", got, want)
	}
}

func TestEncodeHeaderAlignment(t *testing.T) {
	tests := []struct {
		descr string
		shape []int
		tuple string
	}{
		{"<f4", []int{}, "()"},
		{"<f4", []int{5}, "(5,)"},
		{"<f4", []int{2, 3}, "(2, 3)"},
		{"<f4", []int{1, 3, 256, 256}, "(1, 3, 256, 256)"},
		{"<f4", []int{1, 512, 64, 64}, "(1, 512, 64, 64)"},
		{"<f4", []int{2, 3, 4, 3}, "(2, 3, 4, 3)"},
		{"|u1", []int{0, 7}, "(0, 7)"},
		{"<f8", []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, "(" + strings.Repeat("1, ", 16) + "1)"},
	}
	for _, tc := range tests {
		h, err := EncodeHeader(tc.descr, tc.shape)
		if err != nil {
			t.Fatalf("shape %v: %v", tc.shape, err)
		}
		if len(h)%Align != 0 {
			t.Errorf("shape %v: header is %d bytes, not a multiple of %d", tc.shape, len(h), Align)
		}
		if !strings.HasPrefix(h, Magic+"\x01\x00") {
			t.Errorf("shape %v: prefix %q", tc.shape, h[:8])
		}
		if n := int(binary.LittleEndian.Uint16([]byte(h[8:10]))); n != len(h)-10 {
			t.Errorf("shape %v: header length field %d, want %d", tc.shape, n, len(h)-10)
		}
		if !strings.HasSuffix(h, "\n") || !strings.Contains(h, "'descr': '"+tc.descr+"', 'fortran_order': False, 'shape': "+tc.tuple+", }") {
			t.Errorf("shape %v: header %q", tc.shape, h)
		}
		// What EncodeHeader writes, ParseHeader reads back.
		got, err := ParseHeader(h[10:])
		if err != nil || got.Descr != tc.descr || got.Fortran || got.Structured || !slices.Equal(got.Shape, tc.shape) {
			t.Errorf("shape %v: read back %+v, %v", tc.shape, got, err)
		}
	}
}

func TestEncodeHeaderErrors(t *testing.T) {
	tests := []struct {
		name  string
		descr string
		shape []int
		want  string
	}{
		{"negative dimension", "<f4", []int{2, -1}, "negative dimension in shape [2 -1]"},
		{"quote in descr", "<f4'", []int{1}, "contains a quote"},
		{"too long for 1.0", "<f4", slices.Repeat([]int{1 << 40}, 5000), "too long for format 1.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := EncodeHeader(tc.descr, tc.shape); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// Package npyfmt reads and writes the header of NumPy's .npy format: the
// Python dict literal that names an array's dtype, memory order and shape,
// and the prefix (magic, version, header length) that comes before it.
// Interpreting the dtype and reading the array data are left to callers.
package npyfmt

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

const (
	// Magic is the string every .npy file starts with.
	Magic = "\x93NUMPY"
	// Align is the alignment NumPy pads headers to (since 1.14), so that
	// the data can be memory-mapped.
	Align = 64
	// MaxHeader bounds the header a reader should accept from a format
	// 2.0 or 3.0 file, whose 4-byte length field could otherwise ask for
	// gigabytes.
	MaxHeader = 1 << 20
	// MaxDims is NumPy's own limit on the number of dimensions;
	// ParseHeader refuses shapes with more.
	MaxDims = 32
)

// Header holds the fields of a .npy header dict.
type Header struct {
	// Descr is the dtype's type string, e.g. "<f4" or "|u1"; empty when
	// Structured is set.
	Descr string
	// Structured reports that the descr was a list of named fields (a
	// structured dtype); the list is skipped, not interpreted.
	Structured bool
	// Fortran is the fortran_order field.
	Fortran bool
	// Shape is the array's shape; empty (not nil) for a scalar.
	Shape []int
}

// ParseHeader reads the Python dict literal of a .npy header (the bytes
// after the length field, padding and newline included). It accepts the
// subset of Python syntax NumPy writes: quoted strings, True/False, tuples
// of non-negative integers (Python 2 long suffixes allowed) and, for a
// structured dtype, a list, which is only skipped. The keys descr,
// fortran_order and shape must each appear exactly once, and no others;
// nothing may follow the dict but padding. Errors quote the header, clipped
// to 200 bytes, after "corrupt header".
func ParseHeader(h string) (Header, error) {
	var out Header
	p := literal{s: strings.TrimRight(h, " \t\n\x00")}
	bad := func(err error) (Header, error) {
		return Header{}, fmt.Errorf("corrupt header %q: %w", clip(p.s, 200), err)
	}
	if err := p.expect('{'); err != nil {
		return bad(err)
	}
	seen := map[string]bool{}
	for {
		p.space()
		if p.peek() == '}' {
			break
		}
		key, err := p.str()
		if err != nil {
			return bad(err)
		}
		if seen[key] {
			return bad(fmt.Errorf("key %q twice", key))
		}
		seen[key] = true
		if err := p.expect(':'); err != nil {
			return bad(err)
		}
		p.space()
		switch key {
		case "descr":
			if p.peek() == '[' {
				out.Structured = true
				err = p.skipList()
			} else {
				out.Descr, err = p.str()
			}
		case "fortran_order":
			out.Fortran, err = p.boolean()
		case "shape":
			out.Shape, err = p.tuple()
		default:
			err = fmt.Errorf("unexpected key %q", key)
		}
		if err != nil {
			return bad(err)
		}
		p.space()
		if p.peek() != ',' {
			break
		}
		p.i++
	}
	if err := p.expect('}'); err != nil {
		return bad(err)
	}
	if p.space(); p.i != len(p.s) {
		return bad(fmt.Errorf("text after the dict at offset %d", p.i))
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return bad(fmt.Errorf("no %q key", k))
		}
	}
	return out, nil
}

// EncodeHeader returns everything a format 1.0 .npy file holds before its
// array data: magic, version 1.0, the little-endian header length and the
// dict for a C-ordered array of the given descr and shape, keys in the order
// NumPy writes them, padded with spaces and ended by a newline so that the
// data starts at a multiple of Align bytes. descr must not contain quotes
// or backslashes; no dimension may be negative. It fails when the header
// would not fit format 1.0's 2-byte length.
func EncodeHeader(descr string, shape []int) (string, error) {
	if strings.ContainsAny(descr, `'"\`) {
		return "", fmt.Errorf("descr %q contains a quote or backslash", descr)
	}
	var dict strings.Builder
	dict.WriteString("{'descr': '" + descr + "', 'fortran_order': False, 'shape': (")
	for i, d := range shape {
		if d < 0 {
			return "", fmt.Errorf("negative dimension in shape %v", shape)
		}
		if i > 0 {
			dict.WriteString(", ")
		}
		dict.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		dict.WriteByte(',') // Python's one-element tuple
	}
	dict.WriteString("), }")
	const prefix = len(Magic) + 2 + 2 // magic, version, header length
	pad := (Align - (prefix+dict.Len()+1)%Align) % Align
	n := dict.Len() + pad + 1
	if n > math.MaxUint16 {
		return "", fmt.Errorf("shape %v needs a header too long for format 1.0", shape)
	}
	return Magic + "\x01\x00" + string([]byte{byte(n), byte(n >> 8)}) + dict.String() + strings.Repeat(" ", pad) + "\n", nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// literal is a cursor over a Python literal.
type literal struct {
	s string
	i int
}

func (p *literal) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\n\r", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *literal) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *literal) expect(c byte) error {
	p.space()
	if p.peek() != c {
		return fmt.Errorf("expected %q at offset %d", c, p.i)
	}
	p.i++
	return nil
}

func (p *literal) str() (string, error) {
	p.space()
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", fmt.Errorf("expected a string at offset %d", p.i)
	}
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, nil
}

func (p *literal) boolean() (bool, error) {
	p.space()
	for _, b := range []struct {
		word string
		v    bool
	}{{"True", true}, {"False", false}} {
		if strings.HasPrefix(p.s[p.i:], b.word) {
			p.i += len(b.word)
			return b.v, nil
		}
	}
	return false, fmt.Errorf("expected True or False at offset %d", p.i)
}

// tuple reads a tuple of non-negative integers, such as (3,), (2, 4) or ().
func (p *literal) tuple() ([]int, error) {
	if err := p.expect('('); err != nil {
		return nil, err
	}
	dims := []int{}
	for {
		p.space()
		if p.peek() == ')' {
			p.i++
			return dims, nil
		}
		if len(dims) == MaxDims {
			return nil, fmt.Errorf("more than %d dimensions", MaxDims)
		}
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		d, err := strconv.Atoi(p.s[start:p.i])
		if err != nil {
			return nil, fmt.Errorf("bad dimension at offset %d", start)
		}
		if p.peek() == 'L' { // Python 2 long literal
			p.i++
		}
		dims = append(dims, d)
		p.space()
		switch p.peek() {
		case ',':
			p.i++
		case ')':
		default:
			return nil, fmt.Errorf("expected ',' or ')' at offset %d", p.i)
		}
	}
}

// skipList moves past a (possibly nested) list, minding quoted strings.
func (p *literal) skipList() error {
	depth := 0
	for p.i < len(p.s) {
		switch c := p.s[p.i]; c {
		case '[', '(':
			depth++
		case ']', ')':
			depth--
			if depth == 0 {
				p.i++
				return nil
			}
		case '\'', '"':
			end := strings.IndexByte(p.s[p.i+1:], c)
			if end < 0 {
				return errors.New("unterminated string")
			}
			p.i += end + 1
		}
		p.i++
	}
	return errors.New("unterminated list")
}

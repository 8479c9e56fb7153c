package record

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/nst-project/nst/internal/atomicfile"
)

// The .npy format (NumPy's "format" module, version 1.0): a magic string, a
// version, a little-endian header length, an ASCII Python dict literal
// padded with spaces and ended by a newline so that the array data starts at
// a multiple of npyAlign bytes, then the raw array data.
const (
	npyMagic = "\x93NUMPY"
	npyAlign = 64
	// npyMaxHeader bounds the header ReadNPY accepts from version 2.0 files,
	// whose 4-byte length field could otherwise ask for gigabytes.
	npyMaxHeader = 1 << 20
)

// WriteNPY writes a float32 array of the given shape (C order, row-major) to
// path as a NumPy .npy file, format version 1.0, dtype '<f4', atomically.
// len(data) must equal the product of shape; an empty shape is a scalar.
func WriteNPY(path string, shape []int, data []float32) error {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("write %s: negative dimension in shape %v", path, shape)
		}
		n *= d
	}
	if n != len(data) {
		return fmt.Errorf("write %s: shape %v holds %d values, have %d", path, shape, n, len(data))
	}
	header := npyHeader(shape)
	if len(header) > math.MaxUint16 {
		return fmt.Errorf("write %s: shape %v needs a header too long for format 1.0", path, shape)
	}
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		if _, err := io.WriteString(w, header); err != nil {
			return err
		}
		var buf [16 << 10]byte
		for len(data) > 0 {
			k := min(len(data), len(buf)/4)
			for i, v := range data[:k] {
				binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
			}
			if _, err := w.Write(buf[:4*k]); err != nil {
				return err
			}
			data = data[k:]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write array: %w", err)
	}
	return nil
}

// npyHeader returns everything before the array data: magic, version 1.0,
// header length and the padded dict, whose keys are in the order NumPy
// writes them.
func npyHeader(shape []int) string {
	var dims strings.Builder
	dims.WriteByte('(')
	for i, d := range shape {
		if i > 0 {
			dims.WriteString(", ")
		}
		dims.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		dims.WriteByte(',') // Python's one-element tuple
	}
	dims.WriteByte(')')
	dict := "{'descr': '<f4', 'fortran_order': False, 'shape': " + dims.String() + ", }"
	const prefix = len(npyMagic) + 2 + 2 // magic, version, header length
	pad := npyAlign - (prefix+len(dict)+1)%npyAlign
	if pad == npyAlign {
		pad = 0
	}
	n := len(dict) + pad + 1
	return npyMagic + "\x01\x00" + string([]byte{byte(n), byte(n >> 8)}) + dict + strings.Repeat(" ", pad) + "\n"
}

// ReadNPY reads a float32 .npy file (format 1.0, 2.0 or 3.0, dtype '<f4' or
// '>f4', C order) and returns its shape and data.
func ReadNPY(path string) (shape []int, data []float32, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read array: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("read array: %w", err)
	}
	shape, data, err = readNPY(bufio.NewReader(f), st.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("read array %s: %w", path, err)
	}
	return shape, data, nil
}

func readNPY(r io.Reader, size int64) ([]int, []float32, error) {
	var pre [10]byte
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return nil, nil, fmt.Errorf("not a .npy file: %w", err)
	}
	if string(pre[:6]) != npyMagic {
		return nil, nil, errors.New("not a .npy file (bad magic)")
	}
	var headerLen, prefix int
	switch major := pre[6]; major {
	case 1:
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return nil, nil, fmt.Errorf("truncated header: %w", err)
		}
		headerLen, prefix = int(binary.LittleEndian.Uint16(pre[8:10])), 10
	case 2, 3:
		var l [4]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return nil, nil, fmt.Errorf("truncated header: %w", err)
		}
		headerLen, prefix = int(binary.LittleEndian.Uint32(l[:])), 12
		if headerLen > npyMaxHeader {
			return nil, nil, fmt.Errorf("header of %d bytes is implausibly long", headerLen)
		}
	default:
		return nil, nil, fmt.Errorf("unsupported .npy format version %d.%d", major, pre[7])
	}
	header := make([]byte, headerLen)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, nil, fmt.Errorf("truncated header: %w", err)
	}
	descr, fortran, shape, err := parseNPYHeader(string(header))
	if err != nil {
		return nil, nil, err
	}
	var order binary.ByteOrder
	switch descr {
	case "<f4":
		order = binary.LittleEndian
	case ">f4":
		order = binary.BigEndian
	default:
		return nil, nil, fmt.Errorf("dtype %q is not float32", descr)
	}
	if fortran {
		return nil, nil, errors.New("arrays in Fortran order are not supported")
	}
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return nil, nil, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d > 0 && n > math.MaxInt64/4/int64(d) {
			return nil, nil, fmt.Errorf("shape %v is too large", shape)
		}
		n *= int64(d)
	}
	// Check against the file size before allocating, so that a damaged
	// header cannot ask for an enormous slice.
	if want := int64(prefix+headerLen) + 4*n; size != want {
		return nil, nil, fmt.Errorf("file is %d bytes, shape %v needs %d", size, shape, want)
	}
	data := make([]float32, n)
	var buf [16 << 10]byte
	for done := 0; done < len(data); {
		k := min(len(data)-done, len(buf)/4)
		if _, err := io.ReadFull(r, buf[:4*k]); err != nil {
			return nil, nil, fmt.Errorf("truncated data: %w", err)
		}
		for i := range k {
			data[done+i] = math.Float32frombits(order.Uint32(buf[4*i:]))
		}
		done += k
	}
	return shape, data, nil
}

// parseNPYHeader reads the Python dict literal of a .npy header. It accepts
// the subset of Python syntax NumPy writes: quoted strings, True/False and
// tuples of integers.
func parseNPYHeader(h string) (descr string, fortran bool, shape []int, err error) {
	p := pyLiteral{s: strings.TrimRight(h, " \n")}
	if err := p.expect('{'); err != nil {
		return "", false, nil, err
	}
	var seen [3]bool
	for {
		p.skipSpace()
		if p.peek() == '}' {
			break
		}
		key, err := p.str()
		if err != nil {
			return "", false, nil, err
		}
		if err := p.expect(':'); err != nil {
			return "", false, nil, err
		}
		switch key {
		case "descr":
			descr, err = p.str()
			seen[0] = true
		case "fortran_order":
			fortran, err = p.boolean()
			seen[1] = true
		case "shape":
			shape, err = p.tuple()
			seen[2] = true
		default:
			err = fmt.Errorf("unexpected header key %q", key)
		}
		if err != nil {
			return "", false, nil, err
		}
		p.skipSpace()
		if p.peek() != ',' {
			break
		}
		p.i++
	}
	if err := p.expect('}'); err != nil {
		return "", false, nil, err
	}
	if seen != [3]bool{true, true, true} {
		return "", false, nil, fmt.Errorf("header %q lacks descr, fortran_order or shape", p.s)
	}
	return descr, fortran, shape, nil
}

// pyLiteral is a cursor over a Python literal.
type pyLiteral struct {
	s string
	i int
}

func (p *pyLiteral) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *pyLiteral) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *pyLiteral) expect(c byte) error {
	p.skipSpace()
	if p.peek() != c {
		return fmt.Errorf("header %q: expected %q at offset %d", p.s, c, p.i)
	}
	p.i++
	return nil
}

func (p *pyLiteral) str() (string, error) {
	p.skipSpace()
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", fmt.Errorf("header %q: expected a string at offset %d", p.s, p.i)
	}
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", fmt.Errorf("header %q: unterminated string", p.s)
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, nil
}

func (p *pyLiteral) boolean() (bool, error) {
	p.skipSpace()
	for _, b := range []struct {
		word string
		v    bool
	}{{"True", true}, {"False", false}} {
		if strings.HasPrefix(p.s[p.i:], b.word) {
			p.i += len(b.word)
			return b.v, nil
		}
	}
	return false, fmt.Errorf("header %q: expected True or False at offset %d", p.s, p.i)
}

func (p *pyLiteral) tuple() ([]int, error) {
	if err := p.expect('('); err != nil {
		return nil, err
	}
	dims := []int{}
	for {
		p.skipSpace()
		if p.peek() == ')' {
			p.i++
			return dims, nil
		}
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		d, err := strconv.Atoi(p.s[start:p.i])
		if err != nil {
			return nil, fmt.Errorf("header %q: bad dimension at offset %d", p.s, start)
		}
		if p.peek() == 'L' { // Python 2 long literal
			p.i++
		}
		dims = append(dims, d)
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.i++
		case ')':
		default:
			return nil, fmt.Errorf("header %q: expected ',' or ')' at offset %d", p.s, p.i)
		}
	}
}

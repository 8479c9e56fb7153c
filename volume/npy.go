package volume

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

// DefaultMaxVoxels bounds the D·H·W a .npy volume may declare when
// ReadOptions.MaxVoxels is 0: 512³, 512 MiB of float32 per channel, already
// more than a style-transfer run can optimise on one machine.
const DefaultMaxVoxels = 512 * 512 * 512

// MaxVoxelsKey is the configuration key proposed for
// ReadOptions.MaxVoxels; errors name it so that a user who hits the limit
// knows what to change.
const MaxVoxelsKey = "limits.max_voxels"

// ReadOptions controls ReadNPY.
type ReadOptions struct {
	// MaxVoxels refuses volumes whose D·H·W exceeds it, checked from the
	// header before anything is allocated. Zero means DefaultMaxVoxels;
	// negative is an error; above 2^40 it is taken as 2^40.
	MaxVoxels int64
}

// NPYInfo describes the file a volume was read from.
type NPYInfo struct {
	Version string // format version, "1.0", "2.0" or "3.0"
	DType   string // the descr field, e.g. "|u1", "<f4"
	Shape   []int  // the array's shape, 3 or 4 dimensions
}

const (
	npyMagic = "\x93NUMPY"
	// npyAlign is the alignment NumPy pads headers to (since 1.14), so
	// that the data can be memory-mapped.
	npyAlign = 64
	// npyMaxHeader bounds the header of a format 2.0 or 3.0 file, whose
	// 4-byte length could otherwise ask for gigabytes.
	npyMaxHeader = 1 << 20
)

// dtype is an element type ReadNPY converts from.
type dtype struct {
	size  int
	order binary.ByteOrder
	kind  byte // 'u' (uint8) or 'f' (float32, float64)
}

// dtypeNames names NumPy's type codes (kind and size) in errors.
var dtypeNames = map[string]string{
	"b1": "bool", "i1": "int8", "i2": "int16", "i4": "int32", "i8": "int64",
	"u1": "uint8", "u2": "uint16", "u4": "uint32", "u8": "uint64",
	"f2": "float16", "f4": "float32", "f8": "float64", "f16": "float128",
	"c8": "complex64", "c16": "complex128",
}

// parseDType interprets a descr string.
func parseDType(descr string) (dtype, error) {
	code := descr
	var order binary.ByteOrder = binary.LittleEndian
	if code != "" && strings.ContainsRune("<>|=", rune(code[0])) {
		if code[0] == '>' {
			order = binary.BigEndian
		}
		code = code[1:]
	}
	switch code {
	case "u1":
		return dtype{1, order, 'u'}, nil
	case "f4":
		return dtype{4, order, 'f'}, nil
	case "f8":
		return dtype{8, order, 'f'}, nil
	}
	var what string
	switch {
	case code == "O":
		return dtype{}, fmt.Errorf("object arrays (dtype %q) are not supported: they hold pickled Python objects, not numbers", descr)
	case dtypeNames[code] != "":
		what = " (" + dtypeNames[code] + ")"
	case code != "" && strings.ContainsRune("USVMma", rune(code[0])):
		what = " (strings, bytes, records or dates)"
	}
	return dtype{}, fmt.Errorf("dtype %q%s is not supported; want uint8 ('|u1'), float32 ('<f4') or float64 ('<f8'): convert it with numpy's astype", descr, what)
}

// ReadNPY reads a volume from the NumPy .npy file at path (format 1.0, 2.0
// or 3.0). The array must be in C order with shape [D, H, W] (one channel)
// or [D, H, W, C] with C 1 or 3, every dimension positive, of dtype uint8
// (values scaled by 1/255 to [0, 1]), float32 or float64 (converted to
// float32; values kept, but NaN, ±Inf and float64 values beyond float32's
// range are refused), either byte order. The shape is checked against the
// voxel limit and the file's size before anything is allocated. Errors name
// what is wrong: Fortran order, object or structured arrays, an unsupported
// dtype, a bad shape, too many voxels, truncated or trailing data.
func ReadNPY(path string, o ReadOptions) (*Volume, NPYInfo, error) {
	v, info, err := readNPY(path, o)
	if err != nil {
		return nil, NPYInfo{}, fmt.Errorf("read volume %q: %w", path, err)
	}
	return v, info, nil
}

func readNPY(path string, o ReadOptions) (*Volume, NPYInfo, error) {
	maxVoxels := o.MaxVoxels
	if maxVoxels == 0 {
		maxVoxels = DefaultMaxVoxels
	}
	if maxVoxels < 0 {
		return nil, NPYInfo{}, fmt.Errorf("voxel limit %d is negative; set %s to a positive number", maxVoxels, MaxVoxelsKey)
	}
	maxVoxels = min(maxVoxels, 1<<40) // keeps byte counts far from overflow
	f, err := os.Open(path)
	if err != nil {
		return nil, NPYInfo{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, NPYInfo{}, err
	}
	if st.IsDir() {
		return nil, NPYInfo{}, errors.New("is a folder, not a .npy file")
	}
	r := bufio.NewReaderSize(f, 64<<10)

	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil || string(pre[:6]) != npyMagic {
		return nil, NPYInfo{}, errors.New("not a .npy file (no \\x93NUMPY magic)")
	}
	info := NPYInfo{Version: fmt.Sprintf("%d.%d", pre[6], pre[7])}
	var headerLen, prefix int64
	switch pre[6] {
	case 1:
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return nil, NPYInfo{}, errors.New("header is truncated")
		}
		headerLen, prefix = int64(binary.LittleEndian.Uint16(l[:])), 10
	case 2, 3:
		var l [4]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return nil, NPYInfo{}, errors.New("header is truncated")
		}
		headerLen, prefix = int64(binary.LittleEndian.Uint32(l[:])), 12
		if headerLen > npyMaxHeader {
			return nil, NPYInfo{}, fmt.Errorf("header of %d bytes is implausibly long", headerLen)
		}
	default:
		return nil, NPYInfo{}, fmt.Errorf("unsupported .npy format version %s", info.Version)
	}
	if prefix+headerLen > st.Size() {
		return nil, NPYInfo{}, fmt.Errorf("header of %d bytes is truncated: the file has %d", headerLen, st.Size())
	}
	header := make([]byte, headerLen)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, NPYInfo{}, fmt.Errorf("header is truncated: %w", err)
	}
	h, err := parseHeader(string(header))
	if err != nil {
		return nil, NPYInfo{}, err
	}
	info.DType, info.Shape = h.descr, h.shape
	if h.structured {
		return nil, NPYInfo{}, errors.New("structured arrays (a list of named fields as dtype) are not supported")
	}
	dt, err := parseDType(h.descr)
	if err != nil {
		return nil, NPYInfo{}, err
	}
	if h.fortran {
		return nil, NPYInfo{}, errors.New("arrays in Fortran order are not supported: save a C-ordered array (numpy.ascontiguousarray)")
	}
	shape := h.shape
	if (len(shape) != 3 && len(shape) != 4) || (len(shape) == 4 && shape[3] != 1 && shape[3] != 3) {
		return nil, NPYInfo{}, fmt.Errorf("shape %v: want [D, H, W] or [D, H, W, C] with C 1 or 3", shape)
	}
	voxels := int64(1)
	for _, d := range shape[:3] {
		if d < 1 {
			return nil, NPYInfo{}, fmt.Errorf("shape %v is empty", shape)
		}
		if voxels > maxVoxels/int64(d) { // overflow-safe form of voxels·d > max
			return nil, NPYInfo{}, fmt.Errorf("shape %v has over %d voxels (the limit); raise %s to read it", shape, maxVoxels, MaxVoxelsKey)
		}
		voxels *= int64(d)
	}
	c := 1
	if len(shape) == 4 {
		c = shape[3]
	}
	n := voxels * int64(c)
	if want := prefix + headerLen + n*int64(dt.size); st.Size() != want {
		if st.Size() < want {
			return nil, NPYInfo{}, fmt.Errorf("truncated data: shape %v of %s needs %d bytes of data, the file holds %d", shape, dtypeLabel(h.descr), n*int64(dt.size), st.Size()-prefix-headerLen)
		}
		return nil, NPYInfo{}, fmt.Errorf("%d bytes after the %d of data that shape %v of %s needs", st.Size()-want, n*int64(dt.size), shape, dtypeLabel(h.descr))
	}

	v := &Volume{D: shape[0], H: shape[1], W: shape[2], C: c, Data: make([]float32, n)}
	buf := make([]byte, 64<<10)
	per := len(buf) / dt.size
	for done := 0; done < len(v.Data); {
		k := min(per, len(v.Data)-done)
		if _, err := io.ReadFull(r, buf[:k*dt.size]); err != nil {
			return nil, NPYInfo{}, fmt.Errorf("truncated data: %w", err)
		}
		dst := v.Data[done : done+k]
		switch {
		case dt.kind == 'u':
			for i := range dst {
				dst[i] = float32(buf[i]) / 255
			}
		case dt.size == 4:
			for i := range dst {
				dst[i] = math.Float32frombits(dt.order.Uint32(buf[4*i:]))
			}
		default:
			for i := range dst {
				x := math.Float64frombits(dt.order.Uint64(buf[8*i:]))
				if math.Abs(x) > math.MaxFloat32 && !math.IsInf(x, 0) {
					return nil, NPYInfo{}, fmt.Errorf("value %d, %g, is beyond the float32 range", done+i, x)
				}
				dst[i] = float32(x)
			}
		}
		if dt.kind == 'f' {
			for i, x := range dst {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					return nil, NPYInfo{}, fmt.Errorf("value %d (voxel %d, channel %d) is %v", done+i, (done+i)/c, (done+i)%c, x)
				}
			}
		}
		done += k
	}
	return v, info, nil
}

// dtypeLabel returns descr with its NumPy name when it has one.
func dtypeLabel(descr string) string {
	code := strings.TrimLeft(descr, "<>|=")
	if n, ok := dtypeNames[code]; ok {
		return fmt.Sprintf("%s (%q)", n, descr)
	}
	return fmt.Sprintf("%q", descr)
}

// npyHeaderFields are the fields of a .npy header dict.
type npyHeaderFields struct {
	descr      string
	structured bool // descr is a list of fields
	fortran    bool
	shape      []int
}

// parseHeader reads the Python dict literal of a .npy header: the keys
// descr, fortran_order and shape, with the subset of Python literal syntax
// NumPy writes (quoted strings, True/False, tuples of integers, and for
// structured dtypes a list, which is only skipped).
func parseHeader(h string) (npyHeaderFields, error) {
	var out npyHeaderFields
	p := literal{s: strings.TrimRight(h, " \t\n\x00")}
	bad := func(err error) (npyHeaderFields, error) {
		return npyHeaderFields{}, fmt.Errorf("corrupt header %q: %w", clip(p.s, 200), err)
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
				out.structured = true
				err = p.skipList()
			} else {
				out.descr, err = p.str()
			}
		case "fortran_order":
			out.fortran, err = p.boolean()
		case "shape":
			out.shape, err = p.tuple()
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
	for word, v := range map[string]bool{"True": true, "False": false} {
		if strings.HasPrefix(p.s[p.i:], word) {
			p.i += len(word)
			return v, nil
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
		if len(dims) == 32 { // NumPy's own limit on dimensions
			return nil, errors.New("more than 32 dimensions")
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

// WriteNPY writes v to path as a .npy file (format 1.0, dtype '<f4', C
// order) atomically: shape [D, H, W] for one channel, [D, H, W, C] for
// three, so that numpy.load gives the array a NumPy user expects and
// ReadNPY reads it back unchanged.
func WriteNPY(path string, v *Volume) error {
	if v == nil || v.D < 1 || v.H < 1 || v.W < 1 || (v.C != 1 && v.C != 3) || len(v.Data) != v.D*v.H*v.W*v.C {
		return fmt.Errorf("write volume %q: not a valid volume (%s)", path, describe(v))
	}
	shape := []int{v.D, v.H, v.W}
	if v.C != 1 {
		shape = append(shape, v.C)
	}
	header := npyHeader(shape)
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		if _, err := io.WriteString(w, header); err != nil {
			return err
		}
		buf := make([]byte, 0, 64<<10)
		for i, x := range v.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
			if len(buf) == cap(buf) || i == len(v.Data)-1 {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write volume: %w", err)
	}
	return nil
}

func describe(v *Volume) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("%d×%d×%d with %d channels and %d values", v.D, v.H, v.W, v.C, len(v.Data))
}

// npyHeader returns magic, version 1.0, header length and the dict, padded
// with spaces and a newline so that the data starts at a multiple of
// npyAlign bytes, keys in the order NumPy writes them.
func npyHeader(shape []int) string {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	dict := "{'descr': '<f4', 'fortran_order': False, 'shape': (" + strings.Join(dims, ", ") + "), }"
	const prefix = len(npyMagic) + 2 + 2
	pad := (npyAlign - (prefix+len(dict)+1)%npyAlign) % npyAlign
	n := len(dict) + pad + 1
	return npyMagic + "\x01\x00" + string([]byte{byte(n), byte(n >> 8)}) + dict + strings.Repeat(" ", pad) + "\n"
}

package volume

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/nst-project/nst/internal/atomicfile"
	"github.com/nst-project/nst/internal/npyfmt"
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
	if _, err := io.ReadFull(r, pre[:]); err != nil || string(pre[:6]) != npyfmt.Magic {
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
		if headerLen > npyfmt.MaxHeader {
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
	h, err := npyfmt.ParseHeader(string(header))
	if err != nil {
		return nil, NPYInfo{}, err
	}
	info.DType, info.Shape = h.Descr, h.Shape
	if h.Structured {
		return nil, NPYInfo{}, errors.New("structured arrays (a list of named fields as dtype) are not supported")
	}
	dt, err := parseDType(h.Descr)
	if err != nil {
		return nil, NPYInfo{}, err
	}
	if h.Fortran {
		return nil, NPYInfo{}, errors.New("arrays in Fortran order are not supported: save a C-ordered array (numpy.ascontiguousarray)")
	}
	shape := h.Shape
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
			return nil, NPYInfo{}, fmt.Errorf("truncated data: shape %v of %s needs %d bytes of data, the file holds %d", shape, dtypeLabel(h.Descr), n*int64(dt.size), st.Size()-prefix-headerLen)
		}
		return nil, NPYInfo{}, fmt.Errorf("%d bytes after the %d of data that shape %v of %s needs", st.Size()-want, n*int64(dt.size), shape, dtypeLabel(h.Descr))
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
	header, err := npyfmt.EncodeHeader("<f4", shape)
	if err != nil {
		return fmt.Errorf("write volume %q: %w", path, err)
	}
	err = atomicfile.Write(path, 0o644, func(w io.Writer) error {
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

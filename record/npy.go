package record

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/nst-project/nst/internal/atomicfile"
	"github.com/nst-project/nst/internal/npyfmt"
	"github.com/nst-project/nst/internal/safefile"
)

// The .npy format (NumPy's "format" module): a magic string, a version, a
// little-endian header length, an ASCII Python dict literal padded with
// spaces and ended by a newline so that the array data starts at a multiple
// of 64 bytes, then the raw array data. internal/npyfmt reads and writes the
// header; this file handles the float32 data.

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
	header, err := npyfmt.EncodeHeader("<f4", shape)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	err = atomicfile.Write(path, 0o644, func(w io.Writer) error {
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

// ReadNPY reads a float32 .npy file (format 1.0, 2.0 or 3.0, dtype '<f4' or
// '>f4', C order) and returns its shape and data. path must be a regular
// file of at most safefile.MaxNPYBytes.
func ReadNPY(path string) (shape []int, data []float32, err error) {
	f, err := safefile.Open(path, safefile.MaxNPYBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("read array: %w", err)
	}
	defer f.Close()
	shape, data, err = readNPY(bufio.NewReader(f), f.Size())
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
	if string(pre[:6]) != npyfmt.Magic {
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
		if headerLen > npyfmt.MaxHeader {
			return nil, nil, fmt.Errorf("header of %d bytes is implausibly long", headerLen)
		}
	default:
		return nil, nil, fmt.Errorf("unsupported .npy format version %d.%d", major, pre[7])
	}
	header := make([]byte, headerLen)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, nil, fmt.Errorf("truncated header: %w", err)
	}
	h, err := npyfmt.ParseHeader(string(header))
	if err != nil {
		return nil, nil, err
	}
	if h.Structured {
		return nil, nil, errors.New("structured dtype (a list of named fields) is not float32")
	}
	descr, shape := h.Descr, h.Shape
	var order binary.ByteOrder
	switch descr {
	case "<f4":
		order = binary.LittleEndian
	case ">f4":
		order = binary.BigEndian
	default:
		return nil, nil, fmt.Errorf("dtype %q is not float32", descr)
	}
	if h.Fortran {
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

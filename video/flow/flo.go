package flow

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/nst-project/nst/internal/atomicfile"
)

// floMagic opens every Middlebury .flo file: the float32 202021.25, whose
// little-endian bytes spell "PIEH".
const floMagic float32 = 202021.25

// WriteFlo writes f in the Middlebury .flo format: the float32 magic number
// 202021.25, the width and height as int32, then for each pixel, row by
// row, its u and v as float32, all little-endian.
func WriteFlo(w io.Writer, f Field) error {
	if err := f.Check(); err != nil {
		return fmt.Errorf("write .flo: %w", err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var hdr [12]byte
	binary.LittleEndian.PutUint32(hdr[0:], math.Float32bits(floMagic))
	binary.LittleEndian.PutUint32(hdr[4:], uint32(f.W))
	binary.LittleEndian.PutUint32(hdr[8:], uint32(f.H))
	if _, err := bw.Write(hdr[:]); err != nil {
		return fmt.Errorf("write .flo: %w", err)
	}
	var px [8]byte
	for i := range f.U {
		binary.LittleEndian.PutUint32(px[0:], math.Float32bits(f.U[i]))
		binary.LittleEndian.PutUint32(px[4:], math.Float32bits(f.V[i]))
		if _, err := bw.Write(px[:]); err != nil {
			return fmt.Errorf("write .flo: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write .flo: %w", err)
	}
	return nil
}

// ReadFlo reads a Middlebury .flo file written by WriteFlo or any other
// program. It refuses a wrong magic number, a size outside 1×1 to
// MaxPixels, a truncated file and trailing bytes. A header that declares a
// huge flow costs no more memory than the bytes actually present.
func ReadFlo(r io.Reader) (Field, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Field{}, fmt.Errorf("read .flo: file shorter than its 12-byte header")
		}
		return Field{}, fmt.Errorf("read .flo: %w", err)
	}
	if m := math.Float32frombits(binary.LittleEndian.Uint32(hdr[0:])); m != floMagic {
		return Field{}, fmt.Errorf("read .flo: magic number %v, want %v: not a Middlebury .flo file (or written big-endian)", m, floMagic)
	}
	w := int64(int32(binary.LittleEndian.Uint32(hdr[4:])))
	h := int64(int32(binary.LittleEndian.Uint32(hdr[8:])))
	if w <= 0 || h <= 0 || w*h > MaxPixels {
		return Field{}, fmt.Errorf("read .flo: size %dx%d is outside 1x1 to %d pixels", w, h, MaxPixels)
	}
	need := 8 * w * h
	// ReadAll grows its buffer as bytes arrive, so a short file that claims
	// a large size fails after reading what it has.
	data, err := io.ReadAll(io.LimitReader(r, need+1))
	if err != nil {
		return Field{}, fmt.Errorf("read .flo: %w", err)
	}
	switch {
	case int64(len(data)) < need:
		return Field{}, fmt.Errorf("read .flo: truncated: %d bytes of flow for %dx%d, want %d", len(data), w, h, need)
	case int64(len(data)) > need:
		return Field{}, fmt.Errorf("read .flo: data continues past the %dx%d flow its header declares", w, h)
	}
	f := Field{W: int(w), H: int(h), U: make([]float32, w*h), V: make([]float32, w*h)}
	for i := range f.U {
		f.U[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[8*i:]))
		f.V[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[8*i+4:]))
	}
	return f, nil
}

// SaveFlo writes f to the .flo file at path atomically: readers never see
// a partial file.
func SaveFlo(path string, f Field) error {
	if err := atomicfile.Write(path, 0o644, func(w io.Writer) error { return WriteFlo(w, f) }); err != nil {
		return fmt.Errorf("save flow: %w", err)
	}
	return nil
}

// LoadFlo reads the .flo file at path.
func LoadFlo(path string) (Field, error) {
	fh, err := os.Open(path)
	if err != nil {
		return Field{}, fmt.Errorf("load flow: %w", err)
	}
	defer fh.Close()
	f, err := ReadFlo(bufio.NewReaderSize(fh, 64<<10))
	if err != nil {
		return Field{}, fmt.Errorf("load flow %q: %w", path, err)
	}
	return f, nil
}

package volume

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/nst-project/nst/internal/fuzzguard"
)

// fuzzMaxVoxels keeps every volume the fuzzer makes up small.
const fuzzMaxVoxels = 1 << 12

// FuzzReadNPY feeds arbitrary bytes to ReadNPY as a .npy file. It must never
// panic; what it accepts must be a volume of consistent shape within the
// voxel limit, with finite values, that WriteNPY and ReadNPY reproduce
// exactly. Seeds: one file of each accepted dtype and layout, and refused
// ones, built below.
func FuzzReadNPY(f *testing.F) {
	for _, seed := range [][]byte{
		npyFile(1, header("|u1", "(2, 2, 2)"), []byte{0, 51, 102, 153, 204, 255, 1, 128}),
		npyFile(1, header("<f4", "(1, 1, 2, 3)"), f32le(0.1, 0.2, 0.3, -1, 2.5, 0)),
		npyFile(1, header(">f4", "(3, 1, 1)"), f32be(1, -0.5, 0.25)),
		npyFile(2, header("<f8", "(1, 2, 2)"), f64(binary.LittleEndian, 0.5, -1.25, 0.1, 3)),
		npyFile(3, header(">f8", "(1, 1, 1, 1)"), f64(binary.BigEndian, 0.75)),
		npyFile(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1, 2), }", f32le(1, 2)),
		npyFile(1, header("|O", "(1, 1, 1)"), make([]byte, 8)),
		npyFile(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 1, 1), }", make([]byte, 4)),
		npyFile(1, header("<f4", "(100000, 100000, 100000)"), nil),
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	in, out := filepath.Join(dir, "in.npy"), filepath.Join(dir, "out.npy")
	f.Fuzz(func(t *testing.T, file []byte) {
		// A hang or a runaway allocation is a finding too: see fuzzguard.
		fuzzguard.Run(t, fuzzguard.For(len(file)), func() { checkNPY(t, file, in, out) })
	})
}

// checkNPY is FuzzReadNPY's body for one input, written to in (out is
// scratch for the rewrite).
func checkNPY(t *testing.T, file []byte, in, out string) {
	if err := os.WriteFile(in, file, 0o644); err != nil {
		t.Fatal(err)
	}
	v, info, err := ReadNPY(in, ReadOptions{MaxVoxels: fuzzMaxVoxels})
	if err != nil {
		if v != nil {
			t.Fatalf("volume returned with the error %v", err)
		}
		return
	}
	switch {
	case v.D < 1 || v.H < 1 || v.W < 1 || (v.C != 1 && v.C != 3):
		t.Fatalf("accepted shape %d×%d×%d×%d", v.D, v.H, v.W, v.C)
	case v.Voxels() > fuzzMaxVoxels:
		t.Fatalf("accepted %d voxels, over the limit", v.Voxels())
	case len(v.Data) != v.Voxels()*v.C:
		t.Fatalf("%d values for %d×%d×%d×%d", len(v.Data), v.D, v.H, v.W, v.C)
	case len(info.Shape) != 3 && len(info.Shape) != 4:
		t.Fatalf("info shape %v", info.Shape)
	}
	for i, x := range v.Data {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			t.Fatalf("value %d is %v", i, x)
		}
	}
	if err := WriteNPY(out, v); err != nil {
		t.Fatal(err)
	}
	back, _, err := ReadNPY(out, ReadOptions{MaxVoxels: fuzzMaxVoxels})
	if err != nil {
		t.Fatal(err)
	}
	if back.D != v.D || back.H != v.H || back.W != v.W || back.C != v.C {
		t.Fatalf("shape changed on rewrite")
	}
	for i := range v.Data {
		if math.Float32bits(back.Data[i]) != math.Float32bits(v.Data[i]) {
			t.Fatalf("value %d: %v became %v", i, v.Data[i], back.Data[i])
		}
	}
}

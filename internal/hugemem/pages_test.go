package hugemem

import "testing"

func TestPagesViewsAndFree(t *testing.T) {
	p, err := NewPages(3<<20 + 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Bytes()) != 3<<20+5 {
		t.Fatalf("%d bytes, want %d", len(p.Bytes()), 3<<20+5)
	}
	f, err := View[float32](p, 64, 4)
	if err != nil {
		t.Fatal(err)
	}
	copy(f, []float32{1, 2, 3, 4})
	if b := p.Bytes(); b[64] != 0 || b[67] != 0x3f || b[64+12+3] != 0x40 {
		t.Errorf("float32 view does not write where it should: % x", b[64:80])
	}
	for _, c := range []struct {
		name      string
		offset, n int
	}{{"misaligned", 2, 1}, {"past the end", 3 << 20, 2}, {"negative", -4, 1}} {
		if _, err := View[float32](p, c.offset, c.n); err == nil {
			t.Errorf("%s view accepted", c.name)
		}
	}
	if err := p.Free(); err != nil {
		t.Fatal(err)
	}
	if err := p.Free(); err != nil || p.Bytes() != nil {
		t.Errorf("second Free: %v, bytes %v", err, p.Bytes() != nil)
	}
	if _, err := NewPages(-1); err == nil {
		t.Error("negative size accepted")
	}
}

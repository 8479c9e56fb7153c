package gemm

import (
	"errors"
	"fmt"
	"sync"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/nst-project/nst/internal/onnxgraph"
	"github.com/nst-project/nst/internal/ortrt"
)

// Limits of the wrapper cache. A steady optimisation loop touches a few
// dozen buffers (per style layer: activations, Gram, difference, gradient),
// and every cached wrapper keeps its Go buffer alive, so the cache is bounded
// both in entries and in the bytes it pins; past either bound the least
// recently used wrappers are released.
const (
	maxWrapped      = 64
	maxWrappedBytes = 2 << 30
)

// ORT computes the products with ONNX Runtime, several times faster than
// pure Go on the style layers' shapes (docs/performance.md, "The costs").
//
// Each product kind is one session with symbolic dimensions, created once.
// Calls wrap the caller's slices as tensors without copying and cache those
// wrappers by address and shape, so an optimisation loop that reuses its
// buffers creates no tensors after its first iteration. An ORT is safe for
// concurrent use; calls are serialised.
type ORT struct {
	mu      sync.Mutex
	gram    *ortrt.Session
	matmul  *ortrt.Session
	wrapped map[wrapKey]*wrapper
	pinned  int // bytes of Go memory held by wrapped
	tick    uint64
	// bound holds an IO binding per product over the same wrappers:
	// onnxruntime_go's plain Run allocates its argument lists on every
	// call, a binding runs without allocating. A binding is closed with
	// any wrapper it refers to.
	bound map[bindKey]*ortrt.Binding
	// in and out pass tensors to Bind without a fresh slice per call.
	in  [2]ort.Value
	out [1]ort.Value
}

// bindKey identifies a binding: the session and the wrappers of its
// inputs and output (b is zero for the Gram).
type bindKey struct {
	s         *ortrt.Session
	a, b, dst wrapKey
}

// wrapKey identifies a tensor wrapper: the same memory seen with the same
// shape. The wrapper holds the slice, so the address cannot be reused by
// another allocation while the key exists.
type wrapKey struct {
	data       *float32
	rows, cols int
}

type wrapper struct {
	t        *ort.Tensor[float32]
	lastUsed uint64
}

// NewORT creates the Gram and MatMul sessions. ortrt.Init must have
// succeeded; opts.Threads sets the intra-op thread count.
func NewORT(opts ortrt.SessionOptions) (*ORT, error) {
	gram, err := newSession("gram", []*onnx.NodeProto{
		onnxgraph.Node("Gemm", "gram", []string{"a", "a"}, []string{"out"}, onnxgraph.Int("transB", 1)),
	}, []string{"a"}, opts)
	if err != nil {
		return nil, err
	}
	matmul, err := newSession("matmul", []*onnx.NodeProto{
		onnxgraph.Node("MatMul", "matmul", []string{"a", "b"}, []string{"out"}),
	}, []string{"a", "b"}, opts)
	if err != nil {
		gram.Close()
		return nil, err
	}
	return &ORT{gram: gram, matmul: matmul, wrapped: make(map[wrapKey]*wrapper), bound: make(map[bindKey]*ortrt.Binding)}, nil
}

// newSession builds a one-node graph over 2-D float inputs of any size.
func newSession(name string, nodes []*onnx.NodeProto, inputs []string, opts ortrt.SessionOptions) (*ortrt.Session, error) {
	g := &onnx.GraphProto{
		Name:   name,
		Node:   nodes,
		Output: []*onnx.ValueInfoProto{onnxgraph.FloatValue("out", -1, -1)},
	}
	for _, in := range inputs {
		g.Input = append(g.Input, onnxgraph.FloatValue(in, -1, -1))
	}
	b, err := onnxgraph.Marshal(onnxgraph.Model(g))
	if err != nil {
		return nil, fmt.Errorf("%s graph: %w", name, err)
	}
	s, err := ortrt.NewSession(b, inputs, []string{"out"}, opts)
	if err != nil {
		return nil, fmt.Errorf("%s session: %w", name, err)
	}
	return s, nil
}

// Gram sets dst[rows×rows] = a·aᵀ for a row-major a[rows×cols]. It
// computes both triangles: a symmetric variant measured slower
// (docs/performance.md).
func (k *ORT) Gram(dst, a []float32, rows, cols int) error {
	if err := checkGram(dst, a, rows, cols); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.gram == nil {
		return errClosed
	}
	k.tick++
	ta, err := k.wrap(a, rows, cols)
	if err != nil {
		return err
	}
	td, err := k.wrap(dst, rows, rows)
	if err != nil {
		return err
	}
	key := bindKey{s: k.gram, a: wrapKey{&a[0], rows, cols}, dst: wrapKey{&dst[0], rows, rows}}
	k.in[0], k.out[0] = ta, td
	if err := k.run(key, k.in[:1]); err != nil {
		return fmt.Errorf("gram %d×%d: %w", rows, cols, err)
	}
	return nil
}

// MatMul sets dst[m×n] = a[m×k]·b[k×n], all row-major.
func (k *ORT) MatMul(dst, a, b []float32, m, kk, n int) error {
	if err := checkMatMul(dst, a, b, m, kk, n); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.matmul == nil {
		return errClosed
	}
	k.tick++
	ta, err := k.wrap(a, m, kk)
	if err != nil {
		return err
	}
	tb, err := k.wrap(b, kk, n)
	if err != nil {
		return err
	}
	td, err := k.wrap(dst, m, n)
	if err != nil {
		return err
	}
	key := bindKey{s: k.matmul, a: wrapKey{&a[0], m, kk}, b: wrapKey{&b[0], kk, n}, dst: wrapKey{&dst[0], m, n}}
	k.in[0], k.in[1], k.out[0] = ta, tb, td
	if err := k.run(key, k.in[:]); err != nil {
		return fmt.Errorf("matmul %d×%d·%d×%d: %w", m, kk, kk, n, err)
	}
	return nil
}

var errClosed = errors.New("gemm: ORT kernel used after Close")

// run executes key's session through its cached binding, binding inputs
// and k.out on first use. The caller holds k.mu.
func (k *ORT) run(key bindKey, inputs []ort.Value) error {
	b, ok := k.bound[key]
	if !ok {
		var err error
		if b, err = key.s.Bind(inputs, k.out[:]); err != nil {
			return err
		}
		k.bound[key] = b
	}
	return b.Run()
}

// wrap returns the cached tensor over data[:rows*cols], creating it on
// first use. The caller holds k.mu.
func (k *ORT) wrap(data []float32, rows, cols int) (*ort.Tensor[float32], error) {
	key := wrapKey{&data[0], rows, cols}
	if w, ok := k.wrapped[key]; ok {
		w.lastUsed = k.tick
		return w.t, nil
	}
	size := 4 * rows * cols
	k.evict(size)
	t, err := ort.NewTensor(ort.NewShape(int64(rows), int64(cols)), data)
	if err != nil {
		return nil, fmt.Errorf("wrap %d×%d tensor: %w", rows, cols, err)
	}
	k.wrapped[key] = &wrapper{t: t, lastUsed: k.tick}
	k.pinned += size
	return t, nil
}

// evict releases least recently used wrappers until one more of size bytes
// fits the cache limits. Wrappers of the current call are never released.
func (k *ORT) evict(size int) {
	for len(k.wrapped) >= maxWrapped || (len(k.wrapped) > 0 && k.pinned+size > maxWrappedBytes) {
		var oldest wrapKey
		found := false
		for key, w := range k.wrapped {
			if w.lastUsed == k.tick {
				continue
			}
			if !found || w.lastUsed < k.wrapped[oldest].lastUsed {
				oldest, found = key, true
			}
		}
		if !found {
			return
		}
		k.release(oldest)
	}
}

func (k *ORT) release(key wrapKey) {
	for bk, b := range k.bound {
		if bk.a == key || bk.b == key || bk.dst == key {
			b.Close()
			delete(k.bound, bk)
		}
	}
	w := k.wrapped[key]
	k.pinned -= 4 * key.rows * key.cols
	w.t.Destroy()
	delete(k.wrapped, key)
}

// cached reports how many tensor wrappers are cached and the bytes of Go
// memory they keep alive.
func (k *ORT) cached() (n, bytes int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.wrapped), k.pinned
}

// Forget destroys the cached wrappers over data, whatever their shapes, so
// that a buffer the caller will not pass again (a style image's activations)
// is not kept alive until the cache evicts it.
func (k *ORT) Forget(data []float32) {
	if len(data) == 0 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for key := range k.wrapped {
		if key.data == &data[0] {
			k.release(key)
		}
	}
}

// releaseAll destroys the cached tensor wrappers, letting the Go buffers
// they refer to be collected. Later calls wrap their buffers again. The
// caller holds k.mu.
func (k *ORT) releaseAll() {
	for key := range k.wrapped {
		k.release(key)
	}
}

// Close releases the wrappers and both sessions. Calls after Close fail.
func (k *ORT) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.releaseAll()
	var errs []error
	if k.gram != nil {
		if err := k.gram.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close gram session: %w", err))
		}
		k.gram = nil
	}
	if k.matmul != nil {
		if err := k.matmul.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close matmul session: %w", err))
		}
		k.matmul = nil
	}
	return errors.Join(errs...)
}

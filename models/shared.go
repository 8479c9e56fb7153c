package models

import (
	"fmt"
	"slices"
	"sync"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/ortrt"
)

// forwardRegistry lets the Nets of one Backbone share forward sessions.
//
// A run prepares a Net at the output size, then runs each style image
// through the same layers at the style image's size, once. A forward
// session declares free image dimensions, so the run's session serves the
// style image too, with tensors of that size bound to it: no second
// session to create and no second copy of the weights, in the session and
// in ONNX Runtime's working memory, while the first exists.
type forwardRegistry struct {
	mu       sync.Mutex
	sessions []*sharedForward
}

// sharedForward is a forward session and the Nets using it.
type sharedForward struct {
	reg     *forwardRegistry // nil for a session no other Net may use
	key     string
	graph   *cachedGraph
	session *ortrt.Session // graph's
	// outputs maps the session's output names to their element types.
	outputs map[string]onnx.TensorProto_DataType
	refs    int
}

// forwardKey identifies the settings a session was made with: pooling,
// session options and, for a graph specialised to one image size (see
// autodiff.FoldShapes), that size; "" for a graph serving any size. A
// session that profiles is never shared, so that its profile describes
// one Net.
func forwardKey(o Options, size string) (string, bool) {
	if o.Session.ProfilePrefix != "" {
		return "", false
	}
	pooling := o.Pooling
	if pooling == "" {
		pooling = PoolingMax
	}
	return fmt.Sprintf("%s|%d|%s|%s", pooling, o.Session.Threads, o.Session.Device, size), true
}

// add registers a new forward session with one user, the caller.
func (r *forwardRegistry) add(o Options, size string, g *cachedGraph, outputs map[string]onnx.TensorProto_DataType) *sharedForward {
	sf := &sharedForward{graph: g, session: g.session, outputs: outputs, refs: 1}
	key, ok := forwardKey(o, size)
	if !ok {
		return sf
	}
	sf.reg, sf.key = r, key
	r.mu.Lock()
	r.sessions = append(r.sessions, sf)
	r.mu.Unlock()
	return sf
}

// find returns a registered session with o's settings that computes every
// tensor, with one more user, or nil.
func (r *forwardRegistry) find(o Options, size string, tensors []string) *sharedForward {
	key, ok := forwardKey(o, size)
	if !ok {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sf := range r.sessions {
		if sf.key == key && !slices.ContainsFunc(tensors, func(t string) bool {
			elem, ok := sf.outputs[t]
			return !ok || elem != onnx.TensorProto_FLOAT
		}) {
			sf.refs++
			return sf
		}
	}
	return nil
}

// release drops a user and closes the session after the last one.
func (sf *sharedForward) release() error {
	if sf.reg != nil {
		sf.reg.mu.Lock()
		defer sf.reg.mu.Unlock()
	}
	sf.refs--
	if sf.refs > 0 {
		return nil
	}
	if sf.reg != nil {
		sf.reg.sessions = slices.DeleteFunc(sf.reg.sessions, func(s *sharedForward) bool { return s == sf })
	}
	return sf.graph.close()
}

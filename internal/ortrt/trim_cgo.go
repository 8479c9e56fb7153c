//go:build linux && cgo

package ortrt

/*
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
static int nst_malloc_trim(void) { return malloc_trim(0); }
#else
static int nst_malloc_trim(void) { return 0; }
#endif
*/
import "C"

// ReleaseFreedMemory hands the memory C code has freed (ONNX Runtime's,
// through malloc) back to the system. glibc keeps freed memory in its
// heaps for reuse, so after a large, short-lived allocation, such as
// building a session from an ONNX graph, the process would otherwise stay
// that much larger for its whole life. It does nothing where the C
// library is not glibc.
func ReleaseFreedMemory() { C.nst_malloc_trim() }

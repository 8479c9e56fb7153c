package pipeline

import (
	"fmt"
	"os"
	"testing"

	"github.com/nst-project/nst/internal/ortrt"
)

// TestMain loads ONNX Runtime while the working directory is still the
// package's, inside the source tree where the library is installed: tests
// that change directory would otherwise not find it when run alone.
func TestMain(m *testing.M) {
	if err := ortrt.Init(""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// Command nst paints a content photo in the style of an artwork (Gatys et
// al.): it optimises the pixels of an image so that a pretrained ConvNet,
// run through ONNX Runtime, sees the photo's content and the artwork's style.
//
// Run `nst --help` for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/nst-project/nst/internal/hugemem"
	"github.com/nst-project/nst/pipeline"
)

func main() {
	// First of all, while nothing else runs, so that ONNX Runtime's memory
	// comes in huge pages (docs/performance.md). A failed restart only
	// costs that speed, so its error is dropped.
	_ = hugemem.Reexec()
	os.Exit(run())
}

// run executes the command line and returns the process exit code: 0 on
// success, 1 for any error (one line on stderr, no stack trace), 2 for
// command-line usage errors, 130 when interrupted.
func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	root := newRootCmd()
	cmd, err := root.ExecuteContextC(ctx)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, pipeline.ErrInterrupted):
		fmt.Fprintln(os.Stderr, "nst:", oneLine(err))
		return 130
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "nst:", oneLine(err))
		// The help of the command that was misused, not the whole tool's.
		path := "nst"
		if cmd != nil {
			path = cmd.CommandPath()
		}
		fmt.Fprintf(os.Stderr, "Run '%s --help' for usage.\n", path)
		return 2
	default:
		fmt.Fprintln(os.Stderr, "nst:", oneLine(err))
		return 1
	}
}

// oneLine keeps an error on the single line scripts and users expect: a
// config with several bad values reports them all (errors.Join), one per
// line, and a line without the "nst:" prefix would read as unrelated.
func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
}

// usageError marks a command-line mistake (as opposed to a failed run).
type usageError struct{ error }

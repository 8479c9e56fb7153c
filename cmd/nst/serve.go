package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/nst-project/nst/studio"
)

func newServeCmd() *cobra.Command {
	var addr, runs, examples, modelsDir string
	cmd := &cobra.Command{
		Use:   "serve [--addr 127.0.0.1:8642] [--runs DIR]",
		Short: "Start the studio: a local web page to compose, watch and compare runs",
		Long: `Serve starts nst studio, a web page on this machine: compose an experiment
(images, style weight, size, iterations, layers, or the YAML itself, checked as
you type), watch it run (the image and cost curves live, progress and ETA; stop
and resume), compare the runs in the runs folder side by side, and draw the
contact sheets of a layer's units as nst units top does (into DIR/units).

The server listens on 127.0.0.1 unless --addr says otherwise and prints its URL
with a random access token; every request without the token is refused. It
reads and writes only the runs folder (uploads go to DIR/.uploads), and reads
the examples and models folders. One run (or sheet) uses the CPU at a time;
others wait.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			if _, err := os.Stat(modelsDir); err != nil {
				modelsDir = ""
			}
			if _, err := os.Stat(examples); err != nil {
				examples = ""
			}
			srv, err := studio.New(ctx, studio.Options{RunsDir: runs, ExamplesDir: examples, ModelsDir: modelsDir})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("serve: listen on %s: %w", addr, err)
			}
			// Requests share ctx, so that Ctrl-C ends the event streams too.
			hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second,
				BaseContext: func(net.Listener) context.Context { return ctx }}
			fmt.Fprintf(cmd.OutOrStdout(), "nst studio: http://%s/?token=%s\n", ln.Addr(), srv.Token())
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			select {
			case err := <-errc:
				return fmt.Errorf("serve: %w", err)
			case <-ctx.Done():
			}
			slog.Info("studio: shutting down; a running run leaves a checkpoint")
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				slog.Warn("studio: shutdown", "err", err)
			}
			cancel()
			srv.Wait()
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8642", "address to listen on (host:port; port 0 picks a free one)")
	cmd.Flags().StringVar(&runs, "runs", "runs", "runs folder: runs are written there and the gallery lists it")
	cmd.Flags().StringVar(&examples, "examples", "examples/images", "folder of example images offered to the composer")
	cmd.Flags().StringVar(&modelsDir, "models", "models", "folder of ONNX backbones a config may name in model.path")
	return cmd
}

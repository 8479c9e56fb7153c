package pipeline_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/nst-project/nst/pipeline"
)

// A style transfer from Go: a config (here inline; LoadConfig reads a
// file) and a callback that sees every step.
func ExampleRun() {
	dir, err := os.MkdirTemp("", "nst-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg, err := pipeline.LoadConfigBytes([]byte(`
content: builtin:village
style: [{path: builtin:swirls}]
size: 64
optimizer: {iterations: 3}
runtime: {threads: 1, graph_cache: false}
`), []string{"output.dir=" + filepath.Join(dir, "run")})
	if err != nil {
		log.Fatal(err)
	}
	res, err := pipeline.Run(context.Background(), cfg, pipeline.RunOptions{
		Observers: []pipeline.Observer{pipeline.ObserverFunc(func(ev *pipeline.Event) error {
			if ev.Kind == pipeline.EventIteration {
				fmt.Printf("step %d of %d, %dx%d, cost > 0: %t\n", ev.Iteration, ev.Iterations, ev.Width, ev.Height, ev.Cost > 0)
			}
			return nil
		})},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(filepath.Base(res.Image))
	// Output:
	// step 1 of 3, 64x43, cost > 0: true
	// step 2 of 3, 64x43, cost > 0: true
	// step 3 of 3, 64x43, cost > 0: true
	// final.png
}

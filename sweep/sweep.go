// Package sweep runs batches of experiments: a sweep file names a base
// experiment config and a grid of config values, and every combination of
// the grid is one item, with its own run folder under the sweep's output
// folder.
//
// The package knows nothing of how an item runs or how a config is loaded:
// the caller supplies a key validator and a function returning an item's
// resolved config (Options), and a Runner that runs one item. It expands the
// grid, gives each item a stable id, splits the items among shards (Slurm
// array tasks, Kubernetes Indexed Job pods, or --shard i/n), skips items
// that are done, marks the ones it finishes, and lays the results out as
// contact sheets.
//
// A sweep folder holds:
//
//	sweep.json          the plan: axes, items and shard count (Record)
//	items/ID/           one item's run folder, written by the Runner
//	items/ID/done.json  written last, when the item's outputs are complete
//	sheet*.png, .json   contact sheets and their cell index (Sheet)
package sweep

// File and folder names inside a sweep folder.
const (
	// RecordName is the sweep folder's plan, written by the first shard.
	RecordName = "sweep.json"
	// ItemsDir holds one run folder per item.
	ItemsDir = "items"
	// DoneName marks an item's run folder as complete.
	DoneName = "done.json"
)

// builtinPrefix marks built-in image names (pipeline.BuiltinPrefix, which
// this package cannot import): they are names, not paths, and are neither
// globbed nor rebased.
const builtinPrefix = "builtin:"

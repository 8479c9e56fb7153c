// Package record writes what every nst run leaves beside its output image:
// the per-iteration cost log (costs.csv) and its plot (costs.png), the run
// manifest (manifest.json), NumPy arrays for inspection, and a fresh folder
// per run. It also reports progress while the run is going.
//
// Files that are written in one go are replaced atomically, so a crash or an
// interrupt never leaves a half-written manifest or plot; the cost log is
// appended row by row and survives a crash minus at most the row being
// written.
package record

// File names of a run's records inside its run folder.
const (
	CostsCSVName = "costs.csv"
	CostsPNGName = "costs.png"
	ManifestName = "manifest.json"
)

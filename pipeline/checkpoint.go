package pipeline

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/nst-project/nst/audio"
	"github.com/nst-project/nst/internal/atomicfile"
	"github.com/nst-project/nst/internal/safefile"
	"github.com/nst-project/nst/optim"
	"github.com/nst-project/nst/record"
)

// CheckpointDir is the folder, inside a run folder, that holds what a
// stopped run needs to continue: the image being optimised, exactly as
// float32, the optimiser's state and where the run was.
const CheckpointDir = "checkpoint"

// checkpointName is the checkpoint's description. It is written last and
// names the image and optimiser files with their SHA-256, so a checkpoint
// whose writing was cut short (a crash, a full disk) is recognised as such
// and never half-trusted. Those files are named after their content
// (x-<hash>.npy, optimizer-<hash>.bin): saving a new checkpoint writes new
// files beside the old ones, so until the new description replaces the old
// one the previous checkpoint stays whole, and a failed save loses nothing.
const checkpointName = "checkpoint.json"

// checkpointFileName matches the names saveCheckpoint gives the image and
// state files; a description naming anything else (another folder, say)
// is refused.
var checkpointFileName = regexp.MustCompile(`^(x-[0-9a-f]{16}\.npy|optimizer-[0-9a-f]{16}\.bin)$`)

// checkpointVersion is the format this build writes and reads. A reader
// refuses other versions rather than guess: a resumed run must end exactly
// as an uninterrupted one would, or not at all.
const checkpointVersion = 1

// checkpoint is the content of checkpoint.json.
//
// The optimisers draw no random numbers (the seed only shapes the starting
// image, which the checkpoint replaces), so no generator state is kept.
type checkpoint struct {
	Version int `json:"version"`
	// Iteration is the number of optimiser steps x has taken; costs.csv
	// rows after it are dropped on resume.
	Iteration int `json:"iteration"`
	// Scale is the index of the scale being optimised in a coarse-to-fine
	// run, 0 for a run at one size; Width and Height are that scale's.
	// Channels is the optimiser's variable's: 3 (RGB), 1 when it is the
	// luminance, or an audio run's spectrogram bins (up to
	// maxCheckpointChannels).
	Scale    int `json:"scale"`
	Width    int `json:"width"`
	Height   int `json:"height"`
	Channels int `json:"channels"`
	// Optimizer is the method whose state is saved.
	Optimizer string `json:"optimizer"`
	// ConfigSHA256, ModelSHA256 and Inputs tie the checkpoint to the
	// experiment: a resume whose config, model or images changed since
	// would silently mix two experiments, so it is refused.
	ConfigSHA256 string         `json:"config_sha256"`
	ModelSHA256  string         `json:"model_sha256"`
	Inputs       []record.Input `json:"inputs"`
	// Image and State are the files holding x and the optimiser's state.
	Image checkpointFile `json:"image"`
	State checkpointFile `json:"optimizer_state"`
}

// checkpointFile names a file of the checkpoint and its SHA-256.
type checkpointFile struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// saveCheckpoint writes x (the optimiser's variable,
// [1,Channels,Height,Width]) and the optimiser's state into dir's checkpoint
// folder, then the description c (completed here with the file names and
// hashes), then removes the previous checkpoint's files. Every file is
// written atomically.
func saveCheckpoint(dir string, c checkpoint, x []float32, opt optim.Optimizer) error {
	cdir := filepath.Join(dir, CheckpointDir)
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	state, err := opt.MarshalBinary()
	if err != nil {
		return fmt.Errorf("save checkpoint: optimiser state: %w", err)
	}
	raw := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	imageName := "x-" + record.SHA256Hex(raw)[:16] + ".npy"
	imagePath := filepath.Join(cdir, imageName)
	if err := record.WriteNPY(imagePath, []int{1, c.Channels, c.Height, c.Width}, x); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	imageSum, err := record.FileSHA256(imagePath)
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	stateSum := record.SHA256Hex(state)
	stateName := "optimizer-" + stateSum[:16] + ".bin"
	if err := atomicfile.WriteFile(filepath.Join(cdir, stateName), state, 0o644); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	c.Version = checkpointVersion
	c.Optimizer = opt.Name()
	c.Image = checkpointFile{Name: imageName, SHA256: imageSum}
	c.State = checkpointFile{Name: stateName, SHA256: stateSum}
	js, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(cdir, checkpointName), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	// The new checkpoint is in place; what the old one used is garbage.
	// Failing to remove it wastes space but loses nothing.
	entries, _ := os.ReadDir(cdir)
	for _, e := range entries {
		if n := e.Name(); checkpointFileName.MatchString(n) && n != imageName && n != stateName {
			os.Remove(filepath.Join(cdir, n))
		}
	}
	return nil
}

// loadedCheckpoint is a checkpoint read back and checked: its description,
// the image and the optimiser's encoded state.
type loadedCheckpoint struct {
	checkpoint
	dir   string // the run folder it belongs to
	x     []float32
	state []byte
}

// ErrNoCheckpoint is wrapped by Resume's error when the run folder holds no
// checkpoint: the run finished, or was killed before it could save one.
var ErrNoCheckpoint = errors.New("no checkpoint")

// loadCheckpoint reads dir's checkpoint and checks that its files are the
// ones its description names, whole.
func loadCheckpoint(dir string) (*loadedCheckpoint, error) {
	cdir := filepath.Join(dir, CheckpointDir)
	js, err := safefile.ReadFile(filepath.Join(cdir, checkpointName), safefile.MaxConfigBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s (only a run stopped by an interrupt or a failed write leaves one; a finished run has nothing to resume)", ErrNoCheckpoint, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	c := loadedCheckpoint{dir: dir}
	if err := json.Unmarshal(js, &c.checkpoint); err != nil {
		return nil, fmt.Errorf("checkpoint %s is damaged: %w", filepath.Join(cdir, checkpointName), err)
	}
	if c.Version != checkpointVersion {
		return nil, fmt.Errorf("checkpoint %s has format %d; this nst reads format %d only, resume with the nst that wrote it", cdir, c.Version, checkpointVersion)
	}
	if c.Iteration < 0 || c.Scale < 0 || c.Width <= 0 || c.Height <= 0 || c.Channels < 1 || c.Channels > maxCheckpointChannels ||
		!checkpointFileName.MatchString(c.Image.Name) || !checkpointFileName.MatchString(c.State.Name) {
		return nil, fmt.Errorf("checkpoint %s is damaged: iteration %d, scale %d, size %dx%d with %d channels, files %q and %q", cdir, c.Iteration, c.Scale, c.Width, c.Height, c.Channels, c.Image.Name, c.State.Name)
	}
	imagePath := filepath.Join(cdir, c.Image.Name)
	if sum, err := record.FileSHA256(imagePath); err != nil || sum != c.Image.SHA256 {
		return nil, incomplete(cdir, c.Image.Name, err)
	}
	shape, x, err := record.ReadNPY(imagePath)
	if err != nil {
		return nil, fmt.Errorf("checkpoint image: %w", err)
	}
	if want := []int{1, c.Channels, c.Height, c.Width}; !slices.Equal(shape, want) {
		return nil, fmt.Errorf("checkpoint image %s has shape %v, its description says %v", imagePath, shape, want)
	}
	c.x = x
	if c.state, err = safefile.ReadFile(filepath.Join(cdir, c.State.Name), maxStateBytes(len(x))); err != nil || record.SHA256Hex(c.state) != c.State.SHA256 {
		return nil, incomplete(cdir, c.State.Name, err)
	}
	return &c, nil
}

// incomplete reports a checkpoint file that is missing or is not the one
// checkpoint.json describes.
func incomplete(cdir, name string, err error) error {
	if err != nil {
		return fmt.Errorf("checkpoint %s is incomplete: %w", cdir, err)
	}
	return fmt.Errorf("checkpoint %s is incomplete: %s is not the file checkpoint.json describes (was its writing cut short?)", cdir, name)
}

// removeCheckpoint deletes dir's checkpoint once the run it belongs to has
// finished, so that the folder cannot be resumed a second time.
func removeCheckpoint(dir string) error {
	if err := os.RemoveAll(filepath.Join(dir, CheckpointDir)); err != nil {
		return fmt.Errorf("remove the finished run's checkpoint: %w", err)
	}
	return nil
}

// maxStateHistory is optimizer.history's upper bound (Config.Check): the
// most curvature pairs an L-BFGS state holds.
const maxStateHistory = 1000

// maxStateBytes bounds the optimiser's state for an image of n values:
// L-BFGS's, the larger, holds the gradient and up to maxStateHistory
// pairs of n float32 each, with a few bytes per pair and a header
// (optim's MarshalBinary); Adam's two vectors fit within it. A larger
// file is not a state nst wrote, and is refused before it is read.
func maxStateBytes(n int) int64 {
	return 4*int64(n)*(1+2*maxStateHistory) + 16*maxStateHistory + 64<<10
}

// maxCheckpointChannels bounds a checkpoint's channel count: the bins of
// the largest STFT an audio run takes (audio.MaxNFFT/2+1).
const maxCheckpointChannels = audio.MaxNFFT/2 + 1

// Package video styles a video, or a folder of frames, frame by frame with
// Ruder, Dosovitskiy and Brox's temporal cost ("Artistic style transfer for
// videos", 2016): every frame is one pipeline.Run, started from the
// previous stylised frame warped along the optical flow and charged, through
// RunOptions.Terms, for differing from it where the flow is reliable.
//
// A video run folder holds:
//
//	config.yaml   the resolved config
//	video.json    the video manifest: frames, timings, settings (Manifest)
//	manifest.json the run's status, as every run folder has
//	input/        the decoded frames of a video file
//	runs/<frame>/ each frame's own run folder (costs.csv, checkpoint, ...)
//	frames/       the stylised frames, named like the input frames
//	flow/         the optical flows between content frames, .flo files
//	styled.mp4    the encoded video (when ffmpeg is available)
package video

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/internal/atomicfile"
	"github.com/nst-project/nst/internal/runlock"
	"github.com/nst-project/nst/pipeline"
	"github.com/nst-project/nst/record"
	"github.com/nst-project/nst/video/frames"
)

// Names inside a video run folder.
const (
	// ManifestName is the video manifest; its presence marks a folder as a
	// video run (IsRunDir).
	ManifestName = "video.json"
	// VideoName is the encoded result.
	VideoName = "styled.mp4"
	framesDir = "frames"
	flowDir   = "flow"
	runsDir   = "runs"
	inputDir  = "input"
)

// Options are the parts of a video run that are not part of the config.
type Options struct {
	// Progress receives one line per frame (frame i/N, its time, the ETA);
	// nil means none.
	Progress io.Writer
	// Observers receive every frame run's events (pipeline.RunOptions).
	Observers []pipeline.Observer
}

// Result says where a video run put its outputs.
type Result struct {
	// Dir is the video run folder.
	Dir string
	// Frames are the stylised frames, in order.
	Frames []string
	// Video is the encoded video; empty when the input was a folder of
	// frames and ffmpeg is absent.
	Video string
}

// IsInput reports whether content names a video input, a folder or a file
// that is neither a still image nor a .wav clip, rather than one image or
// one clip: the check nst run makes to choose between pipeline.Run and Run.
func IsInput(content string) bool {
	st, err := os.Stat(content)
	if err != nil {
		return false
	}
	if st.IsDir() {
		return true
	}
	switch strings.ToLower(filepath.Ext(content)) {
	case ".wav":
		// Audio: pipeline.Run styles it as a spectrogram.
		return false
	}
	// A still image is a still image whatever its name: only a file no
	// image decoder recognises, named as a video, is one.
	if f, err := os.Open(content); err == nil {
		_, _, err := image.DecodeConfig(f)
		f.Close()
		if err == nil {
			return false
		}
	}
	switch strings.ToLower(filepath.Ext(content)) {
	case ".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ogv", ".wmv", ".flv", ".ts", ".y4m", ".gif":
		return true
	}
	return false
}

// checkInput reads what it can of cfg's content before a run folder is
// made, so that a folder without frames or a file ffmpeg cannot read
// leaves nothing behind.
func checkInput(ctx context.Context, cfg *pipeline.Config) error {
	lim := frames.Limits{MaxFrames: cfg.Video.MaxFrames, MaxPixels: cfg.Limits.MaxPixels}
	if st, err := os.Stat(cfg.Content); err == nil && st.IsDir() {
		_, err := frames.ListFolder(cfg.Content, lim)
		return err
	}
	_, err := frames.Probe(ctx, cfg.Content)
	return err
}

// IsRunDir reports whether dir is a video run folder (it holds a video
// manifest), which Resume continues.
func IsRunDir(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ManifestName))
	return err == nil
}

// Run styles the frames of cfg.Content (a folder of frames or a video file)
// into a new run folder under cfg.Output.Dir, as the package documentation
// describes. A run that stops early (Ctrl-C, a failed write) leaves its
// folder for Resume; its error wraps pipeline.ErrInterrupted when it was
// interrupted.
func Run(ctx context.Context, cfg *pipeline.Config, o Options) (*Result, error) {
	if err := checkInput(ctx, cfg); err != nil {
		return nil, err
	}
	dir, err := record.RunDir(cfg.Output.Dir)
	if err != nil {
		return nil, fmt.Errorf("video run: %w; set output.dir (or --out) to a folder nst can create and write", err)
	}
	// The folder's lock tells readers (record.ReadRunManifest) the run is
	// live, as a frame's own run folder's does.
	unlock, err := runlock.Lock(dir)
	if err != nil {
		return nil, fmt.Errorf("video run: lock %s: %w", dir, err)
	}
	defer unlock()
	resolved, err := cfg.Resolved()
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, pipeline.ResolvedConfigName), resolved, 0o644); err != nil {
		return nil, fmt.Errorf("video run: write config: %w", err)
	}
	return runIn(ctx, cfg, dir, nil, o)
}

// Resume continues the video run in dir: frames already stylised are kept,
// an interrupted frame continues from its checkpoint (pipeline.Resume),
// and the rest are styled as the folder's config.yaml says. The result is
// the one an uninterrupted run would have given, frame for frame.
func Resume(ctx context.Context, dir string, o Options) (*Result, error) {
	unlock, err := runlock.Lock(dir)
	if errors.Is(err, runlock.ErrLocked) {
		return nil, fmt.Errorf("resume video run %s: another nst process is running or resuming this run", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("resume video run %s: %w", dir, err)
	}
	defer unlock()
	m, err := readManifest(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("resume video run %s: %w", dir, err)
	}
	cfg, err := pipeline.LoadConfig(filepath.Join(dir, pipeline.ResolvedConfigName), nil)
	if err != nil {
		return nil, fmt.Errorf("resume video run %s: %w", dir, err)
	}
	return runIn(ctx, cfg, dir, m, o)
}

// videoRun is one video run in progress.
type videoRun struct {
	cfg  *pipeline.Config
	dir  string
	seq  *frames.Sequence
	ext  string
	man  *Manifest
	prog io.Writer
}

func (r *videoRun) flowDir() string { return filepath.Join(r.dir, flowDir) }

// stem is frame i's input name without its extension.
func (r *videoRun) stem(i int) string {
	n := r.seq.Frames[i].Name
	return strings.TrimSuffix(n, filepath.Ext(n))
}

// outputPath is where frame i's stylised result goes: its input name with
// the output format's extension.
func (r *videoRun) outputPath(i int) string {
	return filepath.Join(r.dir, framesDir, r.stem(i)+"."+r.ext)
}

// runIn styles the frames in the run folder dir; prev is the manifest of
// an earlier attempt in dir, nil for a fresh folder.
func runIn(ctx context.Context, cfg *pipeline.Config, dir string, prev *Manifest, o Options) (res *Result, err error) {
	t0 := time.Now()
	status := record.NewManifest(t0)
	r := &videoRun{cfg: cfg, dir: dir, ext: cfg.Output.Format, prog: o.Progress}
	if r.ext == "jpeg" {
		r.ext = "jpg"
	}
	iterations := 0
	defer func() {
		// manifest.json says how the whole run ended, as every run folder's.
		why := err
		if errors.Is(err, pipeline.ErrInterrupted) {
			why = context.Canceled // recorded as "interrupted"
		}
		status.Finish(time.Now(), iterations, nil, why)
		if werr := status.Write(filepath.Join(dir, record.ManifestName)); werr != nil && err == nil {
			err = werr
		}
		if errors.Is(err, pipeline.ErrInterrupted) {
			err = fmt.Errorf("%w; the frames done so far are in %s, continue with: nst run --resume %s", err, dir, dir)
		}
	}()
	if r.seq, err = openInput(ctx, cfg, dir, prev); err != nil {
		return nil, err
	}
	for _, d := range []string{framesDir, flowDir, runsDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("video run: %w", err)
		}
	}
	r.man = newManifest(cfg, r.seq, prev)
	if err := r.man.write(dir); err != nil {
		return nil, err
	}
	n := len(r.seq.Frames)
	var spent time.Duration
	styled := 0
	for i := range r.seq.Frames {
		ft := time.Now()
		fr, err := r.frame(ctx, i, o)
		if err != nil {
			r.man.Status = record.StatusInterrupted
			if !errors.Is(err, pipeline.ErrInterrupted) {
				r.man.Status = "failed: " + err.Error()
			}
			_ = r.man.write(dir)
			if errors.Is(err, pipeline.ErrInterrupted) {
				// The frame run's own message names its folder; the video
				// run is what to continue.
				return nil, fmt.Errorf("%w at video frame %d/%d (%s)", pipeline.ErrInterrupted, i+1, n, r.seq.Frames[i].Name)
			}
			return nil, fmt.Errorf("video frame %d/%d (%s): %w", i+1, n, r.seq.Frames[i].Name, err)
		}
		iterations += fr.Iterations
		r.man.Frames[i] = *fr
		if err := r.man.write(dir); err != nil {
			return nil, err
		}
		if fr.Reused {
			fmt.Fprintf(nonNil(r.prog), "frame %d/%d %s: done earlier\n", i+1, n, r.seq.Frames[i].Name)
			continue
		}
		// The ETA averages the later frames only once there are some: the
		// first takes video.iterations_first steps and would inflate it.
		if i > 0 || styled > 0 {
			spent += time.Since(ft)
			styled++
		}
		per := time.Since(ft)
		if styled > 0 {
			per = spent / time.Duration(styled)
		}
		eta := (per * time.Duration(n-i-1)).Round(time.Second)
		fmt.Fprintf(nonNil(r.prog), "frame %d/%d %s: %d iterations in %.1fs, warp error %.3g; ETA %s\n",
			i+1, n, r.seq.Frames[i].Name, fr.Iterations, fr.Seconds, fr.WarpError, eta)
	}
	res = &Result{Dir: dir}
	for i := range r.seq.Frames {
		res.Frames = append(res.Frames, r.outputPath(i))
	}
	if res.Video, err = r.encode(ctx, res.Frames); err != nil {
		return nil, err
	}
	r.man.Video = res.Video
	r.man.Status = record.StatusCompleted
	r.man.Seconds += time.Since(t0).Seconds()
	if err := r.man.write(dir); err != nil {
		return nil, err
	}
	return res, nil
}

// nonNil returns w, or io.Discard for nil.
func nonNil(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// openInput lists or decodes cfg.Content. A video file is decoded into
// dir/input once; a resumed run (prev set) lists the frames decoded there.
func openInput(ctx context.Context, cfg *pipeline.Config, dir string, prev *Manifest) (*frames.Sequence, error) {
	lim := frames.Limits{MaxFrames: cfg.Video.MaxFrames, MaxPixels: cfg.Limits.MaxPixels}
	work := filepath.Join(dir, inputDir)
	if prev != nil && prev.Source != "" {
		if seq, err := frames.ListFolder(work, lim); err == nil && len(seq.Frames) == len(prev.Frames) {
			seq.Source, seq.Audio = prev.Source, prev.Audio
			seq.Rate, err = frames.ParseRate(prev.Rate)
			return seq, err
		}
		// The decode did not finish: start it again.
		if err := os.RemoveAll(work); err != nil {
			return nil, fmt.Errorf("video input: %w", err)
		}
	}
	seq, err := frames.Open(ctx, cfg.Content, work, lim)
	if err != nil {
		if errors.Is(err, frames.ErrNoFFmpeg) {
			return nil, fmt.Errorf("content %s is a video file, which needs ffmpeg: %w; or give a folder of frames", cfg.Content, err)
		}
		return nil, err
	}
	if len(seq.Frames) == 0 {
		return nil, fmt.Errorf("video input %s holds no frames", cfg.Content)
	}
	if seq.Rate.IsZero() {
		if seq.Rate, err = cfg.Video.Rate(); err != nil {
			return nil, err
		}
	}
	return seq, nil
}

// frame styles frame i, or takes its result from an earlier attempt: the
// stylised frame itself (frames/ is the done marker), a finished frame
// run, or a frame run's checkpoint, which pipeline.Resume continues.
func (r *videoRun) frame(ctx context.Context, i int, o Options) (*Frame, error) {
	out := r.outputPath(i)
	fr := &Frame{Name: r.seq.Frames[i].Name, Content: r.seq.Frames[i].Path, Output: out,
		RunDir: filepath.Join(r.dir, runsDir, r.stem(i))}
	if _, err := os.Stat(out); err == nil {
		if done := r.man.Frames[i]; done.Output == out {
			done.Reused = true
			return &done, nil
		}
		fr.Reused = true
		return fr, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w before the frame started", pipeline.ErrInterrupted)
	}
	t0 := time.Now()
	cfg := *r.cfg
	cfg.Content = r.seq.Frames[i].Path
	cfg.Output.Dir = fr.RunDir
	cfg.Optimizer.Iterations = r.cfg.Video.IterationsFirst
	var prev []*earlier
	ro := pipeline.RunOptions{Observers: o.Observers}
	if i > 0 {
		cfg.Optimizer.Iterations = r.cfg.Video.Iterations
		w, h, err := imageSize(r.outputPath(i-1), r.cfg.Limits.MaxPixels)
		if err != nil {
			return nil, err
		}
		if prev, err = prepare(ctx, r, i, r.cfg.Video.LongTerm, w, h); err != nil {
			return nil, err
		}
		fr.Reliable = prev[0].reliable
		if r.cfg.Video.TemporalWeight > 0 {
			ro.Terms = terms(prev, r.cfg.Video.TemporalWeight)
		}
		if r.cfg.Video.Init == pipeline.VideoInitPrevWarped {
			ro.Start = imageio.FromTensor(prev[0].warped, w, h)
		}
	}
	res, err := r.runFrame(ctx, &cfg, fr.RunDir, ro)
	if err != nil {
		return nil, err
	}
	if err := copyFile(res.Image, out); err != nil {
		return nil, err
	}
	fr.Iterations, fr.Cost = res.Iterations, res.Total
	if len(prev) > 0 {
		styled, err := frameTensor(out, prev[0].w, prev[0].h, r.cfg.Limits.MaxPixels)
		if err != nil {
			return nil, err
		}
		fr.WarpError = WarpError(styled, prev[0].warped, prev[0].weights)
	}
	fr.Seconds = time.Since(t0).Seconds()
	return fr, nil
}

// runFrame runs one frame's experiment in the folder dir: a finished run
// there is taken as it is, a stopped one resumed from its checkpoint, and
// anything else (a folder left before the first checkpoint) replaced.
func (r *videoRun) runFrame(ctx context.Context, cfg *pipeline.Config, dir string, ro pipeline.RunOptions) (*pipeline.Result, error) {
	if _, err := os.Stat(dir); err == nil {
		final := filepath.Join(dir, "final."+r.ext)
		if _, err := os.Stat(final); err == nil {
			return &pipeline.Result{Dir: dir, Image: final}, nil
		}
		if _, err := os.Stat(filepath.Join(dir, pipeline.CheckpointDir)); err == nil {
			ro.Start = nil
			return pipeline.Resume(ctx, dir, ro)
		}
		// No result and no checkpoint: nothing in it can be continued.
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("remove the unfinished frame run %s: %w", dir, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("frame run folder: %w", err)
	}
	return pipeline.Run(ctx, cfg, ro)
}

// imageSize returns the size of the image at path.
func imageSize(path string, maxPixels int64) (w, h int, err error) {
	img, err := imageio.Load(path, imageio.LoadOptions{MaxPixels: maxPixels})
	if err != nil {
		return 0, 0, fmt.Errorf("previous stylised frame: %w", err)
	}
	return img.Bounds().Dx(), img.Bounds().Dy(), nil
}

// copyFile copies src to dst atomically: dst is the frame's done marker,
// so it must never be seen half written.
func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("copy the frame's result: %w", err)
	}
	if err := atomicfile.WriteFile(dst, data, 0o644); err != nil {
		return fmt.Errorf("copy the frame's result: %w", err)
	}
	return nil
}

// encode writes the stylised frames as dir/styled.mp4 at the input's rate
// with its audio. A folder of frames is encoded when ffmpeg is there, and
// left as frames (with a note) when it is not; a video file's run has
// already needed ffmpeg to decode.
func (r *videoRun) encode(ctx context.Context, paths []string) (string, error) {
	out := filepath.Join(r.dir, VideoName)
	eo := frames.EncodeOptions{Rate: r.seq.Rate, Limits: frames.Limits{MaxFrames: r.cfg.Video.MaxFrames, MaxPixels: r.cfg.Limits.MaxPixels}}
	if r.seq.Audio {
		eo.Audio = r.seq.Source
	}
	if _, err := frames.Encode(ctx, paths, out, eo); err != nil {
		if errors.Is(err, frames.ErrNoFFmpeg) && r.seq.Source == "" {
			fmt.Fprintf(nonNil(r.prog), "not encoding a video: %v\n", err)
			return "", nil
		}
		return "", fmt.Errorf("video run: %w", err)
	}
	return out, nil
}

// Manifest is the content of video.json.
type Manifest struct {
	// Source is the video file decoded, empty for a folder of frames.
	Source string `json:"source,omitempty"`
	// Content is the config's content: the file or folder.
	Content string `json:"content"`
	// Rate is the frame rate (ffmpeg's fraction), Audio whether the
	// source has audio.
	Rate  string `json:"rate"`
	Audio bool   `json:"audio"`
	// Settings is the config's video block.
	Settings pipeline.VideoConfig `json:"settings"`
	// Frames lists every input frame; an entry's Output is empty until the
	// frame is done.
	Frames []Frame `json:"frames"`
	// Video is the encoded video, once written.
	Video string `json:"video,omitempty"`
	// Status is running, completed, interrupted or "failed: ...".
	Status string `json:"status"`
	// Seconds adds up the wall-clock time of every attempt that finished.
	Seconds float64 `json:"seconds"`
}

// Frame is one frame's entry in the video manifest.
type Frame struct {
	Name    string `json:"name"`
	Content string `json:"content"`
	Output  string `json:"output,omitempty"`
	RunDir  string `json:"run_dir,omitempty"`
	// Seconds is the frame's time: flow, preparation and optimisation.
	Seconds    float64 `json:"seconds"`
	Iterations int     `json:"iterations"`
	Cost       float64 `json:"cost"`
	// Reliable is the share of pixels whose flow to the previous frame
	// passed the consistency check; WarpError the mean squared difference
	// from the warped previous stylised frame on them (WarpError).
	Reliable  float64 `json:"reliable"`
	WarpError float64 `json:"warp_error"`
	// Reused says the frame was done by an earlier attempt.
	Reused bool `json:"reused,omitempty"`
}

// newManifest starts the manifest of a run over seq, keeping the done
// frames' entries of an earlier attempt's manifest prev.
func newManifest(cfg *pipeline.Config, seq *frames.Sequence, prev *Manifest) *Manifest {
	m := &Manifest{Source: seq.Source, Content: cfg.Content, Rate: seq.Rate.String(), Audio: seq.Audio,
		Settings: cfg.Video, Status: record.StatusRunning, Frames: make([]Frame, len(seq.Frames))}
	for i, f := range seq.Frames {
		m.Frames[i] = Frame{Name: f.Name, Content: f.Path}
		if prev != nil && i < len(prev.Frames) && prev.Frames[i].Name == f.Name && prev.Frames[i].Output != "" {
			m.Frames[i] = prev.Frames[i]
		}
	}
	if prev != nil {
		m.Seconds = prev.Seconds
	}
	return m
}

// write saves m as dir/video.json, atomically.
func (m *Manifest) write(dir string) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("write video manifest: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ManifestName), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write video manifest: %w", err)
	}
	return nil
}

// readManifest reads a video.json written by write.
func readManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read video manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read video manifest %s: %w", path, err)
	}
	return &m, nil
}

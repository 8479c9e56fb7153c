package sweep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nst-project/nst/internal/runlock"
)

// itemColor is the solid colour the test runner paints item i with.
func itemColor(i int) color.RGBA {
	return color.RGBA{uint8(30 + 37*i), uint8(200 - 29*i), uint8(60 + 53*i%190), 255}
}

// writePNG writes a w×h image of colour c.
func writePNG(t *testing.T, path string, w, h int, c color.RGBA) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// counter is a Runner that paints each item's final image and counts the
// calls per item id.
type counter struct {
	t    *testing.T
	mu   sync.Mutex
	runs map[string]int
	jobs []Job
	// fail makes the items with these ids fail.
	fail map[string]bool
}

func newCounter(t *testing.T) *counter { return &counter{t: t, runs: map[string]int{}} }

func (c *counter) run(_ context.Context, job Job) (Result, error) {
	c.mu.Lock()
	c.runs[job.Item.ID]++
	c.jobs = append(c.jobs, job)
	c.mu.Unlock()
	if c.fail[job.Item.ID] {
		if err := os.MkdirAll(job.Dir, 0o755); err != nil {
			return Result{}, err
		}
		_ = os.WriteFile(filepath.Join(job.Dir, "checkpoint.json"), []byte("{}"), 0o644)
		return Result{}, errors.New("out of memory")
	}
	img := filepath.Join(job.Dir, "final.png")
	writePNG(c.t, img, 8, 6, itemColor(job.Item.Index))
	return Result{Image: img, Costs: map[string]float64{"total": 1.5, "style": float64(job.Item.Index)}, Iterations: 10}, nil
}

func TestShardsCoverGrid(t *testing.T) {
	// A 2x3 grid as 3 shards, from each source of the shard index: every
	// item runs exactly once, two per shard, with the shards running at
	// the same time.
	for _, tc := range []struct {
		name   string
		shards int
		env    func(task int) map[string]string
	}{
		{"slurm 0-2", 0, func(task int) map[string]string {
			return map[string]string{EnvSlurmTaskID: fmt.Sprint(task), EnvSlurmTaskMin: "0", EnvSlurmTaskMax: "2", EnvSlurmTaskCount: "3", EnvSlurmTaskStep: "1"}
		}},
		{"slurm 1-3", 0, func(task int) map[string]string {
			return map[string]string{EnvSlurmTaskID: fmt.Sprint(task + 1), EnvSlurmTaskMin: "1", EnvSlurmTaskMax: "3", EnvSlurmTaskCount: "3"}
		}},
		{"kubernetes", 3, func(task int) map[string]string {
			return map[string]string{EnvJobCompletionIndex: fmt.Sprint(task)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := load(t, grid2x3, nil)
			c := newCounter(t)
			var wg sync.WaitGroup
			reports := make([]*Report, 3)
			errs := make([]error, 3)
			for task := range 3 {
				env := tc.env(task)
				sh, err := ResolveShard("", tc.shards, func(k string) string { return env[k] })
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					reports[task], errs[task] = s.Run(context.Background(), sh, c.run, nil)
				}()
			}
			wg.Wait()
			for task := range 3 {
				if errs[task] != nil {
					t.Fatalf("task %d: %v", task, errs[task])
				}
				if r := reports[task]; r.Shard != (Shard{task, 3}) || len(r.Ran) != 2 || r.Selected != 2 {
					t.Errorf("task %d: report %+v; want shard %d/3 running 2 items", task, r, task)
				}
			}
			if len(c.runs) != 6 {
				t.Errorf("%d distinct items ran, want 6", len(c.runs))
			}
			for _, it := range s.Items {
				if n := c.runs[it.ID]; n != 1 {
					t.Errorf("item %d ran %d times", it.Index, n)
				}
				st, err := itemStatus(s.ItemDir(it))
				if err != nil || st.State != StateDone {
					t.Fatalf("item %d: %v, %v", it.Index, st.State, err)
				}
				if want := fmt.Sprintf("%d/3", it.Index%3); st.Done.Shard != want {
					t.Errorf("item %d finished by shard %s, want %s", it.Index, st.Done.Shard, want)
				}
			}
			rec, err := ReadRecord(s.Output)
			if err != nil || rec.Shards != 3 || len(rec.Items) != 6 {
				t.Errorf("sweep.json: %+v, %v", rec, err)
			}
		})
	}
}

func TestDoneMarkers(t *testing.T) {
	s, _ := load(t, grid2x3, nil)
	c := newCounter(t)
	ctx := context.Background()
	if _, err := s.Run(ctx, All, c.run, nil); err != nil {
		t.Fatal(err)
	}
	// done.json holds the image relative to the item folder, the costs
	// and the item's settings.
	it := s.Items[4]
	raw, err := os.ReadFile(filepath.Join(s.ItemDir(it), DoneName))
	if err != nil {
		t.Fatal(err)
	}
	var d DoneMarker
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	if d.ID != it.ID || d.Index != 4 || d.Image != "final.png" || d.Iterations != 10 ||
		d.Costs["total"] != 1.5 || d.Costs["style"] != 4 || d.Shard != "0/1" || !slices.Equal(d.Overrides, it.Overrides) {
		t.Errorf("done.json = %+v", d)
	}

	// A rerun skips every done item.
	rep, err := s.Run(ctx, All, c.run, nil)
	if err != nil || len(rep.Skipped) != 6 || len(rep.Ran)+len(rep.Resumed) != 0 {
		t.Fatalf("rerun: %+v, %v; want 6 skipped", rep, err)
	}
	if len(c.jobs) != 6 {
		t.Errorf("runner called %d times over both runs, want 6", len(c.jobs))
	}

	// An item whose folder has outputs but no done.json is resumable; one
	// whose folder is empty is pending and starts afresh.
	if err := os.Remove(filepath.Join(s.ItemDir(s.Items[1]), DoneName)); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(s.ItemDir(s.Items[2])); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.ItemDir(s.Items[2]), 0o755); err != nil {
		t.Fatal(err)
	}
	sts, err := s.Status(All)
	if err != nil {
		t.Fatal(err)
	}
	var states []State
	for _, st := range sts {
		states = append(states, st.State)
	}
	want := []State{StateDone, StateResumable, StatePending, StateDone, StateDone, StateDone}
	if !slices.Equal(states, want) {
		t.Errorf("states %v, want %v", states, want)
	}
	c.jobs = nil
	rep, err = s.Run(ctx, All, c.run, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.jobs) != 2 || c.jobs[0].Item.Index != 1 || !c.jobs[0].Resume || c.jobs[1].Item.Index != 2 || c.jobs[1].Resume {
		t.Errorf("jobs %+v; want item 1 resumed and item 2 started", c.jobs)
	}
	if !slices.Equal(rep.Resumed, []string{s.Items[1].ID}) || !slices.Equal(rep.Ran, []string{s.Items[2].ID}) || len(rep.Skipped) != 4 {
		t.Errorf("report %+v", rep)
	}
	if c.jobs[0].Dir != filepath.Join("out", "items", s.Items[1].ID) || c.jobs[0].Base != "base.yaml" {
		t.Errorf("job dir %q, base %q", c.jobs[0].Dir, c.jobs[0].Base)
	}
}

func TestRunFailures(t *testing.T) {
	s, _ := load(t, grid2x3, nil)
	ctx := context.Background()

	// A failing item does not stop the others; it is reported, and stays
	// resumable.
	c := newCounter(t)
	c.fail = map[string]bool{s.Items[1].ID: true}
	rep, err := s.Run(ctx, All, c.run, nil)
	if err == nil || !strings.Contains(err.Error(), "1 of 6 items failed") || !strings.Contains(err.Error(), s.Items[1].ID+": out of memory") {
		t.Errorf("error %v", err)
	}
	if len(rep.Ran) != 5 || len(rep.Failed) != 1 || rep.Failed[0].ID != s.Items[1].ID {
		t.Errorf("report %+v", rep)
	}
	if st, _ := itemStatus(s.ItemDir(s.Items[1])); st.State != StateResumable {
		t.Errorf("failed item is %s, want resumable", st.State)
	}

	// A runner that puts its image outside the item folder, or reports
	// none, fails the item: done.json would point at the wrong run.
	s2, dir := load(t, grid2x3, nil)
	outside := filepath.Join(dir, "elsewhere.png")
	writePNG(t, outside, 2, 2, itemColor(0))
	for _, res := range []Result{{Image: outside}, {}, {Image: "out/items/missing.png"}} {
		_, err := s2.Run(ctx, Shard{0, 1}, func(context.Context, Job) (Result, error) { return res, nil }, nil)
		if err == nil || !strings.Contains(err.Error(), "mark done") {
			t.Errorf("result %+v: error %v, want a mark done error", res, err)
		}
	}
	if st, _ := itemStatus(s2.ItemDir(s2.Items[0])); st.State == StateDone {
		t.Error("item marked done after a bad result")
	}

	// Cancelling stops after the current item; the rest are left.
	s3, _ := load(t, grid2x3, nil)
	cctx, cancel := context.WithCancel(ctx)
	n := 0
	rep, err = s3.Run(cctx, All, func(ctx context.Context, job Job) (Result, error) {
		n++
		if n == 2 {
			cancel()
			return Result{}, ctx.Err()
		}
		return newCounter(t).run(ctx, job)
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "interrupted with 5 items left") || len(rep.Ran) != 1 || len(rep.Left) != 5 || len(rep.Failed) != 0 {
		t.Errorf("cancelled run: %+v, %v", rep, err)
	}
}

func TestRecordConsistency(t *testing.T) {
	s, dir := load(t, grid2x3, nil)
	ctx := context.Background()
	c := newCounter(t)
	if _, err := s.Run(ctx, Shard{0, 2}, c.run, nil); err != nil {
		t.Fatal(err)
	}
	// Another shard count is refused before any work.
	c.jobs = nil
	_, err := s.Run(ctx, Shard{1, 3}, c.run, nil)
	if err == nil || !strings.Contains(err.Error(), "was written for 2 shards") || len(c.jobs) != 0 {
		t.Errorf("shard 1/3 after 0/2: %v (%d jobs)", err, len(c.jobs))
	}
	// So is a changed grid.
	writeFiles(t, dir, map[string]string{"sweep.yaml": strings.Replace(grid2x3, "[100, 1000]", "[100, 1000, 3000]", 1)})
	s2, err := Load("sweep.yaml", Options{ValidKey: testValidKey, Resolve: testResolve})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s2.Run(ctx, Shard{1, 2}, c.run, nil)
	if err == nil || !strings.Contains(err.Error(), "the sweep changed") || !strings.Contains(err.Error(), "lists 6 items, the file now gives 9") {
		t.Errorf("changed grid: %v", err)
	}
	// The other shard of the first count is accepted.
	if _, err := s.Run(ctx, Shard{1, 2}, c.run, nil); err != nil {
		t.Errorf("shard 1/2: %v", err)
	}
}

func TestRecordRace(t *testing.T) {
	// Shards starting at once with different counts: exactly one count is
	// recorded, the shards with that count proceed and the others fail.
	s, _ := load(t, grid2x3, nil)
	counts := []int{2, 3, 2, 3, 2, 3, 2, 3}
	errs := make([]error, len(counts))
	var wg sync.WaitGroup
	for i, n := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.claimRecord(Shard{0, n})
		}()
	}
	wg.Wait()
	rec, err := ReadRecord(s.Output)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range counts {
		if ok := errs[i] == nil; ok != (n == rec.Shards) {
			t.Errorf("claim with %d shards (recorded %d): %v", n, rec.Shards, errs[i])
		}
	}
	left, _ := filepath.Glob(filepath.Join(s.Output, ".*tmp*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestWriteList(t *testing.T) {
	s, _ := load(t, grid2x3, nil)
	c := newCounter(t)
	if _, err := s.Run(context.Background(), Shard{0, 3}, c.run, nil); err != nil {
		t.Fatal(err)
	}
	// Rows compared field by field: tabwriter pads the columns.
	row := func(i int, state string) string {
		return strings.Join(append([]string{fmt.Sprint(i), state, s.Items[i].ID}, s.Items[i].Overrides...), " ")
	}
	for _, tc := range []struct {
		shard Shard
		want  []string
	}{
		{All, []string{
			"sweep.yaml: 6 items (2 done, 0 resumable, 4 pending)",
			"base base.yaml, output out",
			"axes, the last fastest: weights.style (2), color (3), seed (1)",
			"# STATE ID SETTINGS",
			row(0, "done"), row(1, "pending"), row(2, "pending"),
			row(3, "done"), row(4, "pending"), row(5, "pending"),
		}},
		{Shard{1, 3}, []string{
			"sweep.yaml: shard 1/3: 2 of 6 items (0 done, 0 resumable, 2 pending)",
			"base base.yaml, output out",
			"axes, the last fastest: weights.style (2), color (3), seed (1)",
			"# STATE ID SETTINGS",
			row(1, "pending"), row(4, "pending"),
		}},
	} {
		var buf bytes.Buffer
		if err := s.List(&buf, tc.shard); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if l = strings.Join(strings.Fields(l), " "); l != "" {
				lines = append(lines, l)
			}
		}
		// The first line starts with the sweep file's full path.
		if len(lines) != len(tc.want) {
			t.Fatalf("list for %v has %d lines, want %d:\n%s", tc.shard, len(lines), len(tc.want), buf.String())
		}
		for i, w := range tc.want {
			if !strings.HasSuffix(lines[i], w) {
				t.Errorf("list for %v, line %d: %q, want it to end in %q", tc.shard, i, lines[i], w)
			}
		}
	}
	if err := s.List(io.Discard, Shard{3, 3}); err == nil {
		t.Error("List(3/3): no error")
	}
	// Listing a sweep that has not started writes nothing.
	fresh, _ := load(t, grid2x3, nil)
	if err := fresh.List(io.Discard, All); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fresh.Output); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sweep folder after List: %v", err)
	}
}

func TestRecordWithoutHardLinks(t *testing.T) {
	// Where hard links fail, sweep.json is created exclusively instead:
	// the first shard writes it, a second with another count is refused.
	defer func(l func(string, string) error) { link = l }(link)
	link = func(string, string) error { return &os.LinkError{Op: "link", Err: errors.ErrUnsupported} }
	s, _ := load(t, grid2x3, nil)
	if err := s.claimRecord(Shard{0, 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.claimRecord(Shard{1, 2}); err != nil {
		t.Errorf("second shard of the same count: %v", err)
	}
	if err := s.claimRecord(Shard{1, 3}); err == nil || !strings.Contains(err.Error(), "written for 2 shards") {
		t.Errorf("other count: %v", err)
	}

	// A reader that finds the file half-written waits for the rest.
	path := filepath.Join(s.Output, "half.json")
	full, err := json.Marshal(s.record(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, full[:len(full)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		rec, err := readRecordWait(path, 5*time.Second)
		if err == nil && rec.Shards != 2 {
			err = fmt.Errorf("read %d shards", rec.Shards)
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	if err := os.WriteFile(path, full, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("readRecordWait: %v", err)
	}
}

// TestRunningItemsAreSkipped: an item whose run holds its folder's lock
// (another shard's live process) reads as running, is skipped, and is
// counted so in the listing; once the lock is gone (the process ended,
// even by SIGKILL) it is resumable.
func TestRunningItemsAreSkipped(t *testing.T) {
	if !runlock.Supported {
		t.Skip("no flock on this platform")
	}
	s, _ := load(t, grid2x3, nil)
	dir := s.ItemDir(s.Items[0])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"status": "running"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	unlock, err := runlock.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := itemStatus(dir); st.State != StateRunning {
		t.Errorf("locked item is %s, want running", st.State)
	}
	var list bytes.Buffer
	if err := s.List(&list, All); err != nil || !strings.Contains(list.String(), "(0 done, 0 resumable, 5 pending, 1 running)") {
		t.Errorf("listing (%v):\n%s\nwant 1 running", err, list.String())
	}
	c := newCounter(t)
	rep, err := s.Run(context.Background(), All, c.run, nil)
	if err != nil || !slices.Contains(rep.Skipped, s.Items[0].ID) || len(rep.Ran) != 5 {
		t.Errorf("run: %v, report %+v; want the running item skipped and the others run", err, rep)
	}
	unlock()
	if st, _ := itemStatus(dir); st.State != StateResumable {
		t.Errorf("item after its lock went is %s, want resumable", st.State)
	}
}

package sweep

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nst-project/nst/internal/safefile"
)

// recordVersion is the sweep.json format this build writes and reads.
const recordVersion = 1

// Record is the content of a sweep folder's sweep.json: the plan every
// shard must agree on, and what Sheet lays out.
type Record struct {
	Version int `json:"version"`
	// File is the sweep file the first shard read.
	File string `json:"file"`
	Base string `json:"base"`
	// Shards is the shard count every shard must use.
	Shards  int          `json:"shards"`
	Axes    []RecordAxis `json:"axes"`
	Items   []RecordItem `json:"items"`
	Created time.Time    `json:"created"`
}

// RecordAxis is an axis in sweep.json.
type RecordAxis struct {
	Key    string   `json:"key"`
	Labels []string `json:"labels"`
	Values []string `json:"values"`
}

// RecordItem is an item in sweep.json.
type RecordItem struct {
	Index  int    `json:"index"`
	ID     string `json:"id"`
	Choice []int  `json:"choice"`
}

func (s *Sweep) record(shards int) Record {
	r := Record{Version: recordVersion, File: s.File, Base: s.Base, Shards: shards, Created: time.Now().UTC()}
	for _, ax := range s.Axes {
		ra := RecordAxis{Key: ax.Key}
		for _, v := range ax.Values {
			ra.Labels = append(ra.Labels, v.Label)
			ra.Values = append(ra.Values, v.Text)
		}
		r.Axes = append(r.Axes, ra)
	}
	for _, it := range s.Items {
		r.Items = append(r.Items, RecordItem{Index: it.Index, ID: it.ID, Choice: it.Choice})
	}
	return r
}

// claimRecord writes OUTPUT/sweep.json if no shard has, or checks that the
// one there has the same items and shard count. The file appears complete
// and at most once: it is written to a temporary file and hard-linked into
// place, which fails when another shard got there first. On file systems
// without hard links it is created exclusively (O_EXCL) instead, and a
// reader that finds it half-written retries.
func (s *Sweep) claimRecord(sh Shard) error {
	path := filepath.Join(s.Output, RecordName)
	if err := os.MkdirAll(s.Output, 0o755); err != nil {
		return fmt.Errorf("sweep %s: create the sweep folder: %w", s.File, err)
	}
	data, err := json.MarshalIndent(s.record(sh.Count), "", "  ")
	if err != nil {
		return fmt.Errorf("sweep %s: %w", s.File, err)
	}
	data = append(data, '\n')
	created, err := createOnce(path, data)
	if err != nil {
		return fmt.Errorf("sweep %s: write %s: %w", s.File, path, err)
	}
	if created {
		return nil
	}
	prev, err := readRecordWait(path, 5*time.Second)
	if err != nil {
		return fmt.Errorf("sweep %s: %w", s.File, err)
	}
	return s.matches(prev, sh, path)
}

// createOnce makes path hold data unless it exists, reporting whether this
// call created it.
func createOnce(path string, data []byte) (bool, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, err
	}
	name := tmp.Name()
	defer os.Remove(name)
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	err = link(name, path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	// No hard links here (some network and FUSE file systems).
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return true, err
	}
	return true, f.Close()
}

// link is os.Link; tests replace it to act as a file system without hard
// links.
var link = os.Link

// ReadRecord reads a sweep folder's sweep.json.
func ReadRecord(dir string) (*Record, error) {
	return readRecord(filepath.Join(dir, RecordName))
}

func readRecord(path string) (*Record, error) {
	raw, err := safefile.ReadFile(path, safefile.MaxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("read the sweep's plan: %w", err)
	}
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("read the sweep's plan %s: %w", path, err)
	}
	if r.Version != recordVersion {
		return nil, fmt.Errorf("read the sweep's plan %s: format version %d, this nst reads %d", path, r.Version, recordVersion)
	}
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("read the sweep's plan %s: %w", path, err)
	}
	return &r, nil
}

// check rejects a plan whose parts do not fit together (a file edited by
// hand): every later use indexes the axes by the items' choices.
func (r *Record) check() error {
	if r.Shards < 1 {
		return fmt.Errorf("shards %d", r.Shards)
	}
	for _, ax := range r.Axes {
		if len(ax.Labels) == 0 {
			return fmt.Errorf("axis %s has no values", ax.Key)
		}
	}
	for _, it := range r.Items {
		if len(it.Choice) != len(r.Axes) {
			return fmt.Errorf("item %s has %d choices for %d axes", it.ID, len(it.Choice), len(r.Axes))
		}
		for a, c := range it.Choice {
			if c < 0 || c >= len(r.Axes[a].Labels) {
				return fmt.Errorf("item %s: value %d of axis %s does not exist", it.ID, c, r.Axes[a].Key)
			}
		}
		if it.ID == "" || it.ID != filepath.Base(it.ID) || strings.HasPrefix(it.ID, ".") {
			return fmt.Errorf("item id %q is not a folder name", it.ID)
		}
	}
	return nil
}

// readRecordWait reads path, retrying for up to wait while it does not
// parse: a shard on a file system without hard links may still be writing
// it.
func readRecordWait(path string, wait time.Duration) (*Record, error) {
	deadline := time.Now().Add(wait)
	for {
		r, err := readRecord(path)
		var syntax *json.SyntaxError
		if err == nil || !errors.As(err, &syntax) || time.Now().After(deadline) {
			return r, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// matches checks that a recorded plan is the one this shard would run.
func (s *Sweep) matches(prev *Record, sh Shard, path string) error {
	const changed = "the sweep changed (its file, the base config, or NST_* variables that reach the config)"
	reset := fmt.Sprintf("to change it, delete %s once no shard of the earlier run is running (done items stay done)", path)
	if prev.Shards != sh.Count {
		return fmt.Errorf("sweep %s: shard %s, but %s was written for %d shards: every shard of a sweep must use the same count; %s",
			s.File, sh, path, prev.Shards, reset)
	}
	if len(prev.Items) != len(s.Items) {
		return fmt.Errorf("sweep %s: %s: %s lists %d items, the file now gives %d; %s",
			s.File, changed, path, len(prev.Items), len(s.Items), reset)
	}
	for i, it := range s.Items {
		if prev.Items[i].ID != it.ID {
			return fmt.Errorf("sweep %s: %s: item %d was %s in %s, it is now %s; %s",
				s.File, changed, i, prev.Items[i].ID, path, it.ID, reset)
		}
	}
	return nil
}

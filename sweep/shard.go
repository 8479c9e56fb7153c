package sweep

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Shard is one of Count parts of a sweep: the items whose position modulo
// Count is Index. Interleaving, rather than cutting the list into blocks,
// spreads every axis's values over all shards, so a sweep stopped halfway
// has results across the whole grid.
type Shard struct {
	Index int
	Count int
}

// All is the whole sweep as one shard.
var All = Shard{Index: 0, Count: 1}

// String returns the shard as i/n.
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Has reports whether the item at position index belongs to the shard.
func (s Shard) Has(index int) bool { return s.Count > 0 && index%s.Count == s.Index }

func (s Shard) check() error {
	if s.Count < 1 {
		return fmt.Errorf("shard count %d: want 1 or more", s.Count)
	}
	if s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("shard index %d out of range: want 0 to %d for %d shards", s.Index, s.Count-1, s.Count)
	}
	return nil
}

// ParseShard reads a shard given as i/n (0 <= i < n), as --shard takes it.
func ParseShard(s string) (Shard, error) {
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(is))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("--shard %q: want i/n, for example 0/4 for the first of 4 shards", s)
	}
	sh := Shard{Index: i, Count: n}
	if err := sh.check(); err != nil {
		return Shard{}, fmt.Errorf("--shard %s: %w", s, err)
	}
	return sh, nil
}

// Environment variables ResolveShard reads.
const (
	EnvSlurmTaskID    = "SLURM_ARRAY_TASK_ID"
	EnvSlurmTaskCount = "SLURM_ARRAY_TASK_COUNT"
	EnvSlurmTaskMin   = "SLURM_ARRAY_TASK_MIN"
	EnvSlurmTaskMax   = "SLURM_ARRAY_TASK_MAX"
	EnvSlurmTaskStep  = "SLURM_ARRAY_TASK_STEP"
	// EnvJobCompletionIndex is set by Kubernetes in each pod of an Indexed
	// Job: 0 to completions-1.
	EnvJobCompletionIndex = "JOB_COMPLETION_INDEX"
)

// ResolveShard decides which shard this process runs, first match wins:
//
//  1. flag (--shard i/n), when not empty; shards, when not 0, must equal n;
//  2. a Slurm array task: SLURM_ARRAY_TASK_ID, _MIN, _MAX, _STEP and
//     _COUNT; the array must be a range (0-7, 1-8, 0-14:2, with any %K
//     throttle), and its tasks are shards 0 to COUNT-1 in order; shards,
//     when not 0, must equal COUNT;
//  3. a Kubernetes Indexed Job pod: JOB_COMPLETION_INDEX, with shards (the
//     Job's completions, --shards) required;
//  4. otherwise the whole sweep; shards without an index is an error.
//
// getenv is os.Getenv outside tests.
func ResolveShard(flag string, shards int, getenv func(string) string) (Shard, error) {
	if shards < 0 {
		return Shard{}, fmt.Errorf("--shards %d: want 1 or more", shards)
	}
	if flag != "" {
		sh, err := ParseShard(flag)
		if err != nil {
			return Shard{}, err
		}
		if shards != 0 && shards != sh.Count {
			return Shard{}, fmt.Errorf("--shard %s and --shards %d disagree on the number of shards", flag, shards)
		}
		return sh, nil
	}
	if id := getenv(EnvSlurmTaskID); id != "" {
		sh, err := slurmShard(getenv)
		if err != nil {
			return Shard{}, fmt.Errorf("slurm array task %s: %w", id, err)
		}
		if shards != 0 && shards != sh.Count {
			return Shard{}, fmt.Errorf("slurm array task %s: the array has %d tasks but --shards is %d; submit --array=0-%d or drop --shards", id, sh.Count, shards, shards-1)
		}
		return sh, nil
	}
	if idx := getenv(EnvJobCompletionIndex); idx != "" {
		if shards == 0 {
			return Shard{}, fmt.Errorf("%s=%s is set but --shards is not: give the Job's completions as --shards", EnvJobCompletionIndex, idx)
		}
		i, err := strconv.Atoi(idx)
		if err != nil {
			return Shard{}, fmt.Errorf("%s=%q: not a whole number", EnvJobCompletionIndex, idx)
		}
		sh := Shard{Index: i, Count: shards}
		if err := sh.check(); err != nil {
			return Shard{}, fmt.Errorf("%s=%s with --shards %d: %w", EnvJobCompletionIndex, idx, shards, err)
		}
		return sh, nil
	}
	if shards > 1 {
		return Shard{}, fmt.Errorf("--shards %d needs a shard index: %s (Kubernetes Indexed Job) or %s (Slurm array); on one machine use --shard i/%d", shards, EnvJobCompletionIndex, EnvSlurmTaskID, shards)
	}
	return All, nil
}

// slurmShard maps the array task to a shard: task ids MIN, MIN+STEP, ...,
// MAX are shards 0, 1, ..., COUNT-1.
func slurmShard(getenv func(string) string) (Shard, error) {
	num := func(name string, def int, required bool) (int, error) {
		v := getenv(name)
		if v == "" {
			if required {
				return 0, fmt.Errorf("%s is not set", name)
			}
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("%s=%q: not a whole number", name, v)
		}
		return n, nil
	}
	id, err := num(EnvSlurmTaskID, 0, true)
	if err != nil {
		return Shard{}, err
	}
	count, err := num(EnvSlurmTaskCount, 0, true)
	if err != nil {
		return Shard{}, err
	}
	lo, err := num(EnvSlurmTaskMin, 0, false)
	if err != nil {
		return Shard{}, err
	}
	step, err := num(EnvSlurmTaskStep, 1, false)
	if err != nil {
		return Shard{}, err
	}
	if step < 1 {
		return Shard{}, fmt.Errorf("%s=%d: want 1 or more", EnvSlurmTaskStep, step)
	}
	hi, err := num(EnvSlurmTaskMax, lo+(count-1)*step, false)
	if err != nil {
		return Shard{}, err
	}
	// An array given as a list (--array=1,4,5) has gaps: its task ids do
	// not map onto 0..COUNT-1, and some items would belong to no task.
	if count < 1 || (hi-lo)/step+1 != count || (hi-lo)%step != 0 {
		return Shard{}, fmt.Errorf("the array (ids %d to %d, step %d, %d tasks) is not a range; submit a range such as --array=0-%d", lo, hi, step, count, max(count, 1)-1)
	}
	if (id-lo)%step != 0 {
		return Shard{}, errors.New("task id is not on the array's step")
	}
	sh := Shard{Index: (id - lo) / step, Count: count}
	if err := sh.check(); err != nil {
		return Shard{}, err
	}
	return sh, nil
}

// Select returns the items of shard sh, in order.
func (s *Sweep) Select(sh Shard) []Item {
	var out []Item
	for _, it := range s.Items {
		if sh.Has(it.Index) {
			out = append(out, it)
		}
	}
	return out
}

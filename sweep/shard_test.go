package sweep

import (
	"slices"
	"strings"
	"testing"
)

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Shard
		wantErr string
	}{
		{"0/3", Shard{0, 3}, ""},
		{"2/3", Shard{2, 3}, ""},
		{" 1 / 2 ", Shard{1, 2}, ""},
		{"3/3", Shard{}, "shard index 3 out of range: want 0 to 2"},
		{"-1/3", Shard{}, "shard index -1 out of range"},
		{"0/0", Shard{}, "shard count 0"},
		{"1", Shard{}, "want i/n"},
		{"a/b", Shard{}, "want i/n"},
	} {
		got, err := ParseShard(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseShard(%q): error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestResolveShard(t *testing.T) {
	slurm := func(id, lo, hi, count, step string) map[string]string {
		m := map[string]string{EnvSlurmTaskID: id, EnvSlurmTaskMin: lo, EnvSlurmTaskMax: hi, EnvSlurmTaskCount: count}
		if step != "" {
			m[EnvSlurmTaskStep] = step
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		flag    string
		shards  int
		env     map[string]string
		want    Shard
		wantErr string
	}{
		{"nothing: whole sweep", "", 0, nil, Shard{0, 1}, ""},
		{"--shards 1 alone", "", 1, nil, Shard{0, 1}, ""},
		{"flag", "1/4", 0, nil, Shard{1, 4}, ""},
		{"flag wins over slurm", "1/4", 0, slurm("0", "0", "2", "3", ""), Shard{1, 4}, ""},
		{"flag and --shards agree", "1/4", 4, nil, Shard{1, 4}, ""},
		{"flag and --shards disagree", "1/4", 3, nil, Shard{}, "--shard 1/4 and --shards 3 disagree"},
		{"flag out of range", "4/4", 0, nil, Shard{}, "shard index 4 out of range"},
		{"slurm 0-2", "", 0, slurm("2", "0", "2", "3", "1"), Shard{2, 3}, ""},
		{"slurm 4-6: min offset", "", 0, slurm("5", "4", "6", "3", "1"), Shard{1, 3}, ""},
		{"slurm without max or step", "", 0, map[string]string{EnvSlurmTaskID: "3", EnvSlurmTaskMin: "1", EnvSlurmTaskCount: "3"}, Shard{2, 3}, ""},
		{"slurm 0-6:3", "", 0, slurm("6", "0", "6", "3", "3"), Shard{2, 3}, ""},
		{"slurm with matching --shards", "", 3, slurm("0", "0", "2", "3", "1"), Shard{0, 3}, ""},
		{"slurm with other --shards", "", 4, slurm("0", "0", "2", "3", "1"), Shard{}, "the array has 3 tasks but --shards is 4"},
		{"slurm list 1,4,5", "", 0, slurm("4", "1", "5", "3", "1"), Shard{}, "is not a range"},
		{"slurm id outside the array", "", 0, slurm("7", "0", "2", "3", "1"), Shard{}, "shard index 7 out of range"},
		{"slurm id below min", "", 0, slurm("0", "1", "3", "3", "1"), Shard{}, "shard index -1 out of range"},
		{"slurm without count", "", 0, map[string]string{EnvSlurmTaskID: "0"}, Shard{}, "SLURM_ARRAY_TASK_COUNT is not set"},
		{"slurm garbage", "", 0, slurm("x", "0", "2", "3", "1"), Shard{}, `SLURM_ARRAY_TASK_ID="x": not a whole number`},
		{"kubernetes", "", 3, map[string]string{EnvJobCompletionIndex: "2"}, Shard{2, 3}, ""},
		{"kubernetes without --shards", "", 0, map[string]string{EnvJobCompletionIndex: "2"}, Shard{}, "JOB_COMPLETION_INDEX=2 is set but --shards is not"},
		{"kubernetes index out of range", "", 3, map[string]string{EnvJobCompletionIndex: "3"}, Shard{}, "shard index 3 out of range"},
		{"kubernetes garbage", "", 3, map[string]string{EnvJobCompletionIndex: "one"}, Shard{}, "not a whole number"},
		{"--shards without an index", "", 3, nil, Shard{}, "--shards 3 needs a shard index"},
		{"negative --shards", "", -1, nil, Shard{}, "--shards -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveShard(tc.flag, tc.shards, func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	s, _ := load(t, grid2x3, nil)
	for _, tc := range []struct {
		shard Shard
		want  []int
	}{
		{All, []int{0, 1, 2, 3, 4, 5}},
		{Shard{0, 3}, []int{0, 3}},
		{Shard{1, 3}, []int{1, 4}},
		{Shard{2, 3}, []int{2, 5}},
		{Shard{3, 4}, []int{3}},
		{Shard{7, 8}, nil},
	} {
		var got []int
		for _, it := range s.Select(tc.shard) {
			got = append(got, it.Index)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Select(%v) = %v, want %v", tc.shard, got, tc.want)
		}
	}
}

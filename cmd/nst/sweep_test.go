package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSweepShardsMatchUnsharded runs a 2x3 sweep as 3 shards, through the
// variables a Slurm job array sets, and checks that exactly 6 items ran,
// none twice, each image byte-identical to the same item of an unsharded
// run, and that the contact sheet lists them all.
func TestSweepShardsMatchUnsharded(t *testing.T) {
	dir := t.TempDir()
	base := writeConfig(t, "")
	write := func(name, out string) string {
		p := filepath.Join(dir, name)
		body := fmt.Sprintf("base: %q\noutput: %q\ngrid:\n  weights.style: [10, 100]\n  color: [none, luminance, histogram]\n", base, filepath.Join(dir, out))
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sharded, whole := write("sharded.yaml", "sharded"), write("whole.yaml", "whole")

	list := nst(t, "sweep", "-c", sharded, "--list")
	if list.code != 0 || strings.Count(list.stdout, "  pending  ") != 6 {
		t.Fatalf("--list: exit %d\n%s%s", list.code, list.stdout, list.stderr)
	}
	for task := range 3 {
		env := []string{fmt.Sprintf("SLURM_ARRAY_TASK_ID=%d", task), "SLURM_ARRAY_TASK_COUNT=3", "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_MAX=2"}
		if r := nstEnv(t, env, "sweep", "-c", sharded); r.code != 0 {
			t.Fatalf("shard %d: exit %d\n%s", task, r.code, r.stderr)
		}
	}
	if r := nst(t, "sweep", "-c", whole); r.code != 0 {
		t.Fatalf("unsharded: exit %d\n%s", r.code, r.stderr)
	}
	items, err := os.ReadDir(filepath.Join(dir, "sharded", "items"))
	if err != nil || len(items) != 6 {
		t.Fatalf("%d item folders, %v; want 6", len(items), err)
	}
	for _, it := range items {
		a, err := os.ReadFile(filepath.Join(dir, "sharded", "items", it.Name(), "final.png"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "whole", "items", it.Name(), "final.png"))
		if err != nil {
			t.Fatalf("item %s: no unsharded twin: %v", it.Name(), err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("item %s: sharded and unsharded images differ", it.Name())
		}
		if _, err := os.Stat(filepath.Join(dir, "sharded", "items", it.Name()+"-2")); err == nil {
			t.Errorf("item %s ran twice", it.Name())
		}
	}
	again := nst(t, "sweep", "-c", whole)
	if again.code != 0 || !strings.Contains(again.stdout, "sheet") {
		t.Errorf("rerun: exit %d, stdout %q", again.code, again.stdout)
	}
	sheet := nst(t, "sweep", "sheet", filepath.Join(dir, "sharded"))
	if sheet.code != 0 || !strings.Contains(sheet.stdout, ".png") || strings.Contains(sheet.stderr, "missing") {
		t.Errorf("sheet: exit %d\n%s%s", sheet.code, sheet.stdout, sheet.stderr)
	}
}

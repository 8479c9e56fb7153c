package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nst-project/nst/internal/ortrt"
)

// TestSlurmSweepRunsNST submits scripts/slurm/sweep.sbatch to the local
// Slurm cluster (scripts/slurm/start-local-cluster.sh; SLURM_TEST=1) as a
// 2-task array running the real nst on a 4-item sweep of the tiny
// backbone, waits, and checks that the 4 items finished, each once, and
// that the contact sheet lists them all.
func TestSlurmSweepRunsNST(t *testing.T) {
	if os.Getenv("SLURM_TEST") != "1" {
		t.Skip("SLURM_TEST=1 not set; start a cluster with scripts/slurm/start-local-cluster.sh")
	}
	sbatch, err := exec.LookPath("sbatch")
	if err != nil {
		t.Fatal("SLURM_TEST=1, but sbatch is not installed: run scripts/slurm/start-local-cluster.sh first")
	}
	if err := ortrt.Init(""); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sweepFile := filepath.Join(dir, "sweep.yaml")
	body := fmt.Sprintf("base: %q\noutput: out\ngrid:\n  weights.style: [10, 100]\n  color: [none, luminance]\n", writeConfig(t, ""))
	if err := os.WriteFile(sweepFile, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "logs"), 0o755)
	script, _ := filepath.Abs(filepath.Join("..", "..", "scripts", "slurm", "sweep.sbatch"))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sbatch, "--wait", "--array=0-1", "--cpus-per-task=1", "--mem=1G", "--time=5",
		"--job-name=nst-sweep-nst", "--chdir="+dir, "--output="+filepath.Join(dir, "logs", "%A_%a.log"),
		"--export=ALL,NST="+os.Args[0]+","+actAsNST+"=1,ONNXRUNTIME_LIB="+ortrt.LibraryPath(),
		script, sweepFile)
	out, err := cmd.CombinedOutput()
	logs, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
	var all strings.Builder
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		all.Write(b)
	}
	if err != nil {
		t.Fatalf("sbatch: %v\n%s\n%s", err, out, all.String())
	}
	if len(logs) != 2 {
		t.Errorf("%d task logs, want 2", len(logs))
	}
	done, _ := filepath.Glob(filepath.Join(dir, "out", "items", "*", "done.json"))
	items, _ := filepath.Glob(filepath.Join(dir, "out", "items", "*"))
	if len(done) != 4 || len(items) != 4 {
		t.Fatalf("%d items done of %d folders, want 4 and 4\n%s", len(done), len(items), all.String())
	}
	r := nst(t, "sweep", "sheet", filepath.Join(dir, "out"))
	if r.code != 0 || strings.Contains(r.stderr, "missing") || !strings.Contains(r.stdout, ".png") {
		t.Errorf("sheet: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

package sweep

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// pkgDir is the package's folder, where go test starts; tests that change
// the working folder still find the scripts and the probe's source.
var pkgDir, _ = os.Getwd()

// buildProbe builds internal/shardprobe, nst's stand-in, into a test
// folder.
func buildProbe(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "shardprobe")
	cmd := exec.Command(goBin, "build", "-o", bin, "./internal/shardprobe")
	cmd.Dir = pkgDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v\n%s", err, out)
	}
	return bin
}

// probeSweep writes a 2x2 sweep into dir: items 0 to 3.
func probeSweep(t *testing.T, dir string) {
	t.Helper()
	writeFiles(t, dir, map[string]string{
		"configs/base.yaml": "content: builtin:village\n",
		"configs/sweep.yaml": `base: base.yaml
output: ../runs/probe
grid:
  optimizer.iterations: [1, 2]
  color: [none, luminance]
`,
	})
}

// checkProbeRun checks that each of the 4 items of probeSweep ran exactly
// once, in the array task its position selects (task firstTask + i%3 of 3
// tasks), and is done.
func checkProbeRun(t *testing.T, dir string, firstTask int) {
	t.Helper()
	out := filepath.Join(dir, "runs/probe")
	rec, err := ReadRecord(out)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Shards != 3 || len(rec.Items) != 4 {
		t.Fatalf("sweep.json: %d shards, %d items; want 3 and 4", rec.Shards, len(rec.Items))
	}
	markers, err := os.ReadDir(filepath.Join(out, "markers"))
	if err != nil {
		t.Fatal(err)
	}
	ranIn := map[string][]string{}
	for _, m := range markers {
		// ID.JOB_TASK.PID
		parts := strings.Split(m.Name(), ".")
		if len(parts) != 3 {
			t.Fatalf("marker %q", m.Name())
		}
		ranIn[parts[0]] = append(ranIn[parts[0]], parts[1])
	}
	if len(markers) != 4 || len(ranIn) != 4 {
		t.Errorf("%d runs of %d items, want 4 of 4: %v", len(markers), len(ranIn), ranIn)
	}
	for _, it := range rec.Items {
		tasks := ranIn[it.ID]
		wantTask := fmt.Sprint(firstTask + it.Index%3)
		if len(tasks) != 1 || !strings.HasSuffix(tasks[0], "_"+wantTask) {
			t.Errorf("item %d (%s) ran in tasks %v, want once in task %s", it.Index, it.ID, tasks, wantTask)
		}
		st, err := itemStatus(filepath.Join(out, ItemsDir, it.ID))
		if err != nil || st.State != StateDone || st.Done.Shard != fmt.Sprintf("%d/3", it.Index%3) {
			t.Errorf("item %d: %s, %+v, %v", it.Index, st.State, st.Done, err)
		}
	}
}

func TestSbatchScriptWithoutSlurm(t *testing.T) {
	// scripts/slurm/sweep.sbatch run by hand as Slurm would run array
	// 1-3, with the probe as nst: the script passes the sweep file on and
	// the probe picks its shard from the array variables.
	probe := buildProbe(t)
	dir := t.TempDir()
	probeSweep(t, dir)
	script := filepath.Join(pkgDir, "..", "scripts", "slurm", "sweep.sbatch")
	for task := 1; task <= 3; task++ {
		cmd := exec.Command("bash", script, "configs/sweep.yaml")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "NST="+probe,
			"SLURM_ARRAY_JOB_ID=77", fmt.Sprintf("SLURM_ARRAY_TASK_ID=%d", task),
			"SLURM_ARRAY_TASK_MIN=1", "SLURM_ARRAY_TASK_MAX=3", "SLURM_ARRAY_TASK_COUNT=3", "SLURM_ARRAY_TASK_STEP=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("task %d: %v\n%s", task, err, out)
		}
		if !strings.Contains(string(out), fmt.Sprintf("nst-sweep: job 77 task %d of 3", task)) {
			t.Errorf("task %d log:\n%s", task, out)
		}
	}
	checkProbeRun(t, dir, 1)

	// Without a sweep file the script stops with its usage.
	cmd := exec.Command("bash", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NST="+probe, "SWEEP=")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "usage: sbatch") {
		t.Errorf("no sweep file: %v\n%s", err, out)
	}
}

// TestSlurmArray submits scripts/slurm/sweep.sbatch as a real array job
// (tasks 1-3, at most 2 at once) with the probe as nst, waits for it and
// checks that the 4 items of a 2x2 sweep ran exactly once each, in the
// tasks their positions select. It needs a running cluster
// (scripts/slurm/start-local-cluster.sh) and SLURM_TEST=1; without
// SLURM_TEST it is skipped, and with CI=true and SLURM_TEST=1 a missing
// sbatch is a failure, not a skip.
func TestSlurmArray(t *testing.T) {
	if os.Getenv("SLURM_TEST") != "1" {
		t.Skip("SLURM_TEST=1 not set; start a cluster with scripts/slurm/start-local-cluster.sh")
	}
	sbatch, err := exec.LookPath("sbatch")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("SLURM_TEST=1 in CI, but sbatch is not installed: run scripts/slurm/start-local-cluster.sh first")
		}
		t.Skip("sbatch not found")
	}
	probe := buildProbe(t)
	// The job's folder must be readable by slurmd on the node; with the
	// local cluster that is this machine.
	dir := t.TempDir()
	probeSweep(t, dir)
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(pkgDir, "..", "scripts", "slurm", "sweep.sbatch")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sbatch, "--parsable", "--wait",
		"--array=1-3%2", "--cpus-per-task=1", "--mem=64M", "--time=5",
		"--job-name=nst-sweep-test", "--chdir="+dir,
		"--output="+filepath.Join(dir, "logs", "%A_%a.log"),
		"--export=ALL,NST="+probe+",PROBE_SLEEP=1s",
		script, "configs/sweep.yaml")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// --parsable prints the job id at submission, before --wait waits.
	jobID := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		id := ""
		for sc.Scan() {
			if id == "" {
				id = strings.Split(strings.TrimSpace(sc.Text()), ";")[0]
				jobID <- id
			}
		}
		if id == "" {
			close(jobID)
		}
	}()
	waitErr := cmd.Wait()
	id := <-jobID
	logs := func() string {
		var b strings.Builder
		files, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			fmt.Fprintf(&b, "--- %s\n%s", filepath.Base(f), data)
		}
		return b.String()
	}
	if ctx.Err() != nil && id != "" {
		_ = exec.Command("scancel", id).Run()
		t.Fatalf("job %s did not finish within 3 minutes; cancelled\n%s", id, logs())
	}
	if waitErr != nil {
		t.Fatalf("sbatch --wait (job %q): %v\n%s\n%s", id, waitErr, stderr.String(), logs())
	}
	t.Logf("job %s done\n%s", id, logs())
	checkProbeRun(t, dir, 1)
	for task := 1; task <= 3; task++ {
		if _, err := os.Stat(filepath.Join(dir, "logs", fmt.Sprintf("%s_%d.log", id, task))); err != nil {
			t.Errorf("task %d log: %v", task, err)
		}
	}
}

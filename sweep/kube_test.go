package sweep

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// get walks a decoded YAML document along keys (strings for mappings,
// ints for lists) and returns what is there, or nil.
func get(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func getString(v any, keys ...any) string { s, _ := get(v, keys...).(string); return s }
func getInt(v any, keys ...any) int       { n, _ := get(v, keys...).(int); return n }
func getList(v any, keys ...any) []any    { l, _ := get(v, keys...).([]any); return l }

// TestKubernetesManifest checks deploy/kubernetes/sweep-job.yaml against
// what nst reads: an Indexed Job whose completions equal the --shards it
// passes to nst sweep, JOB_COMPLETION_INDEX in the pods, the sweep file
// from the ConfigMap at the path -c names, its output on the shared
// volume, and the image's paths (Dockerfile).
func TestKubernetesManifest(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(pkgDir, "..", "deploy", "kubernetes", "sweep-job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]map[string]any{}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var d map[string]any
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("manifest YAML: %v", err)
		}
		if d != nil {
			docs[getString(d, "kind")] = d
		}
	}
	job, cm, pvc := docs["Job"], docs["ConfigMap"], docs["PersistentVolumeClaim"]
	if job == nil || cm == nil || pvc == nil {
		t.Fatalf("manifest kinds %v; want Job, ConfigMap and PersistentVolumeClaim", slices.Collect(maps.Keys(docs)))
	}

	// The Job.
	if v := getString(job, "apiVersion"); v != "batch/v1" {
		t.Errorf("Job apiVersion %q", v)
	}
	spec := get(job, "spec")
	if m := getString(spec, "completionMode"); m != "Indexed" {
		t.Errorf("completionMode %q, want Indexed", m)
	}
	completions, parallelism := getInt(spec, "completions"), getInt(spec, "parallelism")
	if completions < 1 || parallelism < 1 || parallelism > completions {
		t.Errorf("completions %d, parallelism %d; want 1 <= parallelism <= completions", completions, parallelism)
	}
	pod := get(spec, "template", "spec")
	if rp := getString(pod, "restartPolicy"); rp != "Never" && rp != "OnFailure" {
		t.Errorf("restartPolicy %q", rp)
	}
	containers := getList(pod, "containers")
	if len(containers) != 1 {
		t.Fatalf("%d containers, want 1", len(containers))
	}
	ctr := containers[0]
	if get(ctr, "command") != nil {
		t.Errorf("command %v replaces the image's nst entrypoint", get(ctr, "command"))
	}
	var args []string
	for _, a := range getList(ctr, "args") {
		args = append(args, fmt.Sprint(a))
	}
	flag := func(name string) string {
		i := slices.Index(args, name)
		if i < 0 || i+1 >= len(args) {
			return ""
		}
		return args[i+1]
	}
	if len(args) == 0 || args[0] != "sweep" || slices.Contains(args, "--shard") {
		t.Errorf("args %q; want nst sweep without --shard", args)
	}
	shards, err := strconv.Atoi(flag("--shards"))
	if err != nil || shards != completions {
		t.Errorf("--shards %q, want the Job's completions %d", flag("--shards"), completions)
	}
	env := map[string]any{}
	for _, e := range getList(ctr, "env") {
		env[getString(e, "name")] = e
	}
	if fp := getString(env[EnvJobCompletionIndex], "valueFrom", "fieldRef", "fieldPath"); fp != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
		t.Errorf("%s from %q, want the job-completion-index annotation", EnvJobCompletionIndex, fp)
	}
	cpu := getString(ctr, "resources", "requests", "cpu")
	if th := getString(env["NST_RUNTIME_THREADS"], "value"); th == "" || th != cpu {
		t.Errorf("NST_RUNTIME_THREADS %q, want the requested CPUs %q", th, cpu)
	}

	// Volumes: which mount path holds which volume source.
	sources := map[string]any{}
	for _, v := range getList(pod, "volumes") {
		sources[getString(v, "name")] = v
	}
	mountOf := func(p string) (string, any) {
		for _, m := range getList(ctr, "volumeMounts") {
			mp := getString(m, "mountPath")
			if p == mp || strings.HasPrefix(p, mp+"/") {
				return mp, sources[getString(m, "name")]
			}
		}
		return "", nil
	}

	// The sweep file: -c names a file of the ConfigMap's mount.
	sweepPath := flag("-c")
	mp, src := mountOf(sweepPath)
	if getString(src, "configMap", "name") != getString(cm, "metadata", "name") {
		t.Fatalf("-c %s is not in the ConfigMap's mount (%s: %v)", sweepPath, mp, src)
	}
	key := strings.TrimPrefix(sweepPath, mp+"/")
	body := getString(cm, "data", key)
	f, err := parseFile([]byte(body))
	if err != nil {
		t.Fatalf("the ConfigMap's %s: %v", key, err)
	}

	// Its output lies on the shared volume, which every pod can write.
	if !path.IsAbs(f.output) {
		t.Errorf("output %q: relative to the read-only ConfigMap mount", f.output)
	}
	_, src = mountOf(f.output)
	if getString(src, "persistentVolumeClaim", "claimName") != getString(pvc, "metadata", "name") {
		t.Errorf("output %s is not on the claim %s", f.output, getString(pvc, "metadata", "name"))
	}
	if modes := getList(pvc, "spec", "accessModes"); !slices.Contains(modes, any("ReadWriteMany")) {
		t.Errorf("claim access modes %v; want ReadWriteMany, for pods on several nodes", modes)
	}

	// Every item belongs to exactly one pod.
	items := 1
	for _, ax := range f.grid {
		items *= len(ax.values)
	}
	seen := make([]int, items)
	for i := range completions {
		sh, err := ResolveShard("", shards, func(k string) string {
			if k == EnvJobCompletionIndex {
				return strconv.Itoa(i)
			}
			return ""
		})
		if err != nil || sh != (Shard{i, shards}) {
			t.Fatalf("pod %d: shard %v, %v", i, sh, err)
		}
		for p := range items {
			if sh.Has(p) {
				seen[p]++
			}
		}
	}
	for p, n := range seen {
		if n != 1 {
			t.Errorf("item %d runs in %d pods", p, n)
		}
	}

	// The image: nst as entrypoint, the configs where the sweep's base
	// says, and the cache folder the manifest mounts.
	df, err := os.ReadFile(filepath.Join(pkgDir, "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := string(df)
	for _, want := range []string{`ENTRYPOINT ["nst"]`, "COPY configs/ /opt/nst/configs/", "scripts/install-onnxruntime.sh", "FROM debian:bookworm-slim"} {
		if !strings.Contains(dockerfile, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if rel, ok := strings.CutPrefix(f.base, "/opt/nst/"); !ok {
		t.Errorf("base %q is not in the image's /opt/nst", f.base)
	} else if _, err := os.Stat(filepath.Join(pkgDir, "..", rel)); err != nil {
		t.Errorf("base %s: %v", f.base, err)
	}
	cache := ""
	for _, line := range strings.Split(dockerfile, "\n") {
		if _, v, ok := strings.Cut(line, "XDG_CACHE_HOME="); ok {
			cache = strings.TrimSpace(v)
		}
	}
	if mp, src := mountOf(cache + "/nst"); cache == "" || mp != cache || get(src, "emptyDir") == nil {
		t.Errorf("XDG_CACHE_HOME %q: want an emptyDir mounted there, got %s: %v", cache, mp, src)
	}
}

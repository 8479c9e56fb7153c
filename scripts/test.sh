#!/usr/bin/env bash
# Runs nst's tests on a fresh Debian/Ubuntu machine (as root, as CI does):
#   1. installs what the tests drive: ONNX Runtime into ./onnxruntime, and
#      espeak-ng, sox, ffmpeg and chromium (the studio's browser test) from
#      Debian's packages (each step does nothing when already done);
#   2. starts a one-node Slurm cluster on localhost for the sweep tests;
#   3. runs every test with HOME and the cache folder pointed at empty
#      temporary folders, and fails if the real home folder's nst cache
#      changed (tests never touch the user's state);
#   4. runs the packages that start goroutines under the race detector;
#   5. runs every benchmark once (-benchtime 1x), but a few slow ones;
#   6. fuzzes each fuzz target for a bounded time.
#
# NST_FUZZTIME sets the time per fuzz target (Go duration, default 20s; 0
# skips fuzzing); NST_FUZZTARGETS=pkg:FuzzName... fuzzes those targets
# only. Every input runs under a time and memory bound
# (internal/fuzzguard), so a hang or a runaway allocation is a crasher like
# a panic. Crashers the fuzzer finds are written to the package's
# testdata/fuzz/<target>/ folder and replayed alone: one that fails again
# fails the script; commit it with the fix, as a regression seed that plain
# go test runs from then on. NST_SKIP_SLURM=1 skips the
# cluster (and its test) on a machine where it cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-onnxruntime.sh >/dev/null
scripts/install-audio-tools.sh
scripts/install-ffmpeg.sh
scripts/install-chromium.sh

if [[ "${NST_SKIP_SLURM:-}" != "1" ]]; then
  scripts/slurm/start-local-cluster.sh
  export SLURM_TEST=1
fi

# The Go caches stay where they are; everything else a test could write
# under the home folder goes to an empty one.
export GOCACHE="$(go env GOCACHE)" GOMODCACHE="$(go env GOMODCACHE)" GOPATH="$(go env GOPATH)"
real_home="$HOME"
real_cache="${XDG_CACHE_HOME:-$HOME/.cache}/nst"
before="$( (find "$real_cache" -type f 2>/dev/null || true) | sort | md5sum)"
test_home="$(mktemp -d)"
trap 'rm -rf "$test_home"' EXIT
export HOME="$test_home" XDG_CACHE_HOME="$test_home/.cache"

go test -count=1 -timeout 30m ./...

# Packages that start goroutines: model loading and hashing, session
# building, huge-page memory, run folders, downloads, sweeps, file reads,
# the studio's run queue and event streams.
go test -count=1 -race -timeout 20m ./models/ ./internal/hugemem/ ./internal/safefile/ ./internal/sysmem/ ./record/ ./zoo/ ./sweep/ ./studio/

# Every benchmark runs once (-benchtime=1x), so that none rots unnoticed:
# about 90 s on 2 cores. Left out for their time at 1x, to be run by hand
# (docs/performance.md): losses' float64 references (5-32 s each),
# models/autodiff's BenchmarkVGG19 (40 s) and pipeline's BenchmarkAudioRun
# (55 s). A package with benchmarks must be listed here.
benches=(
  ./audio/:. ./imageio/:. ./internal/gemm/:. ./optim/:. ./record/:. ./studio/:.
  ./unitviz/:. ./video/flow/:. ./models/:.
  ./losses/:/ort ./losses/:TotalVariation
  './models/autodiff/:ConvInputGrad|GlobalPoolGrad|ReluGrad'
  './pipeline/:EvaluateControls|Checkpoint512|EvaluateTiny|RunTiny'
)
listed="$(printf '%s\n' "${benches[@]}" | sed 's|:.*||; s|^\./||; s|/$||' | sort -u)"
found="$(grep -rl --include='*_test.go' '^func Benchmark' . | xargs -n1 dirname | sed 's|^\./||' | sort -u)"
if [[ "$listed" != "$found" ]]; then
  echo "scripts/test.sh: the benchmark list names $(echo $listed), the packages with benchmarks are $(echo $found)" >&2
  exit 1
fi
for b in "${benches[@]}"; do
  if ! go test -count=1 -run '^$' -bench "${b#*:}" -benchtime 1x -timeout 5m "${b%%:*}" >"$test_home/bench.log" 2>&1; then
    cat "$test_home/bench.log"
    echo "benchmark ${b%%:*} (${b#*:}) failed at -benchtime 1x" >&2
    exit 1
  fi
done

after="$( (find "$real_cache" -type f 2>/dev/null || true) | sort | md5sum)"
if [[ "$before" != "$after" ]]; then
  echo "tests changed files under $real_cache (the real home folder's cache)" >&2
  exit 1
fi
export HOME="$real_home"

fuzztime="${NST_FUZZTIME:-20s}"
if [[ "$fuzztime" != "0" ]]; then
  # -fuzz takes one target in one package per run. One worker keeps the
  # memory and CPU use of a shared CI machine predictable; a short
  # minimisation keeps a found crasher from using up the time budget.
  for target in ${NST_FUZZTARGETS:-models:FuzzLoadModel imageio:FuzzLoadImage pipeline:FuzzLoadConfig audio:FuzzDecodeWAV volume:FuzzReadNPY}; do
    pkg="${target%%:*}" name="${target#*:}"
    echo "fuzz $name ($fuzztime)"
    log="$test_home/fuzz-$name.log"
    if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s -parallel 1 -timeout 20m "./$pkg/" >"$log" 2>&1; then
      # A failure, a panic, a hang or a runaway allocation (the fuzz
      # bodies run under internal/fuzzguard's per-input bounds, which end
      # the worker) makes the engine write the input to
      # testdata/fuzz/<target>/. Replayed alone by plain go test, under
      # the same bounds, a real finding fails again: CI fails. Go's fuzz
      # engine also reports its own worker failures ("hung or terminated
      # unexpectedly") under load, with an input that passes when run
      # again, or with none written: those are warnings.
      # Without a written input (a failing seed, or the engine's own
      # failure) the target's seeds and saved inputs are replayed instead.
      input="$(sed -n 's|.*Failing input written to \(testdata/fuzz/[^ ]*\).*|\1|p' "$log" | tail -n 1)"
      replay="^${name}\$" what="the seeds and saved inputs of $name"
      if [[ -n "$input" ]]; then
        replay="^${name}/${input##*/}\$" what="$pkg/$input"
      fi
      if ! go test -count=1 -run "$replay" "./$pkg/"; then
        cat "$log"
        echo "fuzz $name: $what fails when replayed: fix the cause and commit the input as a regression seed" >&2
        exit 1
      fi
      echo "warning: fuzz $name: the fuzz engine reported a failure that $what does not reproduce when replayed (a worker failure); the log:"
      tail -n 20 "$log"
    fi
  done
fi

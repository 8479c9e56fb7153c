#!/usr/bin/env bash
# Runs nst's tests: installs ONNX Runtime into ./onnxruntime if it is missing
# (the tests load it), then the unit and integration tests, then each fuzz
# target for a bounded time.
#
# NST_FUZZTIME sets the time per fuzz target (Go duration, default 20s; 0
# skips fuzzing). Crashers the fuzzer finds are written to the package's
# testdata/fuzz/<target>/ folder: commit them with the fix, as regression
# seeds that plain go test runs from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-onnxruntime.sh >/dev/null
go test -count=1 -timeout 20m ./...

fuzztime="${NST_FUZZTIME:-20s}"
if [[ "$fuzztime" != "0" ]]; then
  # -fuzz takes one target in one package per run. One worker keeps the
  # memory and CPU use of a shared CI machine predictable; a short
  # minimisation keeps a found crasher from using up the time budget.
  for target in models:FuzzLoadModel imageio:FuzzLoadImage pipeline:FuzzLoadConfig; do
    pkg="${target%%:*}" name="${target#*:}"
    echo "fuzz $name ($fuzztime)"
    if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s -parallel 1 -timeout 20m "./$pkg/"; then
      # A real crasher reproduces: the input the fuzzer wrote now runs as a
      # seed. Go's fuzz engine also reports its own worker failures ("hung
      # or terminated unexpectedly") under load, with an input that passes
      # when run again; those are reported, not counted.
      echo "fuzz $name failed; running its corpus, including what the fuzzer wrote"
      go test -count=1 -run "^${name}\$" "./$pkg/"
      echo "fuzz $name: the failure does not reproduce from any saved input (a fuzz-engine worker failure); inputs are in $pkg/testdata/fuzz/$name"
    fi
  done
fi

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
  for target in models:FuzzLoadModel pipeline/imageio:FuzzLoadImage pipeline:FuzzLoadConfig; do
    pkg="${target%%:*}" name="${target#*:}"
    echo "fuzz $name ($fuzztime)"
    go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s -parallel 1 -timeout 20m "./$pkg/"
  done
fi

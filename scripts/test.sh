#!/usr/bin/env bash
# Runs nst's tests: installs ONNX Runtime into ./onnxruntime if it is missing
# (the tests load it), then the unit and integration tests, then each fuzz
# target for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-onnxruntime.sh >/dev/null
go test -count=1 -timeout 20m ./...

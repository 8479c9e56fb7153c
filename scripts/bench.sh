#!/usr/bin/env bash
# Measures nst's speed and memory on this machine: builds nst, then runs
# nst bench (VGG19 with built-in weights at 256, 512 and 1024 pixels; each
# size in a process of its own) twice, so that the second pass opens its
# networks from the optimised-graph cache the first one filled, and saves
# both reports as JSON under runs/bench/.
#
# Arguments go to nst bench (see nst bench --help), for example
#   scripts/bench.sh --sizes 512 --iterations 10
#   scripts/bench.sh --model models/vgg19.onnx
#
# nst itself asks glibc's malloc for transparent huge pages (see
# ortrt.ReexecWithHugePages); set GLIBC_TUNABLES or NST_NO_REEXEC=1 to
# measure without.
#
# On a machine shared with other work the wall times measure the load as
# much as nst: compare each row's cpu-s with threads × s/iter.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-onnxruntime.sh >/dev/null
mkdir -p runs/bench
go build -o runs/bench/nst ./cmd/nst
cache="$(mktemp -d)"
trap 'rm -rf "$cache"' EXIT
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
echo "== first run (graph cache empty: networks built and optimised)"
runs/bench/nst bench --graph-cache "$cache" --json "runs/bench/$stamp-cold.json" "$@"
echo
echo "== second run (networks opened from the graph cache)"
runs/bench/nst bench --graph-cache "$cache" --json "runs/bench/$stamp-warm.json" "$@"

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
# hugemem.Reexec); set GLIBC_TUNABLES or NST_NO_REEXEC=1 to
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
warmup="$(mktemp -d)"
trap 'rm -rf "$cache" "$warmup"' EXIT
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
# An untimed run first, with a cache of its own: right after a build that
# compiled much, the first run's start-up measured the memory the compiler
# had churned through (on the development VM, 2.6-3.6 s at 512 px against
# 2.2-2.4 s after this warm-up), not nst.
runs/bench/nst bench --sizes 256 --iterations 1 --matmul -1 --graph-cache "$warmup" >/dev/null 2>&1 || true
echo "== first run (graph cache empty: networks built and optimised)"
runs/bench/nst bench --graph-cache "$cache" --json "runs/bench/$stamp-cold.json" "$@"
echo
echo "== second run (networks opened from the graph cache)"
runs/bench/nst bench --graph-cache "$cache" --json "runs/bench/$stamp-warm.json" "$@"

#!/usr/bin/env bash
# Writes the exemplar configs/volume_stripes.yaml reads
# (examples/volumes/stripes32.npy, 32 KB, committed), then, with --run, runs
# the config and draws docs/volume/stripes.png (exemplar and result slices)
# from the run. Run from anywhere.
#
# usage: docs/volume/make.sh [--run]
set -euo pipefail
cd "$(dirname "$0")/../.."
go run ./docs/volume/gen -out examples/volumes
if [ "${1:-}" = "--run" ]; then
  out=$(mktemp -d)
  go run ./cmd/nst run -c configs/volume_stripes.yaml --set output.dir="$out/run"
  go run ./docs/volume/gen -picture "$out/run"
fi

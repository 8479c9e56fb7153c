#!/usr/bin/env bash
# Writes the data the volume configs read (examples/volumes/: stripes32.npy,
# 32 KB, for configs/volume_stripes.yaml; colour8.npy, fibres_across.png and
# fibres_along.png, 2 KB together, for configs/volume_slices.yaml; all
# committed), then, with --run, runs both configs and draws
# docs/volume/stripes.png (exemplar and result slices) and
# docs/volume/slices.png (each axis's exemplar and result slices) from the
# runs. Run from anywhere.
#
# usage: docs/volume/make.sh [--run]
set -euo pipefail
cd "$(dirname "$0")/../.."
go run ./docs/volume/gen -out examples/volumes
if [ "${1:-}" = "--run" ]; then
  out=$(mktemp -d)
  go run ./cmd/nst run -c configs/volume_stripes.yaml --set output.dir="$out/run"
  go run ./docs/volume/gen -picture "$out/run"
  go run ./cmd/nst run -c configs/volume_slices.yaml --set output.dir="$out/slices"
  go run ./docs/volume/gen -slices "$out/slices"
fi

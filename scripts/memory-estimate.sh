#!/usr/bin/env bash
# Compares the peak memory nst estimates before a run (the figure it
# refuses runs by) with the peak the run reached, both recorded in each
# run's manifest.json:
#   - the demo at 128 and 256 px and the masked controls at 128 px, 12
#     iterations each, graph cache off (so each run builds its graphs, the
#     larger peak at these sizes);
#   - the print schedule scaled down to 1024 px, evaluated in tiles of 512
#     px (built-in VGG19, L-BFGS with a history of 3): once coarse to fine
#     (512 then 1024 px, 2 and 3 iterations), once at 1024 px alone (3
#     iterations), so that what a scale change leaves behind shows as the
#     difference of their peaks.
#
# usage: scripts/memory-estimate.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-$(mktemp -d)}"
go build -o "$work/nst" ./cmd/nst
tiled=(--set model.path=builtin:vgg19 --set size=1024 --set runtime.tile=512 --set optimizer.history=3)
printf '%-26s %10s %10s %6s\n' run estimated measured ratio
row() { # name config args...
  local name=$1 config=$2
  shift 2
  local out="$work/$name"
  "$work/nst" run -c "$config" "$@" --set output.save_every=0 --out "$out" >/dev/null 2>&1
  python3 - "$out/manifest.json" "$name" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["memory"]
e, r = m["estimated_peak_bytes"], m["measured_peak_bytes"]
print(f"{sys.argv[2]:<26} {e >> 20:>7} MB {r >> 20:>7} MB {e / r:6.2f}")
PY
}
for spec in "demo 128" "demo 256" "controls_masks 128"; do
  set -- $spec
  row "$1-$2" "configs/$1.yaml" --set "size=$2" --set optimizer.iterations=12 --set runtime.graph_cache=false
done
row print-512-1024-tiled configs/print.yaml "${tiled[@]}" \
  --set 'scales=[{size: 512, iterations: 2}, {size: 1024, iterations: 3}]'
row print-1024-tiled configs/print.yaml "${tiled[@]}" \
  --set 'scales=[{size: 1024, iterations: 3}]'

#!/usr/bin/env bash
# Compares the peak memory nst estimates before a run (the figure it
# refuses runs by) with the peak the run reached, both recorded in each
# run's manifest.json: the demo at 128 and 256 px and the masked controls
# at 128 px, 12 iterations each, graph cache off (so each run builds its
# graphs, the larger peak at these sizes).
#
# usage: scripts/memory-estimate.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-$(mktemp -d)}"
go build -o "$work/nst" ./cmd/nst
printf '%-22s %10s %10s %6s\n' run estimated measured ratio
for spec in "demo 128" "demo 256" "controls_masks 128"; do
  set -- $spec
  out="$work/$1-$2"
  "$work/nst" run -c "configs/$1.yaml" --set "size=$2" --set optimizer.iterations=12 \
    --set output.save_every=0 --set runtime.graph_cache=false --out "$out" >/dev/null 2>&1
  python3 - "$out/manifest.json" "$1 $2 px" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["memory"]
e, r = m["estimated_peak_bytes"], m["measured_peak_bytes"]
print(f"{sys.argv[2]:<22} {e >> 20:>7} MB {r >> 20:>7} MB {e / r:6.2f}")
PY
done

#!/usr/bin/env bash
# Measures a sweep's per-item overhead: runs a 2-item sweep of the demo at
# 256 px, 100 iterations (no early stop, no intermediate images) in one
# process and prints, per item, the share of its time spent outside the
# optimisation (start-up and writing). The first item builds the graphs
# (graph cache miss), the second opens them from the cache.
#
# usage: scripts/sweep-overhead.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-$(mktemp -d)}"
go build -o "$work/nst" ./cmd/nst
cat > "$work/sweep.yaml" <<YAML
base: $PWD/configs/demo.yaml
output: $work/out
grid:
  weights.style: [300, 1000]
  size: [256]
  optimizer.iterations: [100]
  optimizer.tolerance: [0]
  output.save_every: [0]
YAML
"$work/nst" sweep -c "$work/sweep.yaml" >/dev/null
for m in "$work"/out/items/*/manifest.json; do
  python3 - "$m" <<'PY'
import json, sys, datetime
m = json.load(open(sys.argv[1]))
t = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
total = (t(m["end"]) - t(m["start"])).total_seconds()
opt = sum(p["seconds"] for p in m["phases"] if p["name"] == "optimize")
print(f"{sys.argv[1].split('/')[-2]}: {total:.2f} s, optimisation {opt:.2f} s, overhead {100 * (total - opt) / total:.1f}%")
PY
done

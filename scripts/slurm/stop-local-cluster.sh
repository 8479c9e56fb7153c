#!/usr/bin/env bash
# Stops the daemons scripts/slurm/start-local-cluster.sh started, by the
# process ids in their pid files (never by name), and waits for them to end.
# Jobs still running are cancelled first. Packages, config and the MUNGE key
# stay, so the next start is quick.
#
# usage: sudo scripts/slurm/stop-local-cluster.sh
set -euo pipefail

if command -v scancel >/dev/null && [ -s /run/slurm/slurmctld.pid ]; then
  scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
fi

stop() { # name, pid file
  local pid
  if [ ! -s "$2" ] || ! pid=$(cat "$2") || ! kill -0 "$pid" 2>/dev/null; then
    echo "$1 not running"
    return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || { echo "stopped $1"; return 0; }
    sleep 0.5
  done
  echo "stop-local-cluster: $1 (pid $pid) did not stop within 15s" >&2
  return 1
}

status=0
stop slurmd /run/slurm/slurmd.pid || status=1
stop slurmctld /run/slurm/slurmctld.pid || status=1
stop munged /run/munge/munged.pid || status=1
exit $status

#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine, for trying sweeps and for
# CI (SLURM_TEST=1 go test ./sweep/ -run TestSlurmArray). Needs root and a
# Debian or Ubuntu system; works in containers and VMs without systemd.
#
# usage: sudo scripts/slurm/start-local-cluster.sh
#
# What it does, each step skipped when already done (the script is
# idempotent: running daemons are left as they are):
#   1. installs slurm-wlm and munge with apt-get when slurmctld, slurmd or
#      munged is missing (noninteractive);
#   2. writes /etc/slurm/slurm.conf for one node, this host, with its CPUs
#      and a little less memory than it has (only when the file is missing,
#      or was written by this script: a hand-made config is never replaced);
#   3. creates the MUNGE key when missing;
#   4. starts munged, slurmctld and slurmd as daemons;
#   5. waits (at most SLURM_START_TIMEOUT seconds, default 60) until sinfo
#      shows the node idle, and fails with the daemons' logs otherwise.
#
# The config avoids everything a container may lack: no cgroup plugins
# (proctrack/linuxproc, task/none), no accounting database, no systemd.
# scripts/slurm/stop-local-cluster.sh stops the daemons again.
set -euo pipefail

timeout_s=${SLURM_START_TIMEOUT:-60}
conf_dir=/etc/slurm
conf=$conf_dir/slurm.conf
log_dir=/var/log/slurm
marker="# written by nst scripts/slurm/start-local-cluster.sh"

if [ "$(id -u)" != 0 ]; then
  echo "start-local-cluster: run as root (it installs packages and starts daemons)" >&2
  exit 1
fi

# 1. Packages.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  echo "installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The packages' postinst scripts try to start services; without systemd
  # that fails harmlessly (policy-rc.d says "not now"), and we start the
  # daemons ourselves below.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy && made_policy=1
  fi
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
  if [ $made_policy = 1 ]; then rm -f $policy; fi
fi

# 2. Config.
node=$(hostname -s)
cpus=$(nproc)
mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
# slurmd drains a node that has less memory than the config says; leave a
# margin (10%, at least 256 MB) for the daemons and rounding.
margin=$(( mem_mb / 10 > 256 ? mem_mb / 10 : 256 ))
real_mem=$(( mem_mb - margin ))
slurm_user=root
conf_changed=0
if id slurm >/dev/null 2>&1; then slurm_user=slurm; fi

mkdir -p $conf_dir $log_dir /var/spool/slurmctld /var/spool/slurmd /run/slurm
chown "$slurm_user" /var/spool/slurmctld $log_dir /run/slurm
if [ ! -e $conf ] || head -1 $conf | grep -qxF "$marker"; then
  cat > $conf.tmp <<CONF
$marker
# One node, this host. Regenerated on every start; delete the first line to
# keep your own changes.
ClusterName=nstlocal
SlurmctldHost=$node
SlurmUser=$slurm_user
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
# No cgroups: a container often cannot create them.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SchedulerType=sched/backfill
# No mail on a test cluster (silences "MailProg is invalid").
MailProg=/bin/true
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=$log_dir/slurmctld.log
SlurmdLogFile=$log_dir/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=60
MaxArraySize=10001
NodeName=$node CPUs=$cpus RealMemory=$real_mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
  if [ -e $conf ] && cmp -s $conf.tmp $conf; then
    rm $conf.tmp
  else
    conf_changed=1
    mv $conf.tmp $conf
    echo "wrote $conf (node $node, $cpus CPUs, RealMemory=$real_mem MB)"
  fi
else
  echo "keeping $conf (not written by this script)"
fi

# alive PIDFILE: true when the file names a running process.
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# 3. and 4. MUNGE.
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  if command -v mungekey >/dev/null; then
    mungekey --create --keyfile=/etc/munge/munge.key
  else
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  echo "created /etc/munge/munge.key"
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 0755 /run/munge
if alive /run/munge/munged.pid; then
  echo "munged already running"
else
  # munged refuses to run as root; Debian's service runs it as munge.
  runuser -u munge -- /usr/sbin/munged
  echo "started munged"
fi
munge -n | unmunge >/dev/null || { echo "start-local-cluster: munge does not work" >&2; exit 1; }

# 4. Slurm daemons.
if [ $conf_changed = 1 ] && { alive /run/slurm/slurmctld.pid || alive /run/slurm/slurmd.pid; }; then
  echo "note: $conf changed while Slurm runs; stop-local-cluster.sh and start again to apply it" >&2
fi
if alive /run/slurm/slurmctld.pid; then
  echo "slurmctld already running"
else
  slurmctld
  echo "started slurmctld"
fi
if alive /run/slurm/slurmd.pid; then
  echo "slurmd already running"
else
  slurmd
  echo "started slurmd"
fi

# 5. Wait for the node.
deadline=$(( $(date +%s) + timeout_s ))
state=""
while :; do
  state=$(sinfo -h -n "$node" -o %T 2>/dev/null | head -1 || true)
  case "$state" in
    idle|mixed|allocated) break ;;
    down*|drain*)
      # A node that was down when slurmctld last saved its state stays
      # down until told otherwise.
      scontrol update NodeName="$node" State=RESUME 2>/dev/null || true ;;
  esac
  if [ "$(date +%s)" -ge $deadline ]; then
    echo "start-local-cluster: node $node not idle after ${timeout_s}s (state: ${state:-unknown})" >&2
    sinfo -N -l >&2 || true
    scontrol show node "$node" >&2 || true
    for f in $log_dir/slurmctld.log $log_dir/slurmd.log /var/log/munge/munged.log; do
      echo "--- last lines of $f" >&2
      tail -n 30 "$f" >&2 2>/dev/null || true
    done
    exit 1
  fi
  sleep 1
done
echo "Slurm is up: node $node is $state"
sinfo

#!/usr/bin/env bash
# Installs ffmpeg and ffprobe, which nst runs to decode and encode video files
# (video/frames), from Debian's packages with apt-get. Does nothing when both
# are already on PATH, so it is safe to run on every CI run.
#
# usage: scripts/install-ffmpeg.sh [--force]
#
#   --force   reinstall with apt-get even when ffmpeg is already on PATH.
#
# Needs root (or sudo) and apt-get; elsewhere install ffmpeg with the system's
# package manager and put ffmpeg and ffprobe on PATH.
set -euo pipefail

force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --force) force=1; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "install-ffmpeg: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ $force = 0 ] && command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then
  echo "ffmpeg already installed: $(command -v ffmpeg) ($(ffmpeg -hide_banner -version | head -n1))"
  exit 0
fi

. "$(dirname "$0")/lib/apt.sh"
apt_install install-ffmpeg "$force" ffmpeg

for tool in ffmpeg ffprobe; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install-ffmpeg: apt-get finished but $tool is not on PATH" >&2; exit 1; }
done
echo "installed ffmpeg: $(command -v ffmpeg) ($(ffmpeg -hide_banner -version | head -n1))"

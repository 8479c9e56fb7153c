#!/usr/bin/env bash
# Installs the programs the audio tests drive, from Debian/Ubuntu packages:
#   espeak-ng  speaks a test sentence to a WAV file (real speech for the decoder)
#   sox        rewrites test clips in other encodings (an independent WAV writer)
# Idempotent: when both are already on PATH it changes nothing. Needs apt-get,
# and root or sudo. Under CI=true the audio tests fail, not skip, without them.
#
# usage: scripts/install-audio-tools.sh
set -euo pipefail

case "${1:-}" in
  -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
  "") ;;
  *) echo "install-audio-tools: unknown argument $1 (see --help)" >&2; exit 2 ;;
esac

# Debian package name for each program.
declare -A package=([espeak-ng]=espeak-ng [sox]=sox)

missing=()
for prog in espeak-ng sox; do
  command -v "$prog" >/dev/null 2>&1 || missing+=("${package[$prog]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "audio tools already installed: $(command -v espeak-ng), $(command -v sox)"
  exit 0
fi

. "$(dirname "$0")/lib/apt.sh"
apt_install install-audio-tools 0 "${missing[@]}"

for prog in espeak-ng sox; do
  if ! command -v "$prog" >/dev/null 2>&1; then
    echo "install-audio-tools: $prog is still missing after installing ${missing[*]}" >&2
    exit 1
  fi
done
echo "installed ${missing[*]}: espeak-ng $(espeak-ng --version | awk '{print $4; exit}'), sox $(sox --version | awk '{print $NF; exit}')"

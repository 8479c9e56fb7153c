#!/usr/bin/env bash
# Installs Debian's chromium, which the studio's browser test
# (studio/browser_test.go) drives headless through chromedp, with apt-get.
# Does nothing when chromium is already on PATH, so it is safe to run on
# every CI run.
#
# usage: scripts/install-chromium.sh [--force]
#
#   --force   reinstall with apt-get even when chromium is already on PATH.
#
# Needs root (or sudo) and apt-get; elsewhere install Chromium or Chrome with
# the system's package manager and put it on PATH.
set -euo pipefail

force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --force) force=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "install-chromium: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ $force = 0 ] && command -v chromium >/dev/null 2>&1; then
  echo "chromium already installed: $(command -v chromium) ($(chromium --version 2>/dev/null | head -n1))"
  exit 0
fi

. "$(dirname "$0")/lib/apt.sh"
apt_install install-chromium "$force" chromium

command -v chromium >/dev/null 2>&1 || { echo "install-chromium: apt-get finished but chromium is not on PATH" >&2; exit 1; }
echo "installed chromium: $(command -v chromium) ($(chromium --version 2>/dev/null | head -n1))"

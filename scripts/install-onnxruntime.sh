#!/usr/bin/env bash
# Installs the ONNX Runtime shared library that nst loads, into ./onnxruntime/lib
# (git-ignored), and verifies its SHA-256.
#
# usage: scripts/install-onnxruntime.sh [--source npm|release] [--archive FILE] [--force]
#
#   --source npm      (default) the npm package onnxruntime-node, which ships the CPU
#                     library at bin/napi-v6/linux/x64/libonnxruntime.so.1; needs npm.
#   --source release  the official release archive from GitHub; needs curl.
#   --archive FILE    use an archive already downloaded (.tgz from either source).
#
# Environment: ORT_VERSION (default 1.24.3; must match onnxruntime_go's C API 24),
# ORT_SHA256 to accept an archive whose checksum is not pinned below.
set -euo pipefail

version=${ORT_VERSION:-1.24.3}
source=npm
archive=""
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --source) source=$2; shift 2 ;;
    --archive) archive=$2; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "install-onnxruntime: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/onnxruntime/lib"
lib="$dest/libonnxruntime.so.$version"

# Pinned checksums of the archives as published, and of the library inside the npm one.
# The release archive's sum is the one published with the v1.24.3 release assets.
declare -A archive_sha=(
  [npm-1.24.3]=aa1bb5fa261ea68de05dd53efbba210cd7adf2d2850f4c3a201054c74cc78040
  [release-1.24.3]=4c436a280d650f8bf32c921a2bf4de7c42cc32884c51c90e47de991708bbb5a4
)
declare -A lib_sha=(
  [npm-1.24.3]=92ba8e44d31b80a34f5e805076a044122c3be1fffe0d88ed790de7267b0b2682
)

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) npm_dir=linux/x64; rel_name=linux-x64 ;;
  Linux-aarch64) npm_dir=linux/arm64; rel_name=linux-aarch64 ;;
  *) echo "install-onnxruntime: no prebuilt library for $(uname -s)-$(uname -m); build ONNX Runtime $version and set ONNXRUNTIME_LIB" >&2; exit 1 ;;
esac
if [ "$rel_name" != linux-x64 ]; then unset 'archive_sha[npm-1.24.3]' 'archive_sha[release-1.24.3]' 'lib_sha[npm-1.24.3]'; fi

# The per-user copy an installed nst finds outside the tree
# (ortrt.UserLibraryDir); best effort, since the tree's copy is enough there.
user_dest="${XDG_DATA_HOME:-$HOME/.local/share}/nst/onnxruntime/lib"
install_user_copy() {
  if mkdir -p "$user_dest" 2>/dev/null && cp -f "$lib" "$user_dest/libonnxruntime.so.$version.tmp" 2>/dev/null; then
    mv -f "$user_dest/libonnxruntime.so.$version.tmp" "$user_dest/libonnxruntime.so.$version"
    ln -sf "libonnxruntime.so.$version" "$user_dest/libonnxruntime.so"
  fi
}

if [ -f "$lib" ] && [ $force = 0 ]; then
  [ -f "$user_dest/libonnxruntime.so.$version" ] || install_user_copy
  echo "ONNX Runtime $version already installed: $lib"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

sha() { sha256sum "$1" | cut -d' ' -f1; }
verify() { # file, expected (may be empty), what
  local got; got=$(sha "$1")
  local want=${2:-${ORT_SHA256:-}}
  if [ -z "$want" ]; then
    echo "install-onnxruntime: no pinned SHA-256 for $3; got $got. Check it against the publisher and rerun with ORT_SHA256=$got" >&2
    exit 1
  fi
  if [ "$got" != "$want" ]; then
    echo "install-onnxruntime: SHA-256 mismatch for $3: got $got, want $want" >&2
    exit 1
  fi
}

if [ -z "$archive" ]; then
  case "$source" in
    npm)
      command -v npm >/dev/null || { echo "install-onnxruntime: npm not found; install Node.js/npm or use --source release" >&2; exit 1; }
      (cd "$work" && npm pack --silent "onnxruntime-node@$version" >/dev/null)
      archive="$work/onnxruntime-node-$version.tgz" ;;
    release)
      command -v curl >/dev/null || { echo "install-onnxruntime: curl not found" >&2; exit 1; }
      archive="$work/onnxruntime-$rel_name-$version.tgz"
      curl -fL --retry 3 -o "$archive" "https://github.com/microsoft/onnxruntime/releases/download/v$version/onnxruntime-$rel_name-$version.tgz" ;;
    *) echo "install-onnxruntime: --source must be npm or release" >&2; exit 2 ;;
  esac
fi

# Tell the two archive kinds apart by their content, so --archive takes either.
if tar tzf "$archive" "package/bin/napi-v6/$npm_dir/libonnxruntime.so.1" >/dev/null 2>&1; then
  kind=npm; member="package/bin/napi-v6/$npm_dir/libonnxruntime.so.1"
else
  kind=release; member="onnxruntime-$rel_name-$version/lib/libonnxruntime.so.$version"
fi
verify "$archive" "${archive_sha[$kind-$version]:-}" "$(basename "$archive")"
tar xzf "$archive" -C "$work" "$member"
if [ -n "${lib_sha[$kind-$version]:-}" ]; then verify "$work/$member" "${lib_sha[$kind-$version]}" "$member"; fi

mkdir -p "$dest"
install -m 0644 "$work/$member" "$lib.tmp" && mv "$lib.tmp" "$lib"
ln -sf "libonnxruntime.so.$version" "$dest/libonnxruntime.so"
echo "installed ONNX Runtime $version ($kind) at $lib"
install_user_copy

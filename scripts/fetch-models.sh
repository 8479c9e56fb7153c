#!/usr/bin/env bash
# Downloads the pretrained VGG19 and VGG16 of the ONNX model zoo into
# models/weights/ (git-ignored), resuming interrupted downloads and checking
# each file's size and SHA-256 before it is put in place.
#
# usage: scripts/fetch-models.sh [vgg19|vgg16|all] [--force]
#
#   vgg19 (default)  vgg19-7.onnx, 574677321 bytes (548 MB)
#   vgg16            vgg16-7.onnx, 553437328 bytes (528 MB)
#   --force          download again even if a verified file is there
#
# Sizes and sums are those of the zoo's ONNX_HUB_MANIFEST.json (model_sha,
# model_bytes); vgg16-7's also match its Git LFS pointer. The zoo moved its
# files under validated/ in 2024; the old path is tried second.
#
# Configuration for these files. The zoo's VGG README: "The images have to be
# loaded in to a range of [0, 1] and then normalized using mean = [0.485,
# 0.456, 0.406] and std = [0.229, 0.224, 0.225]", RGB (configs/README.md has
# the keys):
#
#   model:
#     path: models/weights/vgg19-7.onnx
#     arch: vgg19
#     preprocess: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], scale: 1.0, channels: rgb}
#
# Caffe-converted VGG files (the zoo's vgg19-caffe2-*, or the original VGG
# caffemodels) want BGR 0-255 values with the mean subtracted instead (mean
# listed in R, G, B order):
#     preprocess: {mean: [123.68, 116.779, 103.939], std: [1, 1, 1], scale: 255, channels: bgr}
set -euo pipefail

want=vgg19
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    vgg19|vgg16|all) want=$1; shift ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "fetch-models: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/models/weights"
zoo=https://github.com/onnx/models/raw/main

declare -A file=([vgg19]=vgg19-7.onnx [vgg16]=vgg16-7.onnx)
declare -A bytes=([vgg19]=574677321 [vgg16]=553437328)
declare -A sha=(
  [vgg19]=692f9f927f1df1b89033787a77a73eac59fd9b3344f9ecdf0b13221e41c2046f
  [vgg16]=f20805a3ecccaa88647bbab4ad011ff2412a9838485ea844de0fcbce349820b9
)
paths=(validated/vision/classification/vgg/model vision/classification/vgg/model)

command -v curl >/dev/null || { echo "fetch-models: needs curl" >&2; exit 1; }
if command -v sha256sum >/dev/null; then
  sum() { sha256sum "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null; then
  sum() { shasum -a 256 "$1" | cut -d' ' -f1; }
else
  echo "fetch-models: needs sha256sum or shasum" >&2; exit 1
fi
size() { wc -c <"$1" | tr -d ' '; }

fetch() {
  local arch=$1 name=${file[$1]}
  local target="$dest/$name" part="$dest/$name.part"
  if [ "$force" = 0 ] && [ -f "$target" ] && [ "$(sum "$target")" = "${sha[$arch]}" ]; then
    echo "$target: present and verified"
    return 0
  fi
  mkdir -p "$dest"
  # A partial download larger than the file cannot be resumed.
  if [ -f "$part" ] && [ "$(size "$part")" -gt "${bytes[$arch]}" ]; then
    rm -f "$part"
  fi
  local ok=0 p
  # A complete partial file (interrupted before its check) needs no request:
  # servers answer a range past the end with an error.
  if [ -f "$part" ] && [ "$(size "$part")" = "${bytes[$arch]}" ]; then
    ok=1
  fi
  for p in "${paths[@]}"; do
    [ "$ok" = 1 ] && break
    echo "fetching $name from $zoo/$p (${bytes[$arch]} bytes; resumes if interrupted)"
    # -C - continues $part where it stopped; --fail keeps an HTML error page
    # out of it.
    if curl --fail --location --retry 3 --retry-delay 5 -C - -o "$part" "$zoo/$p/$name"; then
      ok=1
      break
    fi
  done
  if [ "$ok" = 0 ]; then
    echo "fetch-models: could not download $name; run again to resume" >&2
    return 1
  fi
  local got
  got=$(size "$part")
  if [ "$got" != "${bytes[$arch]}" ]; then
    echo "fetch-models: $name is $got bytes, want ${bytes[$arch]}; run again to resume" >&2
    return 1
  fi
  got=$(sum "$part")
  if [ "$got" != "${sha[$arch]}" ]; then
    rm -f "$part"
    echo "fetch-models: $name has SHA-256 $got, want ${sha[$arch]}; removed it, run again" >&2
    return 1
  fi
  mv "$part" "$target"
  echo "$target: verified (sha256 ${sha[$arch]})"
}

case "$want" in
  all) fetch vgg19; fetch vgg16 ;;
  *) fetch "$want" ;;
esac

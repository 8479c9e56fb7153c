#!/usr/bin/env bash
# Downloads the ONNX model zoo's pretrained VGG19 and VGG16 into nst's model
# cache (~/.cache/nst/models, or $NST_MODEL_DIR), where configs naming
# model.path: zoo:vgg19 / zoo:vgg16 find them; runs would otherwise fetch
# them on first use. It is `nst model fetch`: resumed after an interruption,
# SHA-256 checked, safe when two fetch at once; NST_MODEL_MIRROR=URL fetches
# URL/FILE from a mirror.
#
# usage: scripts/fetch-models.sh [vgg19|vgg16|all]
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-vgg19}" in
  all) exec go run ./cmd/nst model fetch --all ;;
  -h|--help) sed -n '2,9p' "$0" ;;
  *) exec go run ./cmd/nst model fetch "$@" ;;
esac

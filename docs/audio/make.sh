#!/usr/bin/env bash
# Writes the sounds of configs/audio_texture.yaml and configs/audio_speech.yaml
# into examples/sounds/ (texture.wav always; speech.wav with espeak-ng, see
# scripts/install-audio-tools.sh), then, with --run, runs both configs.
# Run from anywhere; nothing it writes is committed (see .gitignore).
#
# usage: docs/audio/make.sh [--run]
set -euo pipefail
cd "$(dirname "$0")/../.."
go run ./docs/audio/gen -out examples/sounds
if [ "${1:-}" = "--run" ]; then
  go run ./cmd/nst run -c configs/audio_texture.yaml
  [ -f examples/sounds/speech.wav ] && go run ./cmd/nst run -c configs/audio_speech.yaml
fi

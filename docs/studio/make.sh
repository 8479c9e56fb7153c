#!/usr/bin/env bash
# Takes the README's studio screenshots (docs/studio/composer.png, live.png
# and gallery.png) against a real nst serve on the example images, with
# headless Chromium (scripts/install-chromium.sh): two runs made through
# the API, a third composed and watched in the page. About 3 minutes on 2
# cores. Run from anywhere.
#
# usage: docs/studio/make.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/nst" ./cmd/nst
go run ./docs/studio/shots -nst "$bin/nst" -out docs/studio

#!/bin/sh
# Makes the README's video example: ffmpeg pans a 12-frame, 160x120 clip
# across examples/images/tubingen.jpg, nst styles it with the built-in
# VGG19 and examples/images/starry_night.jpg, and ffmpeg lays frames 1, 4,
# 8 and 12 out as docs/video/strip.png (content above, styled below) and
# the styled clip as docs/video/pan.gif.
#
# Usage: docs/video/make.sh [work folder, default /tmp/nst-video]
# Needs ffmpeg and a built nst (NST, default: go run ./cmd/nst).
set -eu
cd "$(dirname "$0")/../.."
work=${1:-/tmp/nst-video}
nst=${NST:-"go run ./cmd/nst"}
mkdir -p "$work"
work=$(cd "$work" && pwd)

# The pan: the photo scaled to 160 px high, a 160x120 window moving
# right 16 px a frame (0.5 s at 24 fps would be too fast to follow; 12 fps
# keeps the clip short and the motion readable).
ffmpeg -v error -y -loop 1 -i examples/images/tubingen.jpg \
	-vf "scale=-2:160,crop=160:120:16*n:20" -r 12 -frames:v 12 \
	-c:v libx264 -pix_fmt yuv444p -crf 10 "$work/pan.mp4"

cat >"$work/video.yaml" <<YAML
content: pan.mp4
style:
  - {path: $PWD/examples/images/starry_night.jpg, weight: 1}
size: 160
output: {dir: $work/out, save_every: 0}
video: {iterations_first: ${FIRST:-300}, iterations: ${LATER:-100}}
YAML

start=$(date +%s)
$nst run -c "$work/video.yaml" >"$work/result.txt"
echo "styled 12 frames in $(($(date +%s) - start)) s"
run=$(dirname "$(cat "$work/result.txt")")

# Frames 1, 4, 8 and 12, content row over styled row, 2 px apart.
sel="select='eq(n\,0)+eq(n\,3)+eq(n\,7)+eq(n\,11)',tile=4x1:padding=2:color=white"
ffmpeg -v error -y -i "$run/input/frame_%06d.png" -vf "$sel" -frames:v 1 "$work/top.png"
ffmpeg -v error -y -i "$run/frames/frame_%06d.png" -vf "$sel" -frames:v 1 "$work/bottom.png"
ffmpeg -v error -y -i "$work/top.png" -i "$work/bottom.png" \
	-filter_complex "[0][1]vstack=inputs=2" docs/video/strip.png
ffmpeg -v error -y -framerate 6 -i "$run/frames/frame_%06d.png" \
	-vf "split[a][b];[a]palettegen[p];[b][p]paletteuse" -loop 0 docs/video/pan.gif
ls -l docs/video/strip.png docs/video/pan.gif

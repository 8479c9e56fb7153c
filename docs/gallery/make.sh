#!/bin/sh
# Regenerates the artistic-controls gallery in docs/gallery: runs nst on
# configs/controls_*.yaml (built-in backbone and images, offline) and sets
# each control beside the plain result. Needs Go and ImageMagick's montage.
# About 6 minutes of CPU at 256 px; run from the repository root:
#
#	sh docs/gallery/make.sh
set -eu

out=runs/gallery
rm -rf "$out"
mkdir -p "$out" bin
go build -o bin/nst ./cmd/nst
go run docs/gallery/make_masks.go

# run NAME CONFIG [--set ...]: one nst run into $out/NAME.
run() {
	name=$1 config=$2
	shift 2
	bin/nst run -c "configs/$config.yaml" --set "output.dir=$out/$name" "$@"
}

# The inputs, as nst sizes them: a run without iterations writes its
# starting image, the content.
for img in village swirls mosaic; do
	run "$img" controls_plain --set "content=builtin:$img" --set optimizer.iterations=0
done
for c in plain luminance histogram after scales style_scale masks combined; do
	run "$c" "controls_$c"
done
run style_scale_2 controls_style_scale --set 'style=[{path: builtin:swirls, weight: 1, scale: 2}]'

# sheet NAME LABEL IMAGE [LABEL IMAGE ...]: a labelled row of images, as a
# 256-colour PNG to keep the file small.
sheet() {
	name=$1
	shift
	args=""
	while [ $# -gt 0 ]; do
		args="$args -label '$1' $2"
		shift 2
	done
	eval montage $args -tile x1 -geometry 256x+3+3 -pointsize 13 "$out/$name.png"
	convert "$out/$name.png" -dither FloydSteinberg -colors 256 "PNG8:docs/gallery/$name.png"
}

f=final.png
sheet color content "$out/village/$f" 'plain' "$out/plain/$f" 'color: luminance' "$out/luminance/$f" \
	'color: histogram' "$out/histogram/$f" 'color: after' "$out/after/$f"
sheet scales 'plain, 40 it. at 256' "$out/plain/$f" 'scale 1: 60 it. at 128' "$out/scales/scale1_128px.png" \
	'then 25 it. at 256' "$out/scales/$f"
sheet style_scale 'style scale 0.5' "$out/style_scale/$f" 'plain (scale 1)' "$out/plain/$f" 'style scale 2' "$out/style_scale_2/$f"
sheet masks 'swirls' "$out/swirls/$f" 'mosaic' "$out/mosaic/$f" 'sky mask' docs/gallery/masks/sky.png \
	'plain (swirls)' "$out/plain/$f" 'swirls in the sky, mosaic on land' "$out/masks/$f"
sheet combined 'plain' "$out/plain/$f" 'masks + luminance + 3 scales' "$out/combined/$f"
ls -l docs/gallery/*.png

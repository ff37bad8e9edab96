#!/usr/bin/env bash
# Where the model is unsure: a heat map of the per-pixel spread across 4 samples (paper Fig. 5),
# on screen or into OUT.mp4. Black is certain; red, yellow and white ever less so.
# Usage: uncertainty.sh IN [OUT.mp4]
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -ge 1 ] || { echo "usage: $0 IN [OUT.mp4]" >&2; exit 2; }

if [ $# -ge 2 ]; then
  sink=(! videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=faster bframes=0 ! mp4mux ! filesink location="$2")
else
  sink=(! videoconvert ! autovideosink)
fi
gst-launch-1.0 -e \
  filesrc location="$1" ! decodebin ! videoconvert \
  ! deblur output=uncertainty samples=4 "${props[@]}" \
  "${sink[@]}"

#!/usr/bin/env bash
# Input and deblurred output next to each other: on screen, or into OUT.mp4.
# Usage: side-by-side.sh IN [OUT.mp4]
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -ge 1 ] || { echo "usage: $0 IN [OUT.mp4]" >&2; exit 2; }

if [ $# -ge 2 ]; then
  sink=(! videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=faster bframes=0 ! mp4mux ! filesink location="$2")
else
  sink=(! videoconvert ! autovideosink)
fi
# output=side-by-side doubles the width: the left half is the input, the right the output.
gst-launch-1.0 -e \
  filesrc location="$1" ! decodebin ! videoconvert \
  ! deblur output=side-by-side "${props[@]}" \
  "${sink[@]}"

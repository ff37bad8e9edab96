#!/usr/bin/env bash
# Deblurs a numbered PNG sequence into another.
# Usage: image-sequence.sh 'in/%05d.png' 'out/%05d.png' [START_INDEX]
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -ge 2 ] || { echo "usage: $0 IN_PATTERN OUT_PATTERN [START_INDEX]" >&2; exit 2; }

# multifilesrc reads in/00000.png, in/00001.png, ... until one is missing; the frame rate only
# numbers the frames (per-frame noise uses it).
gst-launch-1.0 \
  multifilesrc location="$1" index="${3:-0}" caps=image/png,framerate=25/1 \
  ! pngdec ! videoconvert \
  ! deblur "${props[@]}" \
  ! videoconvert ! pngenc ! multifilesink location="$2"

#!/usr/bin/env bash
# A camera, deblurred live, to the screen.
# Usage: camera.sh [DEVICE]   (default /dev/video0)
set -euo pipefail
source "$(dirname "$0")/common.sh"

# The leaky queue keeps only the newest frame when deblurring falls behind, and the display's
# QoS events make deblur lower its diffusion steps (down to the predictor alone) before any frame
# is dropped. One step keeps the latency low; raise it on a fast machine.
gst-launch-1.0 \
  v4l2src device="${1:-/dev/video0}" ! videoconvert ! videoscale ! video/x-raw,width=640,height=360 \
  ! queue leaky=downstream max-size-buffers=1 \
  ! deblur steps=1 "${props[@]}" \
  ! videoconvert ! autovideosink

#!/usr/bin/env bash
# Deblurs an MP4 (H.264 video + AAC audio) into a new MP4; the audio is copied, not re-encoded.
# Usage: file-to-file.sh IN.mp4 OUT.mp4
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -eq 2 ] || { echo "usage: $0 IN.mp4 OUT.mp4" >&2; exit 2; }

# -e: on Ctrl-C send EOS, so that mp4mux writes a playable file.
# qtdemux splits the streams; the video is decoded, deblurred, converted to 4:2:0 and encoded
# without B-frames (timestamps stay where they were); the AAC audio goes straight to the muxer.
gst-launch-1.0 -e \
  filesrc location="$1" ! qtdemux name=demux \
  demux.video_0 ! queue ! decodebin ! videoconvert \
    ! deblur "${props[@]}" \
    ! videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=faster pass=quant quantizer=18 bframes=0 \
    ! queue ! mp4mux name=mux ! filesink location="$2" \
  demux.audio_0 ! queue ! aacparse ! mux.

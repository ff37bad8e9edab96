#!/usr/bin/env bash
# Regenerates docs/RESULTS.md and its plots from scratch: the held-out photo pairs, a synthetic
# camera-motion clip, a release build of deblur, then `deblur eval`.
#
#   scripts/results.sh [more `deblur eval` options]
#
# Settings through the environment (default in brackets):
#   MODEL            model bundle directory [the embedded default model]
#   STEPS_GRID       sweep steps [1,2,4,10,20,50,100,200,500]
#   ENDS_GRID        sweep schedule ends [0.01,0.02,0.05,0.1,0.2,0.5,0.99]: Appendix F's, plus 0.99
#                    (one step from abar 0.01: where the mean of samples scored best)
#   SAMPLES_GRID     sweep sample counts averaged [1,2,4,8,16]
#   CROP             side of the centre crop the sweep runs on [160]
#   SWEEP_IMAGES     photos swept [4]
#   MAX_IMAGES       photos in the table [all]
#   CLIP_PHOTO       the held-out photo the clip pans over [the first, by name]
#   WRITE_DEFAULTS   1: write the fast default and the averaging schedule chosen by the sweep
#                    into $MODEL's manifest
#   DATA             where the generated inputs go [target/results-data]
#
# The sweep dominates the time: per image it runs the denoiser sum(STEPS_GRID) x (schedule ends) x
# max(SAMPLES_GRID) times on one CROP x CROP sample; with the defaults that is about 11,000 times
# the cost of one denoiser step on one 640x360 frame (about 5.5 minutes per image if that step
# takes 30 ms). `deblur eval` prints its progress and the time left. The tables (all 30 photos,
# 24 clip frames) take a minute or two. Run scripts/setup.sh once first.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

data=${DATA:-target/results-data}
mkdir -p "$data"
data_absolute=$(cd "$data" && pwd)

if [ ! -x .venv/bin/python ]; then
  echo "results.sh: .venv/bin/python is missing: run scripts/setup.sh first" >&2
  exit 1
fi

# (a) The held-out photo pairs, from wallpapers the training never sees. Written under $DATA
# rather than training/data/heldout so that a training run reading that folder is not disturbed;
# the generator is seeded, so the pairs are the same.
if ! compgen -G "/usr/share/wallpapers/*/contents/images" >/dev/null; then
  echo "results.sh: installing plasma-workspace-wallpapers (the held-out photos)" >&2
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q plasma-workspace-wallpapers
fi
(cd training && ../.venv/bin/python -m deblur_train.make_heldout --out "$data_absolute/heldout") |
  tail -n 1

# (b) The synthetic camera-motion clip.
clip_photo=${CLIP_PHOTO:-$(find "$data/heldout/sharp" -name '*.png' | sort | head -n 1)}
.venv/bin/python scripts/make_clip.py --photo "$clip_photo" --out "$data/clip"

# (c) Build and evaluate.
cargo build --release --bin deblur

# The command as RESULTS.md records it: the settings given, then this script.
quote() {
  if [[ $1 =~ ^[A-Za-z0-9_.,/:=+@-]+$ ]]; then printf '%s' "$1"; else printf '%q' "$1"; fi
}
command=""
for name in MODEL STEPS_GRID ENDS_GRID SAMPLES_GRID CROP SWEEP_IMAGES MAX_IMAGES CLIP_PHOTO \
  WRITE_DEFAULTS DATA; do
  if [ -n "${!name:-}" ]; then command+="$name=$(quote "${!name}") "; fi
done
command+="scripts/results.sh"
for arg in "$@"; do command+=" $(quote "$arg")"; done

note="The script makes its inputs from scratch: the held-out pairs with \
\`training/deblur_train/make_heldout.py\` (KDE Plasma wallpapers, which the training never sees, \
each blurred by a camera-shake kernel or GoPro-style sub-frame averaging, plus noise, at \
640x360), and the clip with \`scripts/make_clip.py\` (a window panning over \
\`$(basename "$clip_photo")\` along a smooth path; each blurry frame averages the sub-frames \
of its exposure in linear light with the training's degradation code, plus noise). It then \
builds deblur in release mode and runs \`deblur eval\`."

args=(
  --blurry "$data/heldout/blurry" --sharp "$data/heldout/sharp"
  --clip-blurry "$data/clip/blurry" --clip-sharp "$data/clip/sharp"
  --steps-grid "${STEPS_GRID:-1,2,4,10,20,50,100,200,500}"
  --ends-grid "${ENDS_GRID:-0.01,0.02,0.05,0.1,0.2,0.5,0.99}"
  --samples-grid "${SAMPLES_GRID:-1,2,4,8,16}"
  --crop "${CROP:-160}"
  --sweep-images "${SWEEP_IMAGES:-4}"
  --results docs/RESULTS.md --images-dir docs/images
  --command "$command"
  --note "$note"
)
if [ -n "${MODEL:-}" ]; then args+=(--model "$MODEL"); fi
if [ -n "${MAX_IMAGES:-}" ]; then args+=(--max-images "$MAX_IMAGES"); fi
if [ "${WRITE_DEFAULTS:-0}" = 1 ]; then args+=(--write-defaults); fi

rm -f docs/images/results-*
target/release/deblur eval "${args[@]}" "$@"

elapsed=$(($(date +%s) - started))
printf 'results.sh took %dm%02ds\n' $((elapsed / 60)) $((elapsed % 60))

#!/usr/bin/env bash
# Trains the model on the lent GPU machine in one call (docs/gpu.md, "Training on the lent GPU").
#
# Expects .gpu-train/ carried along, made here by `python -m deblur_train.gpu_pack` (the training
# photos as JPEG and, usually, init.pt: the weights to start from). The machine's own PyTorch,
# numpy, scipy and Pillow do the rest. Writes to $OUT: weights.pt (fp16 EMA weights, 11 MB for
# the small config; export it here with deblur_train.export), log.jsonl and train.out.
#
# Settings, by environment: MINUTES (training time, default 7: the call's limit is 10 minutes and
# the machine's start counts against the session's 15), BATCH (64), LR (2e-4), AUX_L1 (1.0: the
# predictor also learns from |g(y) - x| directly, see docs/training.md), NOISE_POWER (1), P_GOPRO
# (0.3: the share of GoPro-style blur; NOISE_POWER=8 P_GOPRO=0: pred-clean's nearly clean shake),
# LENGTH_POWER (1; above 1 favours short camera shake), P_LINE (0: the share of camera-shake
# kernels that are straight motions), MIN_LENGTH and MAX_LENGTH (0 and 30: the band of camera-shake
# lengths in pixels; docs/training.md "Straight motion and a length band"), CONFIG
# (init.pt's configuration; small without init.pt), WORKERS (cores - 1), DEVICE (cuda), BF16
# (1: bfloat16 autocast, float32 weights; 0 for float32 throughout).
# A second call while the machine is still warm (30 s) finds $RUN and resumes it, optimiser and
# step count included; init.pt is then ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${OUT:?"set OUT to the folder that comes back"}
pack=${PACK:-.gpu-train}
[[ $pack == /* ]] || pack=$root/$pack
run=${RUN:-/tmp/gpu-train-run}
py=${PY:-python3}
[ -x /opt/torch/.venv/bin/python3 ] && [ -z "${PY:-}" ] && py=/opt/torch/.venv/bin/python3
py=$(command -v "$py")
[[ $py == /* ]] || py=$root/$py  # absolute (not resolved: a venv's python is a link): training runs from training/
mkdir -p "$out"

if [ ! -d "$pack/data" ]; then
  echo "error: $pack/data is missing: run 'python -m deblur_train.gpu_pack --init CHECKPOINT' here and carry .gpu-train" >&2
  exit 2
fi
"$py" -c 'import torch, scipy, PIL, numpy; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"

init=()
[ -f "$pack/init.pt" ] && init=(--init "$pack/init.pt")
bf16=()
[ "${BF16:-1}" = 1 ] && bf16=(--bf16)
cd training
# --steps is only a ceiling: with --minutes the cosine anneals to the end of the time given.
"$py" -m deblur_train.train --run "$run" ${CONFIG:+--config "$CONFIG"} --data "$pack/data" ${init[@]+"${init[@]}"} \
  --device "${DEVICE:-cuda}" --workers "${WORKERS:-$(($(nproc) - 1))}" --batch "${BATCH:-64}" \
  --lr "${LR:-2e-4}" --warmup 200 --cosine --lr-floor 0.1 --minutes "${MINUTES:-7}" --steps 10000000 \
  --aux-l1 "${AUX_L1:-1.0}" --noise-power "${NOISE_POWER:-1}" --length-power "${LENGTH_POWER:-1}" --p-gopro "${P_GOPRO:-0.3}" \
  --p-line "${P_LINE:-0}" --min-length "${MIN_LENGTH:-0}" --max-length "${MAX_LENGTH:-30}" --log-every 100 --ckpt-minutes 2 \
  --snapshot-every 10000000 ${bf16[@]+"${bf16[@]}"} 2>&1 | tee "$out/train.out" || status=$?
# A run that stops early (a non-finite loss, the time limit) still leaves its last checkpoint,
# written every 2 minutes: bring that back too.
if [ -f "$run/last.pt" ]; then
  "$py" -m deblur_train.weights "$run/last.pt" "$out/weights.pt"
  cp "$run/log.jsonl" "$out/log.jsonl"
  tail -n 1 "$out/log.jsonl"
fi
exit "${status:-0}"

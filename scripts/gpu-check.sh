#!/usr/bin/env bash
# Runs on the lent GPU machine (see docs/gpu.md for getting there): checks that ONNX Runtime's
# CUDA provider really runs, compares GPU output with CPU output on the same seed, and
# benchmarks 1280x720 and 640x360 on the GPU with 1, 2 and 4 frames in flight. Logs go to $OUT;
# a short table is printed last.
#
# Expects: target/release/deblur built here with `--features cuda` (no `video`: the lent machine
# has no GStreamer), the CUDA provider unpacked in /opt/ort, and PyTorch's CUDA libraries.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/gpu-check}
mkdir -p "$out"
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-/opt/ort/libonnxruntime.so.1.31.1}
export ORT_DISABLE_TELEMETRY=1
nvidia_root=$(python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))' 2>/dev/null)/nvidia
for lib in "$nvidia_root"/*/lib; do
  [ -d "$lib" ] && LD_LIBRARY_PATH="$lib:${LD_LIBRARY_PATH:-}"
done
export LD_LIBRARY_PATH
bin=target/release/deblur
summary=()
note() { summary+=("$1"); echo "$1"; }

nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv > "$out/gpu.txt" 2>&1
note "gpu: $(tail -n1 "$out/gpu.txt")"

# 1. Is the CUDA provider really active? (`info` fails loudly when it is not.)
if $bin info --provider cuda > "$out/info.txt" 2>&1; then
  note "cuda provider: active ($(grep providers "$out/info.txt" | sed 's/ \+/ /g'))"
else
  note "cuda provider: NOT ACTIVE: $(tail -n1 "$out/info.txt")"
fi

# 2. GPU against CPU on the same seed.
for provider in cpu cuda; do
  $bin image examples/data/blurry.jpg "$out/$provider.png" --provider "$provider" --seed 7 \
    > "$out/image-$provider.txt" 2>&1 || note "image on $provider failed: $(tail -n1 "$out/image-$provider.txt")"
done
python3 - "$out/cpu.png" "$out/cuda.png" > "$out/compare.txt" 2>&1 <<'PY'
import sys
import numpy as np
from PIL import Image
a, b = (np.asarray(Image.open(p), dtype=np.float64) for p in sys.argv[1:3])
diff = np.abs(a - b)
mse = float(np.mean(diff ** 2))
psnr = float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)
print(f"max |gpu - cpu| = {diff.max():.0f}/255, mean {diff.mean():.4f}, PSNR gpu vs cpu {psnr:.1f} dB")
PY
note "fp32 gpu vs cpu: $(tail -n1 "$out/compare.txt")"

# 3. Speed: 1280x720 and 640x360, 1 sample, 1/2/4 frames in flight.
for flight in 1 2 4; do
  $bin bench --provider cuda --sizes 1280x720,640x360 --sample-counts 1 --frames 30 \
    --frames-in-flight "$flight" --soak 0 --no-4k --out "$out/bench-$flight.md" \
    > "$out/bench-$flight.log" 2>&1 || note "bench ($flight in flight) failed: $(tail -n1 "$out/bench-$flight.log")"
done

echo
echo "== gpu-check summary =="
printf '%s\n' "${summary[@]}"
for flight in 1 2 4; do
  echo "-- frames in flight: $flight"
  grep -E '^\| (1280x720|640x360)' "$out/bench-$flight.md" 2>/dev/null | cut -d'|' -f2,5,7,8,9,10,12,13
done

#!/usr/bin/env bash
# Sets up deblur on Debian 12, skipping whatever is already in place:
#   1. Debian packages (GStreamer 1.22 development files and plugins, Python venv support);
#   2. ONNX Runtime 1.31.1: libonnxruntime.so.1.31.1 taken from the PyPI wheel
#      onnxruntime==1.31.1 (hash checked) into .ort/lib/, where deblur finds it by itself;
#   3. a Python virtual environment .venv/ with the small packages the tests use
#      (training/requirements-ci.txt; no torch).
# Needs root or sudo for step 1, and a Rust toolchain >= 1.95 (rustup) on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_VERSION=1.31.1
ORT_WHEEL=onnxruntime-${ORT_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl
ORT_WHEEL_SHA256=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
ORT_LIB=.ort/lib/libonnxruntime.so.${ORT_VERSION}
APT_PACKAGES=(
  pkg-config python3 python3-venv python3-pip zstd
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-libav
)

say() { printf 'setup: %s\n' "$*"; }

# 1. Debian packages.
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages present"
fi

if ! command -v cargo >/dev/null 2>&1; then
  say "cargo not found: install Rust >= 1.95 with rustup (https://rustup.rs), then rerun" >&2
  exit 1
fi

# 2. Python environment (also provides pip for fetching the ONNX Runtime wheel).
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -m pip install -q --disable-pip-version-check -r tests/requirements.txt -r training/requirements-ci.txt; then
  say "pip could not install tests/requirements.txt and training/requirements-ci.txt (is PyPI reachable?)" >&2
  exit 1
fi

# 3. ONNX Runtime.
if [ -f "$ORT_LIB" ]; then
  say "ONNX Runtime present: $ORT_LIB"
else
  mkdir -p .ort/cache .ort/lib
  wheel=.ort/cache/$ORT_WHEEL
  if [ ! -f "$wheel" ]; then
    say "downloading onnxruntime==${ORT_VERSION} from PyPI"
    .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      --python-version 3.11 --implementation cp --abi cp311 --platform manylinux_2_28_x86_64 \
      -d .ort/cache "onnxruntime==${ORT_VERSION}"
  fi
  if ! echo "${ORT_WHEEL_SHA256}  ${wheel}" | sha256sum -c --status; then
    say "hash mismatch for ${wheel}: expected sha256 ${ORT_WHEEL_SHA256}; deleting it, rerun to fetch again" >&2
    rm -f "$wheel"
    exit 1
  fi
  .venv/bin/python - "$wheel" "$ORT_LIB" <<'PY'
import shutil, sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
name = "onnxruntime/capi/" + target.rsplit("/", 1)[1]
with zipfile.ZipFile(wheel) as zf, zf.open(name) as src, open(target + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  mv "$ORT_LIB.part" "$ORT_LIB"
  say "installed $ORT_LIB"
fi
say "done"

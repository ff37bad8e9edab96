#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, the Rust tests, the fixture generator's
# reproducibility and the Python training tests. Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
export ORT_DISABLE_TELEMETRY=1

cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets --all-features -- -D warnings
# The video and pipeline tests load the plugin as GStreamer would, from target/debug:
# `cargo test` alone does not produce the cdylib.
cargo build --locked -p gst-plugin-deblur
cargo test --locked --workspace --all-features

# The committed ONNX fixtures are exactly what their generator makes.
fixtures=$(mktemp -d)
trap 'rm -rf "$fixtures"' EXIT
.venv/bin/python tests/fixtures/make_fixtures.py --out "$fixtures"
for f in $(cd "$fixtures" && find . -type f | sort); do
  cmp -s "$fixtures/$f" "tests/fixtures/$f" || { echo "tests/fixtures/$f differs from what make_fixtures.py generates" >&2; exit 1; }
done

.venv/bin/python -m pytest -q training/tests

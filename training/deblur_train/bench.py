"""Time untrained predictor/denoiser candidates in ONNX Runtime at 640x360 (padded to pad_multiple).

python -m deblur_train.bench --threads 1 2 --candidates p32u2r1 d16u2r1 ...
A candidate name is <p|d><base channels>u<unshuffle>r<res blocks per level>.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .export import export_denoiser, export_predictor
from .onnx_bundle import ort_session
from .configs import ModelConfig, UNetConfig
from .models import DeblurModel, count_params


def parse(name: str) -> tuple[str, UNetConfig]:
    m = re.fullmatch(r"([pd])(\d+)u(\d)r(\d)", name)
    if not m:
        raise SystemExit(f"bad candidate {name!r}: expected e.g. p32u2r1")
    kind, c, u, r = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
    return kind, UNetConfig(base_channels=c, unshuffle=u, num_res_blocks=r)


def time_session(sess, feeds, reps: int) -> float:
    sess.run(None, feeds)  # warm-up
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--candidates", nargs="+", required=True)
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.candidates:
            kind, ucfg = parse(name)
            pm = ucfg.pad_multiple
            h = -(-args.height // pm) * pm
            w = -(-args.width // pm) * pm
            model = DeblurModel(ModelConfig("bench", ucfg, ucfg))
            # Zero-initialised layers would make the graph trivially cheap for nothing; perturb them.
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(torch.randn_like(p) * 0.01)
            path = Path(tmp) / f"{name}.onnx"
            rng = np.random.default_rng(0)
            y = rng.standard_normal((1, 3, h, w)).astype(np.float32)
            if kind == "p":
                export_predictor(model, path)
                feeds = {"blurry": y}
                params = count_params(model.predictor)
            else:
                export_denoiser(model, path)
                feeds = {"noisy_residual": y, "noise_level": np.array([0.5], np.float32), "blurry": y}
                params = count_params(model.denoiser)
            row = [f"{name:10s} params {params / 1e6:6.2f}M at {w}x{h}"]
            for th in args.threads:
                t = time_session(ort_session(path, th), feeds, args.reps)
                row.append(f"{th}T {t * 1000:7.1f} ms")
            print("  ".join(row), flush=True)


if __name__ == "__main__":
    main()

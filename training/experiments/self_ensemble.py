"""How much does averaging the predictor over flips and quarter turns gain?

The geometric self-ensemble of EDSR+ (Lim et al. 2017), as the Rust library runs it
(`deblur::ensemble`, `--ensemble N`): the exported predictor (ONNX Runtime, as shipped) runs on
the image and on 1, 3 or 7 flipped and quarter-turned copies, each estimate is turned back, and
their mean is the estimate. The orientations are the library's (`evaluate.ORIENTATIONS`), in
its order: the image, its mirror image, upside down, both; then the same turned a quarter. Scores the README sample and
the held-out photos with 1, 2, 4 and 8 orientations.

    cd training && . .venv/bin/activate
    export OMP_WAIT_POLICY=PASSIVE PYTHONPATH=.
    python experiments/self_ensemble.py ../models/default

Results: docs/model-card.md, "Self-ensemble".
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

from deblur_train import TRAINING_ROOT
from deblur_train import metrics as M
from deblur_train.evaluate import ENSEMBLE_SIZES, Bundle, ensembled, load_pairs, run_predictor

SAMPLE = TRAINING_ROOT.parent / "examples" / "data"


def ensembled_image(net: Bundle, img: np.ndarray, size: int) -> np.ndarray:
    """The mean of the predictor's estimates of ``img`` over the first ``size`` orientations."""
    ensemble = SimpleNamespace(pad=net.pad, predictor=lambda y: ensembled(net.plain_predictor, y, size))
    return run_predictor(ensemble, img)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--photos", type=int, default=None, help="held-out photos scored (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    net = Bundle(args.bundle, args.threads)
    blurry, sharp = (np.asarray(Image.open(SAMPLE / f"{n}.jpg").convert("RGB")) for n in ("blurry", "sharp"))
    for size in ENSEMBLE_SIZES:
        out = ensembled_image(net, blurry, size)
        print(f"README sample, {size} orientation(s): {M.psnr(out, sharp):.3f} dB, "
              f"detail {M.detail_ratio(out, sharp):.3f}", flush=True)

    pairs = load_pairs(TRAINING_ROOT / "data" / "heldout", args.photos)
    started = time.time()
    rows = np.array([[M.psnr(b, s)] + [M.psnr(ensembled_image(net, b, n), s) for n in ENSEMBLE_SIZES] for _, b, s in pairs])
    print(f"{len(pairs)} held-out photos ({time.time() - started:.0f} s): blurry {rows[:, 0].mean():.3f} dB; "
          + "; ".join(f"{n}: {v:.3f}" for n, v in zip(ENSEMBLE_SIZES, rows[:, 1:].mean(axis=0))) + " dB")
    gain = rows[:, 4] - rows[:, 1]
    print(f"8 against 1: higher on {int((gain > 0).sum())} of {len(pairs)} photos, "
          f"from {gain.min():+.3f} to {gain.max():+.3f} dB")


if __name__ == "__main__":
    main()

"""How much does averaging the predictor over flips and quarter turns gain?

The geometric self-ensemble of EDSR+ (Lim et al. 2017), as the Rust library runs it
(`deblur::ensemble`, `--ensemble N`): the exported predictor (ONNX Runtime, as shipped) runs on
the image and on 1, 3 or 7 flipped and quarter-turned copies, each estimate is turned back, and
their mean is the estimate. The orientations are the library's, in its order: the image, its
mirror image, upside down, both; then the same turned a quarter. Scores the README sample and
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

import numpy as np
from PIL import Image

from deblur_train import TRAINING_ROOT
from deblur_train import metrics as M
from deblur_train.evaluate import Bundle, load_pairs, pad_to, to_image, to_model

SAMPLE = TRAINING_ROOT.parent / "examples" / "data"
# (quarter turns, mirrored): the mirror first, then anticlockwise quarter turns, as numpy's rot90.
ORIENTATIONS = [(0, False), (0, True), (2, False), (2, True), (1, False), (1, True), (3, False), (3, True)]
SIZES = (1, 2, 4, 8)


def turn(x: np.ndarray, quarter_turns: int, mirrored: bool) -> np.ndarray:
    if mirrored:
        x = x[..., ::-1]
    return np.rot90(x, quarter_turns, axes=(2, 3))


def turn_back(x: np.ndarray, quarter_turns: int, mirrored: bool) -> np.ndarray:
    x = np.rot90(x, -quarter_turns, axes=(2, 3))
    return x[..., ::-1] if mirrored else x


def ensembled(net: Bundle, img: np.ndarray, size: int) -> np.ndarray:
    """The mean of the predictor's estimates over the first ``size`` orientations."""
    y, (h, w) = pad_to(to_model(img), net.pad)
    total = 0
    for quarter_turns, mirrored in ORIENTATIONS[:size]:
        estimate = net.predictor(np.ascontiguousarray(turn(y, quarter_turns, mirrored)))
        total = total + turn_back(estimate, quarter_turns, mirrored)
    return to_image((total / size)[0, :, :h, :w])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--photos", type=int, default=None, help="held-out photos scored (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    net = Bundle(args.bundle, args.threads)
    blurry, sharp = (np.asarray(Image.open(SAMPLE / f"{n}.jpg").convert("RGB")) for n in ("blurry", "sharp"))
    for size in SIZES:
        out = ensembled(net, blurry, size)
        print(f"README sample, {size} orientation(s): {M.psnr(out, sharp):.3f} dB, "
              f"detail {M.detail_ratio(out, sharp):.3f}", flush=True)

    pairs = load_pairs(TRAINING_ROOT / "data" / "heldout", args.photos)
    started = time.time()
    rows = np.array([[M.psnr(b, s)] + [M.psnr(ensembled(net, b, n), s) for n in SIZES] for _, b, s in pairs])
    print(f"{len(pairs)} held-out photos ({time.time() - started:.0f} s): blurry {rows[:, 0].mean():.3f} dB; "
          + "; ".join(f"{n}: {v:.3f}" for n, v in zip(SIZES, rows[:, 1:].mean(axis=0))) + " dB")
    gain = rows[:, 4] - rows[:, 1]
    print(f"8 against 1: higher on {int((gain > 0).sum())} of {len(pairs)} photos, "
          f"from {gain.min():+.3f} to {gain.max():+.3f} dB")


if __name__ == "__main__":
    main()

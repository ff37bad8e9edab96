"""Does running the predictor again on its own output remove more blur?

A diagnostic, not a shipped feature. The predictor leaves long blur soft; if its output were just
a shorter blur, a second pass might take off more. This runs an exported bundle's predictor (ONNX
Runtime, as shipped) 1 to PASSES times in a row and scores each pass on the README sample and the
first held-out photos.

    cd training && . .venv/bin/activate
    export OMP_WAIT_POLICY=PASSIVE PYTHONPATH=.
    python experiments/predictor_passes.py ../models/default --passes 4 --photos 10

Results: docs/training.md, "The coarse network trained on".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from deblur_train import TRAINING_ROOT
from deblur_train import metrics as M
from deblur_train.evaluate import Bundle, load_pairs, run_predictor

SAMPLE = TRAINING_ROOT.parent / "examples" / "data"


def passes(bundle: Bundle, image: np.ndarray, count: int) -> list[np.ndarray]:
    """The predictor's output after 1..count passes, each fed the previous output."""
    outputs = [run_predictor(bundle, image)]
    while len(outputs) < count:
        outputs.append(run_predictor(bundle, outputs[-1]))
    return outputs


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--passes", type=int, default=4)
    ap.add_argument("--photos", type=int, default=10, help="held-out photos scored")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    bundle = Bundle(args.bundle, args.threads)
    blurry, sharp = (np.asarray(Image.open(SAMPLE / f"{n}.jpg").convert("RGB")) for n in ("blurry", "sharp"))
    outs = passes(bundle, blurry, args.passes)
    print(f"README sample: blurry {M.psnr(blurry, sharp):.2f} dB; after each pass "
          + ", ".join(f"{M.psnr(o, sharp):.2f} dB (detail {M.detail_ratio(o, sharp):.3f})" for o in outs))

    pairs = load_pairs(TRAINING_ROOT / "data" / "heldout", args.photos)
    scores = np.array([[M.psnr(o, sh) for o in passes(bundle, bl, args.passes)] for _, bl, sh in pairs])
    base = np.mean([M.psnr(bl, sh) for _, bl, sh in pairs])
    print(f"{len(pairs)} held-out photos: blurry {base:.3f} dB; after each pass "
          + ", ".join(f"{s:.3f}" for s in scores.mean(axis=0)) + " dB")


if __name__ == "__main__":
    main()

"""How fast does the predictor learn to undo K known camera-shake kernels?

A diagnostic, not a training stage: it fine-tunes the predictor of a checkpoint with plain L1 on
noise-free crops blurred by one of K fixed kernels (K = 1: one 14 px trajectory; K > 1: lengths
uniform in 4-20 px), and every 100 steps reports the mean PSNR gain over the blurry input on the 30
held-out windows (the blur probe's textured windows), blurred by the bank's kernels (window i by
kernel i mod K) and by a fresh random 14 px trajectory each. Nothing is saved.

    cd training && . .venv/bin/activate
    OMP_WAIT_POLICY=PASSIVE PYTHONPATH=. python experiments/kernel_bank.py --bank 1 --minutes 7
    OMP_WAIT_POLICY=PASSIVE PYTHONPATH=. python experiments/kernel_bank.py --bank 4 --minutes 12 --threads 1
    OMP_WAIT_POLICY=PASSIVE PYTHONPATH=. python experiments/kernel_bank.py --bank 16 --minutes 12 --threads 1

Results and what they say: docs/training.md, "One kernel, sixteen, and the kernel given".
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from deblur_train import TRAINING_ROOT, degrade as D, metrics as M
from deblur_train.configs import SMALL
from deblur_train.data import CropConfig, CropSampler, to_batch
from deblur_train.evaluate import PROBE_WINDOW, blur_8bit, load_pairs, textured_crop, to_image, to_model
from deblur_train.models import DeblurModel


def bank_kernels(k: int, length: float, seed: int = 12345) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    if k == 1:
        return [D.camera_shake_kernel(rng, length=length)]
    return [D.camera_shake_kernel(rng, length=float(rng.uniform(4, 20))) for _ in range(k)]


def probe_windows(kernels: list[np.ndarray]) -> tuple[list, list]:
    """(blurry, sharp) windows of the held-out photos: by the bank's kernels, and by random 14 px ones."""
    h, w = PROBE_WINDOW
    m = D.MARGIN
    bank, fresh = [], []
    for i, (_, _, full) in enumerate(load_pairs(TRAINING_ROOT / "data" / "heldout", None)):
        top, left = textured_crop(full, h, w, border=m)
        src = full[top - m : top + h + m, left - m : left + w + m].astype(np.float32) / 255.0
        sharp = full[top : top + h, left : left + w]
        bank.append((blur_8bit(src, kernels[i % len(kernels)], 0, np.random.default_rng(i)), sharp))
        random14 = D.camera_shake_kernel(np.random.default_rng([0, i, 1400]), length=14.0)
        fresh.append((blur_8bit(src, random14, 0, np.random.default_rng(i)), sharp))
    return bank, fresh


def mean_gain(predictor: torch.nn.Module, windows: list) -> float:
    with torch.no_grad():
        return float(np.mean([M.psnr(to_image(predictor(torch.from_numpy(to_model(b))).numpy()[0]), x) - M.psnr(b, x)
                              for b, x in windows]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bank", type=int, default=1, help="number of kernels (1: a single 14 px trajectory)")
    ap.add_argument("--length", type=float, default=14.0, help="with --bank 1: the kernel's trajectory length")
    ap.add_argument("--init", default="runs/small-v13-joint/last.pt", help="checkpoint whose EMA predictor starts")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=2e-4)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    kernels = bank_kernels(args.bank, args.length)
    model = DeblurModel(SMALL)
    model.load_state_dict(torch.load(args.init, weights_only=False)["ema"])
    predictor = model.predictor
    opt = torch.optim.AdamW(predictor.parameters(), lr=args.lr, weight_decay=1e-4)
    sampler = CropSampler.from_dir(TRAINING_ROOT / "data" / "train", crop=CropConfig(size=128))
    bank, fresh = probe_windows(kernels)
    report = lambda step: print(f"step {step}: bank {mean_gain(predictor, bank):+.2f} dB, "  # noqa: E731
                                f"random 14 px {mean_gain(predictor, fresh):+.2f} dB", flush=True)
    print(f"{len(kernels)} kernels, sizes {[k.shape[0] for k in kernels]}", flush=True)
    report(0)
    rng = np.random.default_rng(7)
    m = D.MARGIN
    t0, step = time.time(), 0
    while time.time() - t0 < args.minutes * 60:
        srcs, blurry = [], []
        for _ in range(8):
            srcs.append(sampler.sample_source(rng))
            kernel = kernels[0] if len(kernels) == 1 else kernels[int(rng.integers(len(kernels)))]
            blurry.append(D.finish(D.blur_valid(srcs[-1], kernel), True))
        y, x = (torch.from_numpy(to_batch(a)) for a in (blurry, [s[m:-m, m:-m] for s in srcs]))
        loss = (predictor(y) - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            report(step)


if __name__ == "__main__":
    main()

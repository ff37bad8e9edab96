"""Would the predictor deblur faster if it knew the blur kernel, or were taught to estimate it?

A diagnostic, not a training stage. Five predictor-only L1 runs from a checkpoint on the same
batches (exp-band2's degradations: half straight motions, shake lengths 4-20 px, noise power 3,
10 % GoPro blur; each step's batch is a function of the step alone), lr 2e-4 along a half cosine
over --plan steps, EMA 0.995:

- ``control``: the predictor as it is;
- ``branch``: plus a global blur branch (convolutions on y, pooled over the whole image, an MLP)
  whose 64-d embedding drives FiLM in every residual block of the predictor, and whose linear head
  is taught the kernel's spectrum magnitude (|rfft2| on 32x32: blind to the kernel's shift and
  flip) and the noise sigma, with an auxiliary L1 of weight --aux;
- ``oracle``: the same FiLM, driven instead by the *true* spectrum and sigma (zeros for GoPro
  blur): an upper bound for any kernel estimator feeding this predictor;
- ``wiener``: no FiLM; the predictor also sees y deconvolved by the *true* kernel (a Wiener filter
  with the gradient prior, its ratio set by the true sigma; y itself for GoPro blur) as three more
  input channels: what a kernel-aware predictor would start from, given a perfect estimate;
- ``correction``: the same inputs, but the output is the Wiener image plus the U-Net's correction
  (y itself for GoPro blur), and the U-Net's last convolution starts at zero: a predictor built
  on a Wiener step rather than on y, which starts from the deconvolution's gain. With
  ``--context`` (either Wiener variant), the Wiener step also sees the blurred and noised margin
  around the crop or window, as a whole frame's deconvolution would, instead of reflecting the
  crop at its edges.

The new FiLM layers and input weights start at zero, so every variant but ``correction`` starts
as the checkpoint's predictor (``correction`` starts as the Wiener filter). Every 250 steps the
EMA predictor is scored on the 30 held-out textured windows blurred by random camera shake of
8 / 14 / 20 px at sigma 0 / 4 (8-bit levels; kernel seeds [0, i, length x 100], so these gains
are not the model card's blur probe, whose seed is 1234), in dB over the blurry window.

    cd training && . .venv/bin/activate
    export OMP_WAIT_POLICY=PASSIVE PYTHONPATH=.
    for v in control branch; do python experiments/kernel_conditioning.py $v --minutes 40 > /tmp/kc-$v.log & done; wait
    python experiments/kernel_conditioning.py oracle --minutes 35
    python experiments/kernel_conditioning.py wiener --minutes 22 --threads 2
    python experiments/kernel_conditioning.py correction --minutes 30 --threads 2            # stopped after 500
    python experiments/kernel_conditioning.py correction --context --minutes 30 --threads 2

Results and what they say: docs/training.md, "One kernel, sixteen, and the kernel given" (and,
for ``correction``, "A classical kernel estimate").
"""

from __future__ import annotations

import argparse
import copy
import math
import time
import zlib

import numpy as np
import torch
from scipy import signal
from torch import nn

from deblur_train import TRAINING_ROOT, degrade as D, metrics as M
from deblur_train.configs import SMALL
from deblur_train.data import CropConfig, CropSampler, batch_rng, to_batch
from deblur_train.evaluate import (KERNEL_SHAPES, PROBE_WINDOW, blur_8bit, load_pairs, textured_crop, to_image, to_model,
                                   wiener_deconvolve)
from deblur_train.models import DeblurModel, UNet

EMB = 64
SPECTRUM = 32 * 17  # |rfft2| of a kernel zero-padded to 32 x 32
DEGRADE = D.DegradeConfig(p_line=0.5, min_length=4, max_length=20, noise_power=3, p_gopro=0.1)


def blur_target(kernel: np.ndarray | None, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(target, mask): the kernel's spectrum magnitude and sigma / max noise; no spectrum for GoPro blur."""
    target = np.zeros(SPECTRUM + 1, np.float32)
    mask = np.zeros_like(target)
    target[-1], mask[-1] = sigma / DEGRADE.max_noise, 1
    if kernel is not None:
        padded = np.zeros((32, 32))
        padded[: kernel.shape[0], : kernel.shape[1]] = kernel
        target[:-1], mask[:-1] = np.abs(np.fft.rfft2(padded)).ravel(), 1
    return target, mask


def wiener_input(blurry: np.ndarray, kernel: np.ndarray | None, sigma: float,
                 source: np.ndarray | None = None) -> np.ndarray:
    """float [0, 1] blurry deconvolved by the true kernel (gradient prior, ratio from sigma); itself
    without a kernel (GoPro blur). Given ``source``, the sharp region blurry was cut from (MARGIN
    wider each side), the deconvolution also sees that margin blurred and noised alike."""
    if kernel is None:
        return blurry
    m = D.MARGIN if source is not None else 0
    if source is not None:
        blurry = blurred_context(source, kernel, sigma, blurry)
    as8 = (np.clip(blurry, 0, 1) * 255).round().astype(np.uint8)
    out = wiener_deconvolve(as8, kernel, max(1e-3, 60.0 * sigma**2), "gradient").astype(np.float32) / 255.0
    return out[m : out.shape[0] - m, m : out.shape[1] - m]


def blurred_context(source: np.ndarray, kernel: np.ndarray, sigma: float, blurry: np.ndarray) -> np.ndarray:
    """``source`` blurred by ``kernel`` (reflected at its edges), noised and quantised, with
    ``blurry`` (its centre, MARGIN in) pasted back. The margin's noise comes from a generator seeded
    by blurry's bytes, so that the training batches draw the same numbers as without it."""
    r = kernel.shape[0] // 2
    padded = np.pad(source, ((r, r), (r, r), (0, 0)), mode="reflect")
    context = np.stack([signal.fftconvolve(padded[..., c], kernel, mode="valid") for c in range(source.shape[2])], axis=-1)
    noise = np.random.default_rng(zlib.crc32(np.ascontiguousarray(blurry).tobytes()))
    context = D.finish(D.add_noise(context, sigma, noise), DEGRADE.quantize)
    m = D.MARGIN
    context[m:-m, m:-m] = blurry
    return context


class WienerInputPredictor(nn.Module):
    """y + U-Net(y, wiener(y)): the small predictor with three more input channels, at zero."""

    def __init__(self):
        super().__init__()
        self.net = UNet(SMALL.predictor, 6, 3, conditional=False)

    def load_small(self, weights: dict) -> None:
        weights = dict(weights)
        w = weights["net.conv_in.weight"]  # (c0, 12, 3, 3): the unshuffled y channels come first
        weights["net.conv_in.weight"] = torch.cat([w, torch.zeros_like(w)], dim=1)
        self.load_state_dict(weights)

    def forward(self, y: torch.Tensor, wiener: torch.Tensor):
        return y + self.net(torch.cat([y, wiener], dim=1)), None


class WienerCorrection(WienerInputPredictor):
    """wiener(y) + U-Net(y, wiener(y)), the U-Net's output layer at zero: it starts as the Wiener filter."""

    def load_small(self, weights: dict) -> None:
        super().load_small(weights)
        with torch.no_grad():
            self.net.conv_out.weight.zero_()
            self.net.conv_out.bias.zero_()

    def forward(self, y: torch.Tensor, wiener: torch.Tensor):
        return wiener + self.net(torch.cat([y, wiener], dim=1)), None


class BlurBranch(nn.Module):
    """y -> a 64-d blur embedding from features pooled over the whole image; ``spectrum`` reads it out."""

    def __init__(self, c: int = 48):
        super().__init__()
        self.features = nn.Sequential(
            nn.PixelUnshuffle(2), nn.Conv2d(12, c, 3, padding=1), nn.SiLU(), nn.Conv2d(c, c, 3, padding=1), nn.SiLU(),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.SiLU(), nn.Conv2d(2 * c, 2 * c, 3, stride=2, padding=1),
            nn.SiLU(), nn.Conv2d(2 * c, 2 * c, 3, padding=1))
        self.mlp = nn.Sequential(nn.Linear(4 * c, EMB), nn.SiLU(), nn.Linear(EMB, EMB))
        self.spectrum = nn.Linear(EMB, SPECTRUM + 1)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        f = self.features(y)
        # Means of the features and of their moduli: energy statistics, which is what a blur changes.
        return self.mlp(torch.cat([f.mean((2, 3)), f.abs().mean((2, 3))], 1))


class OracleBranch(nn.Module):
    """The true blur target -> a 64-d embedding."""

    def __init__(self):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(SPECTRUM + 1, 256), nn.SiLU(), nn.Linear(256, EMB), nn.SiLU(),
                                 nn.Linear(EMB, EMB))

    def forward(self, target: torch.Tensor) -> torch.Tensor:
        return self.mlp(target)


class ConditionedPredictor(nn.Module):
    """y + U-Net(y) with FiLM in every residual block from a blur embedding."""

    def __init__(self, oracle: bool):
        super().__init__()
        self.oracle = oracle
        self.branch = OracleBranch() if oracle else BlurBranch()
        self.net = UNet(SMALL.predictor, 3, 3, conditional=True)
        self.net.embed = nn.Identity()  # the U-Net's FiLM takes the blur embedding as it is

    def forward(self, y: torch.Tensor, target: torch.Tensor | None = None):
        emb = self.branch(target if self.oracle else y)
        return y + self.net(y, emb), emb


def degrade_keeping_kernel(src: np.ndarray, rng: np.random.Generator):
    """(blurry, sharp, kernel or None for GoPro blur, sigma): DEGRADE applied to ``src`` (MARGIN
    wider each side than the result), as deblur_train.degrade draws it, keeping the kernel."""
    m = D.MARGIN
    if rng.random() < DEGRADE.p_gopro:
        blurry, sharp, _ = D.gopro_blur(src, rng, DEGRADE)
        kernel = None
    else:
        kernel = D.motion_kernel(rng, DEGRADE)
        blurry, sharp = D.blur_valid(src, kernel), src[m:-m, m:-m]
    sigma = DEGRADE.max_noise * rng.random() ** DEGRADE.noise_power
    return D.finish(D.add_noise(blurry, sigma, rng), DEGRADE.quantize), sharp, kernel, sigma


def optimise(model: nn.Module, ema: nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor, step: int,
             plan: int) -> None:
    """One step on ``loss``: lr 2e-4 after a 30-step warm-up, down a half cosine over ``plan`` steps
    to a tenth; gradients clipped to norm 1; then the EMA (0.995) follows ``model``."""
    lr = 2e-4 * min(1, (step + 1) / 30) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1, step / plan))))
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters()):
            e.mul_(0.995).add_(p.detach(), alpha=0.005)


def make_pair(sampler: CropSampler, rng: np.random.Generator, with_wiener: bool, context: bool = False):
    """One (blurry, sharp, target, mask, wiener input or None) of degrade_keeping_kernel. The
    Wiener step draws nothing from ``rng``."""
    src = sampler.sample_source(rng)
    blurry, sharp, kernel, sigma = degrade_keeping_kernel(src, rng)
    wiener = wiener_input(blurry, kernel, sigma, src if context else None) if with_wiener else None
    return (blurry, sharp, *blur_target(kernel, sigma), wiener)


def probe_windows(with_wiener: bool, context: bool = False) -> dict:
    (h, w), m = PROBE_WINDOW, D.MARGIN
    sharps = [p[2] for p in load_pairs(TRAINING_ROOT / "data" / "heldout", None)]
    windows = {}
    for length in (8, 14, 20):
        for sigma in (0, 4):
            rows = []
            for i, full in enumerate(sharps):
                top, left = textured_crop(full, h, w, border=m)
                src = full[top - m : top + h + m, left - m : left + w + m].astype(np.float32) / 255.0
                kernel = KERNEL_SHAPES["shake"](np.random.default_rng([0, i, int(length * 100)]), length)
                noise = np.random.default_rng([0, i, int(length * 100), int(sigma * 100)])
                target, _ = blur_target(kernel, sigma / 255.0)
                blurry = blur_8bit(src, kernel, sigma, noise)
                wiener = None
                if with_wiener:
                    wiener = to_batch([wiener_input(blurry.astype(np.float32) / 255.0, kernel, sigma / 255.0,
                                                    src if context else None)])
                rows.append((blurry, full[top : top + h, left : left + w], target[None], wiener))
            windows[(length, sigma)] = rows
    return windows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variant", choices=("control", "branch", "oracle", "wiener", "correction"))
    ap.add_argument("--init", default="runs/small-v13-joint/last.pt", help="checkpoint whose EMA predictor starts")
    ap.add_argument("--minutes", type=float, default=40.0)
    ap.add_argument("--plan", type=int, default=600, help="steps of the half cosine")
    ap.add_argument("--aux", type=float, default=1.0, help="branch: weight of the spectrum and sigma L1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--context", action="store_true", help="wiener, correction: deconvolve with the margin around the crop")
    args = ap.parse_args()
    if args.context and args.variant not in ("wiener", "correction"):
        ap.error(f"--context changes the Wiener input, which the {args.variant} variant does not have")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ema_weights = torch.load(args.init, weights_only=False)["ema"]
    weights = {k[len("predictor."):]: v for k, v in ema_weights.items() if k.startswith("predictor.")}
    if args.variant == "control":
        model = DeblurModel(SMALL).predictor
        model.load_state_dict(weights)
    elif args.variant in ("wiener", "correction"):
        model = WienerInputPredictor() if args.variant == "wiener" else WienerCorrection()
        model.load_small(weights)
    else:
        model = ConditionedPredictor(oracle=args.variant == "oracle")
        missing, unexpected = model.load_state_dict(weights, strict=False)
        if unexpected or not all("film" in k or k.startswith("branch") for k in missing):
            raise SystemExit(f"{args.init} does not fit the small predictor: missing {missing}, unexpected {unexpected}")
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4, weight_decay=1e-4)
    sampler = CropSampler.from_dir(TRAINING_ROOT / "data" / "train", crop=CropConfig(size=128), deg=DEGRADE)
    with_wiener = args.variant in ("wiener", "correction")
    windows = probe_windows(with_wiener, args.context)

    def run(net, y, target, wiener):
        """(output, blur embedding or None) of the variant's network."""
        if args.variant == "control":
            return net(y), None
        return net(y, wiener if with_wiener else target)

    def evaluate() -> str:
        gains = []
        with torch.no_grad():
            for (length, sigma), rows in windows.items():
                g = [M.psnr(to_image(run(ema, torch.from_numpy(to_model(b)), torch.from_numpy(t),
                                         None if wi is None else torch.from_numpy(wi))[0].numpy()[0]), x)
                     - M.psnr(b, x) for b, x, t, wi in rows]
                gains.append(f"{length}/{sigma} {np.mean(g):+.2f}")
        return "  ".join(gains)

    print(f"{args.variant}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters; step 0: {evaluate()}", flush=True)
    t0, step, logged = time.time(), 0, []
    while time.time() - t0 < args.minutes * 60:
        rng = batch_rng(71, step)
        pairs = [make_pair(sampler, rng, with_wiener, args.context) for _ in range(8)]
        y, x = (torch.from_numpy(to_batch([p[i] for p in pairs])) for i in (0, 1))
        target = torch.from_numpy(np.stack([p[2] for p in pairs]))
        mask = torch.from_numpy(np.stack([p[3] for p in pairs]))
        wiener = torch.from_numpy(to_batch([p[4] for p in pairs])) if with_wiener else None
        out, emb = run(model, y, target, wiener)
        l1 = (out - x).abs().mean()
        aux = torch.zeros(())
        if args.variant == "branch":
            aux = ((model.branch.spectrum(emb) - target).abs() * mask).sum() / mask.sum()
        optimise(model, ema, opt, l1 + args.aux * aux, step, args.plan)
        step += 1
        logged.append((l1.item(), aux.item()))
        if step % 50 == 0:
            l1_mean, aux_mean = np.mean(logged[-50:], 0)
            print(f"step {step} {time.time() - t0:.0f} s: training L1 {l1_mean:.5f}, aux {aux_mean:.4f}", flush=True)
        if step % 250 == 0:
            print(f"step {step}: {evaluate()}", flush=True)
    print(f"end, step {step}: {evaluate()}", flush=True)


if __name__ == "__main__":
    main()

"""Can a classical blind estimator supply the kernel that a kernel-aware predictor would need?

A diagnostic, not a training stage, and not used by the runtime. It estimates each blurred image's
camera-shake kernel coarse to fine, alternating an L0-gradient latent image (half-quadratic
splitting, as in Xu et al. 2013 and Pan et al. 2014) with a least-squares kernel on the gradients,
both by FFT. It then scores a Wiener deconvolution with that kernel against one with the true
kernel, and against the shipped predictor.

The photos are held-out photos at 640x360 (every --every-th, reflect-padded by the blur margin).
Blur uses the degradation model's camera shake of each --lengths at each --sigmas (8-bit levels).
The kernel seed is [1234, i, length x 100] and the noise seed is [1234, i, length x 100, sigma x 100].
Each row gives the mean gain in dB over the blurry image of:

- ``predictor``: the shipped bundle's predictor (steps = 0);
- ``wiener_true``: the true kernel's Wiener filter, at the best setting of evaluate.WIENER_SETTINGS;
- ``wiener_est``: the estimated kernel's, at WIENER_SETTINGS' best for this row (chosen with the
  sharp image, so optimistic by the choice) and its spread over the images;
- ``est_then_predictor``: the predictor run on that Wiener output;
- ``trusted``: the photos whose kernel estimate passes a self-check (``agreement``: the L1
  distance from the whole photo's estimate to the nearer of the estimates from its left and right
  halves, each with 16 px of overlap; uniform shake gives every part the same kernel, so a sound
  estimate is found again from half the photo). The check passes below --trust. Each row gives
  how many pass, their mean Wiener gain, and ``hybrid``: the estimate's Wiener output where the
  check passes and the predictor's output elsewhere.

It also gives the kernel error: the L1 distance between the estimated kernel and the true one on
a 31 x 31 support, after centring both (0 is exact, 2 shares no mass).

    cd training && . .venv/bin/activate
    export PYTHONPATH=.
    python experiments/blind_kernel.py --sigmas 0 > /tmp/bk0.log & python experiments/blind_kernel.py --sigmas 4; wait

Results and what they say: docs/training.md, "A classical kernel estimate".
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from deblur_train import TRAINING_ROOT, degrade as D, metrics as M
from deblur_train.evaluate import (WIENER_SETTINGS, Bundle, blur_8bit, kernel_otf, load_pairs, run_predictor,
                                   wiener_deconvolutions)

SUPPORT = 31  # the degradation model's largest kernel
HALF_OVERLAP = 16  # columns each half of the self-check takes past the middle


def forward_differences(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Circular horizontal and vertical forward differences (what the FFT solvers assume)."""
    return np.roll(x, -1, 1) - x, np.roll(x, -1, 0) - x


def l0_latent(y: np.ndarray, kernel: np.ndarray, weight: float, beta_max: float = 1e5) -> np.ndarray:
    """argmin_x |k * x - y|^2 + weight |grad x|_0 by half-quadratic splitting. The penalty beta
    doubles from 2 weight to beta_max; each step zeroes the gradients below sqrt(weight / beta),
    then solves for x in closed form by FFT."""
    otf = kernel_otf(kernel, y.shape)
    dx = np.exp(2j * np.pi * np.fft.fftfreq(y.shape[1]))[None, :] - 1
    dy = np.exp(2j * np.pi * np.fft.fftfreq(y.shape[0]))[:, None] - 1
    data = np.conj(otf) * np.fft.fft2(y)
    k2, d2 = np.abs(otf) ** 2, np.abs(dx) ** 2 + np.abs(dy) ** 2
    x, beta = y.copy(), 2.0 * weight
    while beta < beta_max:
        h, v = forward_differences(x)
        small = h * h + v * v < weight / beta
        h[small], v[small] = 0.0, 0.0
        num = data + beta * (np.conj(dx) * np.fft.fft2(h) + np.conj(dy) * np.fft.fft2(v))
        x = np.real(np.fft.ifft2(num / (k2 + beta * d2)))
        beta *= 2.0
    return x


def edge_taper(shape: tuple[int, int], width: int) -> np.ndarray:
    """1 inside, falling to 0 over ``width`` pixels at each border along a raised cosine."""

    def ramp(n: int) -> np.ndarray:
        r, t = np.ones(n), min(width, n // 4)
        edge = 0.5 - 0.5 * np.cos(np.pi * (np.arange(t) + 0.5) / t)
        r[:t], r[n - t :] = edge, edge[::-1]
        return r

    return ramp(shape[0])[:, None] * ramp(shape[1])[None, :]


def solve_kernel(latent: np.ndarray, y: np.ndarray, size: int, ridge: float) -> np.ndarray:
    """The size x size kernel k minimising |k * grad latent - grad y|^2 + ridge E |k|^2, where E is
    the gradients' energy (so that ``ridge`` does not depend on the image). The result is clipped
    to >= 0, and values under 5 % of its peak are dropped, as are the islands that carry under 10 %
    of the largest island's mass. It is normalised."""
    # The FFT's wrap makes false edges at the borders; a taper that is smooth against the kernel
    # removes them and keeps grad y = k * grad latent inside.
    window = edge_taper(latent.shape, 2 * size)
    num, energy = 0.0, 0.0
    for gl, gy in zip(forward_differences(latent), forward_differences(y)):
        fl = np.fft.fft2(gl * window)
        num = num + np.conj(fl) * np.fft.fft2(gy * window)
        energy = energy + np.abs(fl) ** 2
    k = np.fft.fftshift(np.real(np.fft.ifft2(num / (energy + ridge * energy.mean()))))
    cy, cx, r = k.shape[0] // 2, k.shape[1] // 2, size // 2
    k = np.maximum(k[cy - r : cy + r + 1, cx - r : cx + r + 1], 0.0)
    k[k < 0.05 * k.max()] = 0.0
    islands, n = ndimage.label(k > 0)
    if n > 1:
        mass = ndimage.sum(k, islands, range(1, n + 1))
        k = k * np.isin(islands, 1 + np.flatnonzero(mass >= 0.1 * mass.max()))
    return k / max(k.sum(), 1e-12)


def centred(kernel: np.ndarray) -> np.ndarray:
    """``kernel`` shifted (bilinearly) so that its centre of mass is the centre pixel, as the
    degradation model places it: a blind estimate is only known up to a shift."""
    cy, cx = ndimage.center_of_mass(kernel)
    return ndimage.shift(kernel, (kernel.shape[0] // 2 - cy, kernel.shape[1] // 2 - cx), order=1)


def estimate_kernel(blurry: np.ndarray, size: int = SUPPORT, weight: float = 2e-3, ridge: float = 0.01,
                    iterations: int = 5) -> np.ndarray:
    """A blind estimate of the size x size kernel of uint8 H x W x 3 ``blurry`` (luma). It works
    coarse to fine, with the kernel's size halving from ``size`` down to 3-5 pixels. At each scale
    it runs ``iterations`` rounds of latent image then kernel, and the L0 weight shrinks by 1.1 a
    round."""
    y = blurry.astype(np.float64).mean(axis=2) / 255.0
    sizes = [size]
    while sizes[-1] > 5:
        sizes.append(int(np.ceil(sizes[-1] / 2)) | 1)
    kernel = None
    for s in reversed(sizes):
        scaled = ndimage.zoom(y, s / size, order=1) if s < size else y
        if kernel is None:  # a short horizontal start, as Pan et al. use
            kernel = np.zeros((s, s))
            kernel[s // 2, s // 2 - 1 : s // 2 + 1] = 0.5
        else:
            grown = np.maximum(ndimage.zoom(kernel, s / kernel.shape[0], order=1), 0.0)
            kernel = np.zeros((s, s))
            n = min(s, grown.shape[0])
            kernel[:n, :n] = grown[:n, :n]
            kernel /= kernel.sum()
        padded = np.pad(scaled, s, mode="reflect")
        w = weight
        for _ in range(iterations):
            kernel = solve_kernel(l0_latent(padded, kernel, w), padded, s, ridge)
            w = max(w / 1.1, 1e-4)
    return centred(kernel)


def on_support(kernel: np.ndarray, size: int = SUPPORT) -> np.ndarray:
    """An odd kernel placed at the centre of a size x size support."""
    out = np.zeros((size, size))
    o = (size - kernel.shape[0]) // 2
    out[o : o + kernel.shape[0], o : o + kernel.shape[1]] = kernel
    return out


def kernel_error(estimate: np.ndarray, kernel: np.ndarray) -> float:
    """L1 distance between an estimate on the size x size support and the true (odd, smaller)
    kernel, both centred: 0 is exact, 2 shares no mass."""
    size = estimate.shape[0]
    return float(np.abs(estimate - on_support(centred(on_support(kernel, size)), size)).sum())


def blurred_photo(sharp: np.ndarray, seed: int, index: int, length: float,
                  sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 blurry, kernel): held-out photo number ``index`` (uint8, reflect-padded by the blur
    margin) blurred by camera shake of ``length`` px with noise ``sigma`` in 8-bit levels, from
    seeds [seed, index, length x 100] (kernel) and [..., sigma x 100] (noise)."""
    m = D.MARGIN
    src = np.pad(sharp, ((m, m), (m, m), (0, 0)), mode="reflect").astype(np.float32) / 255.0
    kernel = D.camera_shake_kernel(np.random.default_rng([seed, index, int(length * 100)]), length=length)
    noise = np.random.default_rng([seed, index, int(length * 100), int(sigma * 100)])
    return blur_8bit(src, kernel, sigma, noise), kernel


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, default=TRAINING_ROOT.parent / "models" / "default")
    ap.add_argument("--heldout", type=Path, default=TRAINING_ROOT / "data" / "heldout")
    ap.add_argument("--every", type=int, default=3, help="every N-th held-out photo")
    ap.add_argument("--lengths", default="8,14,20")
    ap.add_argument("--sigmas", default="0,4")
    ap.add_argument("--weight", type=float, default=2e-3, help="L0 weight of the latent image")
    ap.add_argument("--ridge", type=float, default=0.01, help="kernel ridge, relative to the gradients' energy")
    ap.add_argument("--trust", type=float, default=0.35,
                    help="agreement below which an estimate is trusted (set on the 14 px rows of the default run)")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args(argv)

    bundle = Bundle(args.bundle, 1)
    photos = [(name, sharp) for name, _, sharp in load_pairs(args.heldout, None)][:: args.every]
    for length in [float(v) for v in args.lengths.split(",")]:
        for sigma in [float(v) for v in args.sigmas.split(",")]:
            t0 = time.time()
            base, pred, errors, agreement = [], [], [], []
            true = {s: [] for s in WIENER_SETTINGS}
            est = {s: [] for s in WIENER_SETTINGS}
            est_outputs = {s: [] for s in WIENER_SETTINGS}
            for i, (_, sharp) in enumerate(photos):
                blurry, kernel = blurred_photo(sharp, args.seed, i, length, sigma)
                base.append(M.psnr(blurry, sharp))
                pred.append(M.psnr(run_predictor(bundle, blurry), sharp))
                estimate = estimate_kernel(blurry, weight=args.weight, ridge=args.ridge)
                errors.append(kernel_error(estimate, kernel))
                w = blurry.shape[1]
                halves = [estimate_kernel(part, weight=args.weight, ridge=args.ridge)
                          for part in (blurry[:, : w // 2 + HALF_OVERLAP], blurry[:, w // 2 - HALF_OVERLAP :])]
                agreement.append(min(float(np.abs(estimate - half).sum()) for half in halves))
                for s, out in zip(WIENER_SETTINGS, wiener_deconvolutions(blurry, kernel, WIENER_SETTINGS)):
                    true[s].append(M.psnr(out, sharp))
                for s, out in zip(WIENER_SETTINGS, wiener_deconvolutions(blurry, estimate, WIENER_SETTINGS)):
                    est[s].append(M.psnr(out, sharp))
                    est_outputs[s].append(out)
            b = np.mean(base)
            best_true = max(WIENER_SETTINGS, key=lambda s: np.mean(true[s]))
            best_est = max(WIENER_SETTINGS, key=lambda s: np.mean(est[s]))
            est_gains = np.array(est[best_est]) - np.array(base)
            then_pred = [M.psnr(run_predictor(bundle, out), sharp) for out, (_, sharp) in zip(est_outputs[best_est], photos)]
            trusted = np.array(agreement) < args.trust
            hybrid = np.where(trusted, est[best_est], pred)
            print(f"{length:g} px, sigma {sigma:g}, {len(photos)} photos: blurry {b:.2f} dB; gains: predictor "
                  f"{np.mean(pred) - b:+.2f}, wiener_true {np.mean(true[best_true]) - b:+.2f} {best_true}, "
                  f"wiener_est {est_gains.mean():+.2f} {best_est} (min {est_gains.min():+.2f}, median "
                  f"{np.median(est_gains):+.2f}, {int((est_gains < 0).sum())} below blurry), est_then_predictor "
                  f"{np.mean(then_pred) - b:+.2f}; trusted {int(trusted.sum())} (mean "
                  f"{est_gains[trusted].mean() if trusted.any() else float('nan'):+.2f}, {int((est_gains[trusted] < 0).sum())} "
                  f"below blurry), hybrid {np.mean(hybrid) - b:+.2f}; kernel error median {np.median(errors):.2f}; "
                  f"agreement {' '.join(f'{a:.2f}' for a in agreement)} "
                  f"({(time.time() - t0) / len(photos):.0f} s a photo)", flush=True)


if __name__ == "__main__":
    main()

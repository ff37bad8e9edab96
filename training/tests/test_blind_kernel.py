"""The classical blind kernel estimator of experiments/blind_kernel.py, on a synthetic scene of
flat patches with sharp edges (the case the L0 prior is made for)."""

import numpy as np
from scipy import signal

from deblur_train import degrade
from experiments.blind_kernel import centred, estimate_kernel, kernel_error, on_support, solve_kernel

SIZE = 15


def patches(seed: int = 0, side: int = 160) -> np.ndarray:
    """Random grey rectangles on grey: piecewise flat, edges in every direction's mix."""
    rng = np.random.default_rng(seed)
    img = np.full((side, side), 0.5)
    for _ in range(40):
        y, x = rng.integers(0, side - 8, 2)
        h, w = rng.integers(6, 40, 2)
        img[y : y + h, x : x + w] = rng.uniform(0.1, 0.9)
    return img


def blurred(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return signal.fftconvolve(np.pad(img, SIZE, mode="reflect"), kernel, mode="same")[SIZE:-SIZE, SIZE:-SIZE]


def test_solve_kernel_recovers_the_kernel_from_the_sharp_image():
    sharp = patches()
    kernel = degrade.line_kernel(np.random.default_rng(1), 9.0)
    got = centred(solve_kernel(sharp, blurred(sharp, kernel), SIZE, ridge=1e-3))
    assert got.shape == (SIZE, SIZE) and abs(got.sum() - 1) < 1e-9 and got.min() >= 0
    # 2 is a kernel sharing no mass with the true one; the identity kernel is off by 1.8 here.
    assert kernel_error(got, kernel) < 0.15, kernel_error(got, kernel)


def test_estimate_kernel_finds_a_motion_blindly():
    # One scene of four tried with this estimator's defaults recovers its kernel this closely (the
    # others: 0.45-0.86, still under half the identity's error): a check that the estimator works,
    # not a claim that it is robust (docs/training.md, "A classical kernel estimate").
    sharp = patches()
    kernel = degrade.line_kernel(np.random.default_rng(1), 9.0)
    y = blurred(sharp, kernel)
    rgb = np.repeat((np.clip(y, 0, 1) * 255).round()[..., None], 3, axis=2).astype(np.uint8)
    identity = np.zeros((1, 1))
    identity[0, 0] = 1
    got = estimate_kernel(rgb, size=SIZE)
    # 0.21 here; an estimate that stayed at its start or drifted off is near the identity's 1.8.
    assert kernel_error(got, kernel) < 0.25 * kernel_error(on_support(identity, SIZE), kernel), kernel_error(got, kernel)

"""Paper Algorithm 1 (predict-and-refine sampling) over plain callables, numpy only.

``predictor(y) -> x_init`` and ``denoiser(z_t, level[N], y) -> eps`` work on float32 NCHW arrays
in the model's value range; evaluation passes ONNX Runtime sessions, tests pass numpy functions.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .schedule import InferenceSchedule

Predictor = Callable[[np.ndarray], np.ndarray]
Denoiser = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def refine(denoiser: Denoiser, y: np.ndarray, sched: InferenceSchedule, rng: np.random.Generator) -> np.ndarray:
    """Sample a residual z_0 given y: z_T ~ N(0, (1 - abar_T) I), then T reverse steps.

    Like the runtime (src/sampler.rs): a short schedule ends far from abar = 0, and the forward
    marginal q(z_T | r_0) of a small residual r_0 has variance 1 - abar_T, not 1. Starting from
    N(0, I) (the paper's Algorithm 1) shows the denoiser inputs it never saw in training.
    """
    n = y.shape[0]
    start_std = np.sqrt(1.0 - float(sched.alpha_bars[-1]))
    z = (start_std * rng.standard_normal(y.shape)).astype(np.float32)
    for t in range(sched.steps, 0, -1):
        ab = float(sched.alpha_bars[t - 1])
        level = np.full((n,), np.sqrt(ab), dtype=np.float32)
        eps = denoiser(z, level, y)
        z0 = (z - np.sqrt(1.0 - ab) * eps) / np.sqrt(ab)
        c0, ct, beta = sched.posterior(t)
        z = c0 * z0 + ct * z
        if t > 1:
            z = z + np.sqrt(beta) * rng.standard_normal(y.shape).astype(np.float32)
        z = z.astype(np.float32)
    return z


def sample(
    predictor: Predictor,
    denoiser: Denoiser,
    y: np.ndarray,
    sched: InferenceSchedule | None,
    rng: np.random.Generator,
    n_samples: int = 1,
    x_init: np.ndarray | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Return (x_init, [x_init + z_0 for each sample]); ``sched=None`` means predictor only."""
    if x_init is None:
        x_init = predictor(y)
    if sched is None or sched.steps == 0:
        return x_init, []
    return x_init, [x_init + refine(denoiser, y, sched, rng) for _ in range(n_samples)]

"""Noise schedules (paper Appendix D), numpy only.

Training: T = 2000 steps, 1 - alpha_t linear from 1e-6 to 0.01. The continuous level
sqrt(alpha_bar) is drawn piecewise uniformly: pick an interval (l_{k-1}, l_k) with l_0 = 1 and
l_k = sqrt(alpha_bar_k), then draw uniformly inside it.

Inference: 1 - alpha_t linear from 1e-6 to ``schedule_end`` over ``steps`` steps, and the closed
forms of the reverse step q(z_{t-1} | z_t, z_0) with
    mu_t   = sqrt(abar_{t-1}) (1 - alpha_t) / (1 - abar_t) * z0
           + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) * z_t
    beta_t = (1 - abar_{t-1}) / (1 - abar_t) * (1 - alpha_t).
(Appendix D prints sqrt(abar_t) in the z_t coefficient; Ho et al. Eq. 7 has sqrt(alpha_t).)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TRAIN_STEPS = 2000
TRAIN_START = 1e-6
TRAIN_END = 0.01
INFER_START = 1e-6


def linear_alphas(steps: int, start: float, end: float) -> np.ndarray:
    """alpha_1..alpha_T with 1 - alpha linear from ``start`` to ``end`` (float64).

    A single step uses ``end`` (the schedule's last value), not ``start``.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not (0.0 < start <= end < 1.0):
        raise ValueError(f"need 0 < start <= end < 1, got start={start}, end={end}")
    if steps == 1:
        return np.array([1.0 - end])
    return 1.0 - np.linspace(start, end, steps, dtype=np.float64)


def training_levels() -> np.ndarray:
    """l_0 = 1, l_1..l_T = sqrt(alpha_bar_t) of the training schedule (decreasing)."""
    abar = np.cumprod(linear_alphas(TRAIN_STEPS, TRAIN_START, TRAIN_END))
    return np.concatenate([[1.0], np.sqrt(abar)])


_LEVELS = training_levels()


def sample_sqrt_alpha_bar(n: int, rng: np.random.Generator) -> np.ndarray:
    """Continuous sqrt(alpha_bar) for n training examples (piecewise uniform, Appendix D)."""
    k = rng.integers(1, TRAIN_STEPS + 1, size=n)
    lo, hi = _LEVELS[k], _LEVELS[k - 1]
    return lo + (hi - lo) * rng.random(n)


@dataclass(frozen=True)
class InferenceSchedule:
    alphas: np.ndarray  # alpha_1..alpha_T
    alpha_bars: np.ndarray  # abar_1..abar_T

    @staticmethod
    def linear(steps: int, schedule_end: float, start: float = INFER_START) -> "InferenceSchedule":
        a = linear_alphas(steps, start, schedule_end)
        return InferenceSchedule(a, np.cumprod(a))

    @property
    def steps(self) -> int:
        return len(self.alphas)

    def abar_prev(self, t: int) -> float:
        """abar_{t-1} for 1-based t (abar_0 = 1)."""
        return 1.0 if t == 1 else float(self.alpha_bars[t - 2])

    def level(self, t: int) -> float:
        """Denoiser input sqrt(abar_t) for 1-based t."""
        return float(np.sqrt(self.alpha_bars[t - 1]))

    def posterior(self, t: int) -> tuple[float, float, float]:
        """(coef_z0, coef_zt, beta_t) of q(z_{t-1} | z_t, z0) for 1-based t."""
        a = float(self.alphas[t - 1])
        ab = float(self.alpha_bars[t - 1])
        ab_prev = self.abar_prev(t)
        c0 = np.sqrt(ab_prev) * (1.0 - a) / (1.0 - ab)
        ct = np.sqrt(a) * (1.0 - ab_prev) / (1.0 - ab)
        beta = (1.0 - ab_prev) / (1.0 - ab) * (1.0 - a)
        return float(c0), float(ct), float(beta)


def parse_schedule(s: str) -> tuple[int, float]:
    """``"STEPS:END"`` (an inference schedule on a command line) as (steps, schedule end)."""
    steps, end = s.split(":")
    return int(steps), float(end)

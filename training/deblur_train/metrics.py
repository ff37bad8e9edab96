"""Image quality measures, numpy/scipy only. Images are H x W x 3 (uint8 or float in 0..255)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _f(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def psnr(x, ref, peak: float = 255.0) -> float:
    mse = float(np.mean((_f(x) - _f(ref)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak * peak / mse)


def ssim(x, ref, peak: float = 255.0) -> float:
    """SSIM (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, mean over pixels and channels."""
    x, ref = _f(x), _f(ref)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    filt = lambda a: ndimage.gaussian_filter(a, sigma=(1.5, 1.5, 0), truncate=3.5)  # noqa: E731
    mx, my = filt(x), filt(ref)
    sxx = filt(x * x) - mx * mx
    syy = filt(ref * ref) - my * my
    sxy = filt(x * ref) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s[5:-5, 5:-5].mean())


def luma(a) -> np.ndarray:
    a = _f(a)
    return a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114


def laplacian_energy(a) -> float:
    """Mean squared Laplacian of the luma (edges and fine texture)."""
    return float(np.mean(ndimage.laplace(luma(a))[1:-1, 1:-1] ** 2))


def detail_ratio(x, ref) -> float:
    """Laplacian energy of x over that of the reference: < 1 is smoother than the reference."""
    return laplacian_energy(x) / laplacian_energy(ref)


def entropy_bits(values) -> float:
    """Entropy in bits per dimension of integer values, from their histogram."""
    v = np.asarray(values).astype(np.int64).ravel()
    counts = np.bincount(v - v.min())
    p = counts[counts > 0] / v.size
    return float(-(p * np.log2(p)).sum())

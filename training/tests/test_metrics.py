import numpy as np
import pytest
from scipy import ndimage

from deblur_train import metrics as M


def test_psnr():
    a = np.full((8, 8, 3), 100, np.uint8)
    assert M.psnr(a, a) == float("inf")
    assert M.psnr(a.astype(float) + 5, a) == pytest.approx(10 * np.log10(255**2 / 25))


def test_ssim_identity_and_noise():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (64, 64, 3)).astype(np.float64)
    assert M.ssim(a, a) == pytest.approx(1.0)
    assert M.ssim(a + rng.normal(0, 60, a.shape), a) < 0.9


def test_detail_ratio_drops_with_blur():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (64, 64, 3)).astype(np.float64)
    assert M.detail_ratio(a, a) == pytest.approx(1.0)
    assert M.detail_ratio(ndimage.gaussian_filter(a, (2, 2, 0)), a) < 0.1


def test_entropy_bits():
    assert M.entropy_bits(np.arange(256)) == pytest.approx(8.0)
    assert M.entropy_bits(np.zeros(100)) == 0.0
    assert M.entropy_bits(np.array([-3, 3] * 50)) == pytest.approx(1.0)

"""The helpers of experiments/estimated_kernel.py that shape its inputs: the noise estimate that
sets the Wiener ratio, and the crops that must keep blurry, Wiener and sharp images aligned."""

import numpy as np
from scipy import ndimage

from experiments.estimated_kernel import crop_batch, noise_sigma


def smooth_scene(seed: int = 0, side: int = 200) -> np.ndarray:
    """A blurred random texture in [0.2, 0.8]: structure, but little of it at the finest scale."""
    rng = np.random.default_rng(seed)
    base = ndimage.gaussian_filter(rng.random((side, side, 3)), (3, 3, 0))
    return 0.2 + 0.6 * (base - base.min()) / (base.max() - base.min())


def test_noise_sigma_reads_the_noise_not_the_scene():
    scene = smooth_scene()
    rng = np.random.default_rng(1)
    for sigma in (2.0, 4.0, 8.0):
        noisy = np.clip(scene + rng.normal(0, sigma / 255.0, scene.shape), 0, 1)
        got = noise_sigma((noisy * 255).round().astype(np.uint8)) * 255
        assert abs(got - sigma) < 0.12 * sigma, (sigma, got)
    clean = noise_sigma((scene * 255).round().astype(np.uint8)) * 255
    assert clean < 1.0, clean  # 8-bit rounding alone: about 0.3 levels


def test_crop_batch_keeps_the_three_images_aligned():
    # Wiener = 255 - blurry and sharp = blurry // 2 pixel for pixel: any crop, flip or rotation
    # applied to one image and not to the others breaks these relations.
    rng = np.random.default_rng(2)
    blurry = rng.integers(0, 256, (64, 80, 3)).astype(np.uint8)
    scenes = [{"blurry": blurry, "wiener": 255 - blurry, "sharp": blurry // 2}]
    y, wiener, sharp = crop_batch(scenes, rng, 16, 32)
    assert y.shape == wiener.shape == sharp.shape == (16, 3, 32, 32)
    to255 = lambda b: np.rint((b + 1) * 127.5)  # noqa: E731 - to_batch maps [0, 1] to [-1, 1]
    assert np.array_equal(to255(wiener), 255 - to255(y))
    assert np.array_equal(to255(sharp), to255(y) // 2)
    assert len({to255(y)[i].tobytes() for i in range(16)}) > 8  # the crops differ

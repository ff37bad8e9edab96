"""Degradation model tests: numpy/scipy only, no torch."""

import numpy as np
import pytest

from deblur_train import degrade as D


def kernels(n, seed=0, **kw):
    rng = np.random.default_rng(seed)
    return [D.camera_shake_kernel(rng, **kw) for _ in range(n)]


def test_kernels_are_normalised_nonnegative_and_small():
    for k in kernels(200):
        assert k.dtype == np.float32
        assert k.ndim == 2 and k.shape[0] == k.shape[1]
        assert k.shape[0] % 2 == 1
        assert k.shape[0] <= D.MAX_KERNEL
        assert (k >= 0).all()
        assert abs(float(k.sum()) - 1.0) < 1e-5


def test_kernel_sizes_span_delta_to_about_30_pixels():
    sizes = [k.shape[0] for k in kernels(300, seed=1)]
    assert min(sizes) <= 3
    assert max(sizes) >= 25


def test_zero_length_is_a_delta():
    k = D.camera_shake_kernel(np.random.default_rng(0), length=0.0)
    assert k.shape == (1, 1) and k[0, 0] == 1.0


def test_longer_trajectories_give_larger_kernels():
    short = np.mean([D.camera_shake_kernel(np.random.default_rng(s), length=4.0).shape[0] for s in range(40)])
    long = np.mean([D.camera_shake_kernel(np.random.default_rng(s), length=28.0).shape[0] for s in range(40)])
    assert long > short + 8


def test_kernel_is_deterministic_by_seed():
    a = kernels(5, seed=7)
    b = kernels(5, seed=7)
    c = kernels(5, seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, c))


def test_blur_valid_with_delta_is_the_centre_crop():
    img = np.random.default_rng(0).random((64, 80, 3)).astype(np.float32)
    out = D.blur_valid(img, np.ones((1, 1), np.float32))
    m = D.MARGIN
    assert out.shape == (64 - 2 * m, 80 - 2 * m, 3)
    np.testing.assert_allclose(out, img[m:-m, m:-m], atol=1e-5)


def test_blur_preserves_mean_of_constant_image():
    img = np.full((80, 80, 3), 0.3, np.float32)
    k = D.camera_shake_kernel(np.random.default_rng(3), length=25.0)
    np.testing.assert_allclose(D.blur_valid(img, k), 0.3, atol=1e-5)


@pytest.mark.parametrize("sigma", [2 / 255, 8 / 255, 15 / 255])
def test_noise_std(sigma):
    rng = np.random.default_rng(0)
    img = np.full((256, 256, 3), 0.5, np.float32)
    noisy = D.add_noise(img, sigma, rng)
    assert abs(float((noisy - img).std()) - sigma) < 0.02 * sigma
    assert abs(float((noisy - img).mean())) < 0.05 * sigma


def test_degrade_noise_level_is_within_paper_range():
    src = np.full((64 + 2 * D.MARGIN, 64 + 2 * D.MARGIN, 3), 0.5, np.float32)
    for s in range(50):
        blurry, sharp, info = D.degrade(src, np.random.default_rng(s), kind="shake")
        assert 0.0 <= info["sigma"] <= 15 / 255 + 1e-9
        # A flat image is unchanged by blur, so what is left is noise (plus 8-bit rounding).
        assert abs(float((blurry - sharp).std()) - info["sigma"]) < 0.15 * info["sigma"] + 0.6 / 255


def test_degrade_output_is_quantised_and_clipped():
    src = np.random.default_rng(0).random((96, 96, 3)).astype(np.float32)
    blurry, sharp, _ = D.degrade(src, np.random.default_rng(1))
    assert blurry.shape == sharp.shape == (96 - 2 * D.MARGIN, 96 - 2 * D.MARGIN, 3)
    assert blurry.min() >= 0 and blurry.max() <= 1
    np.testing.assert_allclose(blurry * 255, np.round(blurry * 255), atol=1e-4)


@pytest.mark.parametrize("kind", ["shake", "gopro"])
def test_degrade_is_deterministic_by_seed(kind):
    src = np.random.default_rng(0).random((96, 96, 3)).astype(np.float32)
    a = D.degrade(src, np.random.default_rng(5), kind=kind)
    b = D.degrade(src, np.random.default_rng(5), kind=kind)
    c = D.degrade(src, np.random.default_rng(6), kind=kind)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[2] == b[2]
    assert not np.array_equal(a[0], c[0])


def test_degrade_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown degradation kind"):
        D.degrade(np.zeros((64, 64, 3), np.float32), np.random.default_rng(0), kind="defocus")


def test_kernels_are_centred_on_their_centre_of_mass():
    # A kernel whose mass sits off its centre shifts the blurry image against the sharp one by
    # an amount the network cannot see; the centre of mass must be on the centre pixel.
    rng = np.random.default_rng(5)
    for _ in range(200):
        k = D.camera_shake_kernel(rng)
        dy, dx = D.centroid(k.astype(np.float64))
        assert abs(dy) < 0.02 and abs(dx) < 0.02, (dy, dx, k.shape)


def test_trim_keeps_the_centre_pixel():
    k = np.zeros((31, 31))
    k[15, 15], k[15, 19] = 1.0, 1.0
    t = D.trim(k)
    assert t.shape == (9, 9)
    assert t[4, 4] == 1.0 and t[4, 8] == 1.0


def test_gopro_blur_is_centred_on_the_sharp_target():
    # Pure translation of a dot: the linear-light centre of mass of its blurred image is where the
    # dot is in the sharp target.
    cfg = D.DegradeConfig(gopro_max_shift=10.0, gopro_max_rotation=0.0, gopro_max_zoom=0.0)
    for seed in range(10):
        src = np.zeros((96, 96, 3), np.float32)
        src[48, 48] = 1.0
        blurry, sharp, _ = D.gopro_blur(src, np.random.default_rng(seed), cfg)
        lin = blurry[..., 0].astype(np.float64) ** D.GAMMA
        yy, xx = np.mgrid[0 : lin.shape[0], 0 : lin.shape[1]]
        sy, sx = np.unravel_index(np.argmax(sharp[..., 0]), sharp.shape[:2])
        assert abs((lin * yy).sum() / lin.sum() - sy) < 0.05
        assert abs((lin * xx).sum() / lin.sum() - sx) < 0.05


def test_gopro_sharp_target_is_an_exact_crop():
    src = np.random.default_rng(0).random((96, 112, 3)).astype(np.float32)
    blurry, sharp, n = D.gopro_blur(src, np.random.default_rng(2))
    m = D.MARGIN
    np.testing.assert_array_equal(sharp, src[m:-m, m:-m])
    assert n % 2 == 1
    assert np.abs(blurry - sharp).mean() > 1e-3


def test_gopro_without_motion_is_identity():
    cfg = D.DegradeConfig(gopro_max_shift=0.0, gopro_max_rotation=0.0, gopro_max_zoom=0.0)
    src = np.random.default_rng(0).random((80, 80, 3)).astype(np.float32)
    blurry, sharp, _ = D.gopro_blur(src, np.random.default_rng(1), cfg)
    np.testing.assert_allclose(blurry, sharp, atol=1e-5)


def test_gopro_averages_subframes_in_linear_light():
    # Pure translation: the blurry frame is the mean (in linear light) of shifted copies, so the
    # linear-light total of a dot far from the border is conserved while its peak spreads out.
    cfg = D.DegradeConfig(gopro_max_shift=10.0, gopro_max_rotation=0.0, gopro_max_zoom=0.0)
    src = np.zeros((96, 96, 3), np.float32)
    src[48, 48] = 1.0
    blurry, sharp, n = D.gopro_blur(src, np.random.default_rng(4), cfg)
    lin_b, lin_s = blurry.astype(np.float64) ** D.GAMMA, sharp.astype(np.float64) ** D.GAMMA
    np.testing.assert_allclose(lin_b.sum(), lin_s.sum(), rtol=1e-6)
    assert lin_b.max() < 0.5 * lin_s.max()


def test_noise_power_favours_light_noise_and_power_one_is_the_uniform_draw():
    src = np.random.default_rng(1).random((32 + 2 * D.MARGIN, 32 + 2 * D.MARGIN, 3)).astype(np.float32)

    def sigmas(cfg):
        rng = np.random.default_rng(7)
        return np.array([D.degrade(src, rng, cfg, kind="shake")[2]["sigma"] for _ in range(300)])

    uniform, light = sigmas(D.DegradeConfig()), sigmas(D.DegradeConfig(noise_power=2.0))
    assert uniform.max() <= D.MAX_NOISE and light.max() <= D.MAX_NOISE
    assert abs(uniform.mean() / D.MAX_NOISE - 0.5) < 0.05  # E[u] = 1/2
    assert abs(light.mean() / D.MAX_NOISE - 1 / 3) < 0.05  # E[u^2] = 1/3


def test_length_power_favours_short_shake_and_power_one_is_the_uniform_draw():
    def kernels(cfg, n=200):
        rng = np.random.default_rng(11)
        return [D.camera_shake_kernel(rng, cfg) for _ in range(n)]

    default = kernels(D.DegradeConfig())
    same, short = kernels(D.DegradeConfig(length_power=1.0)), kernels(D.DegradeConfig(length_power=3.0))
    assert all(np.array_equal(a, b) for a, b in zip(default, same)), "power 1 must leave the draws as they were"
    size = lambda ks: np.array([k.shape[0] for k in ks])  # noqa: E731
    # E[u^3] = 1/4 of the longest shake against 1/2: kernels shrink, and more are a near-delta.
    assert size(short).mean() < 0.7 * size(default).mean()
    assert (size(short) <= 5).mean() > 1.5 * (size(default) <= 5).mean()


def _spread(k: np.ndarray) -> tuple[float, float]:
    """A kernel's second moments about its centre pixel, across and along its main axis."""
    k = k.astype(np.float64)
    yy, xx = np.mgrid[0 : k.shape[0], 0 : k.shape[1]] - (k.shape[0] - 1) / 2
    cov = np.array([[(k * yy * yy).sum(), (k * yy * xx).sum()], [(k * yy * xx).sum(), (k * xx * xx).sum()]])
    across, along = np.linalg.eigvalsh(cov)
    return float(across), float(along)


@pytest.mark.parametrize("length", [3.0, 14.0, 20.0])
def test_line_kernel_is_a_centred_straight_motion_of_the_given_length(length):
    for seed in range(5):
        k = D.line_kernel(np.random.default_rng(seed), length).astype(np.float64)
        assert k.shape[0] % 2 == 1 and abs(k.sum() - 1.0) < 1e-5
        assert max(abs(c) for c in D.centroid(k)) < 1e-6
        # Second moments about the centre: a uniform segment of length L has variance L^2 / 12
        # along itself and none across, but for the bilinear spread of each point over its four
        # neighbouring pixels (about 1/6 px^2 on average over sub-pixel positions).
        across, along = _spread(k)
        assert abs(along - length**2 / 12) < 0.2 + 0.05 * length**2 / 12
        assert across < 0.2
    assert D.line_kernel(np.random.default_rng(0), 0.0).shape == (1, 1)


def test_motion_kernel_without_lines_is_the_camera_shake_draw():
    rng_a, rng_b = np.random.default_rng(21), np.random.default_rng(21)
    for _ in range(20):
        assert np.array_equal(D.motion_kernel(rng_a, D.DegradeConfig()), D.camera_shake_kernel(rng_b, D.DegradeConfig()))


def test_p_line_mixes_in_straight_motions_of_the_shake_length_draw():
    def kernels(p_line, n=300):
        rng = np.random.default_rng(5)
        return [D.motion_kernel(rng, D.DegradeConfig(p_line=p_line)) for _ in range(n)]

    def spreads(ks):
        return np.array([_spread(k) for k in ks])  # (across, along) per kernel

    def straight(sp):
        # Longer than 3 px and no spread across it beyond bilinear rasterisation.
        return (sp[:, 1] > 1.0) & (sp[:, 0] < 0.2)

    lines = kernels(1.0)
    assert all(abs(k.sum() - 1.0) < 1e-5 and max(abs(c) for c in D.centroid(k)) < 1e-5 for k in lines)  # float32
    line_spreads = spreads(lines)
    # Every line longer than about 3 px is straight; lengths are uniform on 0-30 px, as for shake
    # (line_kernel stops at 28 px), so the mean variance along is near E[L^2] / 12 = 25 px^2.
    assert straight(line_spreads)[line_spreads[:, 1] > 1.0].all()
    assert 18.0 < line_spreads[:, 1].mean() < 26.0
    # Shake paths curl: few are straight by this measure. Half lines gives the mean of the two.
    shake, mixed = straight(spreads(kernels(0.0))).mean(), straight(spreads(kernels(0.5))).mean()
    assert shake < 0.3
    assert abs(mixed - (straight(line_spreads).mean() + shake) / 2) < 0.1


def test_degrade_blurs_camera_shake_with_the_motion_kernel():
    src = np.random.default_rng(2).random((24 + 2 * D.MARGIN, 24 + 2 * D.MARGIN, 3)).astype(np.float32)
    cfg = D.DegradeConfig(p_line=1.0, max_noise=0.0, quantize=False)
    blurry, _, info = D.degrade(src, np.random.default_rng(9), cfg, kind="shake")
    line = D.motion_kernel(np.random.default_rng(9), cfg)
    assert info["kernel_size"] == line.shape[0] > 1
    np.testing.assert_allclose(blurry, np.clip(D.blur_valid(src, line), 0.0, 1.0), atol=1e-6)


def test_shake_lengths_stay_between_min_and_max_length_and_the_default_draw_is_unchanged():
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    default = np.array([D.DegradeConfig().shake_length(rng_a) for _ in range(500)])
    np.testing.assert_array_equal(default, 30.0 * rng_b.random(500))
    band = D.DegradeConfig(min_length=4.0, max_length=20.0)
    lengths = np.array([band.shake_length(rng_a) for _ in range(500)])
    assert lengths.min() >= 4.0 and lengths.max() <= 20.0 and abs(lengths.mean() - 12.0) < 1.0
    # The band reaches the kernels: a fixed 14 px straight motion has variance 14^2 / 12 along.
    fixed = D.DegradeConfig(min_length=14.0, max_length=14.0, p_line=1.0)
    along = [_spread(D.motion_kernel(rng_a, fixed))[1] for _ in range(10)]
    assert all(abs(a - 14.0**2 / 12) < 1.2 for a in along)


def test_a_shake_length_band_upside_down_is_refused():
    with pytest.raises(ValueError, match="0 <= min_length <= max_length, got min_length 20.0 and max_length 4.0"):
        D.DegradeConfig(min_length=20.0, max_length=4.0)


@pytest.mark.parametrize("field", ["p_line", "p_gopro"])
def test_probabilities_outside_zero_to_one_are_refused(field):
    with pytest.raises(ValueError, match=f"{field} is a probability: expected 0 to 1, got 1.5"):
        D.DegradeConfig(**{field: 1.5})

"""Noise schedule and Algorithm 1 sampler tests: numpy only."""

import numpy as np
import pytest

from deblur_train import schedule as S
from deblur_train.sampling import refine, sample


def test_training_schedule_matches_appendix_d():
    a = S.linear_alphas(S.TRAIN_STEPS, S.TRAIN_START, S.TRAIN_END)
    assert len(a) == 2000
    assert a[0] == pytest.approx(1 - 1e-6) and a[-1] == pytest.approx(1 - 0.01)
    lv = S.training_levels()
    assert lv[0] == 1.0 and len(lv) == 2001
    assert (np.diff(lv) < 0).all()
    assert lv[-1] == pytest.approx(np.sqrt(np.prod(a)))


def test_continuous_levels_are_piecewise_uniform():
    rng = np.random.default_rng(0)
    lv = S.training_levels()
    x = S.sample_sqrt_alpha_bar(200_000, rng)
    assert x.min() >= lv[-1] and x.max() <= 1.0
    # Each interval (l_k, l_{k-1}) is picked with probability 1/T.
    k = np.searchsorted(-lv, -x)  # index of the interval's lower end
    counts = np.bincount(np.clip(k, 1, 2000), minlength=2001)[1:]
    coarse = counts.reshape(20, 100).sum(1) / len(x)
    np.testing.assert_allclose(coarse, 0.05, atol=0.004)


def test_inference_schedule_and_posterior_closed_forms():
    sch = S.InferenceSchedule.linear(4, 0.1)
    np.testing.assert_allclose(1 - sch.alphas, [1e-6, 0.1 / 3 * 1 + 1e-6 * 2 / 3, 0.2 / 3 + 1e-6 / 3, 0.1], rtol=1e-6)
    np.testing.assert_allclose(sch.alpha_bars, np.cumprod(sch.alphas))
    for t in range(1, 5):
        a, ab = sch.alphas[t - 1], sch.alpha_bars[t - 1]
        abp = 1.0 if t == 1 else sch.alpha_bars[t - 2]
        c0, ct, beta = sch.posterior(t)
        assert c0 == pytest.approx(np.sqrt(abp) * (1 - a) / (1 - ab))
        assert ct == pytest.approx(np.sqrt(a) * (1 - abp) / (1 - ab))
        assert beta == pytest.approx((1 - abp) / (1 - ab) * (1 - a))
    assert sch.posterior(1)[2] == 0.0
    # One step means the last value of the schedule.
    np.testing.assert_allclose(S.InferenceSchedule.linear(1, 0.5).alphas, [0.5])


def test_posterior_matches_the_forward_process():
    # If z0 is known and z_t ~ q(z_t | z0), then z_{t-1} ~ q(z_{t-1} | z_t, z0) has the marginal
    # q(z_{t-1} | z0) = N(sqrt(abar_{t-1}) z0, 1 - abar_{t-1}).
    rng = np.random.default_rng(0)
    sch = S.InferenceSchedule.linear(5, 0.3)
    z0 = 0.7
    for t in range(2, 6):
        ab, abp = sch.alpha_bars[t - 1], sch.alpha_bars[t - 2]
        zt = np.sqrt(ab) * z0 + np.sqrt(1 - ab) * rng.standard_normal(400_000)
        c0, ct, beta = sch.posterior(t)
        zp = c0 * z0 + ct * zt + np.sqrt(beta) * rng.standard_normal(zt.shape)
        assert zp.mean() == pytest.approx(np.sqrt(abp) * z0, abs=5e-3)
        assert zp.var() == pytest.approx(1 - abp, rel=2e-2)


def test_refine_with_an_oracle_denoiser_recovers_the_residual():
    rng = np.random.default_rng(0)
    r = rng.uniform(-0.5, 0.5, (2, 3, 8, 8)).astype(np.float32)
    y = np.zeros_like(r)

    def oracle(z, level, y_):
        lv = level.astype(np.float64).reshape(-1, 1, 1, 1)
        return (z - lv * r) / np.sqrt(1 - lv * lv)

    for steps, end in [(1, 0.5), (3, 0.2), (10, 0.9)]:
        z0 = refine(oracle, y, S.InferenceSchedule.linear(steps, end), rng)
        np.testing.assert_allclose(z0, r, atol=1e-4)


def test_sample_adds_the_residual_to_the_prediction():
    y = np.full((1, 3, 4, 4), 0.25, np.float32)
    x_init, outs = sample(lambda v: v * 2, lambda z, l, v: np.zeros_like(z), y, S.InferenceSchedule.linear(2, 0.1),
                          np.random.default_rng(0), n_samples=3)
    np.testing.assert_allclose(x_init, 0.5)
    assert len(outs) == 3
    _, none = sample(lambda v: v, None, y, None, np.random.default_rng(0))
    assert none == []

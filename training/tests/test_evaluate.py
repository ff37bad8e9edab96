"""The level and blur probes of evaluate.py on stand-in networks and the tiny ONNX fixture (no torch)."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scipy import ndimage

from deblur_train import evaluate
from deblur_train.evaluate import blur_probe, probe_levels


class StandIn:
    """predictor: the blurry input itself; denoiser: a constant epsilon guess."""

    pad = 8

    def __init__(self, eps_guess: float):
        self.eps_guess = eps_guess

    def predictor(self, y):
        return y

    def denoiser(self, z, level, y):
        assert level.shape == (z.shape[0],) and y.shape == z.shape
        return np.full_like(z, self.eps_guess)


def pairs(n=2, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        sharp = rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)
        blurry = np.clip(sharp.astype(int) + rng.integers(-60, 61, sharp.shape), 0, 255).astype(np.uint8)
        out.append((f"p{i}", blurry, sharp))
    return out


def test_a_denoiser_that_says_nothing_leaves_the_predictor_at_zero_input():
    probe = probe_levels(StandIn(0.0), pairs(), [0.98, 0.5], n_samples=4, seed=1)
    # eps_hat = 0 gives r_hat = z / sqrt(abar): zero input adds nothing.
    for ab in ("0.98", "0.5"):
        assert abs(probe[f"zero {ab}"] - probe["predictor"]) < 1e-9
    # From the true noised residual it returns r + noise * sqrt((1 - abar) / abar): close to sharp
    # at low noise, far at high noise.
    assert probe["oracle 0.98"] > probe["predictor"] + 5
    assert probe["oracle 0.5"] < probe["oracle 0.98"] - 10
    # Pure noise in, noise out: the average of draws is worse than the predictor.
    assert probe["SA-4 0.5"] < probe["predictor"]


def test_a_biased_denoiser_shows_in_the_zero_input_row():
    probe = probe_levels(StandIn(0.2), pairs(), [0.5], n_samples=2, seed=1)
    # r_hat(0) = -sqrt(0.5) * 0.2 / sqrt(0.5) = -0.2 everywhere: 25 gray levels off.
    assert probe["zero 0.5"] < probe["predictor"] - 1


class Smoother(StandIn):
    """predictor: a 3x3 box filter of the input, which can only lose detail."""

    def predictor(self, y):
        return ndimage.uniform_filter(y, size=(1, 1, 3, 3), mode="nearest")


def textured(n=2, seed=3):
    rng = np.random.default_rng(seed)
    return [ndimage.zoom(rng.integers(0, 256, (36, 46, 3)).astype(np.float64), (2, 2, 1), order=1).clip(0, 255).astype(np.uint8)
            for _ in range(n)]


def test_blur_probe_measures_the_blur_and_a_predictor_that_returns_its_input_gains_nothing():
    rows = blur_probe(StandIn(0.0), textured(), [2.0, 12.0], [0.0, 8.0], None, seed=5, size=(24, 32))
    assert [(r["length"], r["sigma"]) for r in rows] == [(2.0, 0.0), (2.0, 8.0), (12.0, 0.0), (12.0, 8.0)]
    by = {(r["length"], r["sigma"]): r for r in rows}
    for r in rows:
        assert abs(r["predictor"] - r["blurry"]) < 1e-9
        assert abs(r["predictor_detail"] - r["blurry_detail"]) < 1e-9
        assert "sample" not in r
    # Blur takes fine detail away, noise adds some.
    assert by[12.0, 0.0]["blurry_detail"] < by[2.0, 0.0]["blurry_detail"] < 1
    assert by[12.0, 8.0]["blurry_detail"] > by[12.0, 0.0]["blurry_detail"]
    # The unsharp-mask baseline sharpens mild noise-free blur back, and amplifies noise.
    assert by[2.0, 0.0]["unsharp"] > by[2.0, 0.0]["blurry"] + 0.5
    assert by[2.0, 8.0]["unsharp"] < by[2.0, 8.0]["blurry"] + 0.5
    # The known-kernel oracle gives back much of noise-free shake, and picks its setting from the grid.
    assert by[12.0, 0.0]["wiener"] > by[12.0, 0.0]["blurry"] + 1
    assert all(tuple(r["wiener_setting"]) in evaluate.WIENER_SETTINGS for r in rows)
    # With noise the oracle turns to the gradient prior, which keeps the mean where a flat one dims it.
    assert by[12.0, 8.0]["wiener_setting"][0] == "gradient"
    # Longer shake and more noise both take the blurry window further from the sharp one.
    assert by[12.0, 0.0]["blurry"] < by[2.0, 0.0]["blurry"] - 2
    assert by[2.0, 8.0]["blurry"] < by[2.0, 0.0]["blurry"]


def test_blur_probe_without_the_oracle_scores_the_same_rows_and_leaves_the_oracle_out():
    args = (Smoother(0.0), textured(), [2.0, 12.0], [0.0, 8.0], None)
    full = blur_probe(*args, seed=5, size=(24, 32))
    quick = blur_probe(*args, seed=5, size=(24, 32), oracle=False)
    assert [{k: v for k, v in r.items() if not k.startswith("wiener")} for r in full] == quick
    assert all("wiener" in r for r in full) and not any("wiener" in r or "wiener_setting" in r for r in quick)


def test_blur_probe_shows_a_smoothing_predictor_as_a_loss_and_samples_when_asked():
    rows = blur_probe(Smoother(0.0), textured(), [2.0], [0.0], (1, 0.5), seed=5, size=(24, 32))
    assert rows[0]["predictor"] < rows[0]["blurry"] - 1
    assert rows[0]["predictor_detail"] < rows[0]["blurry_detail"] / 2
    # A denoiser that predicts no noise leaves the sample's noise in: below the predictor.
    assert rows[0]["sample"] < rows[0]["predictor"]


def test_blur_probe_with_straight_motion_blurs_by_other_kernels_than_the_shake():
    shake, line = (blur_probe(StandIn(0.0), textured(), [12.0], [0.0], None, seed=5, size=(24, 32), kernel_shape=shape)[0]
                   for shape in ("shake", "line"))
    assert line["blurry"] != shake["blurry"]
    assert line["wiener"] > line["blurry"]


def test_blur_probe_command_on_an_onnx_bundle(tmp_path, capsys):
    tiny = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "tiny"
    for kind in ("blurry", "sharp"):
        (tmp_path / kind).mkdir()
    for i, img in enumerate(textured(2, seed=9)):
        img = np.tile(img, (4, 4, 1))[:240, :300]  # room for a 192x256 window and the blur's margin
        for kind in ("blurry", "sharp"):
            Image.fromarray(img).save(tmp_path / kind / f"p{i}.png")
    report = tmp_path / "probe.json"
    evaluate.main([str(tiny), "--heldout", str(tmp_path), "--blur-probe", "3,9", "--probe-noise", "0",
                   "--threads", "1", "--json", str(report)])
    got = json.loads(report.read_text())
    assert got["images"] == 2 and got["sample_schedule"] == [4, 0.5]  # the fixture's default_sampling
    assert got["kernel_shape"] == "shake"
    assert [(r["length"], r["sigma"]) for r in got["blur_probe"]] == [(3.0, 0.0), (9.0, 0.0)]
    assert all({"blurry", "unsharp", "wiener", "predictor", "sample"} <= set(r) for r in got["blur_probe"])
    assert got["blur_probe"][1]["blurry"] < got["blur_probe"][0]["blurry"]
    assert "one sample at 4:0.5 gain" in capsys.readouterr().out


def test_the_self_ensemble_averages_what_the_orientations_disagree_on():
    y = np.random.default_rng(0).normal(size=(2, 3, 4, 6)).astype(np.float32)

    def column_ramp(x):  # not symmetric: adds each pixel's column index
        return x + np.arange(x.shape[3], dtype=np.float32)

    np.testing.assert_allclose(evaluate.ensembled(column_ramp, y, 1), column_ramp(y))
    # The image and its mirror (and upside down): columns 0..5 and 5..0, a flat 2.5; quarter turns
    # add rows instead, 1.5 on average: the same numbers as the library's test of `deblur::ensemble`.
    for size, added in [(2, 2.5), (4, 2.5), (8, 2.0)]:
        out = evaluate.ensembled(column_ramp, y, size)
        assert out.shape == y.shape and out.dtype == np.float32
        np.testing.assert_allclose(out - y, added, atol=1e-5)
    for size in evaluate.ENSEMBLE_SIZES:
        np.testing.assert_allclose(evaluate.ensembled(lambda x: x, y, size), y, atol=1e-6)
    with pytest.raises(ValueError, match="ensemble = 3"):
        evaluate.ensembled(column_ramp, y, 3)


def test_the_ensemble_option_reaches_the_onnx_predictor(tmp_path):
    tiny = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "tiny"
    y = np.random.default_rng(1).uniform(-1, 1, (1, 3, 12, 20)).astype(np.float32)
    plain, mirrored = (evaluate.Bundle(tiny, 1, ensemble=n).predictor(y) for n in (1, 2))
    assert not np.allclose(plain, mirrored)  # the tiny predictor is not symmetric
    # Mirroring the input of the two-orientation mean mirrors its output.
    np.testing.assert_allclose(evaluate.Bundle(tiny, 1, ensemble=2).predictor(np.ascontiguousarray(y[..., ::-1])),
                               mirrored[..., ::-1], atol=1e-5)
    with pytest.raises(ValueError, match="ensemble = 5"):
        evaluate.Bundle(tiny, 1, ensemble=5)


def test_blur_probe_on_other_photos_scales_them_and_skips_those_too_small(tmp_path, capsys):
    rng = np.random.default_rng(4)
    big = ndimage.zoom(rng.integers(0, 256, (160, 200, 3)).astype(np.float64), (8, 8, 1), order=1).clip(0, 255)
    Image.fromarray(big.astype(np.uint8)).save(tmp_path / "big.png")  # 1600x1280 -> 640x512
    Image.fromarray(big[:300, :400].astype(np.uint8)).save(tmp_path / "wide.jpg")  # kept as it is
    Image.fromarray(big[:200, :640].astype(np.uint8)).save(tmp_path / "short.png")  # under 192 + 2 margins
    (tmp_path / "notes.txt").write_text("not a photo")
    photos = evaluate.load_photos(tmp_path, None)
    assert [p.shape for p in photos] == [(512, 640, 3), (300, 400, 3)]
    assert len(evaluate.load_photos(tmp_path, 1)) == 1
    with pytest.raises(SystemExit, match="no photo in"):
        evaluate.load_photos(tmp_path, None, long_side=200)

    tiny = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "tiny"
    report = tmp_path / "probe.json"
    # No held-out set is needed: --heldout points nowhere.
    evaluate.main([str(tiny), "--heldout", str(tmp_path / "none"), "--blur-probe", "5", "--probe-noise", "0",
                   "--probe-photos", str(tmp_path), "--threads", "1", "--json", str(report)])
    got = json.loads(report.read_text())
    assert got["images"] == 2
    assert 0 < got["blur_probe"][0]["blurry_detail"] < 1
    assert f"2 windows of {tmp_path}" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # without --blur-probe there is nothing to run on them
        evaluate.main([str(tiny), "--probe-photos", str(tmp_path)])
    assert "add --blur-probe" in capsys.readouterr().err


def test_unsharp_mask_leaves_flat_images_alone_and_undoes_some_gaussian_blur():
    from deblur_train import metrics as M
    from deblur_train.evaluate import unsharp_mask

    flat = np.full((20, 30, 3), 117, np.uint8)
    assert np.array_equal(unsharp_mask(flat), flat)
    sharp = textured(1, seed=4)[0]
    soft = ndimage.gaussian_filter(sharp.astype(np.float64), (1, 1, 0)).round().astype(np.uint8)
    assert M.psnr(unsharp_mask(soft), sharp) > M.psnr(soft, sharp) + 0.5


def test_wiener_deconvolve_keeps_an_image_under_a_delta_kernel_and_undoes_a_known_blur():
    from deblur_train import degrade
    from deblur_train import metrics as M
    from deblur_train.evaluate import wiener_deconvolve

    sharp = textured(1, seed=6)[0]
    assert np.abs(wiener_deconvolve(sharp, np.ones((1, 1)), 1e-4).astype(int) - sharp).max() <= 1
    kernel = degrade.camera_shake_kernel(np.random.default_rng(2), length=9.0)
    src = np.pad(sharp, ((degrade.MARGIN,) * 2, (degrade.MARGIN,) * 2, (0, 0)), mode="reflect").astype(np.float32) / 255
    blurry = (degrade.blur_valid(src, kernel) * 255).round().astype(np.uint8)
    assert M.psnr(wiener_deconvolve(blurry, kernel, 1e-2), sharp) > M.psnr(blurry, sharp) + 2
    assert M.psnr(wiener_deconvolve(blurry, kernel, 1e-2, "gradient"), sharp) > M.psnr(blurry, sharp) + 2
    # The gradient prior costs nothing at zero frequency: a flat image keeps its level.
    flat = np.full((30, 40, 3), 180, np.uint8)
    assert np.array_equal(wiener_deconvolve(flat, kernel, 0.3, "gradient"), flat)
    assert wiener_deconvolve(flat, kernel, 0.3).mean() < 150
    with pytest.raises(ValueError, match="'flat' or 'gradient', got 'tv'"):
        wiener_deconvolve(flat, kernel, 0.3, "tv")

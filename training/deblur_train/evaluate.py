"""Evaluate an ONNX model bundle on the held-out set with ONNX Runtime (no torch needed).

Reports PSNR / SSIM / detail ratio (Laplacian energy of the output over that of the reference)
for the blurry input, the predictor alone (steps = 0), single samples and the average of
--samples samples (SA), for one or more inference schedules; the pixel entropy of residuals
x0 - g(y) versus reference pixels (paper Sec. 6.1); and writes a side-by-side crop
(blurry | predictor | sample | SA | sharp).

    python -m deblur_train.evaluate ../models/default --schedule 4:0.1 --schedule 8:0.5
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from . import TRAINING_ROOT, degrade
from . import metrics as M
from .onnx_bundle import MANIFEST, ort_session
from .prepare_data import downscale
from .sampling import refine
from .schedule import InferenceSchedule, parse_schedule

PROBE_WINDOW = (192, 256)  # rows, columns of the blur probe's window in each photo


def to_model(img: np.ndarray) -> np.ndarray:
    """uint8 H x W x 3 -> float32 1 x 3 x H x W in [-1, 1]."""
    return (img.astype(np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0).astype(np.float32)


def to_image(x: np.ndarray) -> np.ndarray:
    """float 3 x H x W in [-1, 1] -> uint8 H x W x 3."""
    return np.clip((x.transpose(1, 2, 0) + 1.0) * 127.5, 0, 255).round().astype(np.uint8)


def pad_to(x: np.ndarray, m: int) -> tuple[np.ndarray, tuple[int, int]]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="reflect")
    return x, (h, w)


def run_predictor(net, img: np.ndarray) -> np.ndarray:
    """The predictor's output for one uint8 image, padded to ``net.pad`` and cropped back; ``net``
    is a Bundle or anything else with ``pad`` and ``predictor(y)``."""
    y, (h, w) = pad_to(to_model(img), net.pad)
    return to_image(net.predictor(y)[0, :, :h, :w])


# The library's self-ensemble (`deblur::ensemble`, `--ensemble N`), in its order: (anticlockwise
# quarter turns, mirrored), the mirror image taken first; the image as it is comes first.
ORIENTATIONS = [(0, False), (0, True), (2, False), (2, True), (1, False), (1, True), (3, False), (3, True)]
ENSEMBLE_SIZES = (1, 2, 4, 8)


def check_ensemble_size(size: int) -> int:
    if size not in ENSEMBLE_SIZES:
        raise ValueError(f"ensemble = {size}: expected one of {ENSEMBLE_SIZES}")
    return size


def ensembled(predictor, y: np.ndarray, size: int) -> np.ndarray:
    """The mean of ``predictor`` over the first ``size`` orientations of the NCHW batch ``y``,
    each estimate turned back."""
    if check_ensemble_size(size) == 1:
        return predictor(y)
    total = 0
    for quarter_turns, mirrored in ORIENTATIONS[:size]:
        turned = np.rot90(y[..., ::-1] if mirrored else y, quarter_turns, axes=(2, 3))
        estimate = np.rot90(predictor(np.ascontiguousarray(turned)), -quarter_turns, axes=(2, 3))
        total = total + (estimate[..., ::-1] if mirrored else estimate)
    return np.ascontiguousarray(total / size, dtype=np.float32)


class Bundle:
    def __init__(self, path: Path, threads: int, ensemble: int = 1):
        self.path = Path(path)
        self.manifest = json.loads((self.path / MANIFEST).read_text())
        self.pad = int(self.manifest["pad_multiple"])
        self.pred = ort_session(self.path / self.manifest["predictor"], threads)
        self.den = ort_session(self.path / self.manifest["denoiser"], threads)
        self.ensemble = check_ensemble_size(ensemble)

    def plain_predictor(self, y: np.ndarray) -> np.ndarray:
        return self.pred.run(["estimate"], {"blurry": y})[0]

    def predictor(self, y: np.ndarray) -> np.ndarray:
        """g(y), averaged over the bundle's ensemble of orientations (by default one run)."""
        return ensembled(self.plain_predictor, y, self.ensemble)

    def denoiser(self, z: np.ndarray, level: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.den.run(["epsilon"], {"noisy_residual": z, "noise_level": level, "blurry": y})[0]


def load_pairs(root: Path, limit: int | None, only: list[str] | None = None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    names = sorted(p.stem for p in (root / "sharp").glob("*.png"))
    if only:
        names = [n for n in names if n in only]
    names = names[:limit]
    if not names:
        raise SystemExit(f"no held-out pairs in {root}: run python -m deblur_train.make_heldout")
    load = lambda p: np.asarray(Image.open(p).convert("RGB"))  # noqa: E731
    return [(n, load(root / "blurry" / f"{n}.png"), load(root / "sharp" / f"{n}.png")) for n in names]


def load_photos(root: Path, limit: int | None, long_side: int = 640,
                window: tuple[int, int] = PROBE_WINDOW) -> list[np.ndarray]:
    """Sharp photos from ``root`` (PNG and JPEG) for the blur probe, at about the held-out
    frames' scale: each shrunk so that its long side is at most ``long_side``. Those still too
    small for the probe's ``window`` and the blur's margin are left out; with ``limit``, that many
    are taken evenly spaced in name order."""
    photos = []
    for path in sorted(p for p in root.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")):
        photo = downscale(np.asarray(Image.open(path).convert("RGB")), long_side)
        if photo.shape[0] >= window[0] + 2 * degrade.MARGIN and photo.shape[1] >= window[1] + 2 * degrade.MARGIN:
            photos.append(photo)
    if not photos:
        raise SystemExit(f"no photo in {root} is at least {window[1] + 2 * degrade.MARGIN}x"
                         f"{window[0] + 2 * degrade.MARGIN} px after scaling to a long side of {long_side}")
    if limit is not None and limit < len(photos):
        photos = [photos[i] for i in np.linspace(0, len(photos) - 1, limit).round().astype(int)]
    return photos


def scores(out: np.ndarray, ref: np.ndarray) -> dict:
    return {"psnr": M.psnr(out, ref), "ssim": M.ssim(out, ref),
            "lap": M.laplacian_energy(out), "lap_ref": M.laplacian_energy(ref)}


def mean_scores(rows: list[dict]) -> dict:
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "detail"}
    # Detail ratio over the whole set (sum of Laplacian energies of the outputs over that of the
    # references), so nearly flat images with tiny reference energy do not dominate.
    out["detail"] = out["lap"] / out["lap_ref"]
    return out


def evaluate(bundle: Bundle, pairs, schedules: list[tuple[int, float]], n_samples: int, seed: int, keep: str | None = None,
             sa_schedule: tuple[int, float] | None = None):
    """Returns (results, entropy, kept) where kept holds the outputs for image ``keep``: one sample
    at the first schedule, the mean of samples at ``sa_schedule`` (default: the first too)."""
    sa_schedule = sa_schedule or schedules[0]
    res: dict[str, list[dict]] = {"blurry": [], "predictor": []}
    for st, end in schedules:
        res[f"sample {st}:{end:g}"] = []
        res[f"SA-{n_samples} {st}:{end:g}"] = []
    resid, refs = [], []
    kept = {}
    for i, (name, blurry, sharp) in enumerate(pairs):
        y, (h, w) = pad_to(to_model(blurry), bundle.pad)
        x_init = bundle.predictor(y)
        pred = to_image(x_init[0, :, :h, :w])
        res["blurry"].append(scores(blurry, sharp))
        res["predictor"].append(scores(pred, sharp))
        resid.append(sharp.astype(np.int16) - pred.astype(np.int16))
        refs.append(sharp)
        if name == keep:
            kept = {"blurry": blurry, "predictor": pred, "sharp": sharp}
        ys = np.repeat(y, n_samples, axis=0)
        for st, end in schedules:
            rng = np.random.default_rng(seed + i)
            z0 = refine(bundle.denoiser, ys, InferenceSchedule.linear(st, end), rng)
            samples = x_init + z0
            outs = [to_image(s[:, :h, :w]) for s in samples]
            per = [scores(o, sharp) for o in outs]
            res[f"sample {st}:{end:g}"].append(mean_scores(per))
            sa = to_image(np.clip(samples, -1, 1).mean(axis=0)[:, :h, :w])
            res[f"SA-{n_samples} {st}:{end:g}"].append(scores(sa, sharp))
            if name == keep and (st, end) == schedules[0]:
                kept["sample"] = outs[0]
            if name == keep and (st, end) == sa_schedule:
                kept["sa"] = sa
    table = {k: mean_scores(v) for k, v in res.items()}
    per_image = {k: v for k, v in res.items()}
    entropy = {"residual_bits": M.entropy_bits(np.concatenate([r.ravel() for r in resid])),
               "reference_bits": M.entropy_bits(np.concatenate([r.ravel() for r in refs]))}
    return table, per_image, entropy, kept


def probe_levels(bundle: Bundle, pairs, alpha_bars: list[float], n_samples: int, seed: int) -> dict:
    """What the denoiser adds at single noise levels, as PSNR of x_init + r_hat(z) against sharp.

    r_hat(z) = (z - sqrt(1 - abar) f(z, sqrt(abar), y)) / sqrt(abar) is its estimate of the
    residual r = x - g(y) from one input z:
    - ``oracle``: z = sqrt(abar) r + sqrt(1 - abar) eps, the input training shows it;
    - ``zero``: z = 0, its guess of r from y alone (near the mean when the noise is high);
    - ``SA``: the mean of r_hat over ``n_samples`` draws z ~ N(0, 1 - abar), which is SA at a one-step
      schedule ending at 1 - abar.
    SA can beat the predictor only where ``zero`` does and the spread of the draws is small.
    """
    rows: dict[str, list[float]] = {"predictor": []}
    for i, (_name, blurry, sharp) in enumerate(pairs):
        y, (h, w) = pad_to(to_model(blurry), bundle.pad)
        x_init = bundle.predictor(y)
        x = pad_to(to_model(sharp), bundle.pad)[0]
        rows["predictor"].append(M.psnr(to_image(x_init[0, :, :h, :w]), sharp))
        rng = np.random.default_rng(seed + i)
        for ab in alpha_bars:
            l, s = np.sqrt(ab), np.sqrt(1.0 - ab)
            level = np.full((1,), l, np.float32)

            def r_hat(z: np.ndarray) -> np.ndarray:
                z = z.astype(np.float32)
                ys = np.repeat(y, z.shape[0], axis=0)
                return (z - s * bundle.denoiser(z, np.repeat(level, z.shape[0]), ys)) / l

            eps = rng.standard_normal(y.shape)
            inputs = {"oracle": l * (x - x_init) + s * eps, "zero": np.zeros_like(y)}
            for kind, z in inputs.items():
                out = to_image((x_init + r_hat(z))[0, :, :h, :w])
                rows.setdefault(f"{kind} {ab:g}", []).append(M.psnr(out, sharp))
            draws = s * rng.standard_normal((n_samples,) + y.shape[1:])
            sa = np.clip(x_init + r_hat(draws), -1, 1).mean(axis=0)
            rows.setdefault(f"SA-{n_samples} {ab:g}", []).append(M.psnr(to_image(sa[:, :h, :w]), sharp))
    return {k: float(np.mean(v)) for k, v in rows.items()}


def textured_crop(img: np.ndarray, size: int, width: int | None = None, border: int = 0) -> tuple[int, int]:
    """Top-left corner of the size x width window (square by default) with the most Laplacian
    energy, at least ``border`` pixels inside the image (coarse search)."""
    width = width or size
    best, at = -1.0, None
    h, w = img.shape[:2]
    for y in range(border, h - size - border + 1, max(1, size // 4)):
        for x in range(border, w - width - border + 1, max(1, width // 4)):
            e = M.laplacian_energy(img[y : y + size, x : x + width])
            if e > best:
                best, at = e, (y, x)
    if at is None:
        raise ValueError(f"a {size}x{width} window with a {border} px border does not fit in {h}x{w}")
    return at


# A fixed classical baseline for the blur probe, picked from a grid (Gaussian sigma 0.7 / 1 / 1.5 px,
# amount 0.5 / 1) on the 30 held-out windows: within 0.4 dB of the grid's best at each of 2, 4 and
# 8 px noise-free shake, without amount 1's loss on windows that are already sharp.
UNSHARP_SIGMA, UNSHARP_AMOUNT = 1.0, 0.5


def unsharp_mask(img: np.ndarray, sigma: float = UNSHARP_SIGMA, amount: float = UNSHARP_AMOUNT) -> np.ndarray:
    """uint8 H x W x 3 sharpened by img + amount (img - gaussian(img, sigma)), clipped to 8 bits."""
    x = img.astype(np.float64)
    out = x + amount * (x - ndimage.gaussian_filter(x, (sigma, sigma, 0), mode="reflect"))
    return np.clip(out, 0, 255).round().astype(np.uint8)


# The blur probe's oracle: regularised deconvolution with the true kernel, at the best setting of
# this grid for each row: a flat noise-to-signal ratio (the classic Wiener filter, best on
# noise-free blur) or one that grows with frequency like a gradient penalty (which keeps the mean
# and is far better with noise). No blind method knows the kernel; the column shows how much of the
# blur a linear filter that knew it would give back, to read the predictor's gain against.
WIENER_SETTINGS = tuple((prior, ratio) for prior in ("flat", "gradient") for ratio in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1))


def kernel_otf(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The FFT of ``kernel`` zero-padded to ``shape`` with its centre moved to the origin: its
    transfer function under circular convolution."""
    padded = np.zeros(shape)
    padded[: kernel.shape[0], : kernel.shape[1]] = kernel
    return np.fft.fft2(np.roll(padded, (-(kernel.shape[0] // 2), -(kernel.shape[1] // 2)), axis=(0, 1)))


def wiener_deconvolutions(img: np.ndarray, kernel: np.ndarray, settings) -> list[np.ndarray]:
    """uint8 H x W x 3 deconvolved by a known odd square kernel K, once for each (prior, ratio) of
    ``settings``: conj(K) / (|K|^2 + ratio * P), with P = 1 ("flat") or the squared response of
    horizontal and vertical differences ("gradient"). The spectra are taken once for all settings.
    Reflect padding by the kernel's size keeps the FFT's circular wrap from carrying one edge into
    the other."""
    pad = kernel.shape[0]
    x = np.pad(img.astype(np.float64) / 255.0, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    otf = kernel_otf(kernel, x.shape[:2])
    spectrum = np.fft.fft2(x, axes=(0, 1))
    fy, fx = np.fft.fftfreq(x.shape[0])[:, None], np.fft.fftfreq(x.shape[1])[None, :]
    penalties = {"flat": 1.0, "gradient": 4.0 - 2.0 * np.cos(2 * np.pi * fy) - 2.0 * np.cos(2 * np.pi * fx)}
    outs = []
    for prior, ratio in settings:
        if prior not in penalties:
            raise ValueError(f"prior must be 'flat' or 'gradient', got {prior!r}")
        gain = np.conj(otf) / (np.abs(otf) ** 2 + ratio * penalties[prior])
        out = np.real(np.fft.ifft2(spectrum * gain[..., None], axes=(0, 1)))[pad:-pad, pad:-pad]
        outs.append((np.clip(out, 0.0, 1.0) * 255.0).round().astype(np.uint8))
    return outs


def wiener_deconvolve(img: np.ndarray, kernel: np.ndarray, ratio: float, prior: str = "flat") -> np.ndarray:
    """One setting of wiener_deconvolutions."""
    return wiener_deconvolutions(img, kernel, [(prior, ratio)])[0]


def blur_8bit(src: np.ndarray, kernel: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """uint8 centre of a float [0, 1] source (MARGIN smaller each side) blurred by kernel, with noise
    sigma in 8-bit levels: the degradation code's blur, noise and quantisation."""
    blurred = degrade.finish(degrade.add_noise(degrade.blur_valid(src, kernel), sigma / 255.0, rng), True)
    return (blurred * 255.0).round().astype(np.uint8)


KERNEL_SHAPES = {"shake": lambda rng, length: degrade.camera_shake_kernel(rng, length=length),
                 "line": degrade.line_kernel}


def blur_probe(bundle: Bundle, sharps: list[np.ndarray], lengths: list[float], sigmas: list[float],
               schedule: tuple[int, float] | None, seed: int, size: tuple[int, int] = PROBE_WINDOW,
               kernel_shape: str = "shake", oracle: bool = True) -> list[dict]:
    """How much blur the model removes, apart from noise: each sharp photo's most textured window
    (where deblurring shows; the held-out set is mostly smooth wallpaper, whose PSNR rewards
    denoising), blurred by a camera-shake trajectory (``kernel_shape`` "shake") or a straight
    motion ("line") of each length in ``lengths`` pixels (the same kernel at every noise level)
    plus noise of each sigma (in 8-bit levels). Rows give the mean PSNR against the sharp window
    of: the blurry window; a fixed unsharp mask of it (a classical baseline: what sharpening alone
    gets back); deconvolution with the true kernel, given the blurred surroundings too (``wiener``,
    an oracle, at the row's best ``wiener_setting`` of WIENER_SETTINGS); the predictor; and one
    sample at ``schedule``. ``blurry_detail`` and ``predictor_detail`` are their mean detail
    ratios (fine detail against the sharp window's: 1 is as much). With ``oracle`` False the
    deconvolution, most of the probe's time, is left out (no ``wiener`` in the rows)."""
    h, w = size
    m = degrade.MARGIN
    windows = [textured_crop(full, h, w, border=m) for full in sharps]
    # The oracle's view of each photo (its windows' top-left moves by m); the quick probe needs none.
    padded = [np.pad(full, ((m, m), (m, m), (0, 0)), mode="reflect") for full in sharps] if oracle else []
    rows = []
    for length in lengths:
        for sigma in sigmas:
            got: dict[str, list[float]] = {"blurry": [], "unsharp": [], "predictor": [], "blurry_detail": [],
                                           "predictor_detail": []}
            wiener: dict[tuple[str, float], list[float]] = {setting: [] for setting in WIENER_SETTINGS}
            for i, (full, (top, left)) in enumerate(zip(sharps, windows)):
                src = full[top - m : top + h + m, left - m : left + w + m].astype(np.float32) / 255.0
                kernel = KERNEL_SHAPES[kernel_shape](np.random.default_rng([seed, i, int(length * 100)]), length)
                noise_rng = np.random.default_rng([seed, i, int(length * 100), int(sigma * 100)])
                blurry = blur_8bit(src, kernel, sigma, noise_rng)
                sharp = full[top : top + h, left : left + w]
                y, (hh, ww) = pad_to(to_model(blurry), bundle.pad)
                x_init = bundle.predictor(y)
                got["blurry"].append(M.psnr(blurry, sharp))
                got["unsharp"].append(M.psnr(unsharp_mask(blurry), sharp))
                if oracle:
                    # The oracle also sees the blurred surroundings (noised alike), as far as the
                    # kernel reaches: a deconvolution loses most at edges it cannot see past.
                    ring_src = padded[i][top - m : top + h + 3 * m, left - m : left + w + 3 * m].astype(np.float32) / 255.0
                    ring_rng = np.random.default_rng([seed, i, int(length * 100), int(sigma * 100), 1])
                    context = blur_8bit(ring_src, kernel, sigma, ring_rng)
                    context[m:-m, m:-m] = blurry
                    for setting, out in zip(WIENER_SETTINGS, wiener_deconvolutions(context, kernel, WIENER_SETTINGS)):
                        wiener[setting].append(M.psnr(out[m:-m, m:-m], sharp))
                predicted = to_image(x_init[0, :, :hh, :ww])
                got["predictor"].append(M.psnr(predicted, sharp))
                got["blurry_detail"].append(M.detail_ratio(blurry, sharp))
                got["predictor_detail"].append(M.detail_ratio(predicted, sharp))
                if schedule is not None:
                    z0 = refine(bundle.denoiser, y, InferenceSchedule.linear(*schedule), np.random.default_rng(seed + i))
                    got.setdefault("sample", []).append(M.psnr(to_image((x_init + z0)[0, :, :hh, :ww]), sharp))
            row = {"length": length, "sigma": sigma, **{k: float(np.mean(v)) for k, v in got.items()}}
            if oracle:
                best = max(WIENER_SETTINGS, key=lambda setting: np.mean(wiener[setting]))
                row.update(wiener=float(np.mean(wiener[best])), wiener_setting=list(best))
            rows.append(row)
    return rows


def side_by_side(kept: dict, path: Path, size: int = 160, zoom: int = 2) -> None:
    y, x = textured_crop(kept["sharp"], size)
    tiles = [kept[k][y : y + size, x : x + size] for k in ("blurry", "predictor", "sample", "sa", "sharp")]
    gap = np.full((size, 4, 3), 255, np.uint8)
    row = np.concatenate(sum(([t, gap] for t in tiles), [])[:-1], axis=1)
    im = Image.fromarray(row)
    im = im.resize((im.width * zoom, im.height * zoom), Image.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)


def markdown(table: dict) -> str:
    lines = ["| output | PSNR (dB) | SSIM | detail |", "|---|---:|---:|---:|"]
    for k, v in table.items():
        lines.append(f"| {k} | {v['psnr']:.2f} | {v['ssim']:.4f} | {v['detail']:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--heldout", type=Path, default=TRAINING_ROOT / "data" / "heldout")
    ap.add_argument("--schedule", action="append", type=parse_schedule,
                    help="steps:schedule_end (repeatable); default: the bundle's default_sampling and "
                         "averaging_sampling")
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ensemble", type=int, choices=ENSEMBLE_SIZES, default=1,
                    help="average the predictor over this many flips and quarter turns, as the "
                         "library's --ensemble")
    ap.add_argument("--limit", type=int, default=None, help="only the first N images")
    ap.add_argument("--only", nargs="+", default=None, help="only these held-out images (names)")
    ap.add_argument("--image", type=Path, default=None, help="write the side-by-side crop here")
    ap.add_argument("--crop-of", default="Path", help="held-out image for the side-by-side crop")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--probe", default=None, metavar="ABAR,...",
                    help="instead of the table: PSNR of x_init + the denoiser's residual estimate at these "
                         "alpha_bar values, from the true noised residual, from zero and averaged over "
                         "--samples noise draws (see probe_levels)")
    ap.add_argument("--blur-probe", default=None, metavar="LENGTH,...",
                    help="instead of the table: PSNR gains on the most textured 192x256 window of each "
                         "held-out photo blurred by camera shake of these lengths (pixels) at the noise "
                         "levels of --probe-noise (see blur_probe)")
    ap.add_argument("--probe-kernel", choices=sorted(KERNEL_SHAPES), default="shake",
                    help="--blur-probe's kernels: camera-shake trajectories as in training, or straight motion")
    ap.add_argument("--probe-noise", default="0,4", metavar="SIGMA,...",
                    help="noise sigmas in 8-bit levels for --blur-probe")
    ap.add_argument("--probe-photos", type=Path, default=None, metavar="DIR",
                    help="--blur-probe on these sharp photos instead of the held-out set (see load_photos), "
                         "e.g. data/train: a model that gains more there than on held-out photos over-fits")
    args = ap.parse_args(argv)
    if args.probe_photos and not args.blur_probe:
        ap.error("--probe-photos chooses the photos of --blur-probe: add --blur-probe LENGTH,...")
    bundle = Bundle(args.bundle, args.threads, args.ensemble)
    if args.ensemble > 1:
        print(f"the predictor averaged over {args.ensemble} orientations (--ensemble)")
    tuned = {k: (int(v["steps"]), float(v["schedule_end"]))
             for k in ("default_sampling", "averaging_sampling") if (v := bundle.manifest.get(k))}
    if args.probe_photos:  # only with --blur-probe (refused above otherwise)
        sharps, source = load_photos(args.probe_photos, args.limit), f"windows of {args.probe_photos}"
    else:
        pairs = load_pairs(args.heldout, args.limit, args.only)
        sharps, source = [p[2] for p in pairs], "held-out windows"
    t0 = time.time()
    if args.blur_probe:
        # One sample at the first --schedule, else at the bundle's default (none without either).
        sample_schedule = args.schedule[0] if args.schedule else tuned.get("default_sampling")
        rows = blur_probe(bundle, sharps, [float(v) for v in args.blur_probe.split(",")],
                          [float(v) for v in args.probe_noise.split(",")], sample_schedule, args.seed,
                          kernel_shape=args.probe_kernel)
        print(f"{len(sharps)} {source}, {args.probe_kernel} kernels, {time.time() - t0:.0f} s")
        at = f" at {sample_schedule[0]}:{sample_schedule[1]:g}" if sample_schedule else ""
        print(f"| blur (px) | noise σ (/255) | blurry (dB) | unsharp mask gain (dB) | known-kernel deconvolution gain (dB) "
              f"| predictor gain (dB) | one sample{at} gain (dB) | detail ratio, blurry → predictor |\n"
              "|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            sample = f"{r['sample'] - r['blurry']:+.2f}" if "sample" in r else "-"
            print(f"| {r['length']:g} | {r['sigma']:g} | {r['blurry']:.2f} | {r['unsharp'] - r['blurry']:+.2f} "
                  f"| {r['wiener'] - r['blurry']:+.2f} | {r['predictor'] - r['blurry']:+.2f} | {sample} "
                  f"| {r['blurry_detail']:.3f} → {r['predictor_detail']:.3f} |")
        if args.json:
            args.json.write_text(json.dumps({"bundle": str(args.bundle), "ensemble": args.ensemble, "images": len(sharps), "sample_schedule": sample_schedule,
                                             "kernel_shape": args.probe_kernel,
                                             "blur_probe": rows}, indent=1) + "\n")
        return
    if args.probe:
        probe = probe_levels(bundle, pairs, [float(a) for a in args.probe.split(",")], args.samples, args.seed)
        print(f"{len(pairs)} held-out images, {time.time() - t0:.0f} s")
        print("| residual estimate | PSNR (dB) |\n|---|---:|")
        for k, v in probe.items():
            print(f"| {k} | {v:.3f} |")
        if args.json:
            args.json.write_text(json.dumps({"bundle": str(args.bundle), "ensemble": args.ensemble, "images": len(pairs), "probe": probe}, indent=1) + "\n")
        return
    schedules = args.schedule
    if not schedules:
        if "default_sampling" not in tuned:
            ap.error("the bundle has no default_sampling: pass --schedule steps:end")
        schedules = list(dict.fromkeys(tuned.values()))
    # The side-by-side's SA is the one `deblur image --samples N` gives, when it was evaluated.
    sa_schedule = tuned.get("averaging_sampling")
    sa_schedule = sa_schedule if sa_schedule in schedules else None
    table, per_image, entropy, kept = evaluate(bundle, pairs, schedules, args.samples, args.seed, args.crop_of,
                                               sa_schedule)
    print(f"{len(pairs)} held-out images, {time.time() - t0:.0f} s")
    print(markdown(table))
    print(f"pixel entropy: residual {entropy['residual_bits']:.2f} bits/dim, reference {entropy['reference_bits']:.2f} bits/dim")
    if args.image and kept.get("sample") is not None:
        side_by_side(kept, args.image)
        print(f"wrote {args.image}")
    if args.json:
        args.json.write_text(json.dumps({"bundle": str(args.bundle), "ensemble": args.ensemble, "images": len(pairs), "table": table,
                                         "entropy": entropy, "per_image": per_image,
                                         "names": [p[0] for p in pairs]}, indent=1) + "\n")


if __name__ == "__main__":
    main()

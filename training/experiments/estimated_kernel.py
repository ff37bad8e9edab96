"""Does a kernel-aware predictor still gain when its kernel is a blind estimate, failures included?

A diagnostic, not a training stage. ``kernel_conditioning.py correction`` showed that a U-Net
built on the *true* kernel's Wiener image passes the shipped predictor on noise-free shake within
500 CPU steps; ``blind_kernel.py`` showed that a classical blind estimate is sound on only part of
the photos (2 to 4 of 10 end below blurry). This script trains on the estimates themselves:

- ``scenes``: blurs 320x320 regions of the training photos (kernel_conditioning's degradations:
  half straight motions, shake 4-20 px, noise power 3, 10 % GoPro blur), estimates each one's
  kernel with ``blind_kernel.estimate_kernel`` (GoPro blur too: the estimator cannot know) and
  stores blurry, sharp and the estimate, one .npz a scene, so that shards can run side by side
  and a stopped run keeps what it made.
- ``heldout``: the same for blind_kernel's held-out set (every 3rd held-out photo at 640x360,
  camera shake of 8 / 14 / 20 px at sigma 0 / 4 in 8-bit levels, its seeds), so that the rows
  compare with blind_kernel's.
- ``train``: a ``gated`` predictor from a checkpoint's EMA predictor. It sees y and the Wiener
  image W of y under the *estimated* kernel (gradient prior, ratio from the noise level that
  ``noise_sigma`` estimates from y, never the true one), and outputs

      (1 - m) y + m W + c,

  with c and the gate logit of m from one U-Net (the small predictor, three more input channels
  and one more output, all starting at zero but the gate's bias, -3). It starts within a few
  hundredths of a dB of the checkpoint's predictor and can learn where W is worth taking: where
  the estimate failed, or the noise is high, m should fall to 0. Every --eval-every steps its EMA is
  scored on the held-out scenes against the shipped predictor and W itself, in dB over blurry.
  With ``--control``, W is y itself: the same network, batches and schedule without the
  deconvolution, to tell what W adds from what training on these scenes adds.

    cd training && . .venv/bin/activate
    export OMP_WAIT_POLICY=PASSIVE PYTHONPATH=.
    python experiments/estimated_kernel.py heldout &
    python experiments/estimated_kernel.py scenes --shard 0 --minutes 30 & wait
    python experiments/estimated_kernel.py scenes --shard 1 --minutes 14
    python experiments/estimated_kernel.py train --minutes 60 --plan 1800
    python experiments/estimated_kernel.py train --minutes 40 --plan 1800 --control

Results and what they say: docs/training.md, "Trained on estimated kernels".
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from deblur_train import TRAINING_ROOT, degrade as D, metrics as M
from deblur_train.data import CropConfig, CropSampler, augment, list_images, load_rgb, to_batch
from deblur_train.evaluate import Bundle, load_pairs, wiener_deconvolve

sys.path.insert(0, str(Path(__file__).resolve().parent))
import blind_kernel as BK  # noqa: E402

SCENES = TRAINING_ROOT / "runs" / "estimated-kernel"
GATE_BIAS = -3.0  # sigmoid(-3) = 0.047: W's share at the start
# Immerkaer's mask: the difference of two Laplacians, blind to planes and to most image structure.
NOISE_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)


def noise_sigma(img: np.ndarray) -> float:
    """Standard deviation of white noise in uint8 H x W x 3 ``img``, in [0, 1] units (Immerkaer
    1996: mean absolute response to NOISE_MASK, over the luma)."""
    y = img.astype(np.float64).mean(axis=2) / 255.0
    response = ndimage.convolve(y, NOISE_MASK, mode="reflect")[1:-1, 1:-1]
    # Averaging three channels shrinks their independent noise by sqrt(3).
    return float(np.sqrt(np.pi / 2) / 6 * np.abs(response).mean() * np.sqrt(3))


def wiener_base(blurry: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """uint8 ``blurry`` deconvolved by ``estimate``: gradient prior, ratio from the estimated noise."""
    return wiener_deconvolve(blurry, estimate, max(3e-3, 60.0 * noise_sigma(blurry) ** 2), "gradient")


def save_scene(path: Path, blurry: np.ndarray, sharp: np.ndarray, kernel: np.ndarray | None, sigma: float) -> None:
    estimate = BK.estimate_kernel(blurry)
    true = np.zeros((0, 0)) if kernel is None else kernel
    np.savez_compressed(path, blurry=blurry, sharp=sharp, estimate=estimate, kernel=true, sigma=sigma)


def make_scenes(args) -> None:
    # kernel_conditioning imports torch, which heldout and the tests do without.
    from kernel_conditioning import DEGRADE, degrade_keeping_kernel

    out = args.dir / "train"
    out.mkdir(parents=True, exist_ok=True)
    photos = [load_rgb(p) for p in list_images(TRAINING_ROOT / "data" / "train")]
    # A few sample images (scikit-image's, scikit-learn's) are smaller than a scene.
    large = [im for im in photos if min(im.shape[:2]) >= args.size + 2 * D.MARGIN]
    print(f"{len(large)} of {len(photos)} training photos hold a {args.size} px scene", flush=True)
    sampler = CropSampler(large, crop=CropConfig(size=args.size), deg=DEGRADE)
    t0, i = time.time(), 0
    while time.time() - t0 < args.minutes * 60:
        path = out / f"{args.shard}-{i:05d}.npz"
        i += 1
        if path.exists():
            continue
        rng = np.random.default_rng([args.seed, args.shard, i])
        blurry, sharp, kernel, sigma = degrade_keeping_kernel(sampler.sample_source(rng), rng)
        save_scene(path, (blurry * 255).round().astype(np.uint8), (sharp * 255).round().astype(np.uint8), kernel,
                   sigma)
        print(f"{path.name}: {(time.time() - t0) / i:.1f} s a scene", flush=True)


def make_heldout(args) -> None:
    out = args.dir / "heldout"
    out.mkdir(parents=True, exist_ok=True)
    photos = [sharp for _, _, sharp in load_pairs(TRAINING_ROOT / "data" / "heldout", None)][:: args.every]
    for length in (8, 14, 20):
        for sigma in (0, 4):
            for i, sharp in enumerate(photos):
                path = out / f"{length}-{sigma}-{i:02d}.npz"
                if path.exists():
                    continue
                # blind_kernel's blur and seeds, so that its rows compare with these.
                blurry, kernel = BK.blurred_photo(sharp, args.seed, i, length, sigma)
                save_scene(path, blurry, sharp, kernel, sigma / 255.0)
                print(path.name, flush=True)


def load_scenes(root: Path) -> list[dict]:
    """Each stored scene's uint8 images (blurry, sharp and its Wiener base) and its name."""
    scenes = []
    for path in sorted(root.glob("*.npz")):
        with np.load(path) as z:
            blurry, sharp, estimate = z["blurry"], z["sharp"], z["estimate"]
            scenes.append({"name": path.stem, "blurry": blurry, "sharp": sharp,
                           "wiener": wiener_base(blurry, estimate), "sigma": float(z["sigma"])})
    return scenes


def crop_batch(scenes: list[dict], rng: np.random.Generator, n: int, size: int):
    """n random (blurry, wiener, sharp) crops, flipped and rotated alike: three N x 3 x S x S batches."""
    stacks = []
    for _ in range(n):
        s = scenes[rng.integers(len(scenes))]
        h, w = s["blurry"].shape[:2]
        top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        stack = np.concatenate([s[k][top : top + size, left : left + size] for k in ("blurry", "wiener", "sharp")], 2)
        stacks.append(augment(stack, rng).astype(np.float32) / 255.0)
    return [to_batch([st[..., 3 * j : 3 * j + 3] for st in stacks]) for j in range(3)]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("scenes", "heldout", "train"))
    ap.add_argument("--dir", type=Path, default=SCENES, help="where scenes are stored")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--shard", type=int, default=0, help="scenes: this process's share of the names and seeds")
    ap.add_argument("--size", type=int, default=320, help="scenes: side of the blurred region")
    ap.add_argument("--every", type=int, default=3, help="heldout: every N-th held-out photo")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--init", default="runs/small-v13-joint/last.pt",
                    help="train: checkpoint whose EMA predictor starts")
    ap.add_argument("--bundle", type=Path, default=TRAINING_ROOT.parent / "models" / "default",
                    help="train: the predictor to compare with")
    ap.add_argument("--plan", type=int, default=1200, help="train: steps of the half cosine")
    ap.add_argument("--eval-every", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--control", action="store_true", help="train: W is y itself")
    args = ap.parse_args(argv)
    if args.command == "scenes":
        return make_scenes(args)
    if args.command == "heldout":
        return make_heldout(args)
    train(args)


def train(args) -> None:
    import torch

    from deblur_train.configs import SMALL
    from deblur_train.models import UNet

    from kernel_conditioning import WienerInputPredictor, optimise

    class GatedWiener(WienerInputPredictor):
        """(1 - m) y + m W + c, with c and m's logit from one U-Net on (y, W)."""

        def __init__(self):
            super().__init__()
            self.net = UNet(SMALL.predictor, 6, 4, conditional=False)

        def load_small(self, weights: dict) -> None:
            """The small predictor's weights; W's input weights and the gate's output weights start at zero."""
            weights = dict(weights)
            # PixelShuffle takes output channel c from rows 4c..4c+3: the gate's rows come last.
            w, b = weights["net.conv_out.weight"], weights["net.conv_out.bias"]
            weights["net.conv_out.weight"] = torch.cat([w, torch.zeros_like(w[:4])])
            weights["net.conv_out.bias"] = torch.cat([b, torch.full_like(b[:4], GATE_BIAS)])
            super().load_small(weights)

        def forward(self, y: torch.Tensor, wiener: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = self.net(torch.cat([y, wiener], dim=1))
            gate = torch.sigmoid(out[:, 3:])
            return (1 - gate) * y + gate * wiener + out[:, :3], gate

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    scenes = load_scenes(args.dir / "train")
    heldout = load_scenes(args.dir / "heldout")
    if not scenes or not heldout:
        raise SystemExit(f"no scenes under {args.dir}: run the scenes and heldout commands first")
    if args.control:
        for s in scenes + heldout:
            s["wiener"] = s["blurry"]
    print(f"{len(scenes)} training scenes, {len(heldout)} held-out", flush=True)

    ema_weights = torch.load(args.init, weights_only=False)["ema"]
    model = GatedWiener()
    model.load_small({k[len("predictor."):]: v for k, v in ema_weights.items() if k.startswith("predictor.")})
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4, weight_decay=1e-4)

    bundle = Bundle(args.bundle, args.threads)
    groups = sorted({s["name"].rsplit("-", 1)[0] for s in heldout}, key=lambda g: [int(v) for v in g.split("-")])
    baseline = {}
    for s in heldout:
        b = M.psnr(s["blurry"], s["sharp"])
        baseline[s["name"]] = (b, M.psnr(BK.run_predictor(bundle, s["blurry"]), s["sharp"]) - b,
                               M.psnr(s["wiener"], s["sharp"]) - b)

    def to_tensor(img: np.ndarray) -> torch.Tensor:
        h, w = img.shape[:2]
        padded = np.pad(img, ((0, -h % 16), (0, -w % 16), (0, 0)), mode="reflect")
        return torch.from_numpy(to_batch([padded.astype(np.float32) / 255.0]))

    def evaluate(step: int) -> None:
        rows = {g: [] for g in groups}
        with torch.no_grad():
            for s in heldout:
                h, w = s["blurry"].shape[:2]
                out, gate = ema(to_tensor(s["blurry"]), to_tensor(s["wiener"]))
                img = ((out[0, :, :h, :w].clamp(-1, 1).numpy().transpose(1, 2, 0) + 1) * 127.5).round().astype(np.uint8)
                b, pred, wiener = baseline[s["name"]]
                rows[s["name"].rsplit("-", 1)[0]].append((pred, wiener, M.psnr(img, s["sharp"]) - b,
                                                          float(gate[0, :, :h, :w].mean())))
        print(f"step {step}, gains in dB over blurry (length px-sigma: predictor / W / gated, worst gated, "
              f"mean gate):", flush=True)
        for g, r in rows.items():
            r = np.array(r)
            print(f"  {g}: {r[:, 0].mean():+.2f} / {r[:, 1].mean():+.2f} / {r[:, 2].mean():+.2f}, "
                  f"worst {r[:, 2].min():+.2f} (predictor's worst {r[:, 0].min():+.2f}), gate {r[:, 3].mean():.2f}",
                  flush=True)

    evaluate(0)
    rng = np.random.default_rng(args.seed)
    t0, step, logged = time.time(), 0, []
    while time.time() - t0 < args.minutes * 60:
        y, wiener, x = (torch.from_numpy(b) for b in crop_batch(scenes, rng, 8, 128))
        out, gate = model(y, wiener)
        l1 = (out - x).abs().mean()
        optimise(model, ema, opt, l1, step, args.plan)
        step += 1
        logged.append((l1.item(), gate.mean().item()))
        if step % 50 == 0:
            l1_mean, gate_mean = np.mean(logged[-50:], 0)
            print(f"step {step} {time.time() - t0:.0f} s: training L1 {l1_mean:.5f}, mean gate {gate_mean:.3f}",
                  flush=True)
        if step % args.eval_every == 0:
            evaluate(step)
    if step % args.eval_every:  # else the loop has just scored these weights
        evaluate(step)
    torch.save({"step": step, "ema": ema.state_dict()}, args.dir / f"{'control' if args.control else 'gated'}-last.pt")


if __name__ == "__main__":
    main()

"""Does a spectral branch in the predictor's residual blocks help it learn blind deconvolution?

A diagnostic, not a shipped stage. The predictor under-fits blur that changes with the kernel
(docs/training.md, "One kernel, sixteen, and the kernel given"), and handed a deconvolution
made in the frequency domain it improved steadily. DeepRFT (Mao et al. 2023) gives each residual
block a branch that acts on the feature map's 2-D spectrum (models.SpectralBranch), so that every
block sees the whole frame at once. `small-spectral` (configs.SMALL_SPECTRAL) is the shipped
`small` config with such a branch in every residual block of the predictor (levels 0-3 and the
middle); `init` gives it a `small` checkpoint's weights with each branch starting at zero.
`train` hands its arguments to `deblur_train.train`, so a run compares step for step with one of
the plain config on the same flags and seed.

    cd training && . .venv/bin/activate
    export OMP_WAIT_POLICY=PASSIVE PYTHONPATH=.
    python experiments/spectral_branch.py init runs/small-v13-joint/last.pt runs/spectral-init.pt
    python experiments/spectral_branch.py train --run runs/exp-spectral --config small-spectral \\
        --init runs/spectral-init.pt --predictor-only ...   # the flags of the plain run it is set against
    python experiments/spectral_branch.py probe runs/exp-spectral/step_0000500.pt   # blur probe, README sample
    python experiments/spectral_branch.py drop runs/spectral-joint-broad/last.pt --keep 2,3   # fewer branches

`drop` scores a spectral checkpoint's predictor with only the branches of the levels kept (each
block adds its branch to its output, so the rest computes what it did), on the README sample and
held-out photos, and times it in ONNX Runtime as exported.

Results: docs/training.md, "A spectral branch" and "Coarse spectral branches".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deblur_train import TRAINING_ROOT, metrics as M, train
from deblur_train.configs import SMALL_SPECTRAL as SPECTRAL
from deblur_train.configs import ModelConfig
from deblur_train.evaluate import blur_probe, load_pairs, run_predictor
from deblur_train.export import export_predictor, load_ema_model
from deblur_train.models import DeblurModel, count_params
from deblur_train.onnx_bundle import ort_session

SAMPLE = TRAINING_ROOT.parent / "examples" / "data"


def make_init(source: Path, target: Path) -> None:
    """``source``'s EMA weights in a `small-spectral` model, the new branches at their start
    (adding nothing): what ``train --init`` loads."""
    ema = torch.load(source, map_location="cpu", weights_only=False)["ema"]
    model = DeblurModel(SPECTRAL)
    missing, unexpected = model.load_state_dict(ema, strict=False)
    not_spectral = [k for k in missing if ".spectral." not in k]
    if not_spectral or unexpected:
        raise SystemExit(f"{source} does not hold the `small` networks: missing {not_spectral[:4]}, "
                         f"unexpected {unexpected[:4]}")
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"ema": model.state_dict()}, target)
    added = sum(model.state_dict()[k].numel() for k in missing)
    print(f"{target}: predictor {count_params(model.predictor) / 1e6:.2f}M params, "
          f"{added / 1e6:.2f}M of them in {len(missing) // 4} new spectral branches")


class TorchPredictor:
    """The part of evaluate.Bundle that the blur probe uses, run by PyTorch on a checkpoint's EMA
    weights, so that runs are scored without an ONNX export."""

    def __init__(self, model: DeblurModel):
        self.net = model.predictor
        self.pad = model.pad_multiple

    def predictor(self, y: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.net(torch.from_numpy(y)).numpy()

    def __call__(self, img: np.ndarray) -> np.ndarray:
        return run_predictor(self, img)


def readme_sample(net: TorchPredictor) -> str:
    blurry, sharp = (np.asarray(Image.open(SAMPLE / f"{n}.jpg").convert("RGB")) for n in ("blurry", "sharp"))
    out = net(blurry)
    return (f"README sample: {M.psnr(out, sharp):.2f} dB (blurry {M.psnr(blurry, sharp):.2f}), "
            f"detail {M.detail_ratio(out, sharp):.3f}")


def probe(checkpoint: Path, lengths: list[float], seed: int) -> None:
    """The model card's blur probe (30 held-out windows, noise σ 0 and 4/255) of the predictor,
    without its oracle column, and its PSNR and detail ratio on the README's sample photo."""
    net = TorchPredictor(load_ema_model(checkpoint))
    sharps = [p[2] for p in load_pairs(TRAINING_ROOT / "data" / "heldout", None)]
    for r in blur_probe(net, sharps, lengths, [0.0, 4.0], None, seed, oracle=False):
        print(f"{r['length']:g} px σ {r['sigma']:g}: predictor {r['predictor'] - r['blurry']:+.2f} dB")
    print(readme_sample(net))


def ort_seconds(model: DeblurModel, threads: int, size=(368, 640), reps: int = 4) -> float:
    """Best of ``reps`` runs of the predictor as exported, in ONNX Runtime on ``threads`` threads."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "predictor.onnx"
        export_predictor(model, path)
        session = ort_session(path, threads)
    feed = {session.get_inputs()[0].name: np.random.default_rng(0).random((1, 3, *size), np.float32)}
    session.run(None, feed)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    return min(times)


def drop(checkpoint: Path, keep: tuple[int, ...], photos: int, threads: int) -> None:
    """The predictor of ``checkpoint`` with the spectral branches of the levels ``keep`` only."""
    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = ModelConfig.from_dict(ck["config"])
    cfg = replace(cfg, predictor=replace(cfg.predictor, spectral_levels=keep))
    model = DeblurModel(cfg).eval()
    train.warm_start(model, None, checkpoint, ("predictor",))  # drops the other branches, refuses any other mismatch
    net = TorchPredictor(model)
    pairs = load_pairs(TRAINING_ROOT / "data" / "heldout", photos)
    held_out = np.mean([M.psnr(net(blurry), sharp) for _, blurry, sharp in pairs])
    print(f"spectral levels {list(keep)}: {readme_sample(net)}; {len(pairs)} held-out photos {held_out:.3f} dB; "
          f"predictor at 640x368 in ONNX Runtime {ort_seconds(model, threads) * 1e3:.0f} ms on {threads} threads")


def main() -> None:
    command = sys.argv[1] if len(sys.argv) >= 2 else ""
    if command == "init" and len(sys.argv) == 4:
        make_init(Path(sys.argv[2]), Path(sys.argv[3]))
    elif command == "train":
        train.main(sys.argv[2:])
    elif command == "probe":
        ap = argparse.ArgumentParser(prog="spectral_branch.py probe")
        ap.add_argument("checkpoint", type=Path)
        ap.add_argument("--lengths", default="8,14,20")
        ap.add_argument("--seed", type=int, default=1234)
        ap.add_argument("--threads", type=int, default=2)
        args = ap.parse_args(sys.argv[2:])
        torch.set_num_threads(args.threads)
        probe(args.checkpoint, [float(v) for v in args.lengths.split(",")], args.seed)
    elif command == "drop":
        ap = argparse.ArgumentParser(prog="spectral_branch.py drop")
        ap.add_argument("checkpoint", type=Path)
        ap.add_argument("--keep", default="2,3", help="levels whose spectral branches stay, comma-separated ('' for none)")
        ap.add_argument("--photos", type=int, default=10, help="held-out photos scored")
        ap.add_argument("--threads", type=int, default=2)
        args = ap.parse_args(sys.argv[2:])
        torch.set_num_threads(args.threads)
        drop(args.checkpoint, tuple(int(v) for v in args.keep.split(",") if v), args.photos, args.threads)
    else:
        raise SystemExit("usage: spectral_branch.py init SOURCE.pt TARGET.pt | train TRAIN_ARGS... | "
                         "probe CHECKPOINT | drop CHECKPOINT --keep LEVELS")


if __name__ == "__main__":
    main()

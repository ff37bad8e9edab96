"""Joint training of the predictor g and denoiser f with paper Eq. 6.

    z = sqrt(abar) (x0 - g(y)) + sqrt(1 - abar) eps,   loss = | eps - f(z, sqrt(abar), y) |_1

The predictor gets gradients only through the residual (and through y's path inside f it does
not). ``--aux-l1 w`` adds w * |g(y) - x0|_1 (off by default, as in the paper).

Checkpoints (model, EMA, optimiser, step, all RNG states) go to <run>/last.pt every
--ckpt-minutes and at exit; rerunning the same command resumes. A snapshot step_<N>.pt is kept
every --snapshot-every steps. On a GPU (``--device cuda``), ``--workers N`` makes the batches in
N processes; each step's batch depends only on (--seed, step), whatever the number of workers.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import signal
import time
from pathlib import Path

import numpy as np
import torch

from . import TRAINING_ROOT
from . import schedule
from .configs import CONFIGS, ModelConfig
from .data import BatchSource, CropConfig, CropSampler
from .degrade import DegradeConfig
from .models import DeblurModel, count_params


def eq6_loss(model: DeblurModel, y: torch.Tensor, x0: torch.Tensor, level: torch.Tensor, eps: torch.Tensor,
             aux_l1: float = 0.0) -> tuple[torch.Tensor, dict]:
    # float(): under bf16 autocast the networks' outputs are bfloat16; the residual and the loss
    # stay float32.
    x_init = model.predictor(y).float()
    lv = level.view(-1, 1, 1, 1)
    z = lv * (x0 - x_init) + torch.sqrt(1.0 - lv * lv) * eps
    eps_hat = model.denoiser(z, level, y).float()
    loss = (eps - eps_hat).abs().mean()
    stats = {"eps_l1": float(loss.detach())}
    with torch.no_grad():
        stats["pred_l1"] = float((x_init - x0).abs().mean())
    if aux_l1 > 0:
        aux = (x_init - x0).abs().mean()
        loss = loss + aux_l1 * aux
    return loss, stats


def spectral_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean modulus of the orthonormal 2-D FFT of a - b (MIMO-UNet's frequency loss). Its scale
    is pixel L1's, but every frequency's error counts alike, so the fine detail that pixel L1
    lets a small network blur away weighs as much as the broad shading."""
    return torch.fft.rfft2(a - b, norm="ortho").abs().mean()


def predictor_loss(model: DeblurModel, y: torch.Tensor, x0: torch.Tensor,
                   fft_l1: float = 0.0) -> tuple[torch.Tensor, dict]:
    """L1 between g(y) and the sharp image, plus ``fft_l1`` times spectral_l1: direct supervision
    of the predictor alone."""
    x_init = model.predictor(y).float()
    pixel = (x_init - x0).abs().mean()
    stats = {"pred_l1": float(pixel.detach())}
    loss = pixel
    if fft_l1 > 0:
        spectral = spectral_l1(x_init, x0)
        stats["pred_fft_l1"] = float(spectral.detach())
        loss = loss + fft_l1 * spectral
    return loss, stats


class EMA:
    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        # Warm-up so early EMA weights are not dominated by the random initialisation.
        d = min(self.decay, (1.0 + step) / (10.0 + step))
        for e, p in zip(self.shadow.parameters(), model.parameters()):
            e.mul_(d).add_(p.detach(), alpha=1.0 - d)
        for e, b in zip(self.shadow.buffers(), model.buffers()):
            e.copy_(b)


def save_checkpoint(path: Path, model, ema: EMA, opt, step: int, rng: np.random.Generator, args: dict, cfg: ModelConfig) -> None:
    ck = {
        "config": cfg.to_dict(),
        "args": args,
        "step": step,
        "model": model.state_dict(),
        "ema": ema.shadow.state_dict(),
        "optimizer": opt.state_dict(),
        "numpy_rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        "python_rng": random.getstate(),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(ck, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, model, ema: EMA, opt, rng: np.random.Generator, device: torch.device) -> int:
    ck = torch.load(path, map_location=device, weights_only=False)
    model.load_state_dict(ck["model"])
    ema.shadow.load_state_dict(ck["ema"])
    opt.load_state_dict(ck["optimizer"])
    rng.bit_generator.state = ck["numpy_rng"]
    torch.set_rng_state(ck["torch_rng"].cpu())
    random.setstate(ck["python_rng"])
    return int(ck["step"])


def build(args, cfg: ModelConfig, device: torch.device) -> tuple[DeblurModel, EMA, torch.optim.Optimizer]:
    torch.manual_seed(args.seed)
    model = DeblurModel(cfg).to(device)
    ema = EMA(model, args.ema)
    model.to(memory_format=memory_format(args))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    return model, ema, opt


def memory_format(args) -> torch.memory_format:
    """The layout of the model and its batches: channels-last with --bf16, where it is faster."""
    return torch.channels_last if args.bf16 else torch.contiguous_format


def set_stage(model: DeblurModel, args) -> None:
    """Freeze the network that --predictor-only or --freeze-predictor leaves out."""
    if args.freeze_predictor and args.predictor_only:
        raise SystemExit("--freeze-predictor and --predictor-only leave nothing to train: use one")
    if args.predictor_only:
        model.denoiser.requires_grad_(False)
    if args.freeze_predictor:
        # Without gradients the predictor costs one forward pass a step: ~3x the denoiser steps.
        model.predictor.requires_grad_(False)


def optimise(model: DeblurModel, opt: torch.optim.Optimizer, y: torch.Tensor, x0: torch.Tensor, level: torch.Tensor,
             eps: torch.Tensor, args, step: int) -> dict:
    """One optimiser step of the stage ``args`` select (bf16 autocast with --bf16, gradient
    clipping); returns its stats with the loss and the gradient norm. The EMA is the caller's."""
    with torch.autocast(y.device.type, dtype=torch.bfloat16, enabled=args.bf16):
        if args.predictor_only:
            loss, stats = predictor_loss(model, y, x0, args.fft_l1)
        else:
            loss, stats = eq6_loss(model, y, x0, level, eps, args.aux_l1)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
    if not math.isfinite(loss.item()):
        raise SystemExit(f"loss is {loss.item()} at step {step}: lower --lr (now {args.lr})")
    opt.step()
    return {**stats, "loss": float(loss.detach()), "grad_norm": float(gnorm)}


def warm_start(model: DeblurModel, ema: EMA | None, checkpoint: Path, parts: tuple[str, ...]) -> None:
    """Start ``parts`` ("predictor", "denoiser") of a new run (and of its ``ema``, if given) from
    another run's EMA weights.

    Spectral branches the new config does not have are dropped (their blocks are additive, so the
    rest still computes what it did); any other mismatch fails.
    """
    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    for part in parts:
        w = {k[len(part) + 1 :]: v for k, v in ck["ema"].items() if k.startswith(part + ".")}
        wanted = getattr(model, part).state_dict()
        dropped = [k for k in w if k not in wanted and ".spectral." in k]
        if dropped:
            branches = sorted({k.split(".spectral.")[0] for k in dropped},
                              key=lambda n: [int(t) if t.isdigit() else t for t in n.split(".")])
            print(f"{part}: dropping the spectral branches of {', '.join(branches)} from {checkpoint}", flush=True)
            w = {k: v for k, v in w.items() if k not in dropped}
        getattr(model, part).load_state_dict(w)
        if ema is not None:
            getattr(ema.shadow, part).load_state_dict(w)


def lr_at(step: int, args, elapsed_s: float = 0.0) -> float:
    """Linear warm-up, then constant, or with --cosine a half cosine down to lr * lr_floor.

    The cosine ends at --steps or, when --minutes is given, after that many minutes of this
    session (``elapsed_s``), whichever comes first: a run on borrowed time still anneals.
    """
    warm = min(1.0, (step + 1) / max(1, args.warmup))
    decay = 1.0
    if args.cosine:
        t = min(1.0, step / max(1, args.steps))
        if args.minutes is not None:
            t = max(t, min(1.0, elapsed_s / (args.minutes * 60.0)))
        decay = args.lr_floor + (1.0 - args.lr_floor) * 0.5 * (1.0 + math.cos(math.pi * t))
    return args.lr * warm * decay


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=TRAINING_ROOT / "runs" / "small")
    ap.add_argument("--config", choices=sorted(CONFIGS), default=None,
                    help="network configuration (default: --init's, else small); a run being resumed keeps its own")
    ap.add_argument("--data", type=Path, default=TRAINING_ROOT / "data" / "train")
    ap.add_argument("--steps", type=int, default=1_000_000, help="stop after this many steps in total")
    ap.add_argument("--minutes", type=float, default=None, help="stop after this many minutes in this session")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-4,
                    help="AdamW learning rate (issue 3's 1e-4; the shipped stages used 2e-4: docs/training.md)")
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--cosine", action="store_true",
                    help="decay lr along a half cosine that ends at --steps (or at --minutes if that comes first)")
    ap.add_argument("--lr-floor", type=float, default=0.1, help="with --cosine: the final lr as a fraction of --lr")
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--aux-l1", type=float, default=0.0, help="weight of an auxiliary |g(y) - x0| (paper: 0)")
    ap.add_argument("--fft-l1", type=float, default=0.0,
                    help="with --predictor-only: weight of a frequency-domain L1 term (spectral_l1; MIMO-UNet)")
    ap.add_argument("--init-predictor", type=Path, default=None,
                    help="when starting a run, take the predictor from this checkpoint's EMA weights "
                         "(after --init, if both are given: a denoiser from one run, a predictor from another)")
    ap.add_argument("--init", type=Path, default=None,
                    help="when starting a run, take both networks from this checkpoint's EMA weights")
    ap.add_argument("--freeze-predictor", action="store_true",
                    help="train the denoiser alone against a fixed predictor (a second stage after joint training)")
    ap.add_argument("--predictor-only", action="store_true",
                    help="train the predictor alone with L1 to the sharp image (a pre-training stage; no denoiser)")
    ap.add_argument("--p-gopro", type=float, default=DegradeConfig.p_gopro)
    ap.add_argument("--noise-power", type=float, default=DegradeConfig.noise_power,
                    help="noise sigma = max * u**power: above 1 favours light noise (evaluation uses 1)")
    ap.add_argument("--length-power", type=float, default=DegradeConfig.length_power,
                    help="camera-shake length = min + (max - min) * u**power: above 1 favours short blur (evaluation uses 1)")
    ap.add_argument("--min-length", type=float, default=DegradeConfig.min_length,
                    help="shortest camera-shake length in pixels (evaluation uses 0)")
    ap.add_argument("--max-length", type=float, default=DegradeConfig.max_length,
                    help="longest camera-shake length in pixels (evaluation uses 30)")
    ap.add_argument("--p-line", type=float, default=DegradeConfig.p_line,
                    help="share of camera-shake kernels that are straight motions (evaluation uses 0)")
    ap.add_argument("--bf16", action="store_true",
                    help="bfloat16 autocast in channels-last layout (weights, optimiser and EMA stay float32): "
                         "about 2x the steps per second on a CPU with AVX512-BF16 or AMX, and on recent GPUs")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto", help="auto (cuda when available, else cpu), cpu, cuda or cuda:N")
    ap.add_argument("--workers", type=int, default=0,
                    help="processes making batches (0: in the training process, right on 2 cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--ckpt-minutes", type=float, default=10.0)
    ap.add_argument("--snapshot-every", type=int, default=5000)
    return ap.parse_args(argv)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX)."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def bf16_refusal() -> str:
    # Emulated bfloat16 is not a little slower: on an AVX2-only EPYC, bench_train's joint step took
    # 17.1 s with --bf16 against 2.23 s in float32, so it is refused rather than left to waste a session.
    return (f"--bf16 needs a CPU with AVX512-BF16 or AMX; this one has {torch.backends.cpu.get_cpu_capability()}, "
            "where bfloat16 is emulated and several times slower than float32: drop --bf16")


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size: let cuDNN pick its fastest kernels
    if args.fft_l1 > 0 and not args.predictor_only:
        raise SystemExit(f"--fft-l1 {args.fft_l1} weighs a term of --predictor-only training; "
                         "joint training uses Eq. 6 alone: add --predictor-only or drop --fft-l1")
    if args.bf16 and device.type == "cpu" and not cpu_has_bf16():
        raise SystemExit(bf16_refusal())
    try:
        deg = DegradeConfig(p_gopro=args.p_gopro, p_line=args.p_line, noise_power=args.noise_power,
                            length_power=args.length_power, min_length=args.min_length, max_length=args.max_length)
    except ValueError as e:
        raise SystemExit(str(e))
    args.run.mkdir(parents=True, exist_ok=True)
    last = args.run / "last.pt"
    if last.exists():
        # A run keeps the configuration it started with.
        cfg = ModelConfig.from_dict(torch.load(last, map_location="cpu", weights_only=False)["config"])
    elif args.config is not None:
        cfg = CONFIGS[args.config]
    elif args.init is not None:
        # Continuing another run's networks: a config that differs would drop or refuse weights.
        cfg = ModelConfig.from_dict(torch.load(args.init, map_location="cpu", weights_only=False)["config"])
    else:
        cfg = CONFIGS["small"]
    model, ema, opt = build(args, cfg, device)
    rng = np.random.default_rng(args.seed)
    random.seed(args.seed)
    if last.exists():
        step = load_checkpoint(last, model, ema, opt, rng, device)
    else:
        step = 0
        if args.init is not None:
            warm_start(model, ema, args.init, ("predictor", "denoiser"))
        if args.init_predictor is not None:
            warm_start(model, ema, args.init_predictor, ("predictor",))
    set_stage(model, args)
    sampler = CropSampler.from_dir(args.data, crop=CropConfig(size=args.crop), deg=deg)
    batches = BatchSource(sampler, args.batch, args.seed, start_step=step, workers=args.workers)
    argd = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    print(
        f"{'resuming' if step else 'starting'} {cfg.name} at step {step} on {device}: predictor "
        f"{count_params(model.predictor) / 1e6:.2f}M, denoiser {count_params(model.denoiser) / 1e6:.2f}M params, "
        f"{len(sampler.images)} images, {args.threads} threads, {args.workers} batch workers",
        flush=True,
    )
    log = open(args.run / "log.jsonl", "a")
    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    t_start = time.time()
    t_ckpt = time.time()
    acc: dict[str, float] = {}
    n_acc = 0
    t_log = time.time()
    fmt = memory_format(args)  # the batches' layout, matching the model's (build())
    model.train()
    while step < args.steps and not stop["now"]:
        if args.minutes is not None and time.time() - t_start > args.minutes * 60:
            break
        t_batch = time.time()
        y_np, x_np = batches.next()
        # Waiting here means the batch workers, not the device, set the pace (logged per step).
        batch_wait = time.time() - t_batch
        level = torch.from_numpy(schedule.sample_sqrt_alpha_bar(args.batch, rng).astype(np.float32)).to(device)
        y = torch.from_numpy(y_np).to(device).contiguous(memory_format=fmt)
        x0 = torch.from_numpy(x_np).to(device).contiguous(memory_format=fmt)
        eps = torch.randn_like(x0)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args, time.time() - t_start)
        stats = optimise(model, opt, y, x0, level, eps, args, step)
        ema.update(model, step)
        step += 1
        for k, v in {**stats, "batch_wait_s": batch_wait}.items():
            acc[k] = acc.get(k, 0.0) + v
        n_acc += 1
        if step % args.log_every == 0:
            rec = {"step": step, "time": time.time(), "s_per_step": (time.time() - t_log) / n_acc,
                   "lr": lr_at(step - 1, args, time.time() - t_start), **{k: v / n_acc for k, v in acc.items()}}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items() if k != "time"), flush=True)
            acc, n_acc, t_log = {}, 0, time.time()
        if step % args.snapshot_every == 0:
            save_checkpoint(args.run / f"step_{step:07d}.pt", model, ema, opt, step, rng, argd, cfg)
        if time.time() - t_ckpt > args.ckpt_minutes * 60:
            save_checkpoint(last, model, ema, opt, step, rng, argd, cfg)
            t_ckpt = time.time()
    batches.close()
    save_checkpoint(last, model, ema, opt, step, rng, argd, cfg)
    print(f"saved {last} at step {step}", flush=True)


if __name__ == "__main__":
    main()

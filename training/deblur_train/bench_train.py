"""Time training steps on random batches: each stage in float32 and with --bf16.

    python -m deblur_train.bench_train --config small --batch 8 --crop 128 --threads 2

Batches are random tensors, so this times the networks' forward and backward passes and the
optimiser, not the degradations (``s_per_step`` in a run's log has both). Stop other work first:
on two cores another process doubles the times.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from . import train
from .configs import CONFIGS

STAGES = {"joint": [], "predictor-only": ["--predictor-only"], "freeze-predictor": ["--freeze-predictor"]}


def time_stage(config: str, stage: str, bf16: bool, batch: int, crop: int, reps: int) -> float:
    """Median seconds of one optimiser step (after two warm-up steps)."""
    args = train.parse_args(["--config", config, "--batch", str(batch), "--crop", str(crop), *STAGES[stage],
                             *(["--bf16"] if bf16 else [])])
    model, _ema, opt = train.build(args, CONFIGS[config], torch.device("cpu"))
    train.set_stage(model, args)
    model.train()
    g = torch.Generator().manual_seed(0)
    fmt = train.memory_format(args)
    y = (torch.rand(batch, 3, crop, crop, generator=g) * 2 - 1).contiguous(memory_format=fmt)
    x0 = (y + 0.05 * torch.randn(batch, 3, crop, crop, generator=g)).contiguous(memory_format=fmt)
    eps = torch.randn_like(x0)
    level = torch.rand(batch, generator=g) * 0.98 + 0.01
    times = []
    for i in range(reps + 2):
        t0 = time.perf_counter()
        train.optimise(model, opt, y, x0, level, eps, args, i)
        times.append(time.perf_counter() - t0)
    return float(np.median(times[2:]))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="small")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--stages", nargs="+", choices=sorted(STAGES), default=list(STAGES))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"{args.config}, batch {args.batch} at {args.crop}x{args.crop}, {args.threads} threads: seconds a step")
    print("| stage | float32 | --bf16 | speed-up |\n|---|---:|---:|---:|")
    for stage in args.stages:
        f32 = time_stage(args.config, stage, False, args.batch, args.crop, args.reps)
        bf16 = time_stage(args.config, stage, True, args.batch, args.crop, args.reps)
        print(f"| {stage} | {f32:.3f} | {bf16:.3f} | {f32 / bf16:.2f}x |", flush=True)


if __name__ == "__main__":
    main()

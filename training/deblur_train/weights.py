"""A training checkpoint's EMA weights alone, to carry a model between machines.

A checkpoint holds the raw and EMA weights, the optimiser state and the RNG states (90 MB for the
small config). What ``export.py`` and ``train.py --init`` read is the configuration and the EMA
weights: this keeps those, in fp16 unless told otherwise (11 MB for the small config, under the
16 MB a file brought back from the lent GPU may have).

    python -m deblur_train.weights runs/small-v11-joint/last.pt small-v11-joint.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def slim(checkpoint: Path, out: Path, fp16: bool = True) -> int:
    """Write {"config", "step", "ema"} of ``checkpoint`` to ``out``; returns the file's size in bytes."""
    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    missing = [k for k in ("config", "ema") if k not in ck]
    if missing:
        raise ValueError(f"{checkpoint} has no {' or '.join(missing)}: expected a checkpoint written by deblur_train.train")
    dtype = torch.float16 if fp16 else torch.float32
    ema = {k: v.to(dtype) if v.is_floating_point() else v for k, v in ck["ema"].items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": ck["config"], "step": ck.get("step"), "ema": ema}, out)
    return out.stat().st_size


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--fp32", action="store_true", help="keep float32 weights (twice the size)")
    args = ap.parse_args(argv)
    size = slim(args.checkpoint, args.out, fp16=not args.fp32)
    print(f"wrote {args.out}: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()

"""Packs what a training run on the lent GPU needs into one folder to carry (docs/gpu.md).

The device machine has PyTorch, numpy, scipy and Pillow but no network, and one call carries at
most 64 MiB. The training photos (98 MB of PNG) go as JPEG at quality 95 without chroma
subsampling (29 MB); the starting weights as fp16 EMA weights (11 MB for the small config).

    python -m deblur_train.gpu_pack --init runs/small-v11-joint/last.pt   # writes ../.gpu-train
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from PIL import Image

from . import TRAINING_ROOT
from .data import list_images

# A call carries 64 MiB; the repository's tracked files travel in it too.
PACK_LIMIT = 48 * 2**20


def pack(data: Path, out: Path, init: Path | None, limit: int = PACK_LIMIT) -> int:
    """Writes out/data/*.jpg and, with ``init``, out/init.pt; returns the folder's size in bytes."""
    if out.exists():
        shutil.rmtree(out)
    (out / "data").mkdir(parents=True)
    paths = list_images(data)  # refuses the held-out plasma photos
    if not paths:
        raise SystemExit(f"no training images under {data}: run python -m deblur_train.prepare_data first")
    for p in paths:
        with Image.open(p) as im:
            im.convert("RGB").save(out / "data" / (p.stem + ".jpg"), quality=95, subsampling=0)
    if init is not None:
        from .weights import slim  # torch: only needed for the weights

        slim(init, out / "init.pt")
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    if size > limit:
        raise SystemExit(f"{out} is {size / 2**20:.1f} MiB: expected at most {limit / 2**20:.0f} MiB to carry in one call")
    return size


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=TRAINING_ROOT / "data" / "train")
    ap.add_argument("--init", type=Path, default=None, help="checkpoint whose EMA weights the GPU run starts from")
    ap.add_argument("--out", type=Path, default=TRAINING_ROOT.parent / ".gpu-train")
    args = ap.parse_args(argv)
    size = pack(args.data, args.out, args.init)
    n = len(list((args.out / "data").iterdir()))
    print(f"wrote {args.out}: {n} photos{' and init.pt' if args.init else ''}, {size / 2**20:.1f} MiB "
          f"(carry it: run's carry [\"{args.out.name}\"])")


if __name__ == "__main__":
    main()

"""Build the held-out evaluation set from plasma-workspace-wallpapers (never used for training).

For every wallpaper in /usr/share/wallpapers the largest landscape image is resized (Lanczos) to
cover 640x360 plus the degradation margin, centre-cropped, and degraded with
:func:`deblur_train.degrade.degrade` at a fixed seed per image (every third image gets GoPro-style
blur, the others a camera-shake kernel). Writes training/data/heldout/{blurry,sharp}/<name>.png and
index.json with the degradation parameters.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from . import degrade as D

WIDTH, HEIGHT = 640, 360
SEED_BASE = 20220601


def wallpapers(root: Path) -> list[tuple[str, Path]]:
    out = []
    for d in sorted(root.glob("*/contents/images")):
        cands = []
        for p in sorted(d.iterdir()):
            with Image.open(p) as im:
                w, h = im.size
            if w > h:
                cands.append((w * h, p))
        if cands:
            out.append((d.parent.parent.name, max(cands)[1]))
    if not out:
        raise SystemExit(f"no wallpapers under {root}: apt-get install plasma-workspace-wallpapers")
    return out


def cover_crop(path: Path, w: int, h: int) -> np.ndarray:
    with Image.open(path) as im:
        im = im.convert("RGB")
        f = max(w / im.width, h / im.height)
        im = im.resize((max(w, round(im.width * f)), max(h, round(im.height * f))), Image.LANCZOS)
        x, y = (im.width - w) // 2, (im.height - h) // 2
        return np.asarray(im.crop((x, y, x + w, y + h)))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--wallpapers", type=Path, default=Path("/usr/share/wallpapers"))
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "heldout")
    args = ap.parse_args(argv)
    if args.out.exists():
        shutil.rmtree(args.out)
    (args.out / "blurry").mkdir(parents=True)
    (args.out / "sharp").mkdir(parents=True)
    m = D.MARGIN
    index = []
    for i, (name, path) in enumerate(wallpapers(args.wallpapers)):
        src = cover_crop(path, WIDTH + 2 * m, HEIGHT + 2 * m).astype(np.float32) / 255.0
        rng = np.random.default_rng(SEED_BASE + i)
        kind = "gopro" if i % 3 == 2 else "shake"
        blurry, sharp, info = D.degrade(src, rng, kind=kind)
        Image.fromarray((blurry * 255).round().astype(np.uint8)).save(args.out / "blurry" / f"{name}.png")
        Image.fromarray((sharp * 255).round().astype(np.uint8)).save(args.out / "sharp" / f"{name}.png")
        index.append({"name": name, "origin": str(path), "seed": SEED_BASE + i, **info})
        print(name, info)
    (args.out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    print(f"wrote {len(index)} pairs to {args.out}")


if __name__ == "__main__":
    main()

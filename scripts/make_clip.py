#!/usr/bin/env python3
"""A synthetic camera-motion clip for `deblur eval --clip-blurry DIR --clip-sharp DIR`.

A window slides over one sharp photo along a smooth path (a pan that speeds up and slows down,
with a vertical sway), so the motion, and with it the blur, changes from frame to frame. Each
frame's shutter stays open for part of the time between frames:

* the sharp frame is the window at mid-exposure;
* the blurry frame is the GoPro-style average (in linear light) of the sub-frames along the
  exposure path. For a translating window that average is a convolution with the path's motion
  kernel, which is built and applied with the training's own degradation code
  (``deblur_train.degrade``: ``rasterize``, ``blur_valid``, ``add_noise``, ``finish``), then noise
  is added and the frame quantised to 8 bits like a video frame.

Writes OUT/blurry/frame_NNN.png, OUT/sharp/frame_NNN.png and OUT/clip.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from deblur_train import degrade as D  # noqa: E402

SUB_FRAMES = 64  # exposure samples: enough for a smooth kernel with bilinear rasterisation


def window_path(t: np.ndarray, frames: int, room_x: float, room_y: float) -> np.ndarray:
    """Top-left corner (x + iy) of the window at time t (in frames) inside the free room."""
    # x eases in and out across the room; y sways twice over the clip.
    x = room_x * (0.5 + 0.45 * np.sin(np.pi * (t / max(frames - 1, 1) - 0.5)))
    y = room_y * (0.5 + 0.3 * np.sin(2 * np.pi * 2 * t / frames))
    return x + 1j * y


def motion_kernel(offsets: np.ndarray) -> np.ndarray:
    """The kernel whose convolution averages sub-frames shifted by `offsets` (complex pixels).

    A sub-frame shifted by d shows the source at x + d, which `fftconvolve(..., mode="same")`
    produces from a weight at kernel index centre - d.
    """
    size = D.MAX_KERNEL
    centre = (size - 1) / 2
    reach = np.abs(offsets.real).max(initial=0), np.abs(offsets.imag).max(initial=0)
    if max(reach) > centre - 1:
        raise SystemExit(f"motion of {max(reach):.1f} px during one exposure exceeds the kernel: lower --exposure")
    k = D.rasterize(centre * (1 + 1j) - offsets, size)
    return k / k.sum()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photo", type=Path, required=True, help="sharp source photo (larger than the clip)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=180)
    ap.add_argument("--exposure", type=float, default=0.6, help="shutter open time over the frame interval")
    ap.add_argument("--noise", type=float, default=4.0, help="noise sigma in 8-bit levels")
    ap.add_argument("--seed", type=int, default=20220602)
    args = ap.parse_args(argv)

    with Image.open(args.photo) as im:
        photo = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    m = D.MARGIN
    window_h, window_w = args.height + 2 * m, args.width + 2 * m
    room_y, room_x = photo.shape[0] - window_h, photo.shape[1] - window_w
    if room_x < 0 or room_y < 0:
        raise SystemExit(
            f"{args.photo} is {photo.shape[1]}x{photo.shape[0]}: a {args.width}x{args.height} clip "
            f"needs a photo larger than {window_w}x{window_h}"
        )
    if args.out.exists():
        shutil.rmtree(args.out)
    (args.out / "blurry").mkdir(parents=True)
    (args.out / "sharp").mkdir(parents=True)

    rng = np.random.default_rng(args.seed)
    linear = photo.astype(np.float64) ** D.GAMMA
    exposure = np.linspace(-args.exposure / 2, args.exposure / 2, SUB_FRAMES)
    frames = []
    for n in range(args.frames):
        centre = window_path(np.array([n]), args.frames, room_x, room_y)[0]
        x, y = int(round(centre.real)), int(round(centre.imag))
        offsets = window_path(n + exposure, args.frames, room_x, room_y) - centre
        kernel = motion_kernel(offsets)
        window = linear[y : y + window_h, x : x + window_w]
        blurry = np.clip(D.blur_valid(window, kernel), 0.0, None) ** (1.0 / D.GAMMA)
        blurry = D.finish(D.add_noise(blurry.astype(np.float32), args.noise / 255.0, rng), quantize=True)
        sharp = photo[y + m : y + m + args.height, x + m : x + m + args.width]
        name = f"frame_{n:03d}.png"
        Image.fromarray((blurry * 255).round().astype(np.uint8)).save(args.out / "blurry" / name)
        Image.fromarray((sharp * 255).round().astype(np.uint8)).save(args.out / "sharp" / name)
        extent = float(np.abs(offsets[-1] - offsets[0]))
        frames.append({"frame": n, "x": x, "y": y, "blur_px": round(extent, 2)})
    info = {
        "photo": str(args.photo),
        "width": args.width,
        "height": args.height,
        "exposure": args.exposure,
        "noise_levels": args.noise,
        "seed": args.seed,
        "frames": frames,
    }
    (args.out / "clip.json").write_text(json.dumps(info, indent=1) + "\n")
    blur = [f["blur_px"] for f in frames]
    print(f"wrote {args.frames} frame pairs to {args.out} (blur {min(blur):.1f} to {max(blur):.1f} px)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Makes the README's sample input: a held-out photo (plasma-workspace-wallpapers, never used in
training) at 640x360, blurred by a camera-shake kernel from the project's degradation model.

    apt-get install plasma-workspace-wallpapers
    .venv/bin/python examples/data/make_sample.py
"""
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "training"))
from deblur_train import degrade  # noqa: E402

SOURCE = "/usr/share/wallpapers/EveningGlow/contents/images/2560x1440.jpg"


def main():
    margin = degrade.MARGIN
    w, h = 640, 360
    photo = Image.open(SOURCE).convert("RGB").resize((1280, 720), Image.LANCZOS)
    # A detailed region, with the margin the blur needs around it.
    left, top = 0, 330
    src = np.asarray(photo.crop((left - margin, top - margin, left + w + margin, top + h + margin)), np.float32) / 255.0
    rng = np.random.default_rng(7)
    kernel = degrade.camera_shake_kernel(rng, length=14.0)
    blurry = degrade.finish(degrade.add_noise(degrade.blur_valid(src, kernel), 4.0 / 255.0, rng), True)
    sharp = src[margin:-margin, margin:-margin]
    Image.fromarray((blurry * 255).round().astype(np.uint8)).save(os.path.join(HERE, "blurry.jpg"), quality=95)
    Image.fromarray((sharp * 255).round().astype(np.uint8)).save(os.path.join(HERE, "sharp.jpg"), quality=95)


if __name__ == "__main__":
    main()

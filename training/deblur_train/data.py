"""Training images and the crop sampler (numpy + Pillow, no torch).

The sampler draws texture-weighted random crops at random scales, augments them with flips and
90/180/270 degree rotations and degrades them with :mod:`deblur_train.degrade`.

plasma-workspace-wallpapers are reserved for evaluation: any path containing "plasma" is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from . import degrade as D

IMAGE_EXTS = (".png", ".jpg", ".jpeg")
RESERVED = "plasma"


class ReservedDataError(ValueError):
    """A path from the held-out evaluation source was offered as training data."""


def check_training_path(path: str | Path) -> None:
    if RESERVED in str(path).lower():
        raise ReservedDataError(
            f"refusing to train on {path}: paths containing {RESERVED!r} "
            "(plasma-workspace-wallpapers) are reserved for the held-out evaluation set"
        )


def list_images(root: str | Path) -> list[Path]:
    root = Path(root)
    check_training_path(root.resolve())
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
    for p in paths:
        check_training_path(p.resolve())
    return paths


def load_rgb(path: str | Path) -> np.ndarray:
    """uint8 H x W x 3."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def gradient_energy(img: np.ndarray) -> float:
    """Mean squared finite difference of the luma of a float [0, 1] image: low means flat."""
    g = img[..., :3].mean(axis=-1) if img.ndim == 3 else img
    return float((np.diff(g, axis=0) ** 2).mean() + (np.diff(g, axis=1) ** 2).mean())


def augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random horizontal/vertical flip and rotation by 0/90/180/270 degrees."""
    if rng.random() < 0.5:
        img = img[:, ::-1]
    if rng.random() < 0.5:
        img = img[::-1]
    img = np.rot90(img, k=int(rng.integers(0, 4)))
    return np.ascontiguousarray(img)


@dataclass(frozen=True)
class CropConfig:
    size: int = 128
    min_scale: float = 0.25  # crops cover up to 1/min_scale times the output size before resizing
    # A crop with gradient energy e is kept with probability min(1, e / texture_energy), so flat
    # crops are rare but not absent (the model must also leave flat regions flat).
    texture_energy: float = 1e-3
    tries: int = 10


class CropSampler:
    """Draws (blurry, sharp) float32 pairs of size ``crop.size`` in [0, 1], H x W x 3."""

    def __init__(self, images: list[np.ndarray], crop: CropConfig = CropConfig(), deg: D.DegradeConfig = D.DegradeConfig()):
        if not images:
            raise ValueError("no training images")
        self.images = images
        self.crop = crop
        self.deg = deg
        self.src = crop.size + 2 * D.MARGIN
        small = [im.shape for im in images if min(im.shape[:2]) < self.src]
        if small:
            raise ValueError(f"images must be at least {self.src} px on each side, got {small[:3]}")
        # Larger images hold more distinct crops, but square-root weighting keeps small sources in play.
        w = np.array([np.sqrt(im.shape[0] * im.shape[1]) for im in images])
        self.weights = w / w.sum()

    @staticmethod
    def from_dir(root: str | Path, **kw) -> "CropSampler":
        return CropSampler([load_rgb(p) for p in list_images(root)], **kw)

    def _region(self, rng: np.random.Generator) -> np.ndarray:
        im = self.images[rng.choice(len(self.images), p=self.weights)]
        h, w = im.shape[:2]
        max_side = min(h, w, int(self.src / self.crop.min_scale))
        side = int(rng.integers(self.src, max_side + 1))
        y = int(rng.integers(0, h - side + 1))
        x = int(rng.integers(0, w - side + 1))
        region = im[y : y + side, x : x + side]
        if side != self.src:
            region = np.asarray(Image.fromarray(region).resize((self.src, self.src), Image.LANCZOS))
        return region.astype(np.float32) / 255.0

    def sample_source(self, rng: np.random.Generator) -> np.ndarray:
        """A texture-weighted, augmented sharp region of size crop.size + 2 MARGIN."""
        m = D.MARGIN
        for _ in range(self.crop.tries):
            region = self._region(rng)
            if rng.random() * self.crop.texture_energy < gradient_energy(region[m:-m, m:-m]):
                break
        return augment(region, rng)

    def sample(self, rng: np.random.Generator):
        blurry, sharp, _ = D.degrade(self.sample_source(rng), rng, self.deg)
        return blurry, sharp

    def batch(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(blurry, sharp) as float32 N x 3 x H x W in [-1, 1]."""
        pairs = [self.sample(rng) for _ in range(n)]
        to = lambda a: np.stack(a).transpose(0, 3, 1, 2) * 2.0 - 1.0  # noqa: E731
        return to([p[0] for p in pairs]).astype(np.float32), to([p[1] for p in pairs]).astype(np.float32)

"""Training images and the crop sampler (numpy + Pillow, no torch).

The sampler draws texture-weighted random crops at random scales, augments them with flips and
90/180/270 degree rotations and degrades them with :mod:`deblur_train.degrade`. ``BatchSource``
makes the batches of a training run, in worker processes when asked (a GPU outruns one core).

plasma-workspace-wallpapers are reserved for evaluation: any path containing "plasma" is refused.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
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
        return to_batch([p[0] for p in pairs]), to_batch([p[1] for p in pairs])


def to_batch(images: list[np.ndarray]) -> np.ndarray:
    """float [0, 1] H x W x 3 images -> float32 N x 3 x H x W in [-1, 1], the networks' input."""
    # Contiguous N x C x H x W, however the batch travels: torch picks its convolution kernels
    # by memory layout, and a channels-last view would train slightly different weights.
    return np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2) * 2.0 - 1.0, np.float32)


def batch_rng(seed: int, step: int) -> np.random.Generator:
    """The generator of one training step's batch: a function of (seed, step) alone."""
    return np.random.default_rng([seed, step])


# The sampler of a worker process: inherited through fork, so the decoded images are not pickled.
_worker_sampler: CropSampler | None = None


def _init_worker(sampler: CropSampler) -> None:
    global _worker_sampler
    _worker_sampler = sampler
    # Ctrl-C goes to the whole process group: the training loop stops cleanly and ends the pool;
    # a worker killed mid-batch would leave that loop waiting for the batch forever.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Pool.terminate ends workers with SIGTERM while it holds their task queue's lock; a handler
    # inherited from the parent (train.py installs one) would keep them alive and the join waits
    # forever.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _worker_batch(n: int, seed: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    return _worker_sampler.batch(n, batch_rng(seed, step))


class BatchSource:
    """The (blurry, sharp) batches of a run, step after step, from ``start_step`` on.

    Each step's batch comes from ``batch_rng(seed, step)``, so it is the same with any number of
    workers and after a resume. With ``workers`` > 0, forked processes make up to two batches
    each ahead of the training loop; the images are shared with them copy-on-write. The workers
    never touch torch, so forking after CUDA is initialised is safe, as with torch's DataLoader.
    """

    def __init__(self, sampler: CropSampler, batch: int, seed: int, start_step: int = 0, workers: int = 0):
        if workers < 0:
            raise ValueError(f"workers must be 0 (in this process) or more, got {workers}")
        self.sampler, self.batch, self.seed = sampler, batch, seed
        self.next_step = start_step
        self.pool = None
        self.pending: deque = deque()
        if workers > 0:
            self.pool = multiprocessing.get_context("fork").Pool(workers, initializer=_init_worker, initargs=(sampler,))
            for _ in range(2 * workers):
                self._submit()

    def _submit(self) -> None:
        self.pending.append(self.pool.apply_async(_worker_batch, (self.batch, self.seed, self.next_step + len(self.pending))))

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        """The batch of the next step."""
        step = self.next_step
        self.next_step += 1
        if self.pool is None:
            return self.sampler.batch(self.batch, batch_rng(self.seed, step))
        result = self.pending.popleft().get()
        self._submit()
        return result

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None

    def __enter__(self) -> "BatchSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

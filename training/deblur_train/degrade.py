"""The degradation model, shared by training and evaluation (numpy/scipy only, seedable).

Two blur families:

* Camera shake (paper Appendix C): a random smooth camera trajectory in the style of Boracchi &
  Foi (2012) - a particle whose velocity keeps a constant speed, is pulled back to the start
  (centripetal term), jitters (Gaussian term) and sometimes turns abruptly (big shakes) - is
  rasterised with sub-pixel bilinear weights into a kernel of at most 31 x 31 and normalised.
  Trajectory length ranges from 0 (a delta) to about 30 pixels. A share of the kernels
  (``p_line``, 0 by default) can be straight uniform motions instead, the simplest smooth path.
* GoPro style (Nah et al. 2017): sub-frames of a crop moving along a random camera path (smooth
  translation plus a small rotation and zoom, so the blur varies across the image) are averaged in
  linear light; the sharp target is the crop at the path's mean position.

Then white Gaussian noise with sigma ~ U[0, 15/255] is added, and the result is clipped and
quantised to 8 bits like a video frame.

Images are float32 H x W x 3 in [0, 1]. ``degrade`` takes a source image that is ``MARGIN``
pixels larger than the output on every side, so blur never sees an artificial border.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

MAX_KERNEL = 31
MARGIN = MAX_KERNEL // 2 + 1  # 16: enough context for a 31 x 31 kernel (15) and the GoPro path
MAX_NOISE = 15.0 / 255.0
GAMMA = 2.2


@dataclass(frozen=True)
class DegradeConfig:
    max_kernel: int = MAX_KERNEL
    max_length: float = 30.0  # longest camera-shake trajectory, pixels
    min_length: float = 0.0  # shortest (0: a delta is possible)
    max_noise: float = MAX_NOISE
    # sigma = max_noise * u ** noise_power, u uniform: 1 is uniform (evaluation); larger values
    # favour light noise, so that more of a training batch carries a learnable deblurring signal.
    noise_power: float = 1.0
    # Camera-shake length = min_length + (max_length - min_length) * u ** length_power: 1 is
    # uniform (evaluation); larger values favour short blur, whose small residuals otherwise weigh
    # little in the loss.
    length_power: float = 1.0
    p_gopro: float = 0.3  # probability of GoPro-style blur instead of a camera-shake kernel
    # Probability that a camera-shake kernel is a straight uniform motion (line_kernel) with the
    # same length draw. 0 (evaluation) draws nothing extra, so the random stream is unchanged.
    p_line: float = 0.0
    gopro_frames: tuple[int, int] = (7, 15)
    gopro_max_shift: float = 12.0  # pixels, end to end along the path
    gopro_max_rotation: float = 1.5  # degrees, end to end
    gopro_max_zoom: float = 0.02  # relative, end to end
    quantize: bool = True

    def __post_init__(self):
        for name in ("p_gopro", "p_line"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} is a probability: expected 0 to 1, got {p}")
        if not 0.0 <= self.min_length <= self.max_length:
            raise ValueError(f"camera-shake lengths must satisfy 0 <= min_length <= max_length, "
                             f"got min_length {self.min_length} and max_length {self.max_length}")

    def shake_length(self, rng: np.random.Generator) -> float:
        """One draw of a camera-shake length in pixels."""
        return self.min_length + (self.max_length - self.min_length) * rng.random() ** self.length_power


def random_trajectory(rng: np.random.Generator, n: int = 1000) -> np.ndarray:
    """A random camera path of n complex points with unit total length (Boracchi & Foi style).

    A particle moves at constant speed; its velocity gets a Gaussian jitter, a centripetal pull
    back towards the start and, rarely, an abrupt near-reversal (a "big shake"). Following
    Boracchi & Foi, the strength of each term is itself random, so paths range from straight
    strokes to curls and zig-zags. The jitter is scaled with 1/sqrt(n) so the total turning does
    not depend on how finely the path is sampled.
    """
    step = 1.0 / (n - 1)
    turning = 3.0 * rng.random()  # std of the accumulated heading change, radians
    centripetal = 0.7 * rng.random()
    n_shakes = rng.poisson(1.5 * rng.random())
    v = np.exp(1j * 2 * np.pi * rng.random()) * step
    jitter = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * (turning / np.sqrt(n))
    shakes = set(rng.integers(1, n - 1, size=n_shakes).tolist())
    x = np.zeros(n, dtype=np.complex128)
    for t in range(n - 1):
        dv = v * jitter[t] - centripetal * 10.0 * step / n * x[t]
        if t in shakes:
            dv = dv + 2.0 * v * np.exp(1j * (np.pi + (rng.random() - 0.5)))
        v = v + dv
        v = v / (abs(v) + 1e-15) * step
        x[t + 1] = x[t] + v
    return x


def rasterize(points: np.ndarray, size: int) -> np.ndarray:
    """Accumulate complex points (already in kernel coordinates) with bilinear weights."""
    k = np.zeros((size, size), dtype=np.float64)
    xs, ys = points.real, points.imag
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = np.clip(x0 + dx, 0, size - 1), np.clip(y0 + dy, 0, size - 1)
        np.add.at(k, (yi, xi), w)
    return k


def trim(k: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Crop a square odd kernel to its support, symmetrically about its centre pixel.

    Cropping the same amount from opposite sides keeps the centre pixel (and so the alignment
    of blurry and sharp images) where it was.
    """
    total = k.sum()
    rows = np.nonzero(k.sum(1) > eps * total)[0]
    cols = np.nonzero(k.sum(0) > eps * total)[0]
    if len(rows) == 0:
        return np.ones((1, 1))
    c = (k.shape[0] - 1) // 2
    r = max(c - rows[0], rows[-1] - c, c - cols[0], cols[-1] - c)
    return k[c - r : c + r + 1, c - r : c + r + 1]


def centroid(k: np.ndarray) -> tuple[float, float]:
    """A kernel's centre of mass (row, column) relative to its centre pixel."""
    yy, xx = np.mgrid[0 : k.shape[0], 0 : k.shape[1]]
    c = (k.shape[0] - 1) / 2
    total = k.sum()
    return float((k * yy).sum() / total - c), float((k * xx).sum() / total - c)


def camera_shake_kernel(rng: np.random.Generator, cfg: DegradeConfig = DegradeConfig(), length: float | None = None) -> np.ndarray:
    """A normalised motion-blur kernel with odd size <= cfg.max_kernel (float32)."""
    if length is None:
        length = cfg.shake_length(rng)
    size = cfg.max_kernel
    if length < 0.5:
        return np.ones((1, 1), np.float32)
    traj = random_trajectory(rng)
    # Exposure covers a random part (50-100 %) of the trajectory, as in Boracchi & Foi.
    n = len(traj)
    keep = max(2, int(n * (0.5 + 0.5 * rng.random())))
    start = rng.integers(0, n - keep + 1)
    traj = traj[start : start + keep]
    traj = traj - traj[0]
    seg = np.abs(np.diff(traj)).sum()
    traj = traj * (length / max(seg, 1e-12))
    # The path's centre of mass goes on the kernel's centre pixel (bilinear rasterisation keeps
    # the first moment), so the blurry image is not shifted against the sharp one. Centring the
    # bounding box instead shifted it by 0.7 px (median, up to 3 px) in a direction the network
    # cannot know, and it learnt to smooth rather than deblur.
    traj = traj - traj.mean()
    # Fit the path inside the support (curved paths span less than their length).
    reach = max(np.abs(traj.real).max(), np.abs(traj.imag).max())
    half = (size - 1) / 2 - 1
    if reach > half:
        traj = traj * (half / reach)
    centre = (size - 1) / 2
    k = rasterize(traj + centre * (1 + 1j), size)
    k = trim(k)
    return (k / k.sum()).astype(np.float32)


def line_kernel(rng: np.random.Generator, length: float, size: int = MAX_KERNEL) -> np.ndarray:
    """A straight, uniform motion of ``length`` pixels at a random angle, centred like
    camera_shake_kernel (float32, normalised). The blur probe compares it with the curled shake
    paths; training mixes it in with ``DegradeConfig.p_line``."""
    if length < 0.5:
        return np.ones((1, 1), np.float32)
    length = min(length, size - 3.0)  # end to end inside the support, with a pixel for bilinear spread
    t = np.linspace(-0.5, 0.5, max(2, int(20 * length))) * length
    k = trim(rasterize(t * np.exp(2j * np.pi * rng.random()) + (size - 1) / 2 * (1 + 1j), size))
    return (k / k.sum()).astype(np.float32)


def motion_kernel(rng: np.random.Generator, cfg: DegradeConfig = DegradeConfig()) -> np.ndarray:
    """The kernel of one camera-shake degradation: a straight motion with probability
    ``cfg.p_line``, else a random trajectory (camera_shake_kernel)."""
    if cfg.p_line > 0.0 and rng.random() < cfg.p_line:
        return line_kernel(rng, cfg.shake_length(rng), cfg.max_kernel)
    return camera_shake_kernel(rng, cfg)


def blur_valid(img: np.ndarray, kernel: np.ndarray, margin: int = MARGIN) -> np.ndarray:
    """Convolve img (H, W, 3) with kernel and return the centre (H - 2 margin, W - 2 margin)."""
    full = np.stack([signal.fftconvolve(img[..., c], kernel, mode="same") for c in range(img.shape[2])], axis=-1)
    return full[margin:-margin, margin:-margin]


def add_noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return img + sigma * rng.standard_normal(img.shape).astype(np.float32)


def finish(img: np.ndarray, quantize: bool) -> np.ndarray:
    img = np.clip(img, 0.0, 1.0)
    if quantize:
        img = np.round(img * 255.0) / 255.0
    return img.astype(np.float32)


def gopro_blur(src: np.ndarray, rng: np.random.Generator, cfg: DegradeConfig = DegradeConfig(), margin: int = MARGIN):
    """Average sub-frames of a crop moving along a random path; returns (blurry, sharp, n_frames).

    The sharp target is the crop at the path's mean position, with no rotation or zoom (their
    ramps are centred too), so it is an exact crop of ``src``.
    """
    lo, hi = cfg.gopro_frames
    n_frames = int(rng.integers(lo, hi + 1)) | 1  # odd: one sub-frame sits at the middle of the rotation and zoom ramps
    h, w = src.shape[0] - 2 * margin, src.shape[1] - 2 * margin
    traj = random_trajectory(rng, n=200)
    traj = traj - traj[0]
    extent = max(np.abs(traj).max(), 1e-12)
    shift = cfg.gopro_max_shift * rng.random()
    idx = np.linspace(0, len(traj) - 1, n_frames).round().astype(int)
    path = traj[idx] / extent * shift
    # The sharp target sits at the path's mean position, like the centre of mass of a shake
    # kernel, so the blur is not shifted against it; it stays an exact crop (identity transform).
    path = path - path.mean()
    reach = np.abs(path).max()
    if reach > margin - 3:  # keep the sub-frames inside the source's margin
        path = path * ((margin - 3) / reach)
    u = np.linspace(-0.5, 0.5, n_frames)
    rot = np.deg2rad(cfg.gopro_max_rotation) * rng.uniform(-1, 1) * u
    zoom = 1.0 + cfg.gopro_max_zoom * rng.uniform(-1, 1) * u
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    lin = src.astype(np.float64) ** GAMMA
    acc = np.zeros((h, w, src.shape[2]))
    for i in range(n_frames):
        c, s = np.cos(rot[i]) * zoom[i], np.sin(rot[i]) * zoom[i]
        dx, dy = xx - cx, yy - cy
        sx = c * dx - s * dy + cx + margin + path[i].real
        sy = s * dx + c * dy + cy + margin + path[i].imag
        for ch in range(src.shape[2]):
            acc[..., ch] += ndimage.map_coordinates(lin[..., ch], [sy, sx], order=1, mode="reflect")
    blurry = (acc / n_frames) ** (1.0 / GAMMA)
    sharp = src[margin : margin + h, margin : margin + w]
    return blurry.astype(np.float32), sharp.astype(np.float32), n_frames


def degrade(src: np.ndarray, rng: np.random.Generator, cfg: DegradeConfig = DegradeConfig(), kind: str | None = None):
    """Degrade ``src`` (H + 2 MARGIN, W + 2 MARGIN, 3) in [0, 1]; returns (blurry, sharp, info).

    ``kind`` forces "shake" or "gopro"; by default GoPro blur is chosen with probability p_gopro.
    """
    src = np.asarray(src, dtype=np.float32)
    if kind is None:
        kind = "gopro" if rng.random() < cfg.p_gopro else "shake"
    if kind == "gopro":
        blurry, sharp, n_frames = gopro_blur(src, rng, cfg)
        info = {"kind": "gopro", "frames": n_frames}
    elif kind == "shake":
        k = motion_kernel(rng, cfg)
        blurry = blur_valid(src, k)
        sharp = src[MARGIN:-MARGIN, MARGIN:-MARGIN]
        info = {"kind": "shake", "kernel_size": int(k.shape[0])}
    else:
        raise ValueError(f"unknown degradation kind {kind!r}: expected 'shake' or 'gopro'")
    sigma = cfg.max_noise * rng.random() ** cfg.noise_power
    blurry = finish(add_noise(blurry, sigma, rng), cfg.quantize)
    info["sigma"] = float(sigma)
    return blurry, np.ascontiguousarray(sharp), info

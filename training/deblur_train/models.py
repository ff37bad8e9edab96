"""SR3-style fully convolutional U-Nets for the predictor g and the denoiser f.

Paper Sec. 4.2 and Appendix E: an SR3 U-Net (BigGAN residual blocks, four resolution levels with
channel multipliers 1, 2, 3, 4) with self-attention, group normalisation and positional encoding
removed, so the networks accept any H, W that are multiples of ``pad_multiple``.

Two additions for CPU speed, both optional:
- ``unshuffle=2`` folds 2x2 pixel blocks into channels at the input and unfolds them at the output,
  so the whole U-Net runs at half resolution;
- ``num_res_blocks`` per level is configurable (SR3 uses 2; the small config uses 1).

Without normalisation layers the last convolution of every residual block and the output
convolution start at zero, so each block starts as the identity and training is stable.
"""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from .configs import ModelConfig, UNetConfig


def _zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class NoiseLevelEmbedding(nn.Module):
    """Sinusoidal (Fourier) features of the continuous noise level, then a small MLP (WaveGrad).

    The graph input is sqrt(alpha_bar). Features are taken of the noise standard deviation
    sqrt(1 - alpha_bar) as well, which spreads the low-noise end (sqrt(alpha_bar) ~ 1) apart.
    """

    def __init__(self, emb_dim: int, n_freqs: int = 16, scale: float = 1000.0):
        super().__init__()
        freqs = torch.exp(-math.log(10000.0) * torch.arange(n_freqs, dtype=torch.float32) / n_freqs)
        self.register_buffer("freqs", freqs * scale, persistent=False)
        self.mlp = nn.Sequential(nn.Linear(4 * n_freqs, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))

    def forward(self, level: torch.Tensor) -> torch.Tensor:
        level = level.reshape(-1, 1).float()
        sigma = torch.sqrt(torch.clamp(1.0 - level * level, min=0.0))
        args = torch.cat([level * self.freqs, sigma * self.freqs], dim=1)
        return self.mlp(torch.cat([torch.sin(args), torch.cos(args)], dim=1))


def _dft_basis(n: int, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of 2 pi j k / n for j < n (rows) and k < bins (columns), from integer j k mod n
    so that the angle stays accurate in float32."""
    j = torch.arange(n)
    k = torch.arange(bins)
    angle = torch.remainder(j[:, None] * k[None, :], n).float() * (2.0 * math.pi / n)
    return torch.cos(angle), torch.sin(angle)


def rfft2_by_matmul(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.fft.rfft2(x, norm="ortho")`` as (real, imaginary), by matrix products: the
    TorchScript ONNX exporter has no FFT, and these export for any H, W."""
    h, w = x.shape[-2], x.shape[-1]
    cos_w, sin_w = _dft_basis(w, w // 2 + 1)
    cos_h, sin_h = _dft_basis(h, h)
    real, imag = x @ cos_w, -(x @ sin_w)
    # A tensor, not math.sqrt: traced for export, the scale must follow the frame size.
    scale = torch.rsqrt(torch.tensor(1.0) * h * w)
    return (cos_h @ real + sin_h @ imag) * scale, (cos_h @ imag - sin_h @ real) * scale


def irfft2_by_matmul(real: torch.Tensor, imag: torch.Tensor, w: int) -> torch.Tensor:
    """``torch.fft.irfft2(complex(real, imag), s=(H, w), norm="ortho")`` by matrix products."""
    h, bins = real.shape[-2], real.shape[-1]
    cos_h, sin_h = _dft_basis(h, h)
    real, imag = cos_h @ real - sin_h @ imag, cos_h @ imag + sin_h @ real
    cos_w, sin_w = _dft_basis(w, bins)
    # Each bin but the first (and the last, for even w) stands for itself and its mirror.
    k = torch.arange(bins)
    weight = (2.0 - (k == 0).float() - (2 * k == w).float())[:, None]
    scale = torch.rsqrt(torch.tensor(1.0) * h * w)
    return (real @ (weight * cos_w.T) - imag @ (weight * sin_w.T)) * scale


class SpectralBranch(nn.Module):
    """A residual branch that works on the 2-D spectrum of a feature map (DeepRFT's FFT-ReLU
    block, Mao et al. 2023): two 1x1 convolutions with a ReLU between them on the real and
    imaginary parts of every frequency, then back. Each output pixel then depends on the whole
    map, as a deconvolution's does. The last convolution starts at zero, so the branch starts by
    adding nothing. Training uses torch.fft; ONNX export the same transform by matrix products."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(2 * ch, 2 * ch, 1)
        self.conv2 = _zero(nn.Conv2d(2 * ch, 2 * ch, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        exporting = torch.onnx.is_in_onnx_export()
        if exporting:
            real, imag = rfft2_by_matmul(x.float())
        else:
            spectrum = torch.fft.rfft2(x.float(), norm="ortho")
            real, imag = spectrum.real, spectrum.imag
        # float32 again after the 1x1 convolutions: under bf16 autocast they return bfloat16,
        # which torch.complex does not take.
        f = self.conv2(F.relu(self.conv1(torch.cat([real, imag], dim=1)))).float()
        real, imag = f.chunk(2, dim=1)
        if exporting:
            return irfft2_by_matmul(real, imag, w).to(x.dtype)
        return torch.fft.irfft2(torch.complex(real, imag), s=(h, w), norm="ortho").to(x.dtype)


class ResBlock(nn.Module):
    """BigGAN-style residual block without normalisation; optional FiLM from the level embedding,
    optional spectral branch on its output."""

    def __init__(self, cin: int, cout: int, emb_dim: int | None, spectral: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = _zero(nn.Conv2d(cout, cout, 3, padding=1))
        self.film = nn.Linear(emb_dim, 2 * cout) if emb_dim else None
        if self.film is not None:
            _zero(self.film)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        self.spectral = SpectralBranch(cout) if spectral else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None) -> torch.Tensor:
        h = self.conv1(F.silu(x))
        if self.film is not None:
            scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
            h = h * (1.0 + scale) + shift
        h = self.conv2(F.silu(h))
        out = self.skip(x) + h
        return out if self.spectral is None else out + self.spectral(out)


class Downsample(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UNet(nn.Module):
    def __init__(self, cfg: UNetConfig, in_ch: int, out_ch: int, conditional: bool):
        super().__init__()
        self.cfg = cfg
        r = cfg.unshuffle
        emb_dim = cfg.emb_dim if conditional else None
        self.embed = NoiseLevelEmbedding(cfg.emb_dim) if conditional else None
        self.unshuffle = nn.PixelUnshuffle(r) if r > 1 else nn.Identity()
        self.shuffle = nn.PixelShuffle(r) if r > 1 else nn.Identity()
        c0 = cfg.base_channels
        n_levels = len(cfg.channel_mults)
        outside = [level for level in cfg.spectral_levels if not 0 <= level < n_levels]
        if outside:
            raise ValueError(f"spectral_levels {list(cfg.spectral_levels)} name levels {outside} of a U-Net "
                             f"with {n_levels} levels: expected values in 0..{n_levels - 1}")
        self.conv_in = nn.Conv2d(in_ch * r * r, c0, 3, padding=1)

        chans = [c0]
        ch = c0
        self.down = nn.ModuleList()
        for i, mult in enumerate(cfg.channel_mults):
            for _ in range(cfg.num_res_blocks):
                self.down.append(ResBlock(ch, c0 * mult, emb_dim, i in cfg.spectral_levels))
                ch = c0 * mult
                chans.append(ch)
            if i != n_levels - 1:
                self.down.append(Downsample(ch))
                chans.append(ch)

        deepest_spectral = n_levels - 1 in cfg.spectral_levels
        self.mid = nn.ModuleList(ResBlock(ch, ch, emb_dim, deepest_spectral) for _ in range(cfg.mid_blocks))

        self.up = nn.ModuleList()
        for i, mult in reversed(list(enumerate(cfg.channel_mults))):
            # As in SR3, each up level has one more block than the down level, so every
            # stored skip (conv_in, each block, each downsample) is consumed exactly once.
            for _ in range(cfg.num_res_blocks + 1):
                skip_ch = chans.pop()
                self.up.append(ResBlock(ch + skip_ch, c0 * mult, emb_dim, i in cfg.spectral_levels))
                ch = c0 * mult
            if i != 0:
                self.up.append(Upsample(ch))
        self.conv_out = _zero(nn.Conv2d(ch, out_ch * r * r, 3, padding=1))

    def forward(self, x: torch.Tensor, level: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.embed(level) if self.embed is not None else None
        h = self.conv_in(self.unshuffle(x))
        hs = [h]
        for m in self.down:
            h = m(h, emb) if isinstance(m, ResBlock) else m(h)
            hs.append(h)
        for m in self.mid:
            h = m(h, emb)
        for m in self.up:
            if isinstance(m, ResBlock):
                h = m(torch.cat([h, hs.pop()], dim=1), emb)
            else:
                h = m(h)
        return self.shuffle(self.conv_out(F.silu(h)))


class Predictor(nn.Module):
    """g(y) -> x_init."""

    def __init__(self, cfg: UNetConfig, global_residual: bool = True):
        super().__init__()
        self.net = UNet(cfg, in_ch=3, out_ch=3, conditional=False)
        self.global_residual = global_residual

    def forward(self, blurry: torch.Tensor) -> torch.Tensor:
        out = self.net(blurry)
        return blurry + out if self.global_residual else out


class Denoiser(nn.Module):
    """f(z_t, sqrt(alpha_bar), y) -> epsilon.

    With ``sigma_data`` set, the U-Net output F is wrapped so that every noise level starts from
    the linear (Wiener) estimate of a residual with standard deviation sigma_data. With
    l = sqrt(abar), s = sqrt(1 - abar), v = sigma_data^2 and D = l^2 v + s^2 (the variance of z):

        input  z / sqrt(D)                                  (unit variance at every level)
        r_hat  = (l v / D) z + (s sqrt(v) / sqrt(D)) F      (F = 0: the Wiener estimate)
        eps    = (z - l r_hat) / s = (s / D) z - (l sqrt(v) / sqrt(D)) F

    so the network output stays O(1) and nothing divides by s, which vanishes at low noise. The
    graph still maps (z_t, sqrt(abar), y) to epsilon and is trained with Eq. 6 unchanged.
    """

    def __init__(self, cfg: UNetConfig, sigma_data: float | None = None):
        super().__init__()
        self.net = UNet(cfg, in_ch=6, out_ch=3, conditional=True)
        self.sigma_data = sigma_data

    def forward(self, noisy_residual: torch.Tensor, noise_level: torch.Tensor, blurry: torch.Tensor) -> torch.Tensor:
        if self.sigma_data is None:
            return self.net(torch.cat([noisy_residual, blurry], dim=1), noise_level)
        v = self.sigma_data**2
        lv = noise_level.reshape(-1, 1, 1, 1)
        s2 = torch.clamp(1.0 - lv * lv, min=0.0)
        d = lv * lv * v + s2
        f = self.net(torch.cat([noisy_residual * torch.rsqrt(d), blurry], dim=1), noise_level)
        return torch.sqrt(s2) / d * noisy_residual - lv * (self.sigma_data * torch.rsqrt(d)) * f


class DeblurModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.predictor.pad_multiple != cfg.denoiser.pad_multiple:
            raise ValueError(
                f"predictor pad_multiple {cfg.predictor.pad_multiple} != denoiser pad_multiple "
                f"{cfg.denoiser.pad_multiple}: both networks must share one pad_multiple"
            )
        self.cfg = cfg
        self.predictor = Predictor(cfg.predictor, cfg.predictor_global_residual)
        self.denoiser = Denoiser(cfg.denoiser, cfg.denoiser_sigma_data)

    @property
    def pad_multiple(self) -> int:
        return self.cfg.predictor.pad_multiple


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())

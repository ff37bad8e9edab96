"""Network configurations (no torch needed)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class UNetConfig:
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 3, 4)
    num_res_blocks: int = 1
    mid_blocks: int = 2
    # Space-to-depth factor at the input (1 = none); the U-Net then runs at 1/unshuffle size.
    unshuffle: int = 2
    emb_dim: int = 64
    # Levels (0 = finest) whose residual blocks get a spectral branch (models.SpectralBranch);
    # the middle blocks get one when the deepest level is listed. Empty: the paper's U-Net.
    spectral_levels: tuple[int, ...] = ()

    @property
    def pad_multiple(self) -> int:
        return self.unshuffle * 2 ** (len(self.channel_mults) - 1)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channel_mults"] = list(self.channel_mults)
        d["spectral_levels"] = list(self.spectral_levels)
        return d

    @staticmethod
    def from_dict(d: dict) -> "UNetConfig":
        d = dict(d)
        d["channel_mults"] = tuple(d["channel_mults"])
        d["spectral_levels"] = tuple(d.get("spectral_levels", ()))
        return UNetConfig(**d)


@dataclass(frozen=True)
class ModelConfig:
    name: str
    predictor: UNetConfig
    denoiser: UNetConfig
    # x_init = y + U-Net(y): the predictor learns a correction to the blurry input.
    predictor_global_residual: bool = True
    # If set, the denoiser is preconditioned (Karras et al. 2022, in variance-preserving form)
    # around a Wiener estimate for residuals of this standard deviation; None = plain epsilon net.
    denoiser_sigma_data: float | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "predictor": self.predictor.to_dict(),
            "denoiser": self.denoiser.to_dict(),
            "predictor_global_residual": self.predictor_global_residual,
            "denoiser_sigma_data": self.denoiser_sigma_data,
        }

    @staticmethod
    def from_dict(d: dict) -> "ModelConfig":
        return ModelConfig(
            name=d["name"],
            predictor=UNetConfig.from_dict(d["predictor"]),
            denoiser=UNetConfig.from_dict(d["denoiser"]),
            predictor_global_residual=d.get("predictor_global_residual", True),
            denoiser_sigma_data=d.get("denoiser_sigma_data"),
        )


# The paper's sizes (Appendix E): predictor base 64, denoiser base 32, full resolution; three res
# blocks per level give ~24.5M + 6.5M parameters, close to the paper's ~26M + ~7M.
# Far too slow for 2 CPU cores; kept for reference and GPU training.
PAPER = ModelConfig(
    name="paper",
    predictor=UNetConfig(base_channels=64, num_res_blocks=3, unshuffle=1, emb_dim=256),
    denoiser=UNetConfig(base_channels=32, num_res_blocks=3, unshuffle=1, emb_dim=128),
)

# The CPU config shipped as the default model: both U-Nets at half resolution (pixel unshuffle 2),
# most capacity in the predictor, a small denoiser (paper Sec. 4 / 6.1). See docs/training.md
# for the ONNX Runtime timings this was chosen from.
SMALL = ModelConfig(
    name="small",
    predictor=UNetConfig(base_channels=32, num_res_blocks=2, unshuffle=2),
    denoiser=UNetConfig(base_channels=16, num_res_blocks=1, unshuffle=2),
    denoiser_sigma_data=0.2,
)

# SMALL with a spectral branch (models.SpectralBranch) in every residual block of the predictor:
# each block then sees the whole frame, as a deconvolution does. On the same batches it learned
# long blur faster than SMALL (docs/training.md, "Five times the crops, at batch 16").
SMALL_SPECTRAL = replace(SMALL, name="small-spectral", predictor=replace(SMALL.predictor, spectral_levels=(0, 1, 2, 3)))

# SMALL_SPECTRAL without the branches of the two finest levels, whose transforms (matrix products
# as exported) cost most of its ONNX Runtime time: the coarse ones still see the whole frame.
# Started from a SMALL_SPECTRAL run (train.warm_start drops the missing branches' weights).
SMALL_SPECTRAL_COARSE = replace(SMALL, name="small-spectral-coarse",
                                predictor=replace(SMALL.predictor, spectral_levels=(2, 3)))

# For tests: tiny and fast.
TINY = ModelConfig(
    name="tiny",
    predictor=UNetConfig(base_channels=8, num_res_blocks=1, unshuffle=2, emb_dim=16),
    denoiser=UNetConfig(base_channels=4, num_res_blocks=1, unshuffle=2, emb_dim=16),
    denoiser_sigma_data=0.2,
)

CONFIGS = {c.name: c for c in (PAPER, SMALL, SMALL_SPECTRAL, SMALL_SPECTRAL_COARSE, TINY)}

"""A training checkpoint's EMA weights alone, to carry a model between machines.

A checkpoint holds the raw and EMA weights, the optimiser state and the RNG states (90 MB for the
small config). What ``export.py`` and ``train.py --init`` read is the configuration and the EMA
weights: this keeps those, in fp16 unless told otherwise (11 MB for the small config, under the
16 MB a file brought back from the lent GPU may have).

An exported bundle holds the same weights, by the same names, as ONNX initializers: read back,
they restart training from a committed model when the run folder that made it is gone.

    python -m deblur_train.weights runs/small-v11-joint/last.pt small-v11-joint.pt
    python -m deblur_train.weights ../models/default default.pt   # the config is found from the bundle
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from .configs import CONFIGS, ModelConfig


def _save(config: dict, step: int | None, ema: dict[str, torch.Tensor], out: Path, fp16: bool) -> int:
    dtype = torch.float16 if fp16 else torch.float32
    ema = {k: v.to(dtype) if v.is_floating_point() else v for k, v in ema.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": config, "step": step, "ema": ema}, out)
    return out.stat().st_size


def slim(checkpoint: Path, out: Path, fp16: bool = True) -> int:
    """Write {"config", "step", "ema"} of ``checkpoint`` to ``out``; returns the file's size in bytes."""
    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    missing = [k for k in ("config", "ema") if k not in ck]
    if missing:
        raise ValueError(f"{checkpoint} has no {' or '.join(missing)}: expected a checkpoint written by deblur_train.train")
    return _save(ck["config"], ck.get("step"), ck["ema"], out, fp16)


def _initializers(bundle: Path) -> list[tuple[str, Path, object]]:
    """(network, file, ONNX initializer) for every initializer of ``bundle``'s two networks."""
    import onnx

    found = []
    for net in ("predictor", "denoiser"):
        path = Path(bundle) / f"{net}.onnx"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: expected a bundle directory with {net}.onnx")
        found += [(net, path, init) for init in onnx.load(str(path)).graph.initializer]
    return found


def from_bundle(bundle: Path, config: ModelConfig, initializers=None) -> dict[str, torch.Tensor]:
    """The float32 weights of ``config``'s DeblurModel, read from the initializers of ``bundle``'s
    predictor.onnx and denoiser.onnx (fp16-stored ones too; ``initializers``: those already read
    by ``_initializers``). Every parameter must be there with its shape; buffers the exporter
    folded away are rebuilt from ``config``."""
    from onnx import numpy_helper

    from .export import FP16_SUFFIX
    from .models import DeblurModel

    model = DeblurModel(config)
    state = model.state_dict()
    params = {name for name, _ in model.named_parameters()}
    found: dict[str, torch.Tensor] = {}
    for net, path, init in initializers if initializers is not None else _initializers(bundle):
        key = f"{net}.{init.name.removesuffix(FP16_SUFFIX)}"
        if key not in state:
            # Parameters keep their module path ("net.…"); the exporter's own constants do not.
            if init.name.startswith("net."):
                raise ValueError(f"{path}: {key} is not a parameter of config {config.name!r}: "
                                 "is it a bundle of another config?")
            continue
        value = torch.from_numpy(numpy_helper.to_array(init).astype(np.float32))
        if value.shape != state[key].shape:
            raise ValueError(f"{path}: {init.name} has shape {tuple(value.shape)}, config "
                             f"{config.name!r} expects {tuple(state[key].shape)}")
        found[key] = value
    missing = sorted(params - found.keys())
    if missing:
        raise ValueError(f"{bundle} lacks {len(missing)} of the {len(params)} parameters of config "
                         f"{config.name!r} (first: {missing[0]}): is it a bundle of that config?")
    state.update(found)
    return state


def config_of_bundle(bundle: Path) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """The one config in CONFIGS whose parameters ``bundle`` holds, each with its shape, and its
    weights as ``from_bundle`` reads them."""
    initializers = _initializers(bundle)
    fits = []
    for config in CONFIGS.values():
        try:
            fits.append((config, from_bundle(bundle, config, initializers)))
        except ValueError:
            continue
    if len(fits) != 1:
        raise ValueError(f"{bundle} holds the parameters of {len(fits)} of the configs "
                         f"({', '.join(c.name for c, _ in fits) or 'none'} of {', '.join(CONFIGS)}); "
                         "expected exactly one: name it with --config")
    return fits[0]


def slim_from_bundle(bundle: Path, config: ModelConfig, out: Path, fp16: bool = True) -> int:
    """Write {"config", "step": None, "ema"} read from ``bundle``; returns the file's size in bytes."""
    return _save(config.to_dict(), None, from_bundle(bundle, config), out, fp16)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path, help="a checkpoint (last.pt), or an exported bundle directory")
    ap.add_argument("out", type=Path)
    ap.add_argument("--config", choices=sorted(CONFIGS), default=None,
                    help="network config of a bundle (bundles do not record it; default: the one config "
                         "whose parameters the bundle holds)")
    ap.add_argument("--fp32", action="store_true", help="keep float32 weights (twice the size)")
    args = ap.parse_args(argv)
    try:
        if args.source.is_dir():
            if args.config:
                config = CONFIGS[args.config]
                size = slim_from_bundle(args.source, config, args.out, fp16=not args.fp32)
            else:
                config, state = config_of_bundle(args.source)
                size = _save(config.to_dict(), None, state, args.out, fp16=not args.fp32)
            print(f"config {config.name}")
        else:
            size = slim(args.source, args.out, fp16=not args.fp32)
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f"error: {e}") from None
    print(f"wrote {args.out}: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()

"""Is the predictor limited by its width? Widen a trained one without changing what it computes.

A diagnostic, not a shipped feature. The deeper bottleneck of docs/training.md ("One more
band-and-joint cycle") added blocks at identity and changed nothing in 1,000 steps; the open
question there is whether a wider network would learn the kernel-dependent deconvolution faster.
This writes a checkpoint whose predictor has ``--base`` channels instead of the run's, with every
old channel computing exactly what it did: the new channels start at the layers' default
initialisation, and every weight from a new channel into an old one starts at zero (Net2Net's
aim, by zero outgoing weights rather than copied units). ``deblur_train.train --init`` then trains
it like any run, so a control run from the same checkpoint on the same batches shows what the
width buys per step.

    cd training && . .venv/bin/activate
    export OMP_WAIT_POLICY=PASSIVE PYTHONPATH=.
    python -m deblur_train.weights ../models/default runs/default.pt   # the shipped weights
    python experiments/widen.py runs/default.pt runs/widen48-init.pt --base 48

Results: docs/training.md, "A wider predictor".
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch
from torch import nn

from deblur_train.configs import ModelConfig
from deblur_train.models import DeblurModel, ResBlock, UNet


def _old_first(count: int) -> torch.Tensor:
    return torch.arange(count)


@torch.no_grad()
def widen_conv(old: nn.Conv2d, new: nn.Conv2d, in_map: torch.Tensor, out_map: torch.Tensor) -> None:
    """Copy ``old`` into ``new``: old input channel i is new input ``in_map[i]``, old output o is
    new output ``out_map[o]``. Rows of old outputs read nothing from the new inputs; the rows of
    new outputs keep ``new``'s initialisation."""
    if (len(in_map), len(out_map)) != (old.in_channels, old.out_channels):
        raise ValueError(f"maps of {len(in_map)} inputs and {len(out_map)} outputs for a convolution "
                         f"of {old.in_channels} inputs and {old.out_channels} outputs")
    copied_in = set(in_map.tolist())
    added_in = torch.tensor([i for i in range(new.in_channels) if i not in copied_in], dtype=torch.long)
    rows = out_map[:, None]
    new.weight[rows, added_in[None, :]] = 0.0
    new.weight[rows, in_map[None, :]] = old.weight
    if old.bias is not None:
        new.bias[out_map] = old.bias


def widen_block(old: ResBlock, new: ResBlock, in_map: torch.Tensor) -> None:
    """A residual block whose input has old channel i at ``in_map[i]``; its output keeps the old
    channels first."""
    if old.film is not None:
        raise ValueError("widening a conditioned block (FiLM) is not implemented: widen the predictor only")
    cout, cout_new = old.conv2.out_channels, new.conv2.out_channels
    widen_conv(old.conv1, new.conv1, in_map, _old_first(cout))
    widen_conv(old.conv2, new.conv2, _old_first(cout), _old_first(cout))
    if isinstance(old.skip, nn.Conv2d):
        widen_conv(old.skip, new.skip, in_map, _old_first(cout))
    elif not torch.equal(in_map, _old_first(cout)):
        raise ValueError("an identity skip needs its input's old channels first")
    if old.spectral is not None:
        # The branch's 1x1 convolutions see [real | imag] of the block's output.
        parts = torch.cat([_old_first(cout), cout_new + _old_first(cout)])
        hidden = _old_first(old.spectral.conv1.out_channels)
        widen_conv(old.spectral.conv1, new.spectral.conv1, parts, hidden)
        widen_conv(old.spectral.conv2, new.spectral.conv2, hidden, parts)


def widen_unet(old: UNet, new: UNet) -> None:
    """Load ``old`` into the wider ``new`` U-Net (same levels and blocks, more channels)."""
    if len(old.down) != len(new.down) or len(old.up) != len(new.up) or len(old.mid) != len(new.mid):
        raise ValueError("the U-Nets differ in more than width: same levels, blocks and middle expected")
    widen_conv(old.conv_in, new.conv_in, _old_first(old.conv_in.in_channels), _old_first(old.conv_in.out_channels))
    width = (old.conv_in.out_channels, new.conv_in.out_channels)
    skips = [width]
    for o, n in zip(old.down, new.down):
        if isinstance(o, ResBlock):
            widen_block(o, n, _old_first(width[0]))
            width = (o.conv2.out_channels, n.conv2.out_channels)
        else:
            widen_conv(o.conv, n.conv, _old_first(width[0]), _old_first(width[0]))
        skips.append(width)
    for o, n in zip(old.mid, new.mid):
        widen_block(o, n, _old_first(width[0]))
    for o, n in zip(old.up, new.up):
        if isinstance(o, ResBlock):
            skip_old, skip_new = skips.pop()
            # The block reads cat([h, skip]): the skip's old channels sit after all of h's.
            widen_block(o, n, torch.cat([_old_first(width[0]), width[1] + _old_first(skip_old)]))
            width = (o.conv2.out_channels, n.conv2.out_channels)
        else:
            widen_conv(o.conv, n.conv, _old_first(width[0]), _old_first(width[0]))
    widen_conv(old.conv_out, new.conv_out, _old_first(width[0]), _old_first(old.conv_out.out_channels))


def widened_model(model: DeblurModel, base_channels: int, seed: int = 0) -> DeblurModel:
    """``model`` with a predictor of ``base_channels`` that computes the same; the denoiser is
    copied as it is."""
    old_base = model.cfg.predictor.base_channels
    if base_channels <= old_base:
        raise ValueError(f"--base {base_channels}: expected more than the predictor's {old_base} channels")
    cfg = dataclasses.replace(
        model.cfg, name=f"{model.cfg.name}-w{base_channels}",
        predictor=dataclasses.replace(model.cfg.predictor, base_channels=base_channels))
    torch.manual_seed(seed)
    wide = DeblurModel(cfg)
    widen_unet(model.predictor.net, wide.predictor.net)
    wide.denoiser.load_state_dict(model.denoiser.state_dict())
    return wide


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path, help="a run's checkpoint (its EMA weights are widened)")
    ap.add_argument("out", type=Path, help="the widened checkpoint, for deblur_train.train --init")
    ap.add_argument("--base", type=int, default=48, help="the predictor's new base channels")
    ap.add_argument("--seed", type=int, default=0, help="for the new channels' initialisation")
    args = ap.parse_args(argv)

    ck = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    model = DeblurModel(ModelConfig.from_dict(ck["config"]))
    model.load_state_dict(ck["ema"])
    wide = widened_model(model, args.base, args.seed)
    y = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        change = (wide.predictor(y) - model.predictor(y)).abs().max().item()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": wide.cfg.to_dict(), "ema": wide.state_dict()}, args.out)
    count = lambda p: sum(t.numel() for t in p.parameters()) / 1e6  # noqa: E731
    print(f"{args.out}: predictor {count(model.predictor):.2f}M -> {count(wide.predictor):.2f}M parameters "
          f"({model.cfg.predictor.base_channels} -> {args.base} base channels); largest output change "
          f"on a random 64x96 input {change:.2e}")


if __name__ == "__main__":
    main()

"""Export the EMA predictor and denoiser to the ONNX bundle described in docs/model-bundle.md."""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from .configs import ModelConfig
from .models import DeblurModel
from . import schedule
from .onnx_bundle import MANIFEST, ort_session

OPSET = 17
# Name suffix of an initializer stored as fp16 behind a Cast (see _store_weights_fp16).
FP16_SUFFIX = "__fp16"


def _onnx_export(*args, **kwargs) -> None:
    # The TorchScript exporter (dynamo=False) handles dynamic N/H/W through PixelUnshuffle and
    # nearest upsampling without shape guards; it is deprecated but still present.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(*args, **kwargs)


def _fix_io_shapes(path: Path) -> None:
    """Write the documented shapes on every graph input and output: [N, 3, H, W] or [N].

    The exporter names broadcast dimensions after the node that made them (e.g. the channel
    dimension of epsilon after a Sub); the runtime reads these declarations.
    """
    import onnx

    m = onnx.load(str(path))
    for v in list(m.graph.input) + list(m.graph.output):
        dims = v.type.tensor_type.shape.dim
        want = ["N"] if len(dims) == 1 else ["N", 3, "H", "W"]
        for d, w in zip(dims, want):
            d.Clear()
            if isinstance(w, int):
                d.dim_value = w
            else:
                d.dim_param = w
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def round_weights_to_fp16(model: DeblurModel) -> DeblurModel:
    """Round every float parameter and buffer to the nearest fp16 value, in place.

    The ONNX files then store exactly these values (``_store_weights_fp16``), so the parity check
    against this model stays as strict as for fp32 storage.
    """
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().float())
    return model


def _store_weights_fp16(path: Path, min_size: int = 16) -> None:
    """Store float initializers as fp16, each behind a Cast to float: half the file size.

    The graph's inputs, outputs and arithmetic stay float32; ONNX Runtime folds the Casts into
    float32 constants when the session is created, so inference speed does not change. Scalars
    and small vectors stay float32.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(path))
    g = m.graph
    graph_inputs = {v.name for v in g.input}
    kept, casts = [], []
    for init in g.initializer:
        if init.data_type != TensorProto.FLOAT or init.name in graph_inputs:
            kept.append(init)
            continue
        a = numpy_helper.to_array(init)
        if a.size < min_size:
            kept.append(init)
            continue
        half = numpy_helper.from_array(a.astype(np.float16), init.name + FP16_SUFFIX)
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=init.name + "__to_float"))
    del g.initializer[:]
    g.initializer.extend(kept)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def export_predictor(model: DeblurModel, path: Path, size=(64, 96)) -> None:
    m = model.predictor.eval()
    h, w = size
    x = torch.zeros(1, 3, h, w)
    _onnx_export(
        m, (x,), str(path),
        input_names=["blurry"], output_names=["estimate"],
        dynamic_axes={"blurry": {0: "N", 2: "H", 3: "W"}, "estimate": {0: "N", 2: "H", 3: "W"}},
        opset_version=OPSET, dynamo=False,
    )
    _fix_io_shapes(path)


def export_denoiser(model: DeblurModel, path: Path, size=(64, 96)) -> None:
    m = model.denoiser.eval()
    h, w = size
    z = torch.zeros(1, 3, h, w)
    lvl = torch.full((1,), 0.5)
    y = torch.zeros(1, 3, h, w)
    _onnx_export(
        m, (z, lvl, y), str(path),
        input_names=["noisy_residual", "noise_level", "blurry"], output_names=["epsilon"],
        dynamic_axes={
            "noisy_residual": {0: "N", 2: "H", 3: "W"},
            "noise_level": {0: "N"},
            "blurry": {0: "N", 2: "H", 3: "W"},
            "epsilon": {0: "N", 2: "H", 3: "W"},
        },
        opset_version=OPSET, dynamo=False,
    )
    _fix_io_shapes(path)


def manifest(model: DeblurModel, name: str, description: str, sampling: dict | None) -> dict:
    m = {
        "format_version": 1,
        "name": name,
        "description": description,
        "value_range": [-1.0, 1.0],
        "pad_multiple": model.pad_multiple,
        "noise_level": "sqrt_alpha_bar",
        "training_schedule": {
            "kind": "linear",
            "steps": schedule.TRAIN_STEPS,
            "start": schedule.TRAIN_START,
            "end": schedule.TRAIN_END,
        },
    }
    if sampling is not None:
        m["default_sampling"] = {"steps": int(sampling["steps"]), "schedule_end": float(sampling["schedule_end"])}
        if "averaging" in sampling:
            a = sampling["averaging"]
            m["averaging_sampling"] = {"steps": int(a["steps"]), "schedule_end": float(a["schedule_end"])}
    m["predictor"] = "predictor.onnx"
    m["denoiser"] = "denoiser.onnx"
    return m


def export_bundle(model: DeblurModel, out_dir: Path, name: str, description: str, sampling: dict | None,
                  fp16_weights: bool = False) -> Path:
    """Write both graphs and the manifest. ``fp16_weights`` rounds ``model`` in place first."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    if fp16_weights:
        round_weights_to_fp16(model)
    export_predictor(model, out_dir / "predictor.onnx")
    export_denoiser(model, out_dir / "denoiser.onnx")
    if fp16_weights:
        _store_weights_fp16(out_dir / "predictor.onnx")
        _store_weights_fp16(out_dir / "denoiser.onnx")
    (out_dir / MANIFEST).write_text(json.dumps(manifest(model, name, description, sampling), indent=2) + "\n")
    return out_dir


@torch.no_grad()
def check_parity(model: DeblurModel, bundle: Path, h: int, w: int, n: int = 2, seed: int = 0) -> float:
    """Max abs difference between PyTorch and ONNX Runtime for both graphs on random n x 3 x h x w
    input. Sizes that are not multiples of the model's pad_multiple (odd ones too) are reflect-padded
    up to one and cropped back, as the runtime does, so any frame size can be checked."""
    model = model.eval()
    g = torch.Generator().manual_seed(seed)
    m = model.pad_multiple
    pad = (0, (-w) % m, 0, (-h) % m)
    y = torch.nn.functional.pad(torch.rand(n, 3, h, w, generator=g) * 2 - 1, pad, mode="reflect")
    z = torch.nn.functional.pad(torch.randn(n, 3, h, w, generator=g), pad, mode="reflect")
    lvl = torch.rand(n, generator=g) * 0.98 + 0.01
    pred = ort_session(bundle / "predictor.onnx")
    den = ort_session(bundle / "denoiser.onnx")
    e_t = model.predictor(y).numpy()[..., :h, :w]
    e_o = pred.run(["estimate"], {"blurry": y.numpy()})[0][..., :h, :w]
    d_t = model.denoiser(z, lvl, y).numpy()[..., :h, :w]
    d_o = den.run(["epsilon"], {"noisy_residual": z.numpy(), "noise_level": lvl.numpy(), "blurry": y.numpy()})[0][..., :h, :w]
    return float(max(np.abs(e_t - e_o).max(), np.abs(d_t - d_o).max()))


def load_ema_model(checkpoint: Path) -> DeblurModel:
    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = DeblurModel(ModelConfig.from_dict(ck["config"]))
    model.load_state_dict(ck["ema"])
    return model.eval()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--name", default="deblur-small")
    ap.add_argument("--description", default="Predict-and-refine diffusion deblurring (Whang et al. 2022), small CPU config.")
    ap.add_argument("--steps", type=int, default=None, help="default_sampling.steps")
    ap.add_argument("--schedule-end", type=float, default=None, help="default_sampling.schedule_end")
    ap.add_argument("--averaging", type=schedule.parse_schedule, default=None, metavar="STEPS:END",
                    help="averaging_sampling: the schedule for several samples averaged (needs --steps)")
    ap.add_argument("--fp16-weights", action="store_true",
                    help="store weights as fp16 (half the size; compute stays float32)")
    args = ap.parse_args(argv)
    model = load_ema_model(args.checkpoint)
    sampling = None
    if args.steps is not None:
        if args.schedule_end is None:
            ap.error("--steps needs --schedule-end")
        sampling = {"steps": args.steps, "schedule_end": args.schedule_end}
    if args.averaging is not None:
        if sampling is None:
            ap.error("--averaging needs --steps and --schedule-end")
        steps, end = args.averaging
        sampling["averaging"] = {"steps": steps, "schedule_end": end}
    export_bundle(model, args.out_dir, args.name, args.description, sampling, args.fp16_weights)
    h, w = 45, 77  # odd: padded up to the model's multiple and cropped back, as the runtime does
    err = check_parity(model, args.out_dir, h=h, w=w)
    print(f"exported {args.out_dir}; ORT vs PyTorch max abs diff {err:.2e} at {h}x{w}")
    if err > 1e-4:
        raise SystemExit(f"parity check failed: {err:.2e} > 1e-4")


if __name__ == "__main__":
    main()

"""Static int8 quantization (QDQ) of a bundle's predictor, calibrated on training photos.

The predictor is most of the CPU time (52.6 of the 62 GFLOP per 640x360 frame at one denoiser
step). ONNX Runtime runs QDQ convolutions with int8 kernels (VNNI where the CPU has it), with
float32 graph inputs and outputs, so the runtime and the bundle format do not change. The
denoiser stays float32: its inputs span the whole noise range and it is cheap.

    python -m deblur_train.quantize ../models/default /tmp/int8 [--data data/train]

Copies the bundle to OUT with predictor.onnx replaced by its int8 version. Measure the quality
with ``python -m deblur_train.evaluate OUT`` or ``deblur eval --model OUT`` before shipping it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from . import TRAINING_ROOT
from .evaluate import to_model
from .onnx_bundle import MANIFEST


class PhotoReader:
    """Calibration inputs: photos resized to width x height, in the model's [-1, 1] range."""

    def __init__(self, photos: list[Path], width: int, height: int):
        self.photos = iter(photos)
        self.size = (width, height)

    def get_next(self) -> dict | None:
        path = next(self.photos, None)
        if path is None:
            return None
        return {"blurry": to_model(np.asarray(Image.open(path).convert("RGB").resize(self.size, Image.BICUBIC)))}

    def rewind(self) -> None:  # part of CalibrationDataReader's interface; one pass is enough here
        pass


def quantize_predictor(src: Path, dst: Path, photos: list[Path], width: int = 320, height: int = 176) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not photos:
        raise SystemExit("no calibration photos: run python -m deblur_train.prepare_data or pass --data")
    src, dst = Path(src), Path(dst)
    manifest = json.loads((src / MANIFEST).read_text())
    dst.mkdir(parents=True, exist_ok=True)
    for name in (MANIFEST, manifest["denoiser"]):
        shutil.copyfile(src / name, dst / name)

    class Reader(PhotoReader, CalibrationDataReader):
        pass

    with tempfile.TemporaryDirectory() as tmp:
        # Folds fp16-stored weights (Cast nodes) into float32 initializers the quantizer can see.
        # Symbolic shape inference cannot follow the dynamic H and W through pixel unshuffle.
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src / manifest["predictor"]), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre), str(dst / manifest["predictor"]), Reader(photos, width, height),
            quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        )
    data = json.loads((dst / MANIFEST).read_text())
    data["name"] = f"{manifest['name']}-int8"
    data["description"] = manifest["description"] + " Predictor quantized to int8 (static, QDQ)."
    (dst / MANIFEST).write_text(json.dumps(data, indent=2) + "\n")
    return dst


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--data", type=Path, default=TRAINING_ROOT / "data" / "train", help="calibration photos")
    ap.add_argument("--every", type=int, default=4, help="use every N-th photo")
    args = ap.parse_args(argv)
    photos = sorted(p for p in args.data.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[:: args.every]
    out = quantize_predictor(args.bundle, args.out, photos)
    print(f"wrote {out} ({len(photos)} calibration photos)")


if __name__ == "__main__":
    main()

"""ONNX export tests: names, dynamic shapes, opset, manifest and ONNX Runtime parity (need torch)."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed: pip install -r training/requirements-train.txt")
onnx = pytest.importorskip("onnx", reason="onnx not installed: pip install -r training/requirements-ci.txt")
pytest.importorskip("onnxruntime", reason="onnxruntime not installed: pip install -r training/requirements-ci.txt")

from dataclasses import replace  # noqa: E402

from deblur_train.configs import TINY  # noqa: E402
from deblur_train.export import check_parity, export_bundle  # noqa: E402
from deblur_train.onnx_bundle import ort_session  # noqa: E402
from deblur_train.models import DeblurModel  # noqa: E402


# TINY with a spectral branch in every predictor block, as configs.SMALL_SPECTRAL is to SMALL.
TINY_SPECTRAL = replace(TINY, name="tiny-spectral", predictor=replace(TINY.predictor, spectral_levels=(0, 1, 2, 3)))


def perturbed_tiny(seed: int, cfg=TINY) -> DeblurModel:
    """A TINY (or ``cfg``) model with every weight moved off its (partly zero) initialisation."""
    torch.manual_seed(seed)
    m = DeblurModel(cfg).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return m


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    m = perturbed_tiny(0)
    out = export_bundle(m, tmp_path_factory.mktemp("bundle"), "tiny-test", "test",
                        {"steps": 3, "schedule_end": 0.2, "averaging": {"steps": 1, "schedule_end": 0.99}})
    return m, out


def io(model, which):
    return [(v.name, [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]) for v in getattr(model.graph, which)]


def test_graph_names_shapes_and_opset(bundle):
    _, out = bundle
    p = onnx.load(out / "predictor.onnx")
    d = onnx.load(out / "denoiser.onnx")
    for g in (p, d):
        onnx.checker.check_model(g)
        assert max(o.version for o in g.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert io(p, "input") == [("blurry", ["N", 3, "H", "W"])]
    assert io(p, "output") == [("estimate", ["N", 3, "H", "W"])]
    assert io(d, "input") == [("noisy_residual", ["N", 3, "H", "W"]), ("noise_level", ["N"]), ("blurry", ["N", 3, "H", "W"])]
    assert io(d, "output") == [("epsilon", ["N", 3, "H", "W"])]
    for g in (p, d):
        for v in list(g.graph.input) + list(g.graph.output):
            assert v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_manifest(bundle):
    _, out = bundle
    m = json.loads((out / "deblur-model.json").read_text())
    assert m == {
        "format_version": 1,
        "name": "tiny-test",
        "description": "test",
        "value_range": [-1.0, 1.0],
        "pad_multiple": 16,
        "noise_level": "sqrt_alpha_bar",
        "training_schedule": {"kind": "linear", "steps": 2000, "start": 1e-6, "end": 0.01},
        "default_sampling": {"steps": 3, "schedule_end": 0.2},
        "averaging_sampling": {"steps": 1, "schedule_end": 0.99},
        "predictor": "predictor.onnx",
        "denoiser": "denoiser.onnx",
    }


def test_onnxruntime_matches_pytorch(bundle):
    model, out = bundle
    # An odd-ish size that is a multiple of pad_multiple (16), batch of 2 with different levels.
    assert check_parity(model, out, h=3 * 16, w=7 * 16) < 1e-4
    assert check_parity(model, out, h=16, w=16, n=1, seed=3) < 1e-4
    # An odd size, reflect-padded to the multiple and cropped back as the runtime does.
    assert check_parity(model, out, h=45, w=77, n=1, seed=4) < 1e-4


def test_a_predictor_with_spectral_branches_exports_for_any_size(tmp_path):
    # Its spectra are matrix products in the graph (no FFT in the TorchScript exporter); they must
    # follow the frame size, not the size traced at export.
    m = perturbed_tiny(5, TINY_SPECTRAL)
    out = export_bundle(m, tmp_path / "b", "t", "t", None)
    assert check_parity(m, out, h=45, w=77, n=1, seed=6) < 1e-4
    assert check_parity(m, out, h=3 * 16, w=9 * 16, seed=7) < 1e-4


def test_batch_items_are_independent(bundle):
    _, out = bundle
    den = ort_session(out / "denoiser.onnx")
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2, 3, 32, 48)).astype(np.float32)
    y = rng.standard_normal((2, 3, 32, 48)).astype(np.float32)
    both = den.run(None, {"noisy_residual": z, "noise_level": np.array([0.1, 0.9], np.float32), "blurry": y})[0]
    one = den.run(None, {"noisy_residual": z[1:], "noise_level": np.array([0.9], np.float32), "blurry": y[1:]})[0]
    np.testing.assert_allclose(both[1:], one, atol=1e-5)


def test_fp16_weights_halve_the_files_and_keep_float32_io(tmp_path):
    torch.manual_seed(1)
    m = DeblurModel(TINY).eval()
    full = export_bundle(m, tmp_path / "fp32", "t", "t", None)
    half = export_bundle(m, tmp_path / "fp16", "t", "t", None, fp16_weights=True)
    for name in ("predictor.onnx", "denoiser.onnx"):
        ratio = (half / name).stat().st_size / (full / name).stat().st_size
        # Graph structure is a larger share of these tiny files than of the shipped ones (~0.5).
        assert 0.45 < ratio < 0.75, f"{name}: fp16 file is {ratio:.2f} of the fp32 one"
        g = onnx.load(half / name)
        assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in g.graph.initializer)
        for v in list(g.graph.input) + list(g.graph.output):
            assert v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    # The model was rounded in place, so ORT must match it as tightly as an fp32 export does.
    assert check_parity(m, half, h=3 * 16, w=5 * 16) < 1e-4


def test_int8_predictor_is_close_and_keeps_the_bundle_interface(tmp_path):
    from PIL import Image

    from deblur_train.quantize import quantize_predictor

    m = perturbed_tiny(2)
    src = export_bundle(m, tmp_path / "fp16", "t", "t", None, fp16_weights=True)
    rng = np.random.default_rng(0)
    photos = []
    for i in range(4):  # smooth random photos: low-frequency noise, upsampled
        small = (rng.random((12, 20, 3)) * 255).astype(np.uint8)
        photos.append(tmp_path / f"p{i}.png")
        Image.fromarray(small).resize((320, 192), Image.BICUBIC).save(photos[-1])
    out = quantize_predictor(src, tmp_path / "int8", photos, width=160, height=96)

    g = onnx.load(out / "predictor.onnx")
    ops = {n.op_type for n in g.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert io(g, "input") == [("blurry", ["N", 3, "H", "W"])]
    assert (out / "denoiser.onnx").read_bytes() == (src / "denoiser.onnx").read_bytes()
    assert json.loads((out / "deblur-model.json").read_text())["name"] == "t-int8"

    y = np.asarray(Image.open(photos[0]).resize((112, 64)), np.float32).transpose(2, 0, 1)[None] / 127.5 - 1
    full = ort_session(src / "predictor.onnx").run(None, {"blurry": y})[0]
    int8 = ort_session(out / "predictor.onnx").run(None, {"blurry": y})[0]
    assert int8.shape == full.shape
    assert np.abs(int8 - full).mean() < 0.02, f"mean |int8 - fp32| = {np.abs(int8 - full).mean():.4f}"


def test_evaluate_defaults_to_both_tuned_schedules(bundle, tmp_path):
    from PIL import Image

    from deblur_train import evaluate

    _, out = bundle
    rng = np.random.default_rng(0)
    for kind in ("blurry", "sharp"):
        (tmp_path / kind).mkdir()
        Image.fromarray((rng.random((160, 176, 3)) * 255).astype(np.uint8)).save(tmp_path / kind / "a.png")
    report = tmp_path / "eval.json"
    evaluate.main([str(out), "--heldout", str(tmp_path), "--samples", "2", "--threads", "1",
                   "--json", str(report), "--image", str(tmp_path / "side.png"), "--crop-of", "a"])
    table = json.loads(report.read_text())["table"]
    assert set(table) == {"blurry", "predictor", "sample 3:0.2", "SA-2 3:0.2", "sample 1:0.99", "SA-2 1:0.99"}
    assert (tmp_path / "side.png").exists()


@pytest.mark.parametrize("fp16_weights,cfg", [(False, TINY), (True, TINY), (True, TINY_SPECTRAL)])
def test_weights_read_back_from_a_bundle_restore_the_model(tmp_path, fp16_weights, cfg):
    from deblur_train.weights import from_bundle, slim_from_bundle

    m = perturbed_tiny(3, cfg)
    out = export_bundle(m, tmp_path / "b", "t", "t", None, fp16_weights=fp16_weights)
    state = from_bundle(out, cfg)
    for key, value in m.state_dict().items():
        assert torch.equal(state[key], value), f"{key} differs after the round trip"
    # The slim file is what train --init and export read: the restored model exports the same graphs.
    slim_from_bundle(out, cfg, tmp_path / "w.pt", fp16=False)
    ck = torch.load(tmp_path / "w.pt", weights_only=False)
    restored = DeblurModel(cfg).eval()
    restored.load_state_dict(ck["ema"])
    assert check_parity(restored, out, h=45, w=77) < 1e-4


def test_weights_from_a_bundle_of_another_config_are_refused(tmp_path):
    from deblur_train.configs import SMALL
    from deblur_train.weights import from_bundle

    out = export_bundle(perturbed_tiny(4), tmp_path / "b", "t", "t", None)
    with pytest.raises(ValueError, match="has shape .* config 'small' expects"):
        from_bundle(out, SMALL)
    with pytest.raises(FileNotFoundError, match="expected a bundle directory"):
        from_bundle(tmp_path, TINY)
    # The command says so in one line, not a traceback.
    from deblur_train.weights import main

    with pytest.raises(SystemExit, match="^error: .*config 'small' expects"):
        main([str(out), str(tmp_path / "w.pt"), "--config", "small"])
    # A bundle with more parameters than the config named (here spectral branches) is refused too,
    # rather than read without them.
    spectral = export_bundle(perturbed_tiny(4, TINY_SPECTRAL), tmp_path / "s", "t", "t", None)
    with pytest.raises(ValueError, match="spectral.* is not a parameter of config 'tiny'"):
        from_bundle(spectral, TINY)


def test_weights_find_the_config_of_a_bundle_when_none_is_named(tmp_path):
    from deblur_train.weights import main

    out = export_bundle(perturbed_tiny(4), tmp_path / "b", "t", "t", None)
    main([str(out), str(tmp_path / "w.pt")])
    assert torch.load(tmp_path / "w.pt", weights_only=False)["config"] == TINY.to_dict()
    # No config in CONFIGS fits a tiny spectral bundle: the command asks for one rather than guess.
    spectral = export_bundle(perturbed_tiny(4, TINY_SPECTRAL), tmp_path / "s", "t", "t", None)
    with pytest.raises(SystemExit, match="holds the parameters of 0 of the configs"):
        main([str(spectral), str(tmp_path / "s.pt")])

"""Loss, schedule sampling and checkpoint/resume tests (need torch)."""

import json
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed: pip install -r training/requirements-train.txt")

from PIL import Image  # noqa: E402

from deblur_train import schedule as S  # noqa: E402
from deblur_train import train as T  # noqa: E402
from deblur_train.configs import TINY  # noqa: E402
from deblur_train.models import DeblurModel  # noqa: E402


def test_eq6_loss_and_gradient_paths():
    torch.manual_seed(0)
    m = DeblurModel(TINY)
    with torch.no_grad():  # leave the zero initialisation so gradients reach everything
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    y, x0 = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    level = torch.tensor([0.2, 0.9])
    eps = torch.randn_like(y)
    loss, stats = T.eq6_loss(m, y, x0, level, eps)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(stats["eps_l1"])
    loss.backward()
    assert all(p.grad is not None for p in m.predictor.parameters())
    assert sum(p.grad.abs().sum() for p in m.predictor.parameters()) > 0

    # The loss is exactly |eps - f(z)| with z built from the residual (Eq. 6).
    with torch.no_grad():
        lv = level.view(-1, 1, 1, 1)
        z = lv * (x0 - m.predictor(y)) + torch.sqrt(1 - lv**2) * eps
        ref = (eps - m.denoiser(z, level, y)).abs().mean()
        again, _ = T.eq6_loss(m, y, x0, level, eps)
    torch.testing.assert_close(again, ref)
    # The auxiliary term is off by default and adds |g(y) - x0| when asked.
    with torch.no_grad():
        aux, _ = T.eq6_loss(m, y, x0, level, eps, aux_l1=0.5)
        torch.testing.assert_close(aux, ref + 0.5 * (m.predictor(y) - x0).abs().mean())


def test_spectral_l1_weighs_each_frequency_bin_alike():
    x = torch.rand(1, 3, 8, 8)
    assert T.spectral_l1(x, x).item() == 0.0
    # A constant offset c is one DC bin of c * sqrt(64) among the 8 x 5 bins of the half spectrum.
    torch.testing.assert_close(T.spectral_l1(x + 0.5, x), torch.tensor(0.5 * 8 / 40))
    # A checkerboard of +-0.5, all at the highest frequency, is one bin too: it weighs the same.
    checker = (torch.arange(8).view(8, 1) + torch.arange(8).view(1, 8)) % 2 * 1.0 - 0.5
    torch.testing.assert_close(T.spectral_l1(x + checker, x), torch.tensor(0.5 * 8 / 40))


def test_predictor_loss_adds_the_weighted_spectral_term():
    torch.manual_seed(0)
    m = DeblurModel(TINY)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    y, x0 = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    plain, stats = T.predictor_loss(m, y, x0)
    assert "pred_fft_l1" not in stats and plain.item() == pytest.approx(stats["pred_l1"])
    both, stats = T.predictor_loss(m, y, x0, fft_l1=2.0)
    with torch.no_grad():
        spectral = T.spectral_l1(m.predictor(y), x0)
    torch.testing.assert_close(both.detach(), plain.detach() + 2.0 * spectral)
    assert stats["pred_fft_l1"] == pytest.approx(spectral.item())
    both.backward()
    assert sum(p.grad.abs().sum() for p in m.predictor.parameters()) > 0


def test_fft_l1_outside_predictor_only_training_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="add --predictor-only"):
        T.main(["--run", str(tmp_path / "run"), "--config", "tiny", "--data", str(tmp_path), "--fft-l1", "1"])


def test_training_levels_feed_the_loss_in_range():
    lv = S.sample_sqrt_alpha_bar(1000, np.random.default_rng(0))
    assert lv.min() > 0.005 and lv.max() <= 1.0


def make_data(root):
    rng = np.random.default_rng(0)
    root.mkdir()
    for i in range(3):
        Image.fromarray((rng.random((180, 200, 3)) * 255).astype(np.uint8)).save(root / f"img{i}.png")
    return root


def run(tmp_path, run_dir, steps, data, *extra):
    T.main(["--run", str(run_dir), "--config", "tiny", "--data", str(data), "--steps", str(steps), "--batch", "2",
            "--crop", "32", "--threads", "1", "--log-every", "1", "--warmup", "2", "--snapshot-every", "1000", *extra])
    return torch.load(run_dir / "last.pt", weights_only=False)


def test_checkpoint_resume_matches_uninterrupted_training(tmp_path):
    data = make_data(tmp_path / "data")
    straight = run(tmp_path, tmp_path / "a", 4, data)
    run(tmp_path, tmp_path / "b", 2, data)
    resumed = run(tmp_path, tmp_path / "b", 4, data)
    assert straight["step"] == resumed["step"] == 4
    for key in ("model", "ema"):
        for name, v in straight[key].items():
            torch.testing.assert_close(resumed[key][name], v, msg=f"{key}.{name} differs after resume")
    records = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert len(records) == 4
    # Without workers the batch is made in the loop: its time is part of each step's.
    assert all(0 < r["batch_wait_s"] <= r["s_per_step"] for r in records)


@pytest.mark.parametrize("flag, frozen, trained", [("--freeze-predictor", "predictor.", "denoiser."),
                                                    ("--predictor-only", "denoiser.", "predictor.")])
def test_a_stage_trains_one_network_and_keeps_the_other(tmp_path, flag, frozen, trained):
    data = make_data(tmp_path / "data")
    first = run(tmp_path, tmp_path / "joint", 3, data)
    second = run(tmp_path, tmp_path / "stage", 3, data, "--init", str(tmp_path / "joint" / "last.pt"), flag)
    for name, v in second["model"].items():
        if name.startswith(frozen):
            torch.testing.assert_close(v, first["ema"][name], msg=f"{name} moved although {flag} was given")
    moved = [n for n, v in second["model"].items() if n.startswith(trained) and not torch.equal(v, first["ema"][n])]
    assert moved, f"no {trained[:-1]} weight changed with {flag}"


def test_init_and_init_predictor_combine_a_denoiser_from_one_run_and_a_predictor_from_another(tmp_path):
    data = make_data(tmp_path / "data")
    one = run(tmp_path, tmp_path / "one", 2, data)
    other = run(tmp_path, tmp_path / "other", 2, data, "--seed", "5")
    both = run(tmp_path, tmp_path / "both", 0, data, "--init", str(tmp_path / "one" / "last.pt"),
               "--init-predictor", str(tmp_path / "other" / "last.pt"))
    for part in ("predictor.", "denoiser."):  # the two runs differ, so the test can tell them apart
        assert any(not torch.equal(v, other["ema"][n]) for n, v in one["ema"].items() if n.startswith(part))
    for name, v in both["ema"].items():
        source = other if name.startswith("predictor.") else one
        torch.testing.assert_close(v, source["ema"][name], msg=f"{name} not taken from the expected run")


def test_warm_start_drops_only_the_spectral_branches_the_new_config_lacks(tmp_path):
    full = replace(TINY, predictor=replace(TINY.predictor, spectral_levels=(0, 1, 2, 3)))
    coarse = replace(TINY, predictor=replace(TINY.predictor, spectral_levels=(2, 3)))
    torch.manual_seed(0)
    old = DeblurModel(full).eval()
    with torch.no_grad():  # every branch non-zero, so that dropping one changes the output
        for p in old.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    torch.save({"ema": old.state_dict()}, tmp_path / "old.pt")
    new = DeblurModel(coarse)
    ema = T.EMA(new, 0.99)
    T.warm_start(new, ema, tmp_path / "old.pt", ("predictor", "denoiser"))
    # A dropped branch adds nothing: the new predictor is the old one with those branches at zero.
    with torch.no_grad():
        blocks = zip((*old.predictor.net.down, *old.predictor.net.up), (*new.predictor.net.down, *new.predictor.net.up))
        dropped = [a.spectral for a, b in blocks if getattr(a, "spectral", None) is not None and b.spectral is None]
        assert len(dropped) == 6  # levels 0 and 1: one block down, two up, each
        for branch in dropped:
            branch.conv2.weight.zero_()
            branch.conv2.bias.zero_()
        y = torch.randn(1, 3, 48, 80)
        torch.testing.assert_close(new.predictor(y), old.predictor(y))
        torch.testing.assert_close(ema.shadow.predictor(y), old.predictor(y))
    # Anything else that does not fit still fails: here the spectral weights a new model would need.
    with pytest.raises(RuntimeError, match="Missing key"):
        torch.save({"ema": DeblurModel(TINY).state_dict()}, tmp_path / "plain.pt")
        T.warm_start(new, ema, tmp_path / "plain.pt", ("predictor",))


def test_a_run_started_from_another_without_a_config_takes_that_runs_config(tmp_path):
    data = make_data(tmp_path / "data")
    first = run(tmp_path, tmp_path / "first", 1, data)
    T.main(["--run", str(tmp_path / "second"), "--init", str(tmp_path / "first" / "last.pt"), "--data", str(data),
            "--steps", "0", "--threads", "1", "--crop", "32", "--batch", "2"])
    second = torch.load(tmp_path / "second" / "last.pt", weights_only=False)
    assert second["config"] == first["config"] == TINY.to_dict()  # not the default config, small
    for name, v in first["ema"].items():
        torch.testing.assert_close(second["ema"][name], v)


def test_ema_tracks_the_weights():
    m = torch.nn.Linear(2, 2)
    ema = T.EMA(m, 0.5)
    with torch.no_grad():
        m.weight.fill_(1.0)
    for step in range(1000, 1030):
        ema.update(m, step)
    torch.testing.assert_close(ema.shadow.weight, torch.ones(2, 2))


def test_lr_warms_up_then_decays_along_a_cosine_to_the_floor():
    from deblur_train.train import lr_at, parse_args

    flat = parse_args(["--lr", "1e-3", "--warmup", "10", "--steps", "100"])
    assert lr_at(0, flat) == pytest.approx(1e-4)
    assert lr_at(99, flat) == pytest.approx(1e-3)
    cos = parse_args(["--lr", "1e-3", "--warmup", "10", "--steps", "100", "--cosine", "--lr-floor", "0.1"])
    assert lr_at(50, cos) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert lr_at(100, cos) == pytest.approx(1e-4)
    assert lr_at(200, cos) == pytest.approx(1e-4)
    assert all(lr_at(s, cos) >= lr_at(s + 1, cos) for s in range(10, 120))


def test_batch_workers_train_the_same_weights_as_the_training_process(tmp_path):
    data = make_data(tmp_path / "data")
    inline = run(tmp_path, tmp_path / "inline", 3, data)
    workers = run(tmp_path, tmp_path / "workers", 3, data, "--workers", "2")
    for name, v in inline["ema"].items():
        torch.testing.assert_close(workers["ema"][name], v, msg=f"ema.{name} differs with --workers 2")


def test_bf16_autocast_trains_close_to_float32_with_float32_weights(tmp_path, monkeypatch):
    # Let it run where bfloat16 is emulated too: slow, but three tiny steps are the same arithmetic.
    monkeypatch.setattr(T, "cpu_has_bf16", lambda: True)
    autocast_enabled = []
    real_autocast = torch.autocast

    def spy(*args, **kwargs):
        autocast_enabled.append((kwargs.get("dtype"), kwargs.get("enabled", True)))
        return real_autocast(*args, **kwargs)

    monkeypatch.setattr(T.torch, "autocast", spy)
    data = make_data(tmp_path / "data")
    runs = {}
    for name, extra in (("f32", ()), ("bf16", ("--bf16",))):
        autocast_enabled.clear()
        ck = run(tmp_path, tmp_path / name, 3, data, "--predictor-only", *extra)
        losses = [json.loads(line)["loss"] for line in (tmp_path / name / "log.jsonl").read_text().splitlines()]
        runs[name] = ck, losses, list(autocast_enabled)
    (f32, f32_losses, f32_autocast), (bf16, bf16_losses, bf16_autocast) = runs["f32"], runs["bf16"]
    assert f32_autocast == [(torch.bfloat16, False)] * 3
    assert bf16_autocast == [(torch.bfloat16, True)] * 3, "--bf16 did not turn autocast on"
    assert len(bf16_losses) == 3
    # Same weights and batches: the losses differ at most by bfloat16 rounding (about 3 digits).
    for a, b in zip(f32_losses, bf16_losses):
        assert b == pytest.approx(a, rel=2e-2)
    for name, v in bf16["model"].items():
        assert v.dtype == torch.float32 and torch.isfinite(v).all(), name  # float32 master weights


def test_bf16_is_refused_on_a_cpu_that_would_emulate_it(tmp_path, monkeypatch):
    monkeypatch.setattr(T, "cpu_has_bf16", lambda: False)
    with pytest.raises(SystemExit, match="--bf16 needs a CPU with AVX512-BF16 or AMX; this one has .*drop --bf16"):
        T.main(["--run", str(tmp_path / "run"), "--config", "tiny", "--steps", "1", "--bf16", "--device", "cpu"])
    assert not (tmp_path / "run").exists(), "refused before making the run folder"


@pytest.mark.parametrize("flags, message", [
    (["--p-line", "1.5"], "p_line is a probability: expected 0 to 1, got 1.5"),
    (["--min-length", "20", "--max-length", "4"], "0 <= min_length <= max_length, got min_length 20.0 and max_length 4.0"),
])
def test_degradation_settings_out_of_range_are_refused_before_the_run_starts(tmp_path, flags, message):
    with pytest.raises(SystemExit, match=message):
        T.main(["--run", str(tmp_path / "run"), "--config", "tiny", "--steps", "1", "--device", "cpu", *flags])
    assert not (tmp_path / "run").exists(), "refused before making the run folder"


def test_with_minutes_the_cosine_ends_when_the_time_is_up():
    from deblur_train.train import lr_at, parse_args

    timed = parse_args(["--lr", "1e-3", "--warmup", "1", "--steps", "1000000", "--cosine", "--lr-floor", "0.1",
                        "--minutes", "10"])
    assert lr_at(100, timed, elapsed_s=0.0) == pytest.approx(1e-3, rel=1e-3)
    assert lr_at(100, timed, elapsed_s=300.0) == pytest.approx(1e-3 * 0.55, rel=1e-3)
    assert lr_at(100, timed, elapsed_s=600.0) == pytest.approx(1e-4)
    assert lr_at(100, timed, elapsed_s=900.0) == pytest.approx(1e-4)
    # Without --cosine the time changes nothing.
    flat = parse_args(["--lr", "1e-3", "--warmup", "1", "--minutes", "10"])
    assert lr_at(100, flat, elapsed_s=600.0) == pytest.approx(1e-3)


def test_slim_weights_export_and_start_a_run_like_the_checkpoint(tmp_path):
    from deblur_train.export import load_ema_model
    from deblur_train.weights import slim

    data = make_data(tmp_path / "data")
    full = run(tmp_path, tmp_path / "a", 2, data)
    size = slim(tmp_path / "a" / "last.pt", tmp_path / "w.pt")
    assert size < (tmp_path / "a" / "last.pt").stat().st_size / 4  # no optimiser, no raw weights, fp16
    model = load_ema_model(tmp_path / "w.pt")
    for name, v in model.state_dict().items():
        assert v.dtype == full["ema"][name].dtype  # fp16 on disk, float32 once loaded
        torch.testing.assert_close(v, full["ema"][name], atol=2e-3, rtol=1e-3)
    started = run(tmp_path, tmp_path / "b", 0, data, "--init", str(tmp_path / "w.pt"))
    for name, v in started["ema"].items():
        torch.testing.assert_close(v, model.state_dict()[name])
    with pytest.raises(ValueError, match="no config or ema"):
        torch.save({"step": 1}, tmp_path / "bad.pt")
        slim(tmp_path / "bad.pt", tmp_path / "out.pt")


def test_gpu_pack_holds_jpeg_photos_and_the_start_weights(tmp_path):
    from deblur_train.gpu_pack import pack

    data = make_data(tmp_path / "data")
    run(tmp_path, tmp_path / "a", 1, data)
    size = pack(data, tmp_path / "pack", tmp_path / "a" / "last.pt")
    photos = sorted(p.name for p in (tmp_path / "pack" / "data").iterdir())
    assert photos == ["img0.jpg", "img1.jpg", "img2.jpg"]
    assert Image.open(tmp_path / "pack" / "data" / "img0.jpg").size == (200, 180)
    assert (tmp_path / "pack" / "init.pt").exists()
    assert size == sum(f.stat().st_size for f in (tmp_path / "pack").rglob("*") if f.is_file())
    with pytest.raises(SystemExit, match="expected at most"):
        pack(data, tmp_path / "pack", None, limit=1000)


def test_bench_train_times_every_stage_both_ways(capsys):
    from deblur_train import bench_train

    bench_train.main(["--config", "tiny", "--batch", "2", "--crop", "32", "--threads", "1", "--reps", "1"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "stage" not in line]
    assert [r.split("|")[1].strip() for r in rows] == ["joint", "predictor-only", "freeze-predictor"]
    for r in rows:
        f32, bf16 = (float(c) for c in r.split("|")[2:4])
        assert f32 > 0 and bf16 > 0


def test_gpu_train_script_runs_end_to_end_on_the_cpu(tmp_path):
    """scripts/gpu-train.sh, the one call a lent GPU gets, run here on the CPU with the tiny
    config: it must train from the pack, pass its settings through and bring back the weights."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from deblur_train.gpu_pack import pack

    root = Path(__file__).resolve().parents[2]
    data = make_data(tmp_path / "data")
    pack(data, tmp_path / "pack", None)
    out, run_dir = tmp_path / "out", tmp_path / "run"
    env = dict(os.environ, OUT=str(out), PACK=str(tmp_path / "pack"), RUN=str(run_dir), PY=sys.executable,
               DEVICE="cpu", BF16="0", CONFIG="tiny", MINUTES="0.1", WORKERS="1", BATCH="2", LENGTH_POWER="2",
               NOISE_POWER="8", P_GOPRO="0.1", P_LINE="0.5", MIN_LENGTH="4", MAX_LENGTH="20",
               OMP_NUM_THREADS="1")
    done = subprocess.run(["bash", str(root / "scripts" / "gpu-train.sh")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "saved" in (out / "train.out").read_text()
    args = torch.load(run_dir / "last.pt", weights_only=False)["args"]
    assert (args["device"], args["config"], args["batch"]) == ("cpu", "tiny", 2)
    assert (args["length_power"], args["noise_power"], args["p_gopro"], args["bf16"]) == (2.0, 8.0, 0.1, False)
    assert (args["p_line"], args["min_length"], args["max_length"]) == (0.5, 4.0, 20.0)
    weights = torch.load(out / "weights.pt", weights_only=False)
    assert weights["config"]["name"] == "tiny"
    assert all(v.dtype == torch.float16 and torch.isfinite(v).all() for v in weights["ema"].values() if v.is_floating_point())

"""Data loading tests: numpy/Pillow only, no torch."""

import numpy as np
import pytest
from PIL import Image

from deblur_train import data as Dt
from deblur_train.degrade import MARGIN


def test_plasma_paths_are_refused(tmp_path):
    with pytest.raises(Dt.ReservedDataError, match="plasma"):
        Dt.check_training_path("/usr/share/wallpapers/plasma-workspace/Altai.png")
    d = tmp_path / "Plasma-copy"
    d.mkdir()
    Image.new("RGB", (200, 200)).save(d / "a.png")
    with pytest.raises(Dt.ReservedDataError):
        Dt.list_images(d)
    with pytest.raises(Dt.ReservedDataError):
        Dt.list_images(tmp_path)  # the plasma file is found inside an innocent directory


def test_list_images_finds_pictures(tmp_path):
    Image.new("RGB", (200, 200)).save(tmp_path / "a.png")
    Image.new("RGB", (200, 200)).save(tmp_path / "b.jpg")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in Dt.list_images(tmp_path)] == ["a.png", "b.jpg"]


def test_augment_keeps_pixels():
    img = np.arange(5 * 5 * 3, dtype=np.float32).reshape(5, 5, 3)
    rng = np.random.default_rng(0)
    for _ in range(10):
        a = Dt.augment(img, rng)
        assert a.shape == img.shape
        np.testing.assert_array_equal(np.sort(a.ravel()), np.sort(img.ravel()))


def test_gradient_energy_flat_vs_textured():
    rng = np.random.default_rng(0)
    assert Dt.gradient_energy(np.full((32, 32, 3), 0.5)) == 0.0
    assert Dt.gradient_energy(rng.random((32, 32, 3))) > 0.05


def test_sampler_batches(tmp_path):
    rng = np.random.default_rng(0)
    imgs = [(rng.random((300, 260, 3)) * 255).astype(np.uint8), np.full((170, 400, 3), 128, np.uint8)]
    s = Dt.CropSampler(imgs, Dt.CropConfig(size=64))
    y, x = s.batch(4, rng)
    assert y.shape == x.shape == (4, 3, 64, 64)
    assert y.dtype == np.float32
    assert y.min() >= -1 and y.max() <= 1 and x.min() >= -1 and x.max() <= 1


def test_sampler_prefers_texture():
    rng = np.random.default_rng(0)
    flat = np.full((400, 400, 3), 100, np.uint8)
    textured = (rng.random((400, 400, 3)) * 255).astype(np.uint8)
    s = Dt.CropSampler([flat, textured], Dt.CropConfig(size=64))
    energies = [Dt.gradient_energy(s.sample_source(rng)) for _ in range(40)]
    assert np.mean([e > 0 for e in energies]) > 0.9


def test_sampler_rejects_small_images():
    with pytest.raises(ValueError, match="at least"):
        Dt.CropSampler([np.zeros((100, 100, 3), np.uint8)], Dt.CropConfig(size=128))
    assert 128 + 2 * MARGIN == 160


def small_sampler():
    rng = np.random.default_rng(0)
    imgs = [(rng.random((300, 260, 3)) * 255).astype(np.uint8), (rng.random((200, 220, 3)) * 255).astype(np.uint8)]
    return Dt.CropSampler(imgs, Dt.CropConfig(size=48))


def test_worker_processes_make_the_same_batches_as_the_training_process():
    sampler = small_sampler()
    with Dt.BatchSource(sampler, 3, seed=5) as inline:
        expected = [inline.next() for _ in range(6)]
    with Dt.BatchSource(sampler, 3, seed=5, workers=2) as pool:
        got = [pool.next() for _ in range(6)]
    for step, ((ey, ex), (gy, gx)) in enumerate(zip(expected, got)):
        np.testing.assert_array_equal(gy, ey, err_msg=f"blurry batch of step {step}")
        np.testing.assert_array_equal(gx, ex, err_msg=f"sharp batch of step {step}")
    # Steps differ from each other, and a resumed source continues where the first left off.
    assert not np.array_equal(expected[0][1], expected[1][1])
    with Dt.BatchSource(sampler, 3, seed=5, start_step=4, workers=1) as resumed:
        np.testing.assert_array_equal(resumed.next()[1], expected[4][1])
    with Dt.BatchSource(sampler, 3, seed=6) as other_seed:
        assert not np.array_equal(other_seed.next()[1], expected[0][1])


def test_batch_source_refuses_negative_workers():
    with pytest.raises(ValueError, match="got -1"):
        Dt.BatchSource(small_sampler(), 2, seed=0, workers=-1)


def test_workers_die_on_sigterm_whatever_handler_the_trainer_installed():
    # train.py installs a SIGTERM handler; Pool.terminate kills workers with SIGTERM while it
    # holds their queue's lock, so a worker that inherited the handler would hang the join.
    import signal

    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        source = Dt.BatchSource(small_sampler(), 2, seed=0, workers=1)
        assert source.pool.apply(signal.getsignal, (signal.SIGTERM,)) == signal.SIG_DFL
        assert source.pool.apply(signal.getsignal, (signal.SIGINT,)) == signal.SIG_IGN
        source.close()
        assert source.pool is None
    finally:
        signal.signal(signal.SIGTERM, previous)

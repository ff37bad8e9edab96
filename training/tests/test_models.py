"""Network tests (need torch)."""

import pytest

torch = pytest.importorskip("torch", reason="torch not installed: pip install -r training/requirements-train.txt")

from deblur_train.configs import PAPER, SMALL, TINY, ModelConfig, UNetConfig  # noqa: E402
from deblur_train.models import DeblurModel, count_params  # noqa: E402


def perturbed(cfg=TINY, seed=0):
    torch.manual_seed(seed)
    m = DeblurModel(cfg).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return m


@pytest.mark.parametrize("hw", [(16, 16), (48, 80), (64, 32)])
@pytest.mark.parametrize("n", [1, 3])
def test_shapes_any_size_multiple_of_pad(hw, n):
    m = perturbed()
    assert m.pad_multiple == 16
    y = torch.randn(n, 3, *hw)
    with torch.no_grad():
        assert m.predictor(y).shape == y.shape
        assert m.denoiser(torch.randn_like(y), torch.rand(n), y).shape == y.shape


def test_no_normalisation_or_attention_layers():
    m = DeblurModel(SMALL)
    banned = (torch.nn.GroupNorm, torch.nn.BatchNorm2d, torch.nn.LayerNorm, torch.nn.MultiheadAttention)
    assert not [x for x in m.modules() if isinstance(x, banned)]


def test_predictor_starts_as_identity_and_denoiser_at_zero():
    m = DeblurModel(ModelConfig("plain", TINY.predictor, TINY.denoiser))
    y = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(m.predictor(y), y)
        assert m.denoiser(y, torch.rand(2), y).abs().max() == 0


def test_preconditioned_denoiser_starts_from_the_wiener_estimate():
    m = DeblurModel(TINY)
    sd = TINY.denoiser_sigma_data
    z, y = torch.randn(3, 3, 32, 32), torch.randn(3, 3, 32, 32)
    level = torch.tensor([0.05, 0.7, 0.9999995])
    with torch.no_grad():
        eps = m.denoiser(z, level, y)
    lv = level.double().view(-1, 1, 1, 1)
    s = torch.sqrt(1 - lv**2)
    r_hat = lv * sd**2 / (lv**2 * sd**2 + s**2) * z.double()
    # eps = (z - l r_hat) / s, evaluated where s is not tiny; finite everywhere.
    torch.testing.assert_close(eps[:2].double(), ((z.double() - lv * r_hat) / s)[:2], atol=1e-5, rtol=1e-5)
    assert torch.isfinite(eps).all()


def test_preconditioned_denoiser_is_exact_for_the_true_epsilon():
    # Whatever F is, eps_hat = (z - l r_hat) / s for the implied r_hat: check by building z from
    # r_hat and the output.
    m = perturbed()
    z, y = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16)
    level = torch.tensor([0.3, 0.95])
    with torch.no_grad():
        eps = m.denoiser(z, level, y)
    lv = level.view(-1, 1, 1, 1)
    r_hat = (z - torch.sqrt(1 - lv**2) * eps) / lv
    assert torch.isfinite(r_hat).all()


def test_noise_level_changes_the_denoiser_output():
    m = perturbed()
    y = torch.randn(2, 3, 32, 32)
    z = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        a = m.denoiser(z, torch.tensor([0.3, 0.3]), y)
        b = m.denoiser(z, torch.tensor([0.3, 0.999]), y)
    torch.testing.assert_close(a[0], b[0])
    assert (a[1] - b[1]).abs().max() > 1e-4


def test_pad_multiple_and_paper_sizes():
    assert SMALL.predictor.pad_multiple == 16
    assert PAPER.predictor.pad_multiple == 8
    assert UNetConfig(unshuffle=1, channel_mults=(1, 2)).pad_multiple == 2
    with pytest.raises(ValueError, match="pad_multiple"):
        DeblurModel(ModelConfig("bad", UNetConfig(unshuffle=2), UNetConfig(unshuffle=1)))
    m = DeblurModel(SMALL)
    assert count_params(m.predictor) > 3 * count_params(m.denoiser)


def test_config_roundtrip():
    assert ModelConfig.from_dict(SMALL.to_dict()) == SMALL


SPECTRAL_TINY = ModelConfig("tiny-spectral", UNetConfig(base_channels=8, num_res_blocks=1, unshuffle=2, emb_dim=16,
                                                        spectral_levels=(0, 3)), TINY.denoiser)


def test_spectral_branches_go_where_the_config_says_and_start_at_zero():
    m = DeblurModel(SPECTRAL_TINY)
    net = m.predictor.net
    assert [b.spectral is not None for b in net.down if hasattr(b, "spectral")] == [True, False, False, True]
    assert all(b.spectral is not None for b in net.mid)
    # Up levels run from the deepest: 2 blocks each at levels 3, 2, 1, 0.
    assert [b.spectral is not None for b in net.up if hasattr(b, "spectral")] == [True] * 2 + [False] * 4 + [True] * 2
    plain = perturbed(ModelConfig("plain", TINY.predictor, TINY.denoiser), seed=1)
    missing, unexpected = m.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(".spectral." in k for k in missing)
    y = torch.randn(2, 3, 48, 80)
    with torch.no_grad():
        torch.testing.assert_close(m.predictor(y), plain.predictor(y))
    # Once its last convolution is not zero, a branch makes every output pixel depend on the whole
    # map: a change in one corner of its input moves the opposite corner.
    branch = net.mid[0].spectral
    with torch.no_grad():
        branch.conv2.weight.normal_(std=0.1)
        h = torch.randn(1, branch.conv1.in_channels // 2, 24, 40)
        h2 = h.clone()
        h2[:, :, :2, :2] += 1.0
        assert (branch(h2) - branch(h))[:, :, -2:, -2:].abs().max() > 1e-3


def test_spectral_branch_runs_under_bf16_autocast():
    # train --bf16 runs the predictor under bfloat16 autocast: the 1x1 convolutions return
    # bfloat16, which torch.complex refuses, so the branch goes back to float32 for the inverse.
    m = perturbed(SPECTRAL_TINY, seed=2)
    y = torch.randn(1, 3, 48, 80)
    with torch.no_grad():
        reference = m.predictor(y)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = m.predictor(y)
    assert out.shape == reference.shape
    assert (out.float() - reference).abs().max() < 0.1


def test_spectral_levels_roundtrip_and_range():
    assert ModelConfig.from_dict(SPECTRAL_TINY.to_dict()) == SPECTRAL_TINY
    # Manifests written before the field existed still load.
    old = SMALL.to_dict()
    del old["predictor"]["spectral_levels"]
    assert ModelConfig.from_dict(old) == SMALL
    with pytest.raises(ValueError, match=r"levels \[4\].*expected values in 0..3"):
        DeblurModel(ModelConfig("bad", UNetConfig(spectral_levels=(1, 4)), TINY.denoiser))


@pytest.mark.parametrize("hw", [(7, 8), (13, 21), (45, 77)])
def test_spectral_transforms_by_matmul_match_torch_fft(hw):
    # The ONNX graph computes the spectrum by these products; training uses torch.fft.
    from deblur_train.models import irfft2_by_matmul, rfft2_by_matmul

    x = torch.randn(2, 3, *hw)
    spectrum = torch.fft.rfft2(x, norm="ortho")
    real, imag = rfft2_by_matmul(x)
    torch.testing.assert_close(real, spectrum.real, atol=1e-5, rtol=0)
    torch.testing.assert_close(imag, spectrum.imag, atol=1e-5, rtol=0)
    # Any spectrum, not only a real image's: the inverse must treat the edge bins as torch does.
    real, imag = torch.randn_like(real), torch.randn_like(imag)
    torch.testing.assert_close(irfft2_by_matmul(real, imag, hw[1]),
                               torch.fft.irfft2(torch.complex(real, imag), s=hw, norm="ortho"), atol=1e-5, rtol=0)

"""experiments/widen.py: a widened predictor computes what the narrow one did, and its new
channels are free to learn."""

import dataclasses

import pytest

torch = pytest.importorskip("torch", reason="torch not installed: pip install -r training/requirements-train.txt")

from deblur_train.configs import TINY  # noqa: E402
from deblur_train.models import DeblurModel  # noqa: E402
from experiments.widen import widened_model  # noqa: E402

# Spectral branches at two levels (one of them the deepest, so the middle blocks get one too) and
# two blocks a level, so that identity skips, 1x1 skips, the concatenated skips and the branches'
# [real | imag] layout are all crossed.
NARROW = dataclasses.replace(TINY, predictor=dataclasses.replace(TINY.predictor, num_res_blocks=2, spectral_levels=(1, 3)))


def trained_looking(cfg) -> DeblurModel:
    """A model whose every weight is non-zero: the zero-initialised last layers would otherwise
    hide a weight copied to the wrong place."""
    torch.manual_seed(3)
    model = DeblurModel(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.1)
    return model


def test_widened_predictor_computes_the_same():
    narrow = trained_looking(NARROW)
    wide = widened_model(narrow, base_channels=12)
    assert wide.cfg.predictor.base_channels == 12
    assert sum(p.numel() for p in wide.predictor.parameters()) > 2 * sum(p.numel() for p in narrow.predictor.parameters())
    y = torch.rand(2, 3, 48, 80)
    with torch.no_grad():
        expected = narrow.predictor(y)
        got = wide.predictor(y)
    # The U-Net's correction to y is large enough that a misplaced weight would show.
    assert (expected - y).abs().max() > 0.2
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()
    for a, b in zip(wide.denoiser.state_dict().values(), narrow.denoiser.state_dict().values()):
        assert torch.equal(a, b)


def test_new_channels_get_gradients_through_their_outgoing_weights():
    narrow = trained_looking(NARROW)
    wide = widened_model(narrow, base_channels=12)
    wide.predictor(torch.rand(1, 3, 48, 48)).square().mean().backward()
    conv_out = wide.predictor.net.conv_out
    old_in = narrow.predictor.net.conv_out.in_channels
    # The output layer reads the new channels with zero weights, but the loss already pulls on them.
    assert torch.all(conv_out.weight[:, old_in:] == 0)
    assert conv_out.weight.grad[:, old_in:].abs().sum() > 0


def test_widening_to_fewer_channels_is_refused():
    with pytest.raises(ValueError, match="expected more than the predictor's 8 channels"):
        widened_model(trained_looking(NARROW), base_channels=8)

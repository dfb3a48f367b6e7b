"""DefocusGAN generator: masks, annealing, shapes, map independence, parameter count."""

import math

import numpy as np
import pytest
import torch

from blurmap.models import build_model, count_parameters
from blurmap.models.defocusgan import (
    BranchUNet,
    DefocusGANGenerator,
    DefocusGuideBlock,
    defocus_masks,
    guidance_weight_schedule,
)

TINY = dict(dgb_widths=[[4, 4, 8, 8], [4, 8, 8], [4, 8]])


pytestmark = pytest.mark.usefixtures("one_thread")


def _trained_like(g):
    """The last conv starts at zero (identity network); give it weights as training would."""
    torch.nn.init.normal_(g.tail[-1].weight, std=0.1)
    return g


def test_untrained_generator_is_the_identity():
    g = DefocusGANGenerator(**TINY).eval()
    x = torch.rand(1, 3, 24, 40)
    with torch.no_grad():
        assert torch.equal(g(x), x)


def test_defocus_masks_match_numpy_bins():
    coc = torch.tensor([0.0, -1.0, 1.9, -1.899, 4.2, 5.0, -6.2, 25.0]).view(1, 1, 2, 4)
    m = defocus_masks(coc, (1.9, 4.2, 6.2))
    # right-open bins, edges compared in the map's float32 precision
    expected_bin = np.digitize(np.abs(coc.numpy()).ravel(), np.float32([1.9, 4.2, 6.2]))
    assert m.shape == (1, 4, 2, 4)
    assert torch.equal(m.sum(1), torch.ones(1, 2, 4))
    np.testing.assert_array_equal(m[0].argmax(0).numpy().ravel(), expected_bin)


def test_guidance_schedule_values():
    assert guidance_weight_schedule(0, 20000) == 1.0
    assert guidance_weight_schedule(5000, 20000) == pytest.approx(math.exp(-0.25))
    assert guidance_weight_schedule(10000, 20000) == pytest.approx(math.exp(-1.0))
    assert guidance_weight_schedule(20000, 20000) == 0.0
    assert guidance_weight_schedule(10**6, 20000) == 0.0
    assert guidance_weight_schedule(5000, 20000, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert guidance_weight_schedule(5000, 20000, "linear") == pytest.approx(0.75)
    assert guidance_weight_schedule(10**6, 20000, "none") == 1.0
    with pytest.raises(ValueError):
        guidance_weight_schedule(1, 10, "bogus")


def test_branch_has_eight_units_of_the_right_kind():
    from blurmap.models.blocks import RCAB

    for units, n_rcab in ((0, 0), (1, 8), (2, 16), (3, 24)):
        b = BranchUNet([4, 8, 8, 8], units)
        assert sum(isinstance(m, RCAB) for m in b.modules()) == n_rcab
        n_units = len(b.encoders) + len(b.bottleneck) + len(b.decoders)
        assert n_units == 8
    with pytest.raises(ValueError):
        BranchUNet([4] * 6, 0)  # 6 levels need 10 encoder/decoder units > 8


@pytest.mark.parametrize("hw", [(37, 53), (16, 16), (64, 40), (9, 130)])
def test_any_size_output_equals_input_size(hw):
    g = DefocusGANGenerator(**TINY).eval()
    x = torch.rand(2, 3, *hw)
    with torch.no_grad():
        y = g(x)
        p = g.predict(x)["image"]
    assert y.shape == x.shape
    assert p.shape == x.shape and p.min() >= 0 and p.max() <= 1
    assert g.size_multiple == 16 and isinstance(g.receptive_field, int) and g.receptive_field > 100


def test_output_independent_of_map_when_weight_zero_and_dependent_when_guided():
    g = _trained_like(DefocusGANGenerator(**TINY)).eval()
    x = torch.rand(1, 3, 32, 48)
    maps = [torch.zeros(1, 1, 32, 48), torch.full((1, 1, 32, 48), 10.0), torch.randn(1, 1, 32, 48) * 8]
    with torch.no_grad():
        g.set_guidance_weight(0.0)
        free = g(x)
        for m in maps:
            assert torch.equal(g(x, m), free)
        g.set_guidance_weight(1.0)
        guided = [g(x, m) for m in maps]
    assert not torch.allclose(guided[0], guided[1], atol=1e-6)
    with pytest.raises(ValueError):
        g.set_guidance_weight(1.5)


def test_dgb_is_masked_sum_of_branches():
    torch.manual_seed(1)
    dgb = DefocusGuideBlock([4, 8], (0, 1, 2, 3), num_units=8)
    x = torch.randn(1, 4, 8, 8)
    masks = torch.rand(1, 4, 8, 8)
    with torch.no_grad():
        expected = x + sum(b(x) * masks[:, i : i + 1] for i, b in enumerate(dgb.branches))
        assert torch.allclose(dgb(x, masks), expected, atol=1e-6)
        assert torch.allclose(dgb(x, None), x + sum(b(x) for b in dgb.branches) / 4, atol=1e-6)


def test_paper_width_parameter_count_close_to_paper():
    g = build_model("defocusgan")
    n = count_parameters(g)
    assert abs(n - 4.59e6) / 4.59e6 < 0.01, n  # paper: 4.59 M


def test_single_scale_single_branch_variant_and_errors():
    g = DefocusGANGenerator(dgb_widths=[[4, 8, 8, 8]], branch_units=[0]).eval()
    x = torch.rand(1, 3, 20, 20)
    assert g(x, torch.ones(1, 1, 20, 20)).shape == x.shape
    assert g.size_multiple == 16
    g1 = DefocusGANGenerator(dgb_widths=[[4, 8]], space_to_depth=1)
    assert g1.size_multiple == 2
    with pytest.raises(ValueError):
        DefocusGANGenerator(branch_units=[0, 1, 2])  # 3 branches but 3 bin edges
    with pytest.raises(ValueError):
        DefocusGANGenerator(dgb_widths=[[4]] * 4)


def test_gradients_reach_every_branch_when_guided():
    g = _trained_like(DefocusGANGenerator(**TINY))
    g.set_guidance_weight(0.5)
    x = torch.rand(1, 3, 32, 32)
    coc = torch.linspace(0, 9, 32).view(1, 1, 1, 32).expand(1, 1, 32, 32)
    g(x, coc).mean().backward()
    for dgb in g.dgbs:
        for b in dgb.branches:
            assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in b.parameters())

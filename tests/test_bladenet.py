"""BladeNet / LBP modules: shapes for odd sizes, BSA attention range, variants, registry."""

import json

import pytest
import torch

from blurmap.models import build_model, count_parameters
from blurmap.models.bladenet import (
    BladeNet,
    LBPNet,
    SpatialAttention,
    UNet,
    spatial_attention,
)
from blurmap.models.padding import pad_to_multiple


@pytest.mark.parametrize("hw", [(37, 53), (16, 16), (5, 7), (64, 31)])
def test_bladenet_shapes_for_odd_sizes(hw):
    model = BladeNet(width=4).eval()
    x = torch.rand(2, 3, *hw)
    out = model.forward_train(x)
    assert out["image"].shape == x.shape
    assert out["lbp_logits"].shape == (2, 1, *hw)
    assert out["attention"].shape == (2, 1, *hw)
    pred = model.predict(x)
    assert pred["image"].shape == x.shape and pred["map"].shape == (2, 1, *hw)
    assert 0 <= pred["map"].min() and pred["map"].max() <= 1
    assert model(x).shape == x.shape


def test_lbp_shapes_and_probability():
    model = LBPNet(width=4).eval()
    x = torch.rand(1, 3, 45, 29)
    assert model(x).shape == (1, 1, 45, 29)
    out = model.predict(x)
    assert out["image"] is x
    p = out["map"]
    assert p.shape == (1, 1, 45, 29) and p.min() >= 0 and p.max() <= 1


def test_bsa_attention_in_unit_interval_and_multiplies_features():
    bsa = SpatialAttention()
    with torch.no_grad():
        bsa.conv.weight.mul_(50)  # saturate the sigmoid: values must still stay in [0, 1]
    x = torch.randn(2, 5, 9, 11) * 10
    y, att = bsa(x)
    assert att.shape == (2, 1, 9, 11)
    assert att.min() >= 0 and att.max() <= 1
    torch.testing.assert_close(y, x * att)


def test_spatial_attention_matches_manual_formula():
    conv = torch.nn.Conv2d(2, 1, 3, padding=1)
    x = torch.randn(1, 4, 6, 6)
    desc = torch.stack([x.mean(1), x.max(1).values], dim=1)
    expected = torch.sigmoid(conv(desc))
    torch.testing.assert_close(spatial_attention(x, conv), expected)


def test_summed_attention_has_three_maps():
    model = BladeNet(width=4).eval()
    _, atts = model.main(torch.rand(1, 4, 32, 32))
    assert [a.shape[-1] for a in atts] == [8, 16, 32]  # Up2, Up3, Up4
    out = model.forward_train(torch.rand(1, 3, 32, 32))
    assert 0 <= out["attention"].min() and out["attention"].max() <= 3


def test_variants_by_flags():
    plain = BladeNet(width=4, use_lbp=False, use_bsa=False).eval()
    out = plain.forward_train(torch.rand(1, 3, 20, 20))
    assert set(out) == {"image"} and plain.lbp is None
    assert "map" not in plain.predict(torch.rand(1, 3, 20, 20))
    lbp_only = BladeNet(width=4, use_bsa=False).forward_train(torch.rand(1, 3, 20, 20))
    assert set(lbp_only) == {"image", "lbp_logits"}
    bsa_only = BladeNet(width=4, use_lbp=False).forward_train(torch.rand(1, 3, 20, 20))
    assert set(bsa_only) == {"image", "attention"}
    # BSA adds 3 attention convs and 3 extra double convs
    assert count_parameters(BladeNet(width=4, use_lbp=False)) > count_parameters(plain)


def test_registry_and_json_config():
    model = build_model("bladenet", width=4, use_lbp=True, use_bsa=False)
    assert isinstance(model, BladeNet)
    cfg = json.loads(json.dumps(model.config))
    again = build_model("bladenet", **cfg)
    assert again.load_state_dict(model.state_dict()) is not None
    assert isinstance(build_model("lbp", width=4), LBPNet)
    assert isinstance(model.receptive_field, int) and model.size_multiple == 16


def test_paper_width_parameter_count():
    # hand count of our layout (see module docstring), LBP + main + BSA at width 64
    def dc(i, o):
        return 9 * i * o + 9 * o * o + 4 * o  # two bias-free 3x3 convs + two BN (weight, bias)

    w = 64
    enc = dc(w, 2 * w) + dc(2 * w, 4 * w) + dc(4 * w, 8 * w) + dc(8 * w, 8 * w)
    dec = dc(8 * w, 8 * w) + dc(16 * w, 4 * w) + dc(8 * w, 2 * w) + dc(4 * w, w)
    lbp = dc(3, w) + enc + dec + (2 * w + 1)
    main = dc(4, w) + enc + dec + (2 * w * 3 + 3)
    bsa = dc(4 * w, 4 * w) + dc(2 * w, 2 * w) + dc(w, w) + 3 * (2 * 49 + 1)
    assert count_parameters(BladeNet(width=64)) == lbp + main + bsa


def test_untrained_residual_network_is_identity():
    # the residual head starts at zero: an untrained BladeNet leaves the image alone
    model = BladeNet(width=4).eval()
    x = torch.rand(1, 3, 23, 19)
    torch.testing.assert_close(model(x), x)
    plain = BladeNet(width=4, residual=False).eval()
    assert not torch.allclose(plain(x), x)


def test_pad_to_multiple_crops_back():
    x = torch.rand(1, 3, 17, 33)
    y, (h, w) = pad_to_multiple(x, 16)
    assert y.shape[-2:] == (32, 48) and (h, w) == (17, 33)
    torch.testing.assert_close(y[..., :h, :w], x)
    tiny, _ = pad_to_multiple(torch.rand(1, 3, 3, 2), 16)  # smaller than the pad: replicate
    assert tiny.shape[-2:] == (16, 16)


def test_unet_gradients_flow_through_bsa():
    net = UNet(3, 3, width=4, bsa=True)
    out, atts = net(torch.rand(2, 3, 16, 16))
    (out.mean() + sum(a.mean() for a in atts)).backward()
    assert net.up2.bsa.conv.weight.grad is not None


def test_forward_outputs_selects_what_training_and_inference_need():
    torch.manual_seed(0)
    net = build_model("bladenet", width=4, bottleneck_mult=2).eval()
    x = torch.rand(1, 3, 20, 28)
    with torch.no_grad():
        full = net.forward_train(x)
        assert torch.equal(net(x), full["image"])
        assert torch.equal(net(x, outputs="all")["lbp_logits"], full["lbp_logits"])
        assert torch.allclose(net(x, outputs="lbp"), full["lbp_logits"], atol=1e-6)
    with pytest.raises(ValueError, match="image, all or lbp"):
        net(x, outputs="map")
    with pytest.raises(ValueError, match="no LBP"):
        build_model("bladenet", width=4, bottleneck_mult=2, use_lbp=False)(x, outputs="lbp")

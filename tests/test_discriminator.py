"""PatchGAN (pix2pix n_layers=3, ndf=64) and the DeblurGAN-v2 double discriminator."""

import pytest
import torch

from blurmap.models import build_model
from blurmap.models.discriminators import DoubleDiscriminator, PatchDiscriminator

pytestmark = pytest.mark.usefixtures("one_thread")


def _conv_out(n, k=4, s=2, p=1):
    return (n + 2 * p - k) // s + 1


def test_patchgan_parameter_count_matches_hand_count():
    d = build_model("patchgan")
    # conv(k=4) weights + biases, instance norms (affine: 2 per channel), final 1-channel conv
    convs = [(3, 64), (64, 128), (128, 256), (256, 512), (512, 1)]
    expected = sum(i * o * 16 + o for i, o in convs) + 2 * (128 + 256 + 512)
    assert sum(p.numel() for p in d.parameters()) == expected == 2_766_529


@pytest.mark.parametrize("size", [70, 96, 130])
def test_patch_grid_size_follows_conv_arithmetic(size):
    d = PatchDiscriminator(ndf=8)
    n = size
    for _ in range(3):
        n = _conv_out(n)
    n = _conv_out(_conv_out(n, s=1), s=1)
    out = d(torch.rand(2, 3, size, size + 8))
    assert out.shape[:2] == (2, 1) and out.shape[2] == n


def test_patchgan_receptive_field_is_local_70px():
    d = PatchDiscriminator(ndf=4).eval()
    # instance norm pools over the image; drop it to see the convolutions' footprint
    for i, m in enumerate(d.net):
        if isinstance(m, torch.nn.InstanceNorm2d):
            d.net[i] = torch.nn.Identity()
    x = torch.rand(1, 3, 160, 160, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()  # a central patch (no padding)
    rows = (x.grad.abs().sum((0, 1, 3)) > 0).nonzero()
    assert rows.max() - rows.min() + 1 == 70  # pix2pix's 70x70 PatchGAN


def test_double_discriminator_heads():
    d = DoubleDiscriminator(ndf=4, full_layers=3)
    out = d(torch.rand(2, 3, 64, 64))
    assert set(out) == {"patch", "full"}
    assert out["full"].shape == (2, 1, 1, 1)
    assert out["patch"].shape == PatchDiscriminator(ndf=4)(torch.rand(2, 3, 64, 64)).shape
    assert isinstance(build_model("double_discriminator", ndf=4), DoubleDiscriminator)

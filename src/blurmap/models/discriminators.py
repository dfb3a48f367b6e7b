"""Discriminators for DefocusGAN: PatchGAN (paper) and the DeblurGAN-v2 double GAN (ablation).

PatchGAN follows pix2pix's ``NLayerDiscriminator`` (Isola et al. 2017) with ``n_layers=3``
and ``ndf=64``: 4x4 convs, stride 2 for the first three, LeakyReLU(0.2), then two stride-1
4x4 convs down to one channel. It maps an image to an ``N x N`` grid of scores (70x70 px
receptive field each), which the defocus adversarial loss re-weights by the defocus map.

Normalisation: the paper trains with a WGAN-GP style gradient penalty, which is defined per
sample, so batch norm (pix2pix's default) would be wrong; instance norm with affine
parameters is used instead (as DeblurGAN does with WGAN-GP).
"""

from __future__ import annotations

from torch import nn

from blurmap.models import register_model


def _patch_layers(in_channels: int, ndf: int, n_layers: int) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers):
        prev, mult = mult, min(2**n, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1),
            nn.InstanceNorm2d(ndf * mult, affine=True),
            nn.LeakyReLU(0.2, True),
        ]
    prev, mult = mult, min(2**n_layers, 8)
    layers += [
        nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1),
        nn.InstanceNorm2d(ndf * mult, affine=True),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1),
    ]
    return layers


@register_model("patchgan")
class PatchDiscriminator(nn.Module):
    """PatchGAN critic.

    Args:
        in_channels: image channels.
        ndf: filters of the first layer (paper: 64).
        n_layers: stride-2 layers (paper: 3).

    Shape: ``(B, C, H, W) -> (B, 1, h, w)`` unbounded scores (a WGAN critic, no sigmoid);
    for ``n_layers=3``, ``h = H/8 - 2`` (e.g. 512 -> 62).
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        self.net = nn.Sequential(*_patch_layers(in_channels, ndf, n_layers))

    def forward(self, x):
        return self.net(x)


@register_model("double_discriminator")
class DoubleDiscriminator(nn.Module):
    """DeblurGAN-v2 "double GAN": a local PatchGAN plus a full-image critic.

    The full-image critic is a deeper PatchGAN (``full_layers=5``, as DeblurGAN-v2's
    ``get_fullD``) whose patch scores are averaged to one score per image.

    Shape: ``(B, C, H, W) -> {"patch": (B, 1, h, w), "full": (B, 1, 1, 1)}``; the full critic
    needs ``H, W >= 3 * 2 ** full_layers`` (96 px for 5 layers; use fewer layers on tiny crops).
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, full_layers: int = 5):
        super().__init__()
        self.patch = PatchDiscriminator(in_channels, ndf, n_layers)
        self.full = PatchDiscriminator(in_channels, ndf, full_layers)

    def forward(self, x):
        return {"patch": self.patch(x), "full": self.full(x).mean(dim=(2, 3), keepdim=True)}

"""Baseline generators for the DefocusGAN ablations (paper Tables 4 and 6).

* ``fpn_deblur``: the DeblurGAN-v2 FPN generator (Kupyn et al. 2019) with a plain
  convolutional encoder trained from scratch (no ImageNet backbone: none is available
  offline here, and Table 6 compares generator designs, not pretraining). Structure as in
  DeblurGAN-v2: five encoder stages (1/2 .. 1/32), lateral 1x1 convs into a top-down pyramid,
  a two-conv head per pyramid level upsampled to 1/4 and concatenated, smoothing convs, two
  x2 upsamplings with a skip from the 1/2 stage, and a global residual.
* The Table 4 "single-scale base", "+RCAB" and "+DGB" networks are
  :class:`blurmap.models.defocusgan.DefocusGANGenerator` with constructor arguments (one
  scale, one plain/RCAB branch or the 4-branch DGB); see ``configs/ablations/``.

All generators follow the inference convention of :mod:`blurmap.models` and accept (and
ignore, for the FPN) a ``defocus_map`` argument so a recipe can call them uniformly.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from blurmap.models import register_model
from blurmap.models.blocks import conv3x3
from blurmap.models.padding import pad_to_multiple


def _conv_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(conv3x3(cin, cout, stride), nn.ReLU(inplace=True))


@register_model("fpn_deblur")
class FPNDeblurGenerator(nn.Module):
    """DeblurGAN-v2-style FPN generator without a pretrained encoder.

    Args:
        encoder_widths: channels of the 5 encoder stages (strides 2, 4, 8, 16, 32).
        fpn_width: channels of the pyramid (DeblurGAN-v2: 256; 128 in its mobile variant).
        head_width: channels of each level head (DeblurGAN-v2: 128; 64 mobile).
        in_channels: image channels.

    Shape: ``(B, C, H, W) -> (B, C, H, W)`` for any H, W (reflect padding to a multiple of 32).
    """

    def __init__(self, encoder_widths: Sequence[int] = (32, 64, 128, 256, 256), fpn_width: int = 128,
                 head_width: int = 64, in_channels: int = 3):
        super().__init__()
        e = [int(c) for c in encoder_widths]
        if len(e) != 5:
            raise ValueError("encoder_widths needs 5 stages")
        self.size_multiple = 32
        stages, prev = [], in_channels
        for c in e:
            stages.append(nn.Sequential(_conv_relu(prev, c, stride=2), _conv_relu(c, c)))
            prev = c
        self.encoder = nn.ModuleList(stages)
        self.laterals = nn.ModuleList(nn.Conv2d(c, fpn_width, 1) for c in e[1:])  # 1/4 .. 1/32
        self.lateral0 = nn.Conv2d(e[0], fpn_width // 2, 1)  # 1/2 skip
        self.heads = nn.ModuleList(
            nn.Sequential(_conv_relu(fpn_width, head_width), _conv_relu(head_width, head_width)) for _ in e[1:]
        )
        self.smooth = _conv_relu(4 * head_width, fpn_width // 2)
        self.smooth2 = _conv_relu(fpn_width // 2, fpn_width // 4)
        self.final = conv3x3(fpn_width // 4, in_channels)
        # receptive field of the deepest path (2 convs per stage + pyramid convs), approx.
        self.receptive_field = 2 * sum(2 * 2**i for i in range(1, 6)) + 4 * 32 + 8

    def forward(self, blurred: torch.Tensor, defocus_map: torch.Tensor | None = None) -> torch.Tensor:
        h, w = blurred.shape[-2:]
        x, _ = pad_to_multiple(blurred, 32)
        feats, f = [], x
        for stage in self.encoder:
            f = stage(f)
            feats.append(f)
        # top-down pathway over 1/4 .. 1/32
        lat = [conv(t) for conv, t in zip(self.laterals, feats[1:])]
        maps = [lat[-1]]
        for t in reversed(lat[:-1]):
            maps.insert(0, t + F.interpolate(maps[0], size=t.shape[-2:], mode="nearest"))
        size4 = feats[1].shape[-2:]
        heads = [F.interpolate(hd(m), size=size4, mode="nearest") if i else hd(m)
                 for i, (hd, m) in enumerate(zip(self.heads, maps))]
        s = self.smooth(torch.cat(heads, 1))
        s = F.interpolate(s, size=feats[0].shape[-2:], mode="nearest") + self.lateral0(feats[0])
        s = self.smooth2(s)
        s = F.interpolate(s, size=x.shape[-2:], mode="nearest")
        out = x + self.final(s)
        return out[..., :h, :w]

    @torch.no_grad()
    def predict(self, blurred: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"image": (B,3,H,W) in [0,1]}``."""
        return {"image": self.forward(blurred).clamp(0.0, 1.0)}

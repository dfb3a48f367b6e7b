"""Building blocks shared by the networks.

RCAB (residual channel attention block) follows RCAN (Zhang et al., ECCV 2018), which both
the DefocusGAN generator and the defocus-map network use: ``x + CA(conv(relu(conv(x))))``
where CA rescales channels by a squeeze-excitation gate.
"""

from __future__ import annotations

import torch
from torch import nn


def conv3x3(in_ch: int, out_ch: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    """3x3 convolution with 'same' padding."""
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=bias)


class ChannelAttention(nn.Module):
    """Squeeze-excitation channel gate of RCAN.

    Shape: ``(B, C, H, W) -> (B, C, H, W)``. ``reduction`` divides C in the bottleneck
    (at least one channel is kept).
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class RCAB(nn.Module):
    """Residual channel attention block: ``x + CA(conv(relu(conv(x))))``.

    Shape: ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(channels, channels),
            nn.ReLU(inplace=True),
            conv3x3(channels, channels),
            ChannelAttention(channels, reduction),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)

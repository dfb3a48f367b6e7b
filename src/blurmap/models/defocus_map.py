"""Defocus maps from dual-pixel views: the network f and per-pair estimation.

- :class:`DefocusMapNet` (registry ``"defocus_map_net"``): left + right DP views (6 channels)
  -> signed CoC map in px, bounded by ``max_coc * tanh`` (paper: |CoC| <= 25, after BaMBNet).
  "A network similar to the deblurring network" (DefocusGAN §3): a multi-branch input — a
  shared-weight *view branch* run on each view (siamese, so left and right are encoded alike),
  and a *pair branch* on ``[left, right, left - right]`` that sees the disparity directly —
  fused and fed to an encoder-decoder of RCAB stages with skip connections.

The per-pair fit with no training data (``--optimize``) lives in :mod:`blurmap.fit`.
"""

from __future__ import annotations

import torch
from torch import nn

from blurmap.models import register_model
from blurmap.models.blocks import RCAB, conv3x3
from blurmap.models.padding import pad_to_multiple
from blurmap.physics.kernels import DPKernelBank

__all__ = ["DefocusMapNet", "LearnableBlurKernel"]


@register_model("dp_kernel_bank")
class LearnableBlurKernel(DPKernelBank):
    """The learnable blur kernel g as a registered model (so training exports it as weights).

    Same arguments as :class:`blurmap.physics.kernels.DPKernelBank`; ``forward(view)``
    returns the normalised ``(R + 1, K, K)`` kernels of that view.
    """

    def __init__(self, max_radius: int = 25, kind: str = "butterworth", order: int = 3,
                 beta: float = 0.1, cutoff_factor: float = 2.5):
        super().__init__(max_radius, kind=kind, order=order, beta=beta, cutoff_factor=cutoff_factor)
        self.init_kwargs = dict(max_radius=max_radius, kind=kind, order=order, beta=beta,
                                cutoff_factor=cutoff_factor)


class _Stage(nn.Sequential):
    def __init__(self, channels: int, blocks: int, reduction: int):
        super().__init__(*[RCAB(channels, reduction) for _ in range(blocks)])


@register_model("defocus_map_net")
class DefocusMapNet(nn.Module):
    """Signed defocus map from DP views.

    Args:
        channels: width at full resolution (doubles per level, capped at 4x).
        levels: number of 2x downsamplings in the encoder-decoder.
        blocks: RCABs per stage.
        max_coc: output bound in px (``max_coc * tanh``).
        reduction: channel-attention reduction of the RCABs.
    Shape:
        ``forward(x)``: ``(B, 6, H, W)`` (left RGB, right RGB in [0, 1]) -> ``(B, 1, H, W)`` px,
        any H, W (padded internally to ``size_multiple``).
    """

    def __init__(self, channels: int = 32, levels: int = 3, blocks: int = 2, max_coc: float = 25.0,
                 reduction: int = 8):
        super().__init__()
        self.init_kwargs = dict(channels=channels, levels=levels, blocks=blocks, max_coc=max_coc,
                                reduction=reduction)
        c = channels
        self.max_coc = float(max_coc)
        self.size_multiple = 2 ** levels
        self.view_branch = nn.Sequential(conv3x3(3, c), nn.ReLU(inplace=True), _Stage(c, blocks, reduction))
        self.pair_branch = nn.Sequential(conv3x3(9, c), nn.ReLU(inplace=True), _Stage(c, blocks, reduction))
        self.fuse = nn.Conv2d(4 * c, c, 1)
        widths = [c * min(2**i, 4) for i in range(levels + 1)]
        self.enc0 = _Stage(c, blocks, reduction)
        self.down = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 3, 2, 1) for i in range(levels))
        self.enc = nn.ModuleList(_Stage(widths[i + 1], blocks, reduction) for i in range(levels))
        self.up = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, 2) for i in range(levels))
        self.merge = nn.ModuleList(nn.Conv2d(2 * widths[i], widths[i], 1) for i in range(levels))
        self.dec = nn.ModuleList(_Stage(widths[i], blocks, reduction) for i in range(levels))
        self.head = conv3x3(c, 1)
        nn.init.zeros_(self.head.weight)  # start from an in-focus map
        nn.init.zeros_(self.head.bias)
        # receptive field (approx. px): 3x3 convs at each level, doubled per level
        self.receptive_field = int(sum((4 * blocks + 2) * 2**i for i in range(levels + 1)) * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 6:
            raise ValueError(f"DefocusMapNet expects (B, 6, H, W) left+right views, got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        m = self.size_multiple
        x, _ = pad_to_multiple(x, m)
        left, right = x[:, :3], x[:, 3:]
        fl, fr = self.view_branch(left), self.view_branch(right)
        fp = self.pair_branch(torch.cat([left, right, left - right], 1))
        f = self.enc0(self.fuse(torch.cat([fl, fr, fl - fr, fp], 1)))
        skips = [f]
        for down, enc in zip(self.down, self.enc):
            f = enc(down(f))
            skips.append(f)
        for i in reversed(range(len(self.up))):
            f = self.up[i](f)
            f = self.dec[i](self.merge[i](torch.cat([f, skips[i]], 1)))
        out = self.max_coc * torch.tanh(self.head(f) / self.max_coc)
        return out[..., :h, :w]

    def estimate(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` left and right views -> ``(B, 1, H, W)`` signed CoC in px."""
        if left.shape != right.shape:
            raise ValueError(f"left {tuple(left.shape)} and right {tuple(right.shape)} differ")
        return self(torch.cat([left, right], 1))

    def predict(self, left: torch.Tensor, right: torch.Tensor) -> dict:
        """``{"map": (B, 1, H, W)}`` (the model has no restored image)."""
        return {"map": self.estimate(left, right)}

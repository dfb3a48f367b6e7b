"""Camera response: sRGB-encoded pixel values <-> linear light.

The LODE/BladeNet paper models the camera response as a power law with gamma 2.2
(supplementary A, following Nah et al. 2017) to average frames in linear light. The DefocusGAN
paper mentions no gamma or camera response; blurmap's DP synthesis and the defocus-map
reblur loss use the same 2.2 by choice (blur happens in linear light). REDS ships a tabulated inverse CRF (256 x 3), supported here as
a piecewise-linear table. All functions are differentiable torch code and accept any shape;
values are expected in ``[0, 1]`` (they are clamped there so a tiny negative from a network
does not produce NaN through the power).
"""

from __future__ import annotations

import torch
from torch import nn

DEFAULT_GAMMA = 2.2


def srgb_to_linear(x: torch.Tensor, gamma: float = DEFAULT_GAMMA) -> torch.Tensor:
    """Encoded pixel values -> linear sensor signal, ``x ** gamma``.

    Args:
        x: values in ``[0, 1]``, any shape.
        gamma: exponent of the power-law CRF (2.2, the LODE paper's value).
    Returns:
        Tensor of the same shape, linear light in ``[0, 1]``.
    """
    return x.clamp(0.0, 1.0).pow(gamma)


def linear_to_srgb(x: torch.Tensor, gamma: float = DEFAULT_GAMMA) -> torch.Tensor:
    """Linear sensor signal -> encoded pixel values, ``x ** (1/gamma)``.

    The gradient of ``x ** (1/gamma)`` is infinite at 0; a floor of 1e-8 inside the power
    keeps it finite (the value changes by less than 1e-3.6 there).
    """
    x = x.clamp(0.0, 1.0)
    return torch.where(x > 0, x.clamp_min(1e-8).pow(1.0 / gamma), torch.zeros_like(x))


def _interp_channel(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation of ``x`` on the increasing grid ``xp`` (differentiable in x)."""
    idx = torch.searchsorted(xp.contiguous(), x.contiguous().clamp(xp[0], xp[-1]), right=True)
    idx = idx.clamp(1, xp.numel() - 1)
    x0, x1 = xp[idx - 1], xp[idx]
    y0, y1 = fp[idx - 1], fp[idx]
    w = (x - x0) / (x1 - x0).clamp_min(1e-12)
    return y0 + w * (y1 - y0)


def apply_table(x: torch.Tensor, table: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    """Map ``(B, C, H, W)`` values through a tabulated inverse CRF.

    Args:
        x: ``(B, C, H, W)`` in ``[0, 1]``; C must equal the table's channel count.
        table: ``(N, C)`` inverse CRF samples: ``table[i, c]`` is the linear signal of encoded
            value ``i / (N - 1)`` in channel c; each column must be strictly increasing.
        inverse: False maps encoded -> linear; True maps linear -> encoded (the CRF itself).
    Returns:
        ``(B, C, H, W)``.
    """
    if x.dim() != 4 or x.shape[1] != table.shape[1]:
        raise ValueError(f"expected (B, {table.shape[1]}, H, W), got {tuple(x.shape)}")
    table = table.to(x)
    grid = torch.linspace(0.0, 1.0, table.shape[0], device=x.device, dtype=x.dtype)
    out = []
    for c in range(x.shape[1]):
        if inverse:
            out.append(_interp_channel(x[:, c], table[:, c], grid))
        else:
            out.append(_interp_channel(x[:, c], grid, table[:, c]))
    return torch.stack(out, dim=1)


class CRF(nn.Module):
    """Camera response as a module: ``to_linear`` / ``to_encoded``.

    Args:
        gamma: power-law exponent, used when ``table`` is None.
        table: optional ``(N, C)`` tabulated inverse CRF (REDS ships 256 x 3).
    Shape: ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, gamma: float = DEFAULT_GAMMA, table: torch.Tensor | None = None):
        super().__init__()
        self.gamma = float(gamma)
        if table is not None:
            table = torch.as_tensor(table, dtype=torch.float32)
            if table.dim() != 2 or table.shape[0] < 2:
                raise ValueError(f"CRF table must be (N, C) with N >= 2, got {tuple(table.shape)}")
            if not bool((table[1:] > table[:-1]).all()):
                raise ValueError("CRF table columns must be strictly increasing")
        self.register_buffer("table", table, persistent=False)

    def to_linear(self, x: torch.Tensor) -> torch.Tensor:
        if self.table is None:
            return srgb_to_linear(x, self.gamma)
        return apply_table(x, self.table)

    def to_encoded(self, x: torch.Tensor) -> torch.Tensor:
        if self.table is None:
            return linear_to_srgb(x, self.gamma)
        return apply_table(x, self.table, inverse=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_linear(x)

"""Which pixels carry texture: where a defocus map can be judged at all.

Shared by the defocus-map recipe (its validation metric and the textured-pixel CoC loss) and
the held-out evaluation, so training and benchmark count the same pixels.
"""

from __future__ import annotations

import torch

__all__ = ["texture_mask"]


def texture_mask(aif: torch.Tensor, threshold: float) -> torch.Tensor:
    """Pixels with texture: gradient magnitude of the AiF luminance above ``threshold``.

    Central differences (``numpy.gradient`` convention) of the channel mean, per px.

    Args:
        aif: ``(B, 3, H, W)`` in [0, 1].
        threshold: gradient magnitude threshold (intensity per px).
    Returns:
        ``(B, 1, H, W)`` bool.
    """
    y = aif.mean(1, keepdim=True)
    gx = torch.zeros_like(y)
    gy = torch.zeros_like(y)
    gx[..., 1:-1] = (y[..., 2:] - y[..., :-2]) / 2
    gx[..., 0], gx[..., -1] = y[..., 1] - y[..., 0], y[..., -1] - y[..., -2]
    gy[..., 1:-1, :] = (y[..., 2:, :] - y[..., :-2, :]) / 2
    gy[..., 0, :], gy[..., -1, :] = y[..., 1, :] - y[..., 0, :], y[..., -1, :] - y[..., -2, :]
    return (gx**2 + gy**2).sqrt() > threshold

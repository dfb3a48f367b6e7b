"""Bottom/right padding to a size multiple, shared by every network and the tiled runner."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["pad_to_multiple"]


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str | None = None) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the bottom/right of ``x`` so H and W are multiples of ``multiple``.

    Args:
        x: ``(B, C, H, W)`` tensor.
        multiple: size multiple in px (1: no padding).
        mode: ``F.pad`` mode; default reflect, or replicate when a side is too short to
            reflect (reflect needs the pad to be smaller than the side).

    Returns:
        The padded tensor and the original ``(H, W)`` (crop with ``[..., :H, :W]``); ``x``
        itself when no padding is needed.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (h, w)
    if mode is None:
        mode = "reflect" if (ph < h and pw < w) else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)

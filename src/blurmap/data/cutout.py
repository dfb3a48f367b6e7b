"""An object cut-out: colour, alpha and a name (what the VOC reader yields and the synthetic object banks share)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Cutout:
    """A segmented object cropped to its bounding box.

    Attributes:
        rgb: ``(h, w, 3)`` float32 sRGB in ``[0, 1]``.
        alpha: ``(h, w)`` float32 opacity in ``[0, 1]`` (0 outside the object).
        name: where it came from (e.g. ``"2007_000032#1"`` or ``"bundled:chelsea"``).
    """

    rgb: np.ndarray
    alpha: np.ndarray
    name: str

    @property
    def size(self) -> tuple[int, int]:
        return int(self.alpha.shape[0]), int(self.alpha.shape[1])


def crop_to_alpha(rgb: np.ndarray, alpha: np.ndarray, name: str, pad: int = 1) -> Cutout | None:
    """Crop colour and alpha to the bounding box of ``alpha > 0`` (plus ``pad`` px).

    Args:
        rgb: ``(H, W, 3)`` float32 image.
        alpha: ``(H, W)`` float32 opacity.
        name: cut-out name.
        pad: margin kept around the object, px.
    Returns:
        A :class:`Cutout`, or None when alpha is empty.
    """
    ys, xs = np.nonzero(alpha > 0)
    if ys.size == 0:
        return None
    y0, y1 = max(ys.min() - pad, 0), min(ys.max() + 1 + pad, alpha.shape[0])
    x0, x1 = max(xs.min() - pad, 0), min(xs.max() + 1 + pad, alpha.shape[1])
    return Cutout(
        np.ascontiguousarray(rgb[y0:y1, x0:x1], dtype=np.float32),
        np.ascontiguousarray(alpha[y0:y1, x0:x1], dtype=np.float32),
        name,
    )

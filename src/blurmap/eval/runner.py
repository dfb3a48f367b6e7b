"""Model loading and single-image inference for benchmark evaluation.

All evaluation tasks restore images through :func:`restore_image`, so switching the
inference path (whole image vs tiles, precision) happens in one place. By default the whole
image is one tile of :func:`blurmap.infer.tiled_predict` (padded to the model's multiple),
which is what the papers' numbers assume; ``tile=`` evaluates the product's tiled path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from blurmap.models import count_parameters as _count_parameters


def load_for_eval(weights: str | Path, *, device: str = "cpu", precision: str = "fp32"):
    """Load a weights file or a shipped name (``defocus``, ``local``, ...) for evaluation.

    The one loader of every ``blurmap eval`` task: names resolve exactly as in ``blurmap
    deblur`` (:func:`blurmap.load_model`), and weights that restore no image (a DefocusMapNet)
    are refused with one line.

    Returns:
        :class:`blurmap.infer.Deblurrer` (its ``.model`` is in eval mode, ``.metadata`` holds
        ``"name"``, ``"config"`` and ``"path"``).

    Raises:
        WeightsError: missing/corrupt file, unknown name, or weights that are not a restoration model.
    """
    from blurmap.weights_data.loader import load_deblurrer

    return load_deblurrer(str(weights), device=device, precision=precision)


def load_restoration_model(weights: str | Path) -> tuple[nn.Module, dict]:
    """Load a weights file or shipped name (any registered restoration model).

    Returns:
        ``(model in eval mode, metadata dict with "name" and "config")``.

    Raises:
        WeightsError: see :func:`load_for_eval`.
    """
    d = load_for_eval(weights)
    return d.model.eval(), d.metadata


#: every parameter of the network (frozen ones too), the count the papers report
count_parameters = _count_parameters


def restore_image(model: nn.Module, image: np.ndarray, *, device: str = "cpu", precision: str = "fp32",
                  tile: int | None = None, overlap: int | None = None) -> np.ndarray:
    """Restore one ``(H, W, 3)`` float image in [0, 1]; returns the same shape, clipped to [0, 1].

    Args:
        model: network following the inference convention, already in eval mode.
        image: float32 ``(H, W, 3)``.
        device, precision: see :func:`blurmap.infer.tiled_predict`.
        tile, overlap: tiling in px; ``tile=None`` = the whole image as one tile.
    """
    from blurmap.infer import Tiling, default_tiling, tiled_predict

    h, w = image.shape[:2]
    if tile is None:
        tiling = Tiling(tile=max(16, h, w), overlap=4)
    else:
        default = default_tiling(model)
        tiling = Tiling(tile=tile, overlap=overlap if overlap is not None else min(default.overlap, tile // 2))
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)
    out = tiled_predict(model, x, tiling=tiling, device=device, precision=precision)["image"]
    return out.clamp(0, 1).permute(1, 2, 0).numpy()

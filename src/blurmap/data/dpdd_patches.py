"""Overlapping patches of a DPDD-layout split, with their defocus maps: DefocusGAN's training data."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch

from blurmap.errors import ConfigError
from blurmap.io import array_to_chw

__all__ = ["DPDDPatches", "laplacian_variance"]


def laplacian_variance(image: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of the grey image (a sharpness score).

    Args:
        image: ``(H, W, 3)`` or ``(H, W)`` float in [0, 1].
    """
    g = image.mean(-1) if image.ndim == 3 else image
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return float(lap.var())


def _windows(length: int, size: int, stride: int) -> list[int]:
    """Start offsets of windows of ``size`` covering ``[0, length)`` (last one flush)."""
    if length <= size:
        return [0]
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


class DPDDPatches(torch.utils.data.Dataset):
    """Overlapping patches of a DPDD-layout split: ``{"blur", "sharp", "coc"?}``.

    Args:
        root: DPDD-layout folder.
        split: ``train`` / ``val`` / ``test``.
        patch: window side in px (clipped to the frame).
        stride: window stride in px.
        maps: ``"gt"`` (``coc/*.npy``), ``"cache"`` (``map_dir/<name>.npy``) or ``"none"``.
        map_dir: folder of cached maps for ``maps="cache"``.
        min_sharpness: drop windows whose target's Laplacian variance is below this.
    """

    def __init__(self, root, split: str, patch: int = 512, stride: int = 384, maps: str = "gt",
                 map_dir: Optional[str] = None, min_sharpness: float = 0.0):
        from PIL import Image

        from blurmap.data.dpdd import list_dpdd

        self.items = list_dpdd(root, split, require_dp=False)
        self.maps, self.map_dir = maps, Path(map_dir) if map_dir else None
        if maps == "gt":
            missing = [it.name for it in self.items if it.coc is None]
            if missing:
                raise ConfigError(f"{root}: maps=gt but {split}_c/coc/{missing[0]}.npy is missing "
                                  "(use maps=net with map_weights, or maps=none)")
        self.windows: list[tuple[int, int, int, int]] = []  # (item, top, left, side)
        for k, it in enumerate(self.items):
            with Image.open(it.source) as im:
                w, h = im.size
            side = min(patch, h, w)
            wins = [(k, y, x, side) for y in _windows(h, side, stride) for x in _windows(w, side, stride)]
            if min_sharpness > 0:
                target = self._read(it.target)
                wins = [t for t in wins if laplacian_variance(target[t[1]:t[1] + side, t[2]:t[2] + side]) >= min_sharpness]
            self.windows += wins

    @staticmethod
    def _read(path) -> np.ndarray:
        from blurmap.io import read_image

        return read_image(path).array

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict:
        k, y, x, s = self.windows[i]
        it = self.items[k]
        sample = {"blur": array_to_chw(self._read(it.source)[y:y + s, x:x + s]),
                  "sharp": array_to_chw(self._read(it.target)[y:y + s, x:x + s])}
        if self.maps != "none":
            path = it.coc if self.maps == "gt" else self.map_dir / f"{it.name}.npy"
            sample["coc"] = array_to_chw(np.load(path, allow_pickle=False)[y:y + s, x:x + s])
        return sample

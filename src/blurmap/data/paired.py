"""Paired folders reader: ``ROOT/blur``, ``ROOT/sharp`` and optional ``ROOT/mask``.

File names match between folders (the mask may use another image extension with the same
stem, e.g. ``0001.jpg`` in ``blur/`` and ``0001.png`` in ``mask/``). Works for LODE-like data
and anything written by ``blurmap synth local``. A ``split`` sub-folder is accepted too:
``ROOT/<split>/{blur,sharp}[/mask]``.

Each item is a dict of CHW float32 tensors: ``blur`` ``(3, H, W)``, ``sharp`` ``(3, H, W)``,
``mask`` ``(1, H, W)`` in {0, 1} when a mask folder exists, and ``name`` (the file stem).
Masks are binarised at 0.5 (any channel count; the channel mean is used).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from blurmap.errors import BlurmapError

__all__ = ["PairedFolders", "load_rgb", "load_mask", "check_same_size", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def load_rgb(path: str | Path) -> torch.Tensor:
    """Read an image file as a ``(3, H, W)`` float32 tensor in [0, 1] (sRGB as stored).

    Raises:
        ImageReadError: the file is missing or not a readable image.
    """
    from blurmap.io import read_image

    arr = read_image(path).array
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def load_mask(path: str | Path) -> torch.Tensor:
    """Read a mask image as a ``(1, H, W)`` float32 tensor in {0, 1} (channel mean >= 0.5)."""
    rgb = load_rgb(path)
    return (rgb.mean(0, keepdim=True) >= 0.5).float()


def _images_in(folder: Path) -> dict[str, Path]:
    return {
        p.name: p
        for p in sorted(folder.iterdir())
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    }


def check_same_size(item: dict, where: str) -> dict:
    """Raise a one-line BlurmapError when blur/sharp/mask sizes differ."""
    size = item["blur"].shape[-2:]
    for key in ("sharp", "mask"):
        if key in item and item[key].shape[-2:] != size:
            raise BlurmapError(
                f"{where}: {key} is {tuple(item[key].shape[-2:])} but blur is {tuple(size)}"
            )
    return item


class PairedFolders(Dataset):
    """``ROOT/{blur,sharp}[/mask]`` with matching file names.

    Args:
        root: dataset folder (or its parent when ``split`` is given).
        split: optional sub-folder name (``ROOT/<split>/blur`` ...); ignored when
            ``ROOT/blur`` exists.
        transform: optional callable applied to each item dict.

    Raises:
        BlurmapError: no ``blur``/``sharp`` folders, no images, or a blur image without
            its sharp partner (the message names the first missing file).
    """

    def __init__(self, root: str | Path, split: str | None = None, transform=None):
        root = Path(root)
        if not (root / "blur").is_dir() and split and (root / split / "blur").is_dir():
            root = root / split
        self.root = root
        self.transform = transform
        blur_dir, sharp_dir = root / "blur", root / "sharp"
        if not blur_dir.is_dir() or not sharp_dir.is_dir():
            raise BlurmapError(f"{root}: expected 'blur' and 'sharp' folders (paired layout)")
        blurs, sharps = _images_in(blur_dir), _images_in(sharp_dir)
        if not blurs:
            raise BlurmapError(f"{blur_dir}: no images")
        missing = sorted(set(blurs) - set(sharps))
        if missing:
            raise BlurmapError(f"{sharp_dir / missing[0]}: missing sharp image for {blurs[missing[0]]}")
        masks: dict[str, Path] = {}
        mask_dir = root / "mask"
        if mask_dir.is_dir():
            by_stem = {p.stem: p for p in _images_in(mask_dir).values()}
            for name in blurs:
                stem = Path(name).stem
                if stem not in by_stem:
                    raise BlurmapError(f"{mask_dir}: missing mask for {blurs[name]}")
                masks[name] = by_stem[stem]
        self.items = [(blurs[n], sharps[n], masks.get(n)) for n in sorted(blurs)]
        self.has_mask = bool(masks)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        blur, sharp, mask = self.items[index]
        item = {"blur": load_rgb(blur), "sharp": load_rgb(sharp), "name": blur.stem}
        if mask is not None:
            item["mask"] = load_mask(mask)
        check_same_size(item, str(blur))
        return self.transform(item) if self.transform else item

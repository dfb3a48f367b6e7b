"""Where generators take their images and objects from: ``"bundled"`` or a folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from blurmap.errors import BlurmapError
from blurmap.io import list_images, read_image
from blurmap.synth.bundled import BUNDLED_NAMES, bundled_image, bundled_objects
from blurmap.synth.cutout import Cutout

BUNDLED = "bundled"


class ImageSource:
    """A list of images: the bundled photos (``"bundled"``) or the image files of a folder.

    Args:
        spec: ``"bundled"`` or a folder path (image files directly inside it, sorted by name).
    Raises:
        BlurmapError: the folder does not exist or holds no image file.
    """

    def __init__(self, spec: str | os.PathLike):
        self.spec = str(spec)
        if self.spec == BUNDLED:
            self.names = list(BUNDLED_NAMES)
            self.paths = None
        else:
            folder = Path(spec)
            if not folder.is_dir():
                raise BlurmapError(f"{folder}: image folder not found")
            self.paths = list_images(folder)
            if not self.paths:
                raise BlurmapError(f"{folder}: no image files (png, jpg, tif, ...) in this folder")
            self.names = [p.name for p in self.paths]

    def __len__(self) -> int:
        return len(self.names)

    def load(self, index: int) -> tuple[np.ndarray, int]:
        """Image ``index`` as float32 ``(H, W, 3)`` in ``[0, 1]`` and its bit depth."""
        if self.paths is None:
            return bundled_image(self.names[index]), 8
        img = read_image(self.paths[index])
        return img.array, img.bits


class BundledObjects:
    """The bundled object cut-outs as an object bank (same API as :class:`VOCObjects`)."""

    def __init__(self):
        self.items = bundled_objects()

    def __len__(self) -> int:
        return len(self.items)

    def random_cutout(self, rng: np.random.Generator) -> Cutout:
        return self.items[int(rng.integers(len(self.items)))]


def object_bank(spec: str | os.PathLike, min_area: int = 2000):
    """``"bundled"`` -> :class:`BundledObjects`; a VOC root -> :class:`blurmap.data.voc.VOCObjects`
    (instances smaller than ``min_area`` px are skipped)."""
    if str(spec) == BUNDLED:
        return BundledObjects()
    from blurmap.data.voc import VOCObjects

    return VOCObjects(spec, min_area=min_area)

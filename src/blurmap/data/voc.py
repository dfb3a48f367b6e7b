"""PASCAL VOC 2012 object bank: segmented object cut-outs for the LODE local blur synthesis.

Layout read as shipped (``VOCdevkit/VOC2012/``)::

    JPEGImages/2007_000032.jpg
    SegmentationObject/2007_000032.png   palette PNG: 0 background, 1..K instances, 255 void
    SegmentationClass/2007_000032.png    palette PNG: 0 background, 1..20 classes, 255 void
    ImageSets/Segmentation/{train,val,trainval}.txt

The palette index *is* the label (the colours are only for display), so masks are read with
Pillow in mode ``P`` without conversion. VOC marks a ~5 px *void* band (255) along every
object outline where the annotators were unsure. Here void is treated as unknown: a void
pixel whose nearest labelled (non-void) pixel belongs to the instance gets alpha 0.5 (half
object, half background), any other void pixel alpha 0. Taking the whole band as object would
drag a halo of background along; dropping it would shave the object's edges. Void pixels more
than 8 px from any labelled pixel (VOC also paints whole ambiguous objects void) get 0.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from scipy import ndimage

from blurmap.data.cutout import Cutout, crop_to_alpha
from blurmap.errors import BlurmapError, ImageReadError
from blurmap.io import read_image

__all__ = ["VOC_CLASSES", "VOCObjects", "read_label_png", "instance_alpha", "find_voc_root"]

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip

VOID = 255


def find_voc_root(path: str | os.PathLike) -> Path:
    """Locate ``VOC2012`` given it, its ``VOCdevkit`` parent or the folder holding ``VOCdevkit``.

    Raises:
        BlurmapError: no ``JPEGImages`` + ``SegmentationObject`` folders found there.
    """
    p = Path(path)
    for cand in (p, p / "VOC2012", p / "VOCdevkit" / "VOC2012"):
        if (cand / "JPEGImages").is_dir() and (cand / "SegmentationObject").is_dir():
            return cand
    raise BlurmapError(
        f"{p}: not a PASCAL VOC 2012 folder (expected VOCdevkit/VOC2012/JPEGImages and SegmentationObject)"
    )


def read_label_png(path: str | os.PathLike) -> np.ndarray:
    """Read a VOC label PNG (palette or greyscale) as its raw indices.

    Args:
        path: PNG file.
    Returns:
        ``(H, W)`` uint8 array of palette indices (0 background, 255 void).
    Raises:
        ImageReadError: missing, unreadable, or not a palette/greyscale PNG.
    """
    try:
        with PILImage.open(path) as im:
            if im.mode not in ("P", "L"):
                raise ImageReadError(path, f"expected a palette (P) or greyscale label PNG, got mode {im.mode}")
            return np.array(im, dtype=np.uint8)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except Exception as ex:  # noqa: BLE001 - any decoder failure is a bad file
        raise ImageReadError(path, f"cannot read label PNG ({type(ex).__name__}: {ex})") from None


def instance_alpha(labels: np.ndarray, instance: int, max_void_distance: float = 8.0) -> np.ndarray:
    """Alpha of one instance, void pixels resolved as described in the module docstring.

    Args:
        labels: ``(H, W)`` uint8 instance indices (``SegmentationObject``).
        instance: instance index (1..254).
        max_void_distance: void pixels farther than this (px) from every labelled pixel get 0:
            VOC also paints whole ambiguous regions void, which must not join the object.
    Returns:
        ``(H, W)`` float32: 1 on the instance, 0.5 on void pixels nearest to it, 0 elsewhere.
    """
    alpha = (labels == instance).astype(np.float32)
    void = labels == VOID
    if void.any() and (~void).any():
        dist, idx = ndimage.distance_transform_edt(void, return_distances=True, return_indices=True)
        nearest = labels[tuple(idx)]
        alpha[void & (nearest == instance) & (dist <= max_void_distance)] = 0.5
    return alpha


class VOCObjects:
    """Segmented object instances of PASCAL VOC 2012, cut out with alpha.

    Args:
        root: ``VOC2012`` folder, its ``VOCdevkit`` parent, or the folder containing ``VOCdevkit``.
        split: image set name under ``ImageSets/Segmentation`` (``train``, ``val``,
            ``trainval``); if that list is missing, every ``SegmentationObject/*.png`` is used.
        min_area: instances with fewer pixels are skipped (tiny objects make no visible blur).
    Raises:
        BlurmapError: the folder is not VOC, or the split holds no images.
    """

    def __init__(self, root: str | os.PathLike, split: str = "trainval", min_area: int = 2000):
        self.root = find_voc_root(root)
        self.min_area = int(min_area)
        lst = self.root / "ImageSets" / "Segmentation" / f"{split}.txt"
        if lst.is_file():
            ids = [line.strip() for line in lst.read_text().splitlines() if line.strip()]
        else:
            ids = sorted(p.stem for p in (self.root / "SegmentationObject").glob("*.png"))
        self.ids = [i for i in ids if (self.root / "SegmentationObject" / f"{i}.png").is_file()]
        if not self.ids:
            raise BlurmapError(f"{self.root}: no segmented images in split {split!r}")

    def __len__(self) -> int:
        return len(self.ids)

    def _paths(self, image_id: str) -> tuple[Path, Path, Path]:
        r = self.root
        return (
            r / "JPEGImages" / f"{image_id}.jpg",
            r / "SegmentationObject" / f"{image_id}.png",
            r / "SegmentationClass" / f"{image_id}.png",
        )

    def _load(self, image_id: str):
        jpg, obj_png, cls_png = self._paths(image_id)
        labels = read_label_png(obj_png)
        return jpg, obj_png, cls_png, labels

    def _instances(self, labels: np.ndarray) -> list[int]:
        ids, counts = np.unique(labels, return_counts=True)
        return [int(i) for i, n in zip(ids, counts) if i not in (0, VOID) and n >= self.min_area]

    def _cutout(self, image_id, rgb, labels, classes, inst: int) -> Cutout | None:
        core = labels == inst
        ys, xs = np.nonzero(core)
        # Void is resolved inside the instance's box plus a 2 x max_void_distance margin: a void
        # pixel within 8 px of the instance is >= 8 px inside the crop, so its nearest labelled
        # pixel is in the crop too -- same result as the whole image, much faster.
        m = 16
        y0, y1 = max(ys.min() - m, 0), min(ys.max() + 1 + m, labels.shape[0])
        x0, x1 = max(xs.min() - m, 0), min(xs.max() + 1 + m, labels.shape[1])
        cname = "?"
        if classes is not None and classes.shape == labels.shape:
            vals = classes[core]
            vals = vals[(vals != 0) & (vals != VOID)]
            if vals.size:
                c = int(np.bincount(vals).argmax())
                cname = VOC_CLASSES[c] if c < len(VOC_CLASSES) else str(c)
        alpha = instance_alpha(labels[y0:y1, x0:x1], inst)
        return crop_to_alpha(rgb[y0:y1, x0:x1], alpha, f"{image_id}#{inst}:{cname}")

    def _read_rgb(self, jpg: Path, obj_png: Path, labels: np.ndarray) -> np.ndarray:
        rgb = read_image(jpg).array
        if labels.shape != rgb.shape[:2]:
            raise ImageReadError(obj_png, f"mask size {labels.shape[::-1]} differs from image {rgb.shape[1::-1]}")
        return rgb

    def cutouts(self, index: int) -> list[Cutout]:
        """All instances (area >= ``min_area``) of image ``index`` as cut-outs.

        Names are ``"<image id>#<instance>:<class>"`` (class ``"?"`` without a class mask).
        Raises:
            ImageReadError: an image or mask of this item is missing or corrupt, or sizes differ.
        """
        image_id = self.ids[index]
        jpg, obj_png, cls_png, labels = self._load(image_id)
        rgb = self._read_rgb(jpg, obj_png, labels)
        classes = read_label_png(cls_png) if cls_png.is_file() else None
        out = [self._cutout(image_id, rgb, labels, classes, i) for i in self._instances(labels)]
        return [c for c in out if c is not None]

    def random_cutout(self, rng: np.random.Generator, tries: int = 20) -> Cutout:
        """A random instance of a random image (images without a large enough one are skipped
        after reading only their label PNG).

        Raises:
            BlurmapError: no instance of at least ``min_area`` px found in ``tries`` images.
        """
        for _ in range(tries):
            image_id = self.ids[int(rng.integers(len(self.ids)))]
            jpg, obj_png, cls_png, labels = self._load(image_id)
            insts = self._instances(labels)
            if not insts:
                continue
            inst = insts[int(rng.integers(len(insts)))]
            rgb = self._read_rgb(jpg, obj_png, labels)
            classes = read_label_png(cls_png) if cls_png.is_file() else None
            cut = self._cutout(image_id, rgb, labels, classes, inst)
            if cut is not None:
                return cut
        raise BlurmapError(f"{self.root}: no object instance of >= {self.min_area} px found in {tries} random images")

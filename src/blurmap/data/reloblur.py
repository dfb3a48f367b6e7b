"""ReLoBlur reader (real local motion blur; Li et al., AAAI 2023) in its shipped layout.

::

    ROOT/{train,test}/<scene>/<NN>/<NN>_sharp.png
    ROOT/{train,test}/<scene>/<NN>/<NN>_blur.png
    ROOT/masks/{train,test}/<scene>/<NN>/<NN>_mask.png      (our mask convention)

Mask path convention (the release keeps masks in a separate ``masks/`` tree): we look for,
in order, ``ROOT/masks/<split>/<scene>/<NN>/<NN>_mask.png``, then ``.../<NN>.png`` in that
folder, then ``ROOT/masks/<split>/<scene>/<NN>_mask.png``. Any image extension is accepted.
Masks are binarised at 0.5 of the channel mean (255 = locally blurred). Items without a
mask simply have no ``mask`` key; ``require_masks=True`` makes a missing mask an error.

Items: ``{"blur": (3,H,W), "sharp": (3,H,W), ["mask": (1,H,W)], "name": "<scene>/<NN>"}``.
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from blurmap.data.paired import IMAGE_SUFFIXES, check_same_size, load_mask, load_rgb
from blurmap.errors import BlurmapError

__all__ = ["ReLoBlurDataset", "find_reloblur_mask"]


def _first_image(folder: Path, stem: str) -> Path | None:
    for suf in IMAGE_SUFFIXES:
        p = folder / f"{stem}{suf}"
        if p.is_file():
            return p
    return None


def find_reloblur_mask(root: Path, split: str, scene: str, nn: str) -> Path | None:
    """The mask file of sample ``<scene>/<NN>`` (see module docstring), or ``None``."""
    base = root / "masks" / split / scene
    return (
        _first_image(base / nn, f"{nn}_mask")
        or _first_image(base / nn, nn)
        or _first_image(base, f"{nn}_mask")
    )


class ReLoBlurDataset(Dataset):
    """ReLoBlur pairs (+ masks).

    Args:
        root: dataset folder holding ``train/``, ``test/`` (and ``masks/``).
        split: ``"train"`` or ``"test"``.
        require_masks: raise when a sample has no mask.
        transform: optional callable applied to each item dict.

    Raises:
        BlurmapError: the split folder is missing or empty, a blur has no sharp partner, or
            a mask is missing with ``require_masks``.
    """

    def __init__(self, root, split: str = "test", require_masks: bool = False, transform=None):
        self.root = Path(root)
        self.transform = transform
        base = self.root / split
        if not base.is_dir():
            raise BlurmapError(f"{base}: no such split folder (ReLoBlur layout {{train,test}}/<scene>/<NN>/)")
        self.items = []
        for scene in sorted(p for p in base.iterdir() if p.is_dir()):
            for sample in sorted(p for p in scene.iterdir() if p.is_dir()):
                nn = sample.name
                blur = _first_image(sample, f"{nn}_blur")
                if blur is None:
                    continue
                sharp = _first_image(sample, f"{nn}_sharp")
                if sharp is None:
                    raise BlurmapError(f"{sample}: {blur.name} has no {nn}_sharp partner")
                mask = find_reloblur_mask(self.root, split, scene.name, nn)
                if mask is None and require_masks:
                    raise BlurmapError(
                        f"{self.root / 'masks' / split / scene.name / nn}: missing mask {nn}_mask.png"
                    )
                self.items.append((f"{scene.name}/{nn}", blur, sharp, mask))
        if not self.items:
            raise BlurmapError(f"{base}: no <scene>/<NN>/<NN>_blur.png samples found")
        self.has_mask = all(m is not None for *_, m in self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        name, blur, sharp, mask = self.items[index]
        item = {"blur": load_rgb(blur), "sharp": load_rgb(sharp), "name": name}
        if mask is not None:
            item["mask"] = load_mask(mask)
        check_same_size(item, str(blur))
        return self.transform(item) if self.transform else item

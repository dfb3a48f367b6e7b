"""Open a local-deblurring set (paired folders, REDS or ReLoBlur) by sniffing its layout.

Shared by training (the BladeNet recipe's fine-tuning and validation sets) and evaluation,
so both accept the same folders.
"""

from __future__ import annotations

from pathlib import Path

from blurmap.data.paired import PairedFolders
from blurmap.data.reds import REDSDataset
from blurmap.data.reloblur import ReLoBlurDataset
from blurmap.errors import BlurmapError

__all__ = ["open_local_dataset"]


def open_local_dataset(root: str | Path, split: str = "test"):
    """Open a local-deblurring test set by recognising its on-disk layout.

    Recognised, in order: paired folders (``ROOT/blur`` or ``ROOT/<split>/blur``), REDS
    (``ROOT/<split>/<split>_blur``), ReLoBlur (``ROOT/<split>/<scene>/<NN>/<NN>_blur.png``).

    Raises:
        BlurmapError: the folder does not exist or matches none of the layouts.
    """
    root = Path(root)
    if not root.is_dir():
        raise BlurmapError(f"{root}: no such data folder")
    if (root / "blur").is_dir() or (root / split / "blur").is_dir():
        return PairedFolders(root, split=split)
    if (root / split / f"{split}_blur").is_dir():
        return REDSDataset(root, split)
    if (root / split).is_dir() and any((root / split).glob("*/*/*_blur.*")):
        return ReLoBlurDataset(root, split)
    raise BlurmapError(
        f"{root}: not a recognised local-deblurring layout (paired blur/sharp[/mask], "
        f"REDS {split}/{split}_blur, or ReLoBlur {split}/<scene>/<NN>/<NN>_blur.png)"
    )

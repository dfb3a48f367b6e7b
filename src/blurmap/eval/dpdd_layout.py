"""File listing of a DPDD-layout folder (real DPDD or ``blurmap synth dp`` output).

Layout (DESIGN.md)::

    ROOT/{split}_c/source/1P0A0890.png   blurred (combined) input
    ROOT/{split}_c/target/1P0A0891.png   all-in-focus target (next frame number)
    ROOT/{split}_l/source/1P0A0890_L.png left DP view   (optional here)
    ROOT/{split}_r/source/1P0A0890_R.png right DP view  (optional here)
    ROOT/{split}_c/coc/1P0A0890.npy      synthetic ground-truth CoC (optional)

Sources and targets are paired by sorted order, as DPDD's own code does (their frame
numbers differ by one). This module only lists paths; pixels are read with :mod:`blurmap.io`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from blurmap.errors import BlurmapError

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")


@dataclass(frozen=True)
class DPDDItem:
    """Paths of one DPDD sample; ``name`` is the source file's stem."""

    name: str
    source: Path
    target: Path
    left: Optional[Path] = None
    right: Optional[Path] = None
    coc: Optional[Path] = None


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def list_dpdd_pairs(root: str | Path, split: str = "test") -> list[DPDDItem]:
    """Pair ``{split}_c/source`` with ``{split}_c/target`` by sorted order.

    Args:
        root: dataset folder (e.g. ``dd_dp_dataset_canon``).
        split: ``train``, ``val`` or ``test``.

    Returns:
        list of :class:`DPDDItem` (left/right/coc filled when those files exist).

    Raises:
        BlurmapError: folder missing, no images, or different source/target counts.
    """
    root = Path(root)
    src_dir, tgt_dir = root / f"{split}_c" / "source", root / f"{split}_c" / "target"
    for d in (src_dir, tgt_dir):
        if not d.is_dir():
            raise BlurmapError(f"{d}: folder not found (expected the DPDD layout {split}_c/source, {split}_c/target)")
    sources, targets = _images(src_dir), _images(tgt_dir)
    if not sources:
        raise BlurmapError(f"{src_dir}: no images")
    if len(sources) != len(targets):
        raise BlurmapError(f"{root}: {len(sources)} source images but {len(targets)} targets in split {split!r}")
    items = []
    for s, t in zip(sources, targets):
        left = root / f"{split}_l" / "source" / f"{s.stem}_L{s.suffix}"
        right = root / f"{split}_r" / "source" / f"{s.stem}_R{s.suffix}"
        coc = root / f"{split}_c" / "coc" / f"{s.stem}.npy"
        items.append(DPDDItem(
            name=s.stem, source=s, target=t,
            left=left if left.is_file() else None,
            right=right if right.is_file() else None,
            coc=coc if coc.is_file() else None,
        ))
    return items

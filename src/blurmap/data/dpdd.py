"""DPDD reader (Abuolaim & Brown 2020), also for ``blurmap synth dp`` output.

Layout (as DPDD ships it; docs/design.md lists every reader's), 16-bit sRGB PNGs::

    ROOT/{split}_c/source/1P0A0890.png     combined (blurred) image
    ROOT/{split}_c/target/1P0A0891.png     all-in-focus target (next frame number)
    ROOT/{split}_l/source/1P0A0890_L.png   left dual-pixel view
    ROOT/{split}_r/source/1P0A0890_R.png   right dual-pixel view
    ROOT/{split}_c/coc/1P0A0890.npy        optional: float32 (H, W) signed CoC in px, written
                                           by our synthetic generator (evaluation only)

Sources and targets are paired by sorted order, as DPDD's own code does; the left and right
views are found by the source's stem (``<stem>_L``, ``<stem>_R``) and must exist when
``require_dp`` is set — and then every left view must have its right partner.

Items are dicts of CHW float32 tensors: ``blur`` ``(3, H, W)``, ``sharp``, ``left``,
``right`` (when present), ``coc`` ``(1, H, W)`` (when present and ``with_coc``), and
``name`` (the source stem). ``patch_size`` cuts the same random window from all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from blurmap.errors import BlurmapError

__all__ = ["DPDDDataset", "DPDDFiles", "list_dpdd"]

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")


@dataclass(frozen=True)
class DPDDFiles:
    """Paths of one DPDD sample; ``name`` is the source file's stem."""

    name: str
    source: Path
    target: Path
    left: Path | None = None
    right: Path | None = None
    coc: Path | None = None


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _view(folder: Path, stem: str, tag: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        p = folder / f"{stem}_{tag}{suffix}"
        if p.is_file():
            return p
    return None


def list_dpdd(root: str | Path, split: str = "train", require_dp: bool = True) -> list[DPDDFiles]:
    """List the samples of one split.

    Args:
        root: the dataset folder (e.g. ``dd_dp_dataset_canon``).
        split: ``train``, ``val`` or ``test``.
        require_dp: every source must have its ``_L`` and ``_R`` views.
    Returns:
        list of :class:`DPDDFiles`, in sorted source order.
    Raises:
        BlurmapError: a missing folder, no images, unequal source/target counts, or a
            missing DP view (the message names the first missing file).
    """
    root = Path(root)
    src_dir, tgt_dir = root / f"{split}_c" / "source", root / f"{split}_c" / "target"
    l_dir, r_dir = root / f"{split}_l" / "source", root / f"{split}_r" / "source"
    needed = [src_dir, tgt_dir] + ([l_dir, r_dir] if require_dp else [])
    for d in needed:
        if not d.is_dir():
            raise BlurmapError(f"{d}: folder not found (expected the DPDD layout of split {split!r})")
    sources, targets = _images(src_dir), _images(tgt_dir)
    if not sources:
        raise BlurmapError(f"{src_dir}: no images")
    if len(sources) != len(targets):
        raise BlurmapError(f"{root}: {len(sources)} source images but {len(targets)} targets in split {split!r}")
    items = []
    for s, t in zip(sources, targets):
        left = _view(l_dir, s.stem, "L") if l_dir.is_dir() else None
        right = _view(r_dir, s.stem, "R") if r_dir.is_dir() else None
        if require_dp or (left is None) != (right is None):
            if left is None:
                raise BlurmapError(f"{l_dir / (s.stem + '_L' + s.suffix)}: missing left view for {s}")
            if right is None:
                raise BlurmapError(f"{r_dir / (s.stem + '_R' + s.suffix)}: missing right view for {s}")
        coc = root / f"{split}_c" / "coc" / f"{s.stem}.npy"
        items.append(DPDDFiles(s.stem, s, t, left, right, coc if coc.is_file() else None))
    return items


def _load_rgb(path: Path) -> torch.Tensor:
    from blurmap.io import read_image

    arr = read_image(path).array
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def _load_coc(path: Path) -> torch.Tensor:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as ex:
        raise BlurmapError(f"{path}: not a readable .npy defocus map ({ex})") from None
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.floating):
        raise BlurmapError(f"{path}: expected a 2-D float defocus map, got {arr.dtype} {arr.shape}")
    return torch.from_numpy(arr.astype(np.float32))[None]


class DPDDDataset(Dataset):
    """DPDD-layout split as a dataset of dicts (see the module docstring).

    Args:
        root: dataset folder.
        split: ``train``, ``val`` or ``test``.
        require_dp: demand the left/right views (the defocus-map task needs them).
        with_coc: load ``coc/`` ground truth when it exists (synthetic data; evaluation only).
        patch_size: optional square random crop (the same window for every tensor); images
            smaller than the patch are an error.
        seed: seed of the crop positions (each item draws from ``seed + index + epoch * len``
            so crops differ between epochs; call :meth:`set_epoch`).
        transform: optional callable applied to each item dict.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        require_dp: bool = True,
        with_coc: bool = True,
        patch_size: int | None = None,
        seed: int = 0,
        transform=None,
    ):
        self.files = list_dpdd(root, split, require_dp)
        self.with_coc = with_coc
        self.patch_size = patch_size
        self.seed = seed
        self.epoch = 0
        self.transform = transform

    def set_epoch(self, epoch: int) -> None:
        """Draw new crop positions for a new epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        f = self.files[index]
        item = {"blur": _load_rgb(f.source), "sharp": _load_rgb(f.target)}
        if f.left is not None:
            item["left"] = _load_rgb(f.left)
            item["right"] = _load_rgb(f.right)
        if self.with_coc and f.coc is not None:
            item["coc"] = _load_coc(f.coc)
        size = item["blur"].shape[-2:]
        for key, value in item.items():
            if value.shape[-2:] != size:
                path = {"sharp": f.target, "left": f.left, "right": f.right, "coc": f.coc}[key]
                raise BlurmapError(f"{path}: {key} is {tuple(value.shape[-2:])} but the source {f.source} is {tuple(size)}")
        if self.patch_size:
            item = self._crop(item, index)
        item["name"] = f.name
        return self.transform(item) if self.transform else item

    def _crop(self, item: dict, index: int) -> dict:
        p = int(self.patch_size)
        h, w = item["blur"].shape[-2:]
        if h < p or w < p:
            raise BlurmapError(f"{self.files[index].source}: {w}x{h} is smaller than the {p}x{p} patch")
        rng = np.random.default_rng(self.seed + index + self.epoch * len(self))
        y = int(rng.integers(0, h - p + 1))
        x = int(rng.integers(0, w - p + 1))
        return {k: v[..., y : y + p, x : x + p].contiguous() for k, v in item.items()}

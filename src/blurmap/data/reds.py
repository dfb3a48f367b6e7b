"""REDS reader (Nah et al., NTIRE 2019), in the layout the dataset ships in.

::

    ROOT/train/train_sharp/000/00000000.png     sharp frames, 100 per clip, 1280x720
    ROOT/train/train_blur/000/00000000.png      blurred partner with the same name
    ROOT/train/train_orig/000/00000000.png      raw 120 fps frames (optional)
    ROOT/val/val_sharp/...  ROOT/val/val_blur/...

:class:`REDSDataset` yields ``{"blur", "sharp", "name"}`` (``name`` = ``"<clip>/<frame>"``).
:class:`REDSVideo` yields consecutive raw frames for the optical-flow analyses (Figure 3,
Table 6): ``{"frame0", "frame1", "name"}``. ``REDSDataset.flow_pair(i)`` gives the two raw
frames nearest in time to item ``i`` when ``train_orig`` exists (``None`` otherwise): sharp
frame ``k`` of a clip is mapped to raw frame ``round(k * n_orig / n_sharp)`` (REDS samples
its blurred/sharp frames evenly from the raw sequence).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from blurmap.data.paired import IMAGE_SUFFIXES, check_same_size, load_rgb
from blurmap.errors import BlurmapError

__all__ = ["REDSDataset", "REDSVideo", "reds_clip_dirs", "reds_sharp_frames"]


def _frames(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def reds_clip_dirs(root: str | Path, split: str, kind: str) -> dict[str, Path]:
    """``{clip: folder}`` for ``ROOT/<split>/<split>_<kind>/<clip>/`` (kind: sharp, blur, orig).

    Returns an empty dict when the folder does not exist.
    """
    base = Path(root) / split / f"{split}_{kind}"
    if not base.is_dir():
        return {}
    return {p.name: p for p in sorted(base.iterdir()) if p.is_dir()}


def reds_sharp_frames(folder: str | Path, split: str = "train") -> list[Path] | None:
    """Every sharp frame of every clip when ``folder`` is a REDS root or a ``<split>_sharp`` folder.

    The paper's LBS backgrounds are REDS sharp frames: all of them, not one clip. Accepts
    ``ROOT`` (walks ``ROOT/<split>/<split>_sharp/<clip>/<frame>``) or the
    ``ROOT/<split>/<split>_sharp`` folder itself (any folder named ``*_sharp`` whose
    sub-folders hold the frames).

    Returns:
        the frames sorted by ``(clip, frame)``, or None when ``folder`` is not in that layout
        (then it is an ordinary folder of images).
    """
    folder = Path(folder)
    clips = reds_clip_dirs(folder, split, "sharp")
    if not clips and folder.name.endswith("_sharp") and folder.is_dir():
        clips = {p.name: p for p in sorted(folder.iterdir()) if p.is_dir()}
    if not clips:
        return None
    return [f for _, d in sorted(clips.items()) for f in _frames(d)]


class REDSDataset(Dataset):
    """Blurred/sharp frame pairs of REDS.

    Args:
        root: folder holding ``train/``, ``val/`` ...
        split: ``"train"``, ``"val"`` or ``"test"``.
        clips: optional list of clip names to keep (e.g. ``["000", "011"]``).
        transform: optional callable applied to each item dict.

    Raises:
        BlurmapError: the split has no ``<split>_sharp``/``<split>_blur`` clips, or a blurred
            frame has no sharp partner.
    """

    def __init__(self, root, split: str = "train", clips=None, transform=None):
        self.root = Path(root)
        self.split = split
        self.transform = transform
        sharp = reds_clip_dirs(root, split, "sharp")
        blur = reds_clip_dirs(root, split, "blur")
        if not sharp or not blur:
            raise BlurmapError(
                f"{self.root / split}: expected {split}_sharp/<clip>/ and {split}_blur/<clip>/ (REDS layout)"
            )
        self.orig = reds_clip_dirs(root, split, "orig")
        self._orig_cache: dict[str, list[Path]] = {}
        self.items: list[tuple[str, int, int, Path, Path]] = []
        for clip in sorted(blur):
            if clips is not None and clip not in clips:
                continue
            if clip not in sharp:
                raise BlurmapError(f"{blur[clip]}: clip has no {split}_sharp partner")
            frames = _frames(blur[clip])
            for k, bf in enumerate(frames):
                sf = sharp[clip] / bf.name
                if not sf.is_file():
                    raise BlurmapError(f"{sf}: missing sharp frame for {bf}")
                self.items.append((clip, k, len(frames), bf, sf))
        if not self.items:
            raise BlurmapError(f"{self.root / split}: no frames found")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        clip, _, _, bf, sf = self.items[index]
        item = {"blur": load_rgb(bf), "sharp": load_rgb(sf), "name": f"{clip}/{bf.stem}"}
        check_same_size(item, str(bf))
        return self.transform(item) if self.transform else item

    def flow_pair(self, index: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Two consecutive raw 120 fps frames around item ``index``, or ``None``.

        Returns ``(frame0, frame1)`` as ``(3, H, W)`` tensors.
        """
        clip, k, n, _, _ = self.items[index]
        if clip not in self.orig:
            return None
        raw = self._orig_cache.setdefault(clip, _frames(self.orig[clip]))
        if len(raw) < 2:
            return None
        j = min(int(round(k * len(raw) / n)), len(raw) - 2)
        return load_rgb(raw[j]), load_rgb(raw[j + 1])


class REDSVideo(Dataset):
    """Consecutive raw frames of REDS (``<split>_orig``, else ``<split>_sharp``).

    Item ``i`` is ``{"frame0", "frame1", "name"}`` for one pair of consecutive frames
    (``step`` apart; all pairs of all clips, or one per clip with ``one_per_clip=True``, the
    frame chosen by ``seed`` as the paper's Figure 3 samples one pair per video).
    """

    def __init__(self, root, split: str = "train", step: int = 1, one_per_clip: bool = False, seed: int = 0):
        import random

        dirs = reds_clip_dirs(root, split, "orig") or reds_clip_dirs(root, split, "sharp")
        if not dirs:
            raise BlurmapError(f"{Path(root) / split}: no {split}_orig or {split}_sharp clips (REDS layout)")
        rng = random.Random(seed)
        self.pairs: list[tuple[str, Path, Path]] = []
        for clip, folder in sorted(dirs.items()):
            frames = _frames(folder)
            pairs = [(clip, frames[i], frames[i + step]) for i in range(len(frames) - step)]
            if one_per_clip and pairs:
                pairs = [rng.choice(pairs)]
            self.pairs.extend(pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        clip, a, b = self.pairs[index]
        return {"frame0": load_rgb(a), "frame1": load_rgb(b), "name": f"{clip}/{a.stem}"}

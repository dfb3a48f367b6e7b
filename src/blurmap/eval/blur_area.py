"""Blurred-area ratio against the optical-flow threshold (LODE §5.1, Figure 3).

For each dataset a few pairs of consecutive video frames are sampled (the paper takes one
pair per REDS video at 120 fps, and frames two apart for 240/250 fps GOPRO/LODE videos so the
time gap matches), DeepFlow is computed for each pair, and the *blurred area ratio*
``|{p : ||flow(p)|| > t}| / |image|`` is plotted against the threshold ``t``. Global-blur
datasets keep a large ratio even at high thresholds; local-blur data has a long tail.

Recognised dataset layouts (:func:`frame_pairs`):

- REDS: ``ROOT/<split>/<split>_orig/<clip>/`` (raw frames), else ``<split>_sharp``;
- a folder of video clips: ``ROOT/<clip>/<frames>`` (GOPRO-like, LODE raw videos, the
  output of ``blurmap synth video``), or a single clip folder of frames;
- pairs without video (paired folders, ReLoBlur): the flow between the blurred and the
  sharp image of each pair (a proxy, reported as such in the CSV header).
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import numpy as np

from blurmap.errors import BlurmapError
from blurmap.files import atomic_destination, write_text_atomic

__all__ = ["frame_pairs", "blur_area_ratio", "blur_area_curves", "write_blur_area"]


def _images(folder: Path) -> list[Path]:
    from blurmap.data.paired import IMAGE_SUFFIXES

    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def frame_pairs(
    root: str | Path, *, split: str = "train", step: int = 1, per_clip: int = 1, max_pairs: int | None = None, seed: int = 0
) -> tuple[list[tuple], str]:
    """Pairs of images to compute flow between, and the source kind.

    Args:
        root: dataset folder (see module docstring).
        split: split for REDS / paired / ReLoBlur layouts.
        step: frame distance within a clip (1 for 120 fps, 2 for 240 fps to match).
        per_clip: pairs sampled per clip (random start, ``seed``).
        max_pairs: cap on the total number of pairs.

    Returns:
        ``(pairs, kind)`` with pairs as ``(path_or_tensor0, path_or_tensor1)`` and kind
        ``"video"`` or ``"blur-sharp"``.

    Raises:
        BlurmapError: unknown layout or no frames.
    """
    root = Path(root)
    if not root.is_dir():
        raise BlurmapError(f"{root}: no such data folder")
    rng = random.Random(seed)
    from blurmap.data.reds import reds_clip_dirs

    clips = reds_clip_dirs(root, split, "orig") or reds_clip_dirs(root, split, "sharp")
    kind = "video"
    if not clips:
        if (root / "blur").is_dir() or (root / split / "blur").is_dir() or (root / split).is_dir():
            from blurmap.data.local import open_local_dataset

            try:
                ds = open_local_dataset(root, split)
            except BlurmapError:
                ds = None
            if ds is not None:
                pairs = [("item", ds, i) for i in range(len(ds))]
                rng.shuffle(pairs)
                return (pairs[:max_pairs] if max_pairs else pairs), "blur-sharp"
        subdirs = [p for p in sorted(root.iterdir()) if p.is_dir()]
        clips = {p.name: p for p in subdirs if len(_images(p)) > step}
        if not clips and len(_images(root)) > step:
            clips = {root.name: root}
    if not clips:
        raise BlurmapError(
            f"{root}: no video clips found (expected REDS <split>_orig/<clip>/, <clip>/<frames>, or paired data)"
        )
    pairs = []
    for _, folder in sorted(clips.items()):
        frames = _images(folder)
        starts = list(range(len(frames) - step))
        for s in rng.sample(starts, min(per_clip, len(starts))):
            pairs.append(("files", frames[s], frames[s + step]))
    rng.shuffle(pairs)
    return (pairs[:max_pairs] if max_pairs else pairs), kind


def blur_area_ratio(norm: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Fraction of pixels whose flow norm exceeds each threshold.

    Args:
        norm: ``(H, W)`` flow norm, px.
        thresholds: ``(T,)`` thresholds, px.

    Returns:
        ``(T,)`` ratios in [0, 1] (non-increasing in the threshold).
    """
    flat = np.sort(np.asarray(norm, dtype=np.float64).ravel())
    above = flat.size - np.searchsorted(flat, np.asarray(thresholds, dtype=np.float64), side="right")
    return above / flat.size


def _pair_images(pair) -> tuple[np.ndarray, np.ndarray]:
    from blurmap.data.paired import load_rgb

    if pair[0] == "files":
        a, b = load_rgb(pair[1]), load_rgb(pair[2])
    else:
        item = pair[1][pair[2]]
        a, b = item["blur"], item["sharp"]
    return a.numpy().transpose(1, 2, 0), b.numpy().transpose(1, 2, 0)


def blur_area_curves(
    roots: list[str | Path],
    thresholds: np.ndarray,
    *,
    labels: list[str] | None = None,
    split: str = "train",
    step: int | list[int] = 1,
    per_clip: int = 1,
    max_pairs: int | None = 20,
    seed: int = 0,
    progress=None,
) -> dict[str, dict]:
    """Mean blurred-area-ratio curve per dataset.

    Args:
        roots: dataset folders.
        thresholds: ``(T,)`` flow thresholds, px.
        labels: curve names (default: folder names).
        step: frame distance per dataset (one int for all, or one per root).
        per_clip, max_pairs, seed, split: see :func:`frame_pairs`.
        progress: optional ``progress(label, i, n)``.

    Returns:
        ``{label: {"ratio": (T,) array, "pairs": n, "kind": "video"|"blur-sharp"}}``.
    """
    from blurmap.eval.regions import deepflow, flow_norm

    labels = labels or [Path(r).resolve().name for r in roots]
    if len(labels) != len(roots):
        raise BlurmapError("give one label per --data folder")
    steps = step if isinstance(step, (list, tuple)) else [step] * len(roots)
    curves = {}
    for root, label, st in zip(roots, labels, steps):
        pairs, kind = frame_pairs(root, split=split, step=st, per_clip=per_clip, max_pairs=max_pairs, seed=seed)
        acc = np.zeros(len(thresholds))
        for i, pair in enumerate(pairs):
            if progress is not None:
                progress(label, i, len(pairs))
            a, b = _pair_images(pair)
            acc += blur_area_ratio(flow_norm(deepflow(a, b)), thresholds)
        curves[label] = {"ratio": acc / max(len(pairs), 1), "pairs": len(pairs), "kind": kind}
    return curves


def write_blur_area(curves: dict[str, dict], thresholds: np.ndarray, out_dir: str | Path, stem: str = "blur_area") -> tuple[Path, Path]:
    """Write ``<stem>.csv`` (threshold + one column per dataset) and ``<stem>.png`` (plot).

    Returns:
        ``(csv_path, png_path)``. Files are written atomically (temp + rename).

    Raises:
        BlurmapError: the output folder cannot be created, or a file exists and would be
            overwritten.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as ex:
        raise BlurmapError(f"{out}: cannot create output folder ({ex.strerror})") from None
    csv_path, png_path = out / f"{stem}.csv", out / f"{stem}.png"
    for p in (csv_path, png_path):
        if p.exists():
            raise BlurmapError(f"{p}: already exists (will not overwrite)")
    table = io.StringIO(newline="")
    w = csv.writer(table)
    w.writerow(["threshold_px"] + [f"{k} ({v['kind']}, {v['pairs']} pairs)" for k, v in curves.items()])
    for j, t in enumerate(thresholds):
        w.writerow([f"{t:g}"] + [f"{v['ratio'][j]:.6f}" for v in curves.values()])
    write_text_atomic(csv_path, table.getvalue(), overwrite=False)
    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=120)
    for k, v in curves.items():
        ax.plot(thresholds, v["ratio"], label=k)
    ax.set_xlabel("optical flow threshold (px)")
    ax.set_ylabel("blurred area ratio")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        with atomic_destination(png_path, overwrite=False) as tmp_png:
            fig.savefig(tmp_png)
    finally:
        plt.close(fig)
    return csv_path, png_path

"""Score a folder of restored images against a folder of ground truths (``blurmap metrics``).

Files are paired by name without extension; every pair is scored with
:func:`blurmap.metrics.evaluate_pair` after quantising to the protocol's bit depth.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from blurmap.metrics import LPIPS, evaluate_pair, protocol_levels, quantize

__all__ = ["METRIC_KEYS", "pair_folders", "evaluate_folders"]

METRIC_KEYS = ("psnr", "ssim", "mae", "masked_psnr", "masked_ssim", "lpips")


def _by_stem(folder: Path, role: str, failures: list[str]) -> dict[str, Path]:
    from blurmap.io import IMAGE_EXTENSIONS

    if not folder.is_dir():
        failures.append(f"{folder}: {role} folder does not exist")
        return {}
    files: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS:
            if p.stem in files:
                failures.append(f"{p}: ambiguous {role} file, {files[p.stem].name} has the same name")
            else:
                files[p.stem] = p
    if not files and folder.is_dir():
        failures.append(f"{folder}: {role} folder contains no images")
    return files


def pair_folders(pred_dir, gt_dir, mask_dir=None) -> tuple[list[tuple[str, Path, Path, Path | None]], list[str]]:
    """Pair prediction, ground-truth (and mask) files by file name without extension.

    Args:
        pred_dir, gt_dir: folders of images (``.png``, ``.jpg``, ``.tif``, ...).
        mask_dir: optional folder of masks named like the ground truth.

    Returns:
        ``(pairs, failures)``: ``pairs`` is a list of ``(name, pred, gt, mask_or_None)``
        sorted by name; ``failures`` holds one line per problem (folder missing, a file
        without its partner, two files with the same name).
    """
    failures: list[str] = []
    preds = _by_stem(Path(pred_dir), "prediction", failures)
    gts = _by_stem(Path(gt_dir), "ground-truth", failures)
    masks = _by_stem(Path(mask_dir), "mask", failures) if mask_dir is not None else {}
    pairs = []
    for name in sorted(set(preds) | set(gts)):
        if name not in gts:
            failures.append(f"{preds[name]}: no ground truth named {name}.* in {gt_dir}")
        elif name not in preds:
            failures.append(f"{gts[name]}: no prediction named {name}.* in {pred_dir}")
        elif mask_dir is not None and name not in masks:
            failures.append(f"{gts[name]}: no mask named {name}.* in {mask_dir}")
        else:
            pairs.append((name, preds[name], gts[name], masks.get(name)))
    return pairs, failures


def _mean(values: list[float]) -> float:
    """Mean of the finite-or-inf values, skipping NaN (empty masks); NaN if none left."""
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else math.nan


def evaluate_folders(pred_dir, gt_dir, mask_dir=None, *, bits: int | None = None, lpips: LPIPS | None = None,
                     max_pixels: int | None = None, progress=None) -> tuple[dict, list[str]]:
    """Score every prediction against its ground truth with the protocol of this module.

    Each image pair is quantised before scoring: to ``bits`` (8 or 16) if given, otherwise
    to each file's own depth (which restores exact float64 levels from the float32 read).

    Args:
        pred_dir, gt_dir: folders paired by file name without extension.
        mask_dir: optional folder of blur masks (grey images; the channel mean is used).
        bits: 8, 16 or ``None`` (native depth of each file).
        lpips: optional :class:`LPIPS` module.
        max_pixels: pixel limit for :func:`blurmap.io.read_image`.
        progress: optional callable ``(name) -> None`` called before each pair.

    Returns:
        ``(report, failures)``. ``report`` = ``{"bits", "lpips_net", "pred_dir", "gt_dir",
        "mask_dir", "count", "images": [{"name", "pred", "gt", metrics...}], "mean":
        {metric: value}}``; ``failures`` = one line per unreadable or mismatched pair (the
        other pairs are still scored).
    """
    from blurmap.errors import ImageReadError
    from blurmap.io import read_image

    if bits not in (None, 8, 16):
        raise ValueError(f"bits must be 8, 16 or None, got {bits}")
    pairs, failures = pair_folders(pred_dir, gt_dir, mask_dir)
    rows = []
    for name, pred_path, gt_path, mask_path in pairs:
        if progress is not None:
            progress(name)
        try:
            pred_im = read_image(pred_path, max_pixels=max_pixels)
            gt_im = read_image(gt_path, max_pixels=max_pixels)
            mask_im = read_image(mask_path, max_pixels=max_pixels) if mask_path is not None else None
        except ImageReadError as err:
            failures.append(str(err))
            continue
        if pred_im.array.shape != gt_im.array.shape:
            failures.append(
                f"{pred_path}: size {pred_im.width}x{pred_im.height} differs from ground truth "
                f"{gt_path} ({gt_im.width}x{gt_im.height})"
            )
            continue
        too_small = 7 if lpips is None else max(7, lpips.min_size)  # SSIM's 7x7 window, LPIPS taps
        if min(gt_im.height, gt_im.width) < too_small:
            failures.append(f"{gt_path}: {gt_im.width}x{gt_im.height} is too small to score (need {too_small} px per side)")
            continue
        mask = None
        if mask_im is not None:
            if mask_im.array.shape != gt_im.array.shape:
                failures.append(f"{mask_path}: mask size {mask_im.width}x{mask_im.height} differs from {gt_path}")
                continue
            mask = quantize(mask_im.array, mask_im.bits).mean(axis=2)
        pred = protocol_levels(pred_im.array, pred_im.bits, bits)
        gt = protocol_levels(gt_im.array, gt_im.bits, bits)
        row = {"name": name, "pred": str(pred_path), "gt": str(gt_path)}
        if mask_path is not None:
            row["mask"] = str(mask_path)
        row.update(evaluate_pair(pred, gt, mask=mask, lpips=lpips))
        row.pop("lpips_net", None)
        rows.append(row)
    present = [k for k in METRIC_KEYS if rows and k in rows[0]]
    report = {
        "protocol": "DPDD: float64 in [0,1]; PSNR from full-image MSE (peak 1); SSIM skimage "
        "structural_similarity(data_range=1, channel_axis=-1); MAE; LPIPS v0.1",
        "bits": bits if bits is not None else "native",
        "lpips_net": lpips.net_name if lpips is not None else None,
        "pred_dir": str(pred_dir),
        "gt_dir": str(gt_dir),
        "mask_dir": str(mask_dir) if mask_dir is not None else None,
        "count": len(rows),
        "images": rows,
        "mean": {k: _mean([r[k] for r in rows]) for k in present},
    }
    return report, failures

"""Reports of benchmark evaluations: Markdown tables, JSON, best/worst image grids."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from blurmap.files import write_json_atomic

#: display name and format of each metric column
COLUMNS = {
    "psnr": ("PSNR↑", "{:.2f}"),
    "ssim": ("SSIM↑", "{:.3f}"),
    "mae": ("MAE↓", "{:.3f}"),
    "lpips": ("LPIPS↓", "{:.3f}"),
    "masked_psnr": ("mPSNR↑", "{:.2f}"),
    "masked_ssim": ("mSSIM↑", "{:.3f}"),
}


def write_json(path: str | Path, obj: dict) -> None:
    """Atomic JSON write (inf as ``"inf"``, NaN as null: :func:`blurmap.files.json_safe`)."""
    write_json_atomic(path, obj)


def markdown_table(groups: dict[str, dict], metrics: Sequence[str], extra: dict | None = None) -> str:
    """One row per group (``{"all": {"psnr": ..}, "indoor": ...}``), one column per metric.

    Args:
        groups: group name -> (metric -> value, plus ``count``).
        metrics: metric keys in column order (see :data:`COLUMNS`).
        extra: columns appended to every row (e.g. ``{"Params (M)": "4.59"}``).
    """
    extra = extra or {}
    head = ["group", "n"] + [COLUMNS[m][0] for m in metrics] + list(extra)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, vals in groups.items():
        cells = [name, str(vals.get("count", ""))]
        cells += [COLUMNS[m][1].format(vals[m]) if m in vals else "" for m in metrics]
        cells += [str(v) for v in extra.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def thumbnail(image: np.ndarray, height: int = 160) -> np.ndarray:
    """Area-downscale ``(H, W, 3)`` to ``height`` rows (aspect kept)."""
    import cv2

    h, w = image.shape[:2]
    if h <= height:
        return image.astype(np.float32)
    width = max(1, round(w * height / h))
    return cv2.resize(image.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)


def image_grid(rows: Sequence[Sequence[np.ndarray]], pad: int = 4) -> np.ndarray:
    """Tile equally tall images: one grid row per entry of ``rows``; white padding."""
    widths = [sum(im.shape[1] for im in r) + pad * (len(r) - 1) for r in rows]
    height = max(im.shape[0] for r in rows for im in r)
    canvas = np.ones((len(rows) * height + pad * (len(rows) - 1), max(widths), 3), np.float32)
    for i, r in enumerate(rows):
        x = 0
        y = i * (height + pad)
        for im in r:
            canvas[y:y + im.shape[0], x:x + im.shape[1]] = np.clip(im, 0, 1)
            x += im.shape[1] + pad
    return canvas

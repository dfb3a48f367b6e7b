"""Small- vs large-motion region metrics (LODE supp. B.3, Table 6) and DeepFlow helpers.

The paper splits every test image into *small-motion* pixels (optical-flow norm below a
threshold, likely static background) and *large-motion* pixels (norm above a threshold,
likely moving objects), and reports PSNR/SSIM on each. The thresholds did not survive in
the text we have; we use one threshold ``threshold`` (default 1.0 px per frame, our choice):
small = ``norm < threshold``, large = ``norm >= threshold``. Both can be set apart with
``small_max`` / ``large_min`` to leave a gap.

Optical flow is OpenCV DeepFlow (``cv2.optflow.createOptFlow_DeepFlow``) on 8-bit
grayscale, computed between two consecutive video frames when a dataset has them, else
between the blurred and the sharp image (see :func:`blurmap.eval.local.evaluate_local`).

Region PSNR/SSIM use :func:`blurmap.metrics.masked_psnr` / :func:`masked_ssim` with the
binary region as the mask (PSNR from the MSE over the region's pixels and channels).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "deepflow",
    "flow_norm",
    "motion_regions",
    "region_metrics",
    "mask_regions",
]


def _to_gray_u8(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 3:
        if a.shape[0] == 3 and a.shape[2] != 3:  # CHW
            a = a.transpose(1, 2, 0)
        a = a @ np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 luma, as cv2.cvtColor
    return np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)


def deepflow(frame0: np.ndarray, frame1: np.ndarray) -> np.ndarray:
    """Dense optical flow from ``frame0`` to ``frame1`` with OpenCV DeepFlow.

    Args:
        frame0, frame1: ``(H, W, 3)`` (or ``(3, H, W)`` or ``(H, W)``) float images in [0, 1].

    Returns:
        ``(H, W, 2)`` float32 flow ``(dx, dy)`` in pixels.
    """
    import cv2

    g0, g1 = _to_gray_u8(frame0), _to_gray_u8(frame1)
    if g0.shape != g1.shape:
        raise ValueError(f"deepflow: frame sizes differ {g0.shape} vs {g1.shape}")
    return cv2.optflow.createOptFlow_DeepFlow().calc(g0, g1, None)


def flow_norm(flow: np.ndarray) -> np.ndarray:
    """Per-pixel Euclidean norm ``sqrt(dx^2 + dy^2)`` of an ``(H, W, 2)`` flow, in px."""
    flow = np.asarray(flow, dtype=np.float64)
    return np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)


def motion_regions(
    norm: np.ndarray,
    threshold: float = 1.0,
    small_max: float | None = None,
    large_min: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean small- and large-motion masks from a flow-norm map.

    Args:
        norm: ``(H, W)`` flow norm in px.
        threshold: default split: small ``< threshold``, large ``>= threshold``.
        small_max, large_min: override the two bounds separately.

    Returns:
        ``(small, large)`` boolean ``(H, W)`` arrays.
    """
    lo = threshold if small_max is None else small_max
    hi = threshold if large_min is None else large_min
    return norm < lo, norm >= hi


def mask_regions(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(static, blurred)`` boolean regions from a blur mask (``>= 0.5`` is blurred)."""
    m = np.asarray(mask) >= 0.5
    return ~m, m


def region_metrics(
    pred: np.ndarray, gt: np.ndarray, regions: dict[str, np.ndarray]
) -> dict[str, float]:
    """PSNR/SSIM restricted to each region.

    Args:
        pred, gt: ``(H, W, 3)`` float arrays in [0, 1].
        regions: ``{"small": bool (H, W), "large": bool (H, W), ...}``.

    Returns:
        ``{"<region>_psnr", "<region>_ssim", "<region>_fraction"}`` per region; PSNR/SSIM are
        NaN for an empty region (fraction 0), so averages can skip them.
    """
    from blurmap.metrics import masked_psnr, masked_ssim

    out: dict[str, float] = {}
    for name, region in regions.items():
        m = np.asarray(region, dtype=np.float64)
        frac = float(m.mean())
        out[f"{name}_fraction"] = frac
        if frac == 0.0:
            out[f"{name}_psnr"] = float("nan")
            out[f"{name}_ssim"] = float("nan")
            continue
        out[f"{name}_psnr"] = float(masked_psnr(pred, gt, m))
        out[f"{name}_ssim"] = float(masked_ssim(pred, gt, m))
    return out

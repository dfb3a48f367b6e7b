"""Pixel metrics of the DPDD protocol: PSNR, SSIM, MAE, their mask-weighted variants, quantisation.

Images are ``(H, W, C)`` arrays in ``[0, 1]``, converted to float64 before any maths; see
:mod:`blurmap.metrics` for the protocol.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.metrics import structural_similarity

__all__ = ["SSIM_BORDER", "quantize", "to_8bit_like_opencv", "protocol_levels", "psnr", "ssim", "mae", "masked_psnr",
           "ssim_map", "masked_ssim"]

# skimage excludes (win_size - 1) // 2 pixels at each border from the mean SSIM (win 7 -> 3).
SSIM_BORDER = 3


def _pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.shape != g.shape:
        raise ValueError(f"prediction {p.shape} and ground truth {g.shape} differ in shape")
    if p.ndim != 3:
        raise ValueError(f"expected (H, W, C) images, got shape {p.shape}")
    return p, g


def _mask(mask, shape) -> np.ndarray:
    m = np.asarray(mask, dtype=np.float64)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    if m.shape != tuple(shape[:2]):
        raise ValueError(f"mask {m.shape} does not match image size {tuple(shape[:2])}")
    return m


def quantize(x, bits: int) -> np.ndarray:
    """Round ``x`` to the levels of a ``bits``-bit image, as if saved and re-read.

    Args:
        x: array in ``[0, 1]`` (clipped first).
        bits: 8 or 16.

    Returns:
        float64 array ``round(clip(x) * (2**bits - 1)) / (2**bits - 1)``, same shape.
    """
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    peak = float(2**bits - 1)
    return np.round(np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0) * peak) / peak


def to_8bit_like_opencv(x, bits: int) -> np.ndarray:
    """A decoded ``bits``-deep image at the 8 bits OpenCV's default ``cv2.imread`` gives.

    The published 8-bit DPDD scripts (DRBNet, LaKDNet, Restormer single-image) read PNGs with
    ``cv2.imread(path)``, which keeps the high byte of a 16-bit sample: ``v8 = v16 >> 8`` (not
    ``round(v16 / 257)``; the two differ by one level for about a quarter of the values).

    Args:
        x: array in ``[0, 1]`` as decoded from a file of depth ``bits``.
        bits: the file's stored depth, 8 (returned as is, float64) or 16.

    Returns:
        float64 array on the 8-bit levels ``k / 255``, same shape.
    """
    a = np.asarray(x, dtype=np.float64)
    if bits == 8:
        return a
    if bits != 16:
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    v16 = np.round(np.clip(a, 0.0, 1.0) * 65535.0).astype(np.uint16)
    return (v16 >> 8).astype(np.float64) / 255.0


def protocol_levels(x, stored_bits: int, bits: int | None) -> np.ndarray:
    """``x`` (decoded from a ``stored_bits`` file) at the protocol depth ``bits`` (None = its own).

    8 bits from a 16-bit file follow :func:`to_8bit_like_opencv`; every other case rounds with
    :func:`quantize`.
    """
    if bits == 8 and stored_bits == 16:
        return to_8bit_like_opencv(x, 16)
    return quantize(x, bits or stored_bits)


def psnr(pred, gt) -> float:
    """Peak signal-to-noise ratio in dB from the full-image MSE (peak 1).

    Args:
        pred, gt: ``(H, W, C)`` arrays in ``[0, 1]``.

    Returns:
        ``10 log10(1 / MSE)``; ``inf`` when the images are identical.
    """
    p, g = _pair(pred, gt)
    mse = float(np.mean((p - g) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)


def ssim(pred, gt) -> float:
    """Mean SSIM: ``structural_similarity(pred, gt, data_range=1, channel_axis=-1)``.

    Args:
        pred, gt: ``(H, W, C)`` arrays in ``[0, 1]``, H, W >= 7.

    Returns:
        SSIM in ``[-1, 1]`` (mean over channels of the per-channel mean, border excluded).
    """
    p, g = _pair(pred, gt)
    return float(structural_similarity(p, g, data_range=1.0, channel_axis=-1))


def mae(pred, gt) -> float:
    """Mean absolute error over all pixels and channels (same units as the images)."""
    p, g = _pair(pred, gt)
    return float(np.mean(np.abs(p - g)))


def masked_psnr(pred, gt, mask) -> float:
    """PSNR over the masked (blurred) region: ``MSE = sum(diff^2 * m) / (sum(m) * C)``.

    Args:
        pred, gt: ``(H, W, C)`` arrays in ``[0, 1]``.
        mask: ``(H, W)`` weights in ``[0, 1]`` (binary or soft).

    Returns:
        dB; ``inf`` when the masked region is identical, ``nan`` when the mask is empty.
    """
    p, g = _pair(pred, gt)
    m = _mask(mask, p.shape)
    weight = float(m.sum())
    if weight <= 0.0:
        return math.nan
    mse = float(np.sum((p - g) ** 2 * m[:, :, None]) / (weight * p.shape[2]))
    return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)


def ssim_map(pred, gt) -> np.ndarray:
    """Per-pixel SSIM ``(H, W)``: skimage's full map (``full=True``) averaged over channels."""
    p, g = _pair(pred, gt)
    _, full = structural_similarity(p, g, data_range=1.0, channel_axis=-1, full=True)
    return full.mean(axis=2)


def masked_ssim(pred, gt, mask) -> float:
    """SSIM averaged under a mask.

    The full SSIM map of :func:`ssim` (``full=True``, ``(H, W, C)``) is averaged over channels
    (channels weigh equally, as in the unmasked mean), then averaged with the mask as weights:
    ``sum(S * m) / sum(m)``. The 3-pixel border that skimage leaves out of its mean is left
    out here too, so an all-ones mask gives exactly :func:`ssim`.

    Args:
        pred, gt: ``(H, W, C)`` arrays in ``[0, 1]``.
        mask: ``(H, W)`` weights in ``[0, 1]``.

    Returns:
        Weighted mean SSIM; ``nan`` when the mask is empty inside the border.
    """
    p, g = _pair(pred, gt)
    m = _mask(mask, p.shape)
    s = ssim_map(p, g)
    b = SSIM_BORDER
    s, m = s[b:-b, b:-b], m[b:-b, b:-b]
    weight = float(m.sum())
    if weight <= 0.0:
        return math.nan
    return float(np.sum(s * m) / weight)

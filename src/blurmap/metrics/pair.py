"""All protocol metrics of one image pair in one call."""

from __future__ import annotations

from blurmap.metrics.lpips import LPIPS, lpips_distance
from blurmap.metrics.pixel import _pair, mae, masked_psnr, masked_ssim, psnr, ssim

__all__ = ["evaluate_pair"]


def evaluate_pair(pred, gt, mask=None, lpips: LPIPS | None = None) -> dict:
    """All protocol metrics for one image pair.

    Args:
        pred, gt: ``(H, W, 3)`` arrays in ``[0, 1]`` (quantise them first for the 8/16-bit
            protocol, see :func:`quantize`).
        mask: optional ``(H, W)`` blur mask in ``[0, 1]`` -> adds ``masked_psnr``/``masked_ssim``.
        lpips: optional :class:`LPIPS` module -> adds ``lpips`` and ``lpips_net``.

    Returns:
        ``{"psnr": dB, "ssim": ..., "mae": ..., ["masked_psnr", "masked_ssim"],
        ["lpips", "lpips_net"]}`` with Python floats.
    """
    p, g = _pair(pred, gt)
    out: dict = {"psnr": psnr(p, g), "ssim": ssim(p, g), "mae": mae(p, g)}
    if mask is not None:
        out["masked_psnr"] = masked_psnr(p, g, mask)
        out["masked_ssim"] = masked_ssim(p, g, mask)
    if lpips is not None:
        out["lpips"] = lpips_distance(lpips, p, g)
        out["lpips_net"] = lpips.net_name
    return out

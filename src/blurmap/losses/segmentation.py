"""Mask losses of LODE/BladeNet: pixel-wise BCE (eq. 1) for LBP and DICE (eq. 4) for BSA.

DICE follows V-Net (Milletari et al. 2016, the paper's ref. [21]), with squared sums in the
denominator::

    DICE(p, g) = 1 - (2 * sum(p * g) + eps) / (sum(p^2) + sum(g^2) + eps)

computed per sample over all pixels and averaged over the batch. The ``eps`` (default 1)
keeps the loss finite (and equal to 0) for an all-zero prediction of an all-zero mask.
The prediction need not lie in [0, 1]: BladeNet feeds the *sum* of three attention maps
(eq. 4), and the squared denominator makes ``p = g`` the minimiser for any scale.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["bce_loss", "dice_loss", "BCELoss", "DiceLoss"]


def bce_loss(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Pixel-wise binary cross entropy of eq. 1, mean over all pixels.

    ``-mean(m * log(sigmoid(z)) + (1 - m) * log(1 - sigmoid(z)))`` computed stably from logits.

    Args:
        logits: ``(B, 1, H, W)`` LBP logits (pre-sigmoid).
        mask: ``(B, 1, H, W)`` target blur mask in [0, 1].

    Returns:
        Scalar tensor (nats per pixel).
    """
    if logits.shape != mask.shape:
        raise ValueError(f"bce_loss: logits {tuple(logits.shape)} vs mask {tuple(mask.shape)}")
    return F.binary_cross_entropy_with_logits(logits.float(), mask.float())


def dice_loss(pred: torch.Tensor, mask: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """V-Net DICE loss (eq. 4), per sample then batch mean.

    Args:
        pred: ``(B, 1, H, W)`` prediction (probabilities or BladeNet's summed attention).
        mask: ``(B, 1, H, W)`` target in [0, 1].
        eps: smoothing added to numerator and denominator.

    Returns:
        Scalar tensor in [0, 1] for ``pred >= 0``.
    """
    if pred.shape != mask.shape:
        raise ValueError(f"dice_loss: pred {tuple(pred.shape)} vs mask {tuple(mask.shape)}")
    p = pred.float().flatten(1)
    g = mask.float().flatten(1)
    inter = (p * g).sum(1)
    denom = (p * p).sum(1) + (g * g).sum(1)
    return (1.0 - (2.0 * inter + eps) / (denom + eps)).mean()


class BCELoss(nn.Module):
    """Module form of :func:`bce_loss`."""

    def forward(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return bce_loss(logits, mask)


class DiceLoss(nn.Module):
    """Module form of :func:`dice_loss`."""

    def __init__(self, eps: float = 1.0):
        super().__init__()
        self.eps = eps

    def forward(self, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return dice_loss(pred, mask, self.eps)

"""Self-supervised losses for defocus maps (DefocusGAN eqs. 2, 4, 5).

- :func:`reblur_loss`: the reblur geometric loss ``L_gem = |g(I_AiF, I_DM) - I_OoF|_1`` plus
  the gradient prior ``lambda * ||grad I_DM||`` (eq. 5). ``g`` is the spatially varying blur
  :func:`blurmap.physics.defocus.defocus_blur` with a (learnable) :class:`DPKernelBank`.
  The paper reblurs the AiF into the combined image; a combined-view PSF is symmetric in the
  sign of the CoC, so on its own it cannot tell front from back. We therefore reblur into the
  *left and right* views (DPDD ships both), which carries the sign; the combined view can be
  added too. (A recorded choice: the paper's map is unsigned; ours is signed, see docs/design.md.)
- :func:`dp_consistency_loss`: needs no sharp image. With ``left = I * K_L(c)`` and
  ``right = I * K_R(c)``, ``left * K_R(c) = right * K_L(c)`` exactly when ``c`` is right;
  used for per-pair estimation (``blurmap defocus-map --optimize``).
- :func:`gradient_prior`: mean L1 norm of the map's forward differences (anisotropic TV).
- :func:`curvature_prior`: mean L1 norm of its second differences (zero on any plane).

Both losses take ``scale``: the images are area-averaged by ``scale`` and the map divided by
it, and the kernels are resampled to the coarse grid
(:func:`blurmap.physics.kernels.kernels_at_scale`), so large CoCs cost far less on a CPU.
``scale=1`` is the paper's full-resolution loss.

The L1 terms are means over pixels and channels (``torch.nn.L1Loss``); the prior is a mean
over pixels too, so lambda = 1e-5 (the paper's value) makes it a very weak smoothness term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from blurmap.physics.crf import srgb_to_linear
from blurmap.physics.defocus import defocus_blur
from blurmap.physics.kernels import DPKernelBank, kernels_at_scale
from blurmap.physics.layered import layered_defocus_blur

#: reblur operators of :func:`reblur_loss`
REBLUR_OPERATORS = ("interp", "layered")

__all__ = ["gradient_prior", "curvature_prior", "reblur_loss", "dp_consistency_loss", "ReblurLoss", "downscale"]


def gradient_prior(coc: torch.Tensor) -> torch.Tensor:
    """Mean absolute forward difference of a map, ``mean |d/dx| + mean |d/dy|``.

    Args:
        coc: ``(B, 1, H, W)`` map in px.
    Returns:
        scalar tensor (px per px).
    """
    return _mean_abs_difference(coc, 1)


def curvature_prior(coc: torch.Tensor) -> torch.Tensor:
    """Mean absolute second difference of a map, ``mean |d2/dx2| + mean |d2/dy2|``.

    Zero on any plane, so unlike :func:`gradient_prior` it does not pull a slanted surface
    (a receding ground) towards a constant where the data say nothing.

    Args:
        coc: ``(B, 1, H, W)`` map in px.
    Returns:
        scalar tensor (px per px squared); an axis shorter than 3 contributes 0.
    """
    return _mean_abs_difference(coc, 2)


def _mean_abs_difference(coc: torch.Tensor, order: int) -> torch.Tensor:
    """``mean |diff_x^order| + mean |diff_y^order|``; an axis of ``order`` px or fewer adds 0."""
    total = coc.new_zeros(())
    for dim in (-1, -2):
        if coc.shape[dim] > order:
            total = total + torch.diff(coc, n=order, dim=dim).abs().mean()
    return total


def downscale(x: torch.Tensor, s: int) -> torch.Tensor:
    """Area-average ``(B, C, H, W)`` by an integer factor (H, W cropped to multiples of s)."""
    if s == 1:
        return x
    h, w = x.shape[-2] // s * s, x.shape[-1] // s * s
    return F.avg_pool2d(x[..., :h, :w], s)


def _left_stack(bank: DPKernelBank | torch.Tensor, scale: int) -> torch.Tensor:
    left = bank.kernels("left") if isinstance(bank, DPKernelBank) else bank
    return kernels_at_scale(left, scale)


def reblur_loss(
    aif: torch.Tensor,
    coc: torch.Tensor,
    targets: dict[str, torch.Tensor],
    bank: DPKernelBank | torch.Tensor,
    lam: float = 1e-5,
    scale: int = 1,
    gamma: float | None = None,
    margin: int = 0,
    operator: str = "interp",
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Reblur geometric loss with the gradient prior (eq. 5).

    Args:
        aif: ``(B, 3, H, W)`` all-in-focus image.
        coc: ``(B, 1, H, W)`` estimated signed CoC in px (full resolution).
        targets: observed views by name, e.g. ``{"left": L, "right": R}`` or
            ``{"combined": C}``, each ``(B, 3, H, W)``.
        bank: kernel bank g (or a ``(R + 1, K, K)`` left-view stack).
        lam: weight of :func:`gradient_prior`.
        scale: evaluate the blur on images area-averaged by this integer factor.
        gamma: if given, images are converted to linear light (``x ** gamma``) first — blur
            happens in linear light, so this matches the image formation (and our
            synthetic data) better; None = the paper's loss on the stored values.
        margin: full-resolution pixels left out of the L1 term at each border, where the
            reflect padding of the reblur differs from the real scene outside the frame.
        operator: the reblur ``g``: ``"interp"`` (:func:`~blurmap.physics.defocus.defocus_blur`,
            per-pixel interpolation between two blurred copies) or ``"layered"``
            (:func:`~blurmap.physics.layered.layered_defocus_blur`: the AiF split into CoC
            layers as in eq. 4, composited with occlusion).
    Returns:
        ``(total, {"gem": ..., "grad": ...})``.
    """
    if operator not in REBLUR_OPERATORS:
        raise ValueError(f"reblur operator must be one of {', '.join(REBLUR_OPERATORS)}, got {operator!r}")
    blur = layered_defocus_blur if operator == "layered" else defocus_blur
    stack = _left_stack(bank, scale)
    lin = (lambda x: srgb_to_linear(x, gamma)) if gamma else (lambda x: x)
    a, c = downscale(lin(aif), scale), downscale(coc, scale) / scale
    m = int(margin) // scale
    crop = (lambda x: x[..., m:-m, m:-m]) if m > 0 else (lambda x: x)
    gem = aif.new_zeros(())
    for view, target in targets.items():
        gem = gem + crop(blur(a, c, stack, view) - downscale(lin(target), scale)).abs().mean()
    gem = gem / max(len(targets), 1)
    grad = gradient_prior(coc)
    return gem + lam * grad, {"gem": gem, "grad": grad}


def dp_consistency_loss(
    left: torch.Tensor,
    right: torch.Tensor,
    coc: torch.Tensor,
    bank: DPKernelBank | torch.Tensor,
    scale: int = 1,
    reduce: bool = True,
) -> torch.Tensor:
    """Dual-pixel consistency: ``|left (*) K_R(coc) - right (*) K_L(coc)|``.

    Args:
        left, right: ``(B, 3, H, W)`` DP views.
        coc: ``(B, 1, H, W)`` signed CoC in px (at the views' resolution).
        bank: kernel bank (or left-view stack).
        scale: evaluate on images area-averaged by this integer factor.
        reduce: mean over everything (True) or return the per-pixel map ``(B, 1, h, w)``.
    Returns:
        scalar, or the per-pixel channel-mean absolute difference at the coarse resolution.
    """
    stack = _left_stack(bank, scale)
    lv, rv, c = downscale(left, scale), downscale(right, scale), downscale(coc, scale) / scale
    diff = (defocus_blur(lv, c, stack, "right") - defocus_blur(rv, c, stack, "left")).abs()
    return diff.mean() if reduce else diff.mean(1, keepdim=True)


class ReblurLoss(nn.Module):
    """Module form of :func:`reblur_loss` holding the learnable kernel bank g.

    Args:
        max_radius: CoC limit R of the bank (px).
        kind: initial kernels, ``"butterworth"`` (eq. 3) or ``"gaussian"``.
        lam: gradient-prior weight (paper: 1e-5).
        views: which observed views the AiF is reblurred into.
        scale: coarse-grid factor of the loss (1 = paper).
    """

    def __init__(self, max_radius: int = 25, kind: str = "butterworth", lam: float = 1e-5,
                 views: tuple[str, ...] = ("left", "right"), scale: int = 1):
        super().__init__()
        self.bank = DPKernelBank(max_radius, kind=kind)
        self.lam, self.views, self.scale = float(lam), tuple(views), int(scale)

    def forward(self, aif, coc, observed: dict[str, torch.Tensor]):
        targets = {v: observed[v] for v in self.views}
        return reblur_loss(aif, coc, targets, self.bank, self.lam, self.scale)

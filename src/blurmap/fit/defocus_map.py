"""Per-pair self-supervised defocus map (``blurmap defocus-map --optimize``).

The map is a coarse grid of signed CoC values, bilinearly upsampled; it is fitted to one
dual-pixel pair by Adam on the DP consistency loss ``|L (*) K_R(c) - R (*) K_L(c)|`` (on
luminance, on views area-averaged to about ``coarse_pixels`` pixels) plus a gradient prior,
coarse to fine. Three things make it robust on cameras whose PSF is not the model's:

1. **light-split correction**: the tilt ``(1 +- v x)`` of the DP split across the frame is
   estimated in closed form (:func:`blurmap.physics.dp_family.estimate_vignetting`) and divided
   out; left in, it dominates the consistency loss near the borders;
2. **search initialisation**: before any gradient step, every grid cell takes the signed radius
   (every integer px in ``[-max_coc, max_coc]``, sub-pixel by a parabola) with the lowest
   consistency cost over a window around it, so large blurs are not missed by a descent from
   an all-in-focus start;
3. **calibration** (``calibrate=True``): the PSF is a :class:`~blurmap.physics.dp_family.DPKernelFamily`
   whose six parameters are fitted jointly with the map (a camera file from
   ``blurmap calibrate`` gives a fixed, already calibrated member instead).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from blurmap.physics.dp_family import DPKernelFamily, devignette, estimate_vignetting
from blurmap.physics.kernels import (
    DPKernelBank,
    dp_kernel_stack,
    kernels_at_scale,
    resample_kernels,
)

__all__ = ["auto_scale", "optimize_defocus_map", "search_map"]


def auto_scale(h: int, w: int, target_pixels: int) -> int:
    """Largest power of two s with (h / s) * (w / s) >= target_pixels (at least 1)."""
    s = 1
    while (h // (2 * s)) * (w // (2 * s)) >= target_pixels:
        s *= 2
    return s


def _pool(x: torch.Tensor, s: int) -> torch.Tensor:
    if s == 1:
        return x
    h, w = x.shape[-2] // s * s, x.shape[-1] // s * s
    return F.avg_pool2d(x[..., :h, :w], s)


def _left_stack(bank) -> torch.Tensor:
    if isinstance(bank, (DPKernelBank, DPKernelFamily)):
        return bank.kernels("left")
    return bank


def consistency(l: torch.Tensor, r: torch.Tensor, coc: torch.Tensor, left_stack: torch.Tensor, s: int,
                reduce: bool = True) -> torch.Tensor:
    """DP consistency on views already area-averaged by ``s``; ``coc`` in full-resolution px.

    Args:
        l, r: ``(B, 1, h, w)`` coarse views.
        coc: ``(B, 1, h, w)`` signed CoC in full-resolution px.
        left_stack: ``(R + 1, K, K)`` full-resolution left-view kernels.
    Returns:
        mean absolute difference (scalar), or its per-pixel map if ``reduce`` is False.
    """
    from blurmap.physics.defocus import defocus_blur

    stack = kernels_at_scale(left_stack, s)
    c = coc / s
    diff = (defocus_blur(l, c, stack, "right") - defocus_blur(r, c, stack, "left")).abs()
    return diff.mean() if reduce else diff


def search_map(l: torch.Tensor, r: torch.Tensor, left_stack: torch.Tensor, s: int, cells: tuple[int, int],
               window: int, max_coc: float, median: int = 3) -> torch.Tensor:
    """Winner-takes-all signed CoC per grid cell from a cost volume (no gradients).

    The consistency cost of every signed integer radius is box-filtered over ``window`` coarse
    px, averaged per cell, and the best radius refined by a parabola through its neighbours.

    Args:
        l, r: ``(B, 1, h, w)`` coarse views (area-averaged by ``s``).
        left_stack: ``(R + 1, K, K)`` full-resolution left-view kernels.
        cells: ``(gh, gw)`` grid size.
        median: side of the median filter over cells applied to the result (1 = none).
    Returns:
        ``(B, 1, gh, gw)`` signed CoC in full-resolution px.
    """
    from blurmap.physics.defocus import fft_conv_stack

    rmax = min(math.ceil(max_coc), left_stack.shape[0] - 1)
    radii = list(range(-rmax, rmax + 1))
    with torch.no_grad():
        kl = torch.stack([left_stack[c] if c >= 0 else left_stack[-c].flip(-1) for c in radii])
        kl = resample_kernels(kl, s)
        cost = (fft_conv_stack(l, kl.flip(-1))[:, :, 0] - fft_conv_stack(r, kl)[:, :, 0]).abs()
        k = max(1, min(window, l.shape[-2], l.shape[-1]) // 2 * 2 + 1)
        cost = F.avg_pool2d(cost, k, 1, k // 2, count_include_pad=False)
        cost = F.adaptive_avg_pool2d(cost, cells)  # (B, S, gh, gw)
        best = cost.argmin(1, keepdim=True)
        lo = (best - 1).clamp(0, len(radii) - 1)
        hi = (best + 1).clamp(0, len(radii) - 1)
        c0, cm, cp = cost.gather(1, best), cost.gather(1, lo), cost.gather(1, hi)
        curv = cm + cp - 2 * c0
        off = torch.where(curv > 1e-12, 0.5 * (cm - cp) / curv.clamp_min(1e-12), torch.zeros_like(c0))
        off = torch.where((best == 0) | (best == len(radii) - 1), torch.zeros_like(off), off.clamp(-0.5, 0.5))
        est = best.float() - rmax + off
        if median > 1 and min(cells) >= median:
            # cells on weak texture pick a radius at random: a median over the neighbours
            # removes such outliers without blurring a depth edge between cells
            p = median // 2
            patches = F.unfold(F.pad(est, (p, p, p, p), mode="replicate"), median)
            est = patches.median(1).values.view_as(est)
        return est.clamp(-max_coc, max_coc)


def optimize_defocus_map(
    left: torch.Tensor,
    right: torch.Tensor,
    steps: int = 300,
    bank=None,
    lam: float = 0.003,
    lr: float = 0.6,
    grid: int = 4,
    coarse_pixels: int = 100_000,
    refine_steps: int | None = None,
    max_coc: float = 25.0,
    progress=None,
    *,
    calibrate: bool = False,
    swap_views: bool = False,
    search: bool = False,
    pyramid: int = 2,
    pyramid_steps: int = 600,
    pyramid_lr_scale: bool = True,
    curvature: float = 0.7,
    search_window: int = 15,
    search_median: int = 3,
    vignetting: float | None = None,
    gamma: float = 2.2,
    kernel_lr: float = 0.05,
    return_kernel: bool = False,
):
    """Per-pair self-supervised defocus map.

    Args:
        left, right: ``(B, 3, H, W)`` DP views in [0, 1] (encoded, e.g. sRGB).
        steps: Adam steps of the coarse stage.
        bank: the PSF: None (a :class:`DPKernelFamily` starting near eq. 3 when ``calibrate``,
            else the fixed eq. 3 stack), a :class:`DPKernelFamily` (e.g. a calibrated camera
            from :func:`blurmap.fit.load_camera_kernel`; its vignetting is used), a
            :class:`DPKernelBank`, or a ``(R + 1, K, K)`` left-view stack.
        lam: weight of the prior on the grid (px per grid cell): ``(1 - curvature)`` times the
            mean gradient plus ``curvature`` times the mean second difference.
        lr: Adam learning rate of the map (px per step).
        grid: one map value per ``grid x grid`` coarse pixels.
        coarse_pixels: target size of the coarse stage.
        refine_steps: steps of the finer stage (default ``steps // 3``; 0 = none).
        max_coc: |CoC| bound in px.
        progress: optional callable ``(step, total, loss)``.
        calibrate: fit the family's parameters jointly with the map (only when ``bank`` is
            None or a family; a given family is copied, never changed in place).
        swap_views: the sensor's left and right are mirrored: swap the views first (this flips
            the sign of the map).
        search: initialise the map by :func:`search_map` (else all in focus).
        pyramid: extra stages before the main one, each 2x coarser than the next.
        pyramid_steps: Adam steps of each extra stage.
        pyramid_lr_scale: in an extra stage k times coarser than the main one, multiply ``lr``
            by k (the step is then the same in that stage's own pixels).
        curvature: share of the second-difference prior in the prior, in [0, 1] (0: gradient
            only, which flattens a slanted surface where the views carry no texture; 1:
            second differences only, which lets small blurs drift).
        search_window: box window of the search cost, coarse px.
        search_median: median filter over grid cells of the search result (1 = none).
        vignetting: light-split tilt ``v`` to divide out; None = the family's value (a camera
            file) or, without one, the closed-form estimate of this pair.
        gamma: power law used to undo the light split in linear light.
        kernel_lr: Adam learning rate of the family's raw parameters.
        return_kernel: also return the (fitted) family, or None for a fixed bank.
    Returns:
        ``(B, 1, H, W)`` float32 signed CoC in px at the input resolution (positive behind the
        focal plane); with ``return_kernel``, ``(map, family)``.
    """
    if not 0 <= curvature <= 1:
        raise ValueError(f"curvature must be in [0, 1], got {curvature}")
    if left.shape != right.shape or left.dim() != 4:
        raise ValueError(f"left {tuple(left.shape)} and right {tuple(right.shape)} must be equal (B, 3, H, W)")
    if swap_views:
        left, right = right, left
    h, w = left.shape[-2:]
    family = None
    if isinstance(bank, DPKernelFamily):
        family = DPKernelFamily(bank.max_radius).to(left.device)
        family.load_state_dict(bank.state_dict())
        if vignetting is None:
            vignetting = family.values()["vignetting"]
    elif bank is None and calibrate:
        family = DPKernelFamily(math.ceil(max_coc)).to(left.device)
    fixed = None if family is not None else (dp_kernel_stack(math.ceil(max_coc)) if bank is None else bank)
    fit_kernel = family is not None and calibrate
    if vignetting is None:
        vignetting = estimate_vignetting(left, right, gamma)
    if family is not None:
        family.set_value("vignetting", float(vignetting))  # the tilt divided out below
        family.raw.requires_grad_(fit_kernel)
    left, right = devignette(left.float(), right.float(), float(vignetting), gamma)
    # the DP disparity is the same in every channel: fit on luminance (3x cheaper)
    left, right = left.mean(1, keepdim=True), right.mean(1, keepdim=True)
    s = auto_scale(h, w, coarse_pixels)
    refine = steps // 3 if refine_steps is None else refine_steps
    # coarser stages first: a blur of 20 px is 5 px four times coarser, where a descent from
    # "in focus" still finds it; each costs a fraction of the main stage. Weakly textured regions
    # give the map little gradient, so it climbs there at about the step size per step: with the
    # main stage's step a coarse stage ended far short of a 15-20 px blur, hence the step scaled
    # by the stage's scale and 600 steps (docs/defocus-maps.md, "Per-pair fit on the shifted split")
    stages = [(s * 2**k, pyramid_steps) for k in range(pyramid, 0, -1)
              if min(h, w) // (s * 2**k) >= 4 * grid and pyramid_steps > 0]
    stages += [(s, steps)] + ([(max(s // 2, 1), refine)] if refine and s > 1 else [])
    total = sum(n for _, n in stages)
    grid_param = None
    done = 0

    def kernels():
        return family.kernels("left") if family is not None else _left_stack(fixed)

    for scale, n in stages:
        gh, gw = max(2, h // (scale * grid)), max(2, w // (scale * grid))
        l, r = _pool(left, scale), _pool(right, scale)
        if grid_param is None:
            if search:
                with torch.no_grad():
                    init = search_map(l, r, kernels().detach(), scale, (gh, gw), search_window, max_coc,
                                      search_median)
            else:
                init = left.new_zeros(left.shape[0], 1, gh, gw)
        else:
            init = F.interpolate(grid_param.detach(), size=(gh, gw), mode="bilinear", align_corners=False)
        grid_param = init.clone().requires_grad_(True)
        stage_lr = lr * (max(1.0, scale / s) if pyramid_lr_scale else 1.0)
        groups = [{"params": [grid_param], "lr": stage_lr}]
        if fit_kernel:
            # the light split is divided out once, from the closed-form estimate: only the
            # kernel's shape is fitted here (index 5, the vignetting, gets no gradient)
            groups.append({"params": [family.raw], "lr": kernel_lr})
        opt = torch.optim.Adam(groups)
        with torch.enable_grad():
            for _ in range(n):
                coc = F.interpolate(grid_param, size=l.shape[-2:], mode="bilinear", align_corners=False)
                loss = consistency(l, r, coc, kernels(), scale) + lam * _prior(grid_param, curvature)
                opt.zero_grad()
                loss.backward()
                opt.step()
                with torch.no_grad():
                    grid_param.clamp_(-max_coc, max_coc)
                done += 1
                if progress is not None:
                    progress(done, total, float(loss))
    with torch.no_grad():
        out = F.interpolate(grid_param, size=(h, w), mode="bilinear", align_corners=False).float()
    if family is not None:
        family.raw.requires_grad_(False)
    return (out, family) if return_kernel else out


def _prior(coc: torch.Tensor, curvature: float) -> torch.Tensor:
    from blurmap.losses.reblur import curvature_prior, gradient_prior

    return (1 - curvature) * gradient_prior(coc) + curvature * curvature_prior(coc)

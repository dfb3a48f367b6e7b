"""Layered, occlusion-aware reblur operator (DefocusGAN eq. 4 in its layered form).

Eq. 4 writes the defocused image as the all-in-focus image split into CoC layers, each
blurred by the kernel of its CoC: ``I_OoF = I_AiF[c(d)] * H(B; [c(d)])``.
:func:`blurmap.physics.defocus.defocus_blur` (the ``interp`` operator) instead blurs the
*whole* image by every radius and lets each output pixel interpolate between two of them,
which is cheap but lets a sharp foreground pixel take the colour its blurred background
neighbours would have, and never lets a blurred foreground spill over a sharp background.

:func:`layered_defocus_blur` is the layered form, built like the DP renderer
(:func:`blurmap.physics.defocus.render_dual_pixel`) but differentiable in the image, the map
and the kernels (the renderer picks layers with in-place, integer operations and fixed
kernels, so no gradient reaches the map or a learnable kernel):

* each pixel is split between the two integer signed radii around its CoC,
  ``floor(c)`` with weight ``1 - t`` and ``floor(c) + 1`` with ``t = c - floor(c)`` (hat
  weights, so the result varies continuously with the map);
* layer ``s`` = premultiplied colour ``w_s * I`` and alpha ``w_s``, convolved with the
  view's kernel of radius ``s``;
* layers are composited far to near (descending signed CoC; positive is behind the focal
  plane): ``C = C (1 - a_s) + c_s``, ``A = A (1 - a_s) + a_s``; the output is ``C / A``.

Borders: the image and the map are reflect-padded by the kernel's reach first, so layers
near the frame see mirrored content, as the interpolating operator does.
"""

from __future__ import annotations

import math

import torch

from blurmap.physics.defocus import _reflect_pad, _signed_stack
from blurmap.physics.kernels import DPKernelBank, View

__all__ = ["layered_defocus_blur"]


def _conv_per_layer(layers: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """``layers (B, S, C, H, W)`` each convolved with its own ``kernels[s] (S, K, K)`` (zero padding)."""
    n, (h, w) = layers.shape[1], layers.shape[-2:]
    k = kernels.shape[-1]
    p = k // 2
    fh, fw = h + p, w + p  # circular wrap only ever reads the zero padding
    kp = torch.zeros(n, fh, fw, dtype=layers.dtype, device=layers.device)
    kp[:, :k, :k] = kernels.to(layers.dtype)
    kp = torch.roll(kp, shifts=(-p, -p), dims=(-2, -1))  # kernel centre at the origin
    y = torch.fft.irfft2(torch.fft.rfft2(layers, s=(fh, fw)) * torch.fft.rfft2(kp)[None, :, None], s=(fh, fw))
    return y[..., :h, :w]


def layered_defocus_blur(
    image: torch.Tensor,
    coc: torch.Tensor,
    bank: DPKernelBank | torch.Tensor,
    view: View = "left",
) -> torch.Tensor:
    """Blur an image by a per-pixel signed CoC map, layer by layer with occlusion.

    Args:
        image: ``(B, C, H, W)`` (any space; the reblur loss passes linear light when asked).
        coc: ``(B, 1, H, W)`` signed CoC radius in px; clamped to ``[-R, R]``.
        bank: a :class:`DPKernelBank`, or a ``(R + 1, K, K)`` tensor of left-view kernels.
        view: ``"left"``, ``"right"`` or ``"combined"``.
    Returns:
        ``(B, C, H, W)``; gradients reach image, map and kernels. A constant map gives
        exactly the image convolved with that radius' kernel (one layer, alpha 1 inside).
    """
    if image.dim() != 4 or coc.dim() != 4 or coc.shape[1] != 1:
        raise ValueError(f"expected image (B,C,H,W) and coc (B,1,H,W), got {tuple(image.shape)}, {tuple(coc.shape)}")
    if coc.shape[0] != image.shape[0] or coc.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"coc {tuple(coc.shape)} does not match image {tuple(image.shape)}")
    left = bank.kernels("left") if isinstance(bank, DPKernelBank) else bank
    r_max = left.shape[0] - 1
    h, w = image.shape[-2:]
    p = left.shape[-1] // 2
    pads = (p, p, p, p)
    img = _reflect_pad(image, pads)
    c = _reflect_pad(coc.clamp(-r_max, r_max), pads)
    cd = c.detach()
    # layers lo..hi; a pixel belongs to its floor radius and the one above it (as in
    # defocus_blur), so an integer-valued map (e.g. the all-zero start) still gets the
    # one-sided derivative in the map instead of the zero slope of a hat at its peak
    lo = min(max(math.floor(float(cd.min())), -r_max), r_max - 1)
    hi = min(max(math.floor(float(cd.max())), -r_max), r_max - 1) + 1
    radii = torch.arange(lo, hi + 1, device=c.device)
    stack = _signed_stack(left, view, lo, hi)  # (S, K, K)
    base = torch.floor(cd).clamp(lo, hi - 1)
    t = (c - base)[:, None]  # (B, 1, 1, H', W'), differentiable in the map
    slot = (base.long()[:, None] == radii.view(1, -1, 1, 1, 1)).to(c.dtype)  # (B, S, 1, H', W')
    above = (base.long()[:, None] + 1 == radii.view(1, -1, 1, 1, 1)).to(c.dtype)
    weights = (1 - t) * slot + t * above
    layers = torch.cat([img[:, None] * weights, weights], dim=2)  # premultiplied colour + alpha
    blurred = _conv_per_layer(layers, stack)
    colour = torch.zeros_like(blurred[:, 0, :-1])
    alpha = torch.zeros_like(blurred[:, 0, -1:])
    for s in range(blurred.shape[1] - 1, -1, -1):  # far (large positive CoC) to near
        a_s = blurred[:, s, -1:].clamp(0, 1)
        colour = colour * (1 - a_s) + blurred[:, s, :-1]
        alpha = alpha * (1 - a_s) + a_s
    out = colour / alpha.clamp_min(1e-6)
    return out[..., p : p + h, p : p + w]

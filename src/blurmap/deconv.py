"""Classical non-blind deconvolution guided by a defocus map (the paper's Table 3/5 protocol).

The blurred (combined-view) image is deconvolved once per integer CoC radius the map uses,
with that radius's combined DP PSF (sign-symmetric: the combined view cannot tell front from
back), and each pixel takes the linear interpolation of the two results at its own |CoC| —
the inverse of :func:`blurmap.physics.defocus.defocus_blur`. Methods:

- ``"wiener"``: Wiener filter ``conj(H) Y / (|H|^2 + nsr)``.
- ``"rl"``: Richardson-Lucy (Fish et al. 1995), multiplicative updates from the blurred image.
- ``"hyper_laplacian"``: Krishnan & Fergus 2009 — ``min_x lam/2 |k * x - y|^2 + sum |grad x|^alpha``
  by half-quadratic splitting with an increasing penalty beta; the per-pixel ``w`` step uses
  generalised soft thresholding (Zuo et al. 2013), exact for any ``0 < alpha < 1``.

All FFTs work on a reflect-padded copy (the pad absorbs the circular wrap). The work is done in
linear light (``gamma``; None keeps the values as they are), like the blur was formed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from blurmap.physics.crf import linear_to_srgb, srgb_to_linear
from blurmap.physics.defocus import _fast_len, _reflect_pad, _wrap_kernels
from blurmap.physics.kernels import DPKernelBank, dp_kernel_stack, kernels_for_view

__all__ = ["deconvolve", "METHODS"]

METHODS = ("wiener", "rl", "hyper_laplacian")


def _spectrum(kernel: torch.Tensor, fh: int, fw: int) -> torch.Tensor:
    return torch.fft.rfft2(_wrap_kernels(kernel[None], fh, fw))[0]


def _wiener(y, kernel, nsr):
    fh, fw = y.shape[-2:]
    hk = _spectrum(kernel, fh, fw)
    yf = torch.fft.rfft2(y)
    return torch.fft.irfft2(hk.conj() * yf / (hk.abs() ** 2 + nsr), s=(fh, fw))


def _richardson_lucy(y, kernel, iterations):
    fh, fw = y.shape[-2:]
    hk = _spectrum(kernel, fh, fw)
    x = y.clone()
    for _ in range(iterations):
        est = torch.fft.irfft2(torch.fft.rfft2(x) * hk, s=(fh, fw)).clamp_min(1e-6)
        x = x * torch.fft.irfft2(torch.fft.rfft2(y / est) * hk.conj(), s=(fh, fw))
        x = x.clamp_min(0)
    return x


def _gst(v: torch.Tensor, lam: float, p: float, iters: int = 3) -> torch.Tensor:
    """argmin_w 1/2 (w - v)^2 + lam |w|^p for 0 < p < 1 (generalised soft thresholding)."""
    tau = (2 * lam * (1 - p)) ** (1 / (2 - p)) + lam * p * (2 * lam * (1 - p)) ** ((p - 1) / (2 - p))
    a = v.abs()
    t = a.clone()
    for _ in range(iters):
        t = a - lam * p * t.clamp_min(1e-12) ** (p - 1)
    return torch.where(a > tau, torch.sign(v) * t, torch.zeros_like(v))


def _hyper_laplacian(y, kernel, lam, alpha, beta0=1.0, beta_max=256.0, beta_rate=2 * math.sqrt(2)):
    fh, fw = y.shape[-2:]
    hk = _spectrum(kernel, fh, fw)
    dx = torch.zeros(fh, fw, dtype=y.dtype, device=y.device)
    dy = torch.zeros_like(dx)
    dx[0, 0], dx[0, -1] = -1.0, 1.0  # forward differences (circular) as convolutions
    dy[0, 0], dy[-1, 0] = -1.0, 1.0
    fx, fy = torch.fft.rfft2(dx), torch.fft.rfft2(dy)
    yf = torch.fft.rfft2(y)
    num0 = lam * hk.conj() * yf
    den0 = lam * hk.abs() ** 2
    den_d = fx.abs() ** 2 + fy.abs() ** 2
    x = y.clone()
    beta = beta0
    while beta <= beta_max:
        xf = torch.fft.rfft2(x)
        gx = torch.fft.irfft2(xf * fx, s=(fh, fw))
        gy = torch.fft.irfft2(xf * fy, s=(fh, fw))
        wx, wy = _gst(gx, 1.0 / beta, alpha), _gst(gy, 1.0 / beta, alpha)
        num = num0 + beta * (fx.conj() * torch.fft.rfft2(wx) + fy.conj() * torch.fft.rfft2(wy))
        x = torch.fft.irfft2(num / (den0 + beta * den_d), s=(fh, fw))
        beta *= beta_rate
    return x


def deconvolve(
    blurred: torch.Tensor,
    coc: torch.Tensor,
    method: str = "rl",
    bank: DPKernelBank | torch.Tensor | None = None,
    view: str = "combined",
    gamma: float | None = 2.2,
    nsr: float = 2e-2,
    iterations: int = 20,
    lam: float = 300.0,
    alpha: float = 2.0 / 3.0,
) -> torch.Tensor:
    """Spatially varying non-blind deconvolution by a defocus map.

    Args:
        blurred: ``(B, 3, H, W)`` image in [0, 1] (sRGB as stored, see ``gamma``).
        coc: ``(B, 1, H, W)`` signed CoC in px (only ``|coc|`` matters for the combined view).
        method: ``"rl"`` (Richardson-Lucy, the default: best PSNR on our held-out synthetic
            scenes, ``benchmarks/defocus_map_eval.py``), ``"wiener"`` (fastest) or
            ``"hyper_laplacian"``. Each integer radius is deconvolved only inside the box of
            pixels that use it.
        bank: kernels (a :class:`DPKernelBank`, or a ``(R + 1, K, K)`` left-view stack);
            default the eq. 3 Butterworth kernels up to the map's largest radius.
        view: PSF of ``"combined"`` (the usual blurred image), ``"left"`` or ``"right"``.
        gamma: deconvolve in linear light with this power-law CRF; None = as given.
        nsr: Wiener noise-to-signal ratio.
        iterations: Richardson-Lucy iterations.
        lam, alpha: data weight and exponent of the hyper-Laplacian method.
    Returns:
        ``(B, 3, H, W)`` restored image in [0, 1], same encoding as the input.
    """
    if method not in METHODS:
        raise ValueError(f"unknown deconvolution method {method!r}; choose from {', '.join(METHODS)}")
    if blurred.dim() != 4 or coc.dim() != 4 or coc.shape[1] != 1:
        raise ValueError(f"expected blurred (B,3,H,W) and coc (B,1,H,W), got {tuple(blurred.shape)}, {tuple(coc.shape)}")
    if coc.shape[0] != blurred.shape[0] or coc.shape[-2:] != blurred.shape[-2:]:
        raise ValueError(f"defocus map {tuple(coc.shape[-2:])} does not match the image {tuple(blurred.shape[-2:])}")
    with torch.no_grad():
        amax = float(coc.abs().max())
        if bank is None:
            left = dp_kernel_stack(max(1, int(math.ceil(amax))))
        else:
            left = bank.kernels("left") if isinstance(bank, DPKernelBank) else bank
        left = left.to(blurred)
        r_max = left.shape[0] - 1
        # combined view is sign-symmetric; for a single view the sign picks left or right PSF
        if view == "combined":
            radius = coc.abs().clamp(max=r_max)
            stacks = {1: kernels_for_view(left, "combined")}
        else:
            radius = coc.abs().clamp(max=r_max)
            stacks = {1: kernels_for_view(left, view),
                      -1: kernels_for_view(left, {"left": "right", "right": "left"}[view])}
        y = srgb_to_linear(blurred, gamma) if gamma else blurred
        p = 2 * left.shape[-1]
        h, w = y.shape[-2:]
        yp = _reflect_pad(y, (p, _fast_len(w + 2 * p) - w - p, p, _fast_len(h + 2 * p) - h - p))
        out = torch.zeros_like(y)
        lo, hi = int(math.floor(float(radius.min()))), int(math.ceil(float(radius.max())))
        for sign, stack in stacks.items():
            sel = torch.ones_like(coc) if view == "combined" else (torch.sign(coc) == sign) | ((coc == 0) & (sign == 1))
            for r in range(lo, hi + 1):
                weight = (1 - (radius - r).abs()).clamp_min(0) * sel
                if not bool((weight > 0).any()):
                    continue
                if r == 0:
                    out = out + weight * y
                    continue
                # deconvolve only the box where this radius is used, plus a margin of 2 K
                rows = torch.nonzero(weight.amax(dim=(0, 1, 3)) > 0).flatten()
                cols = torch.nonzero(weight.amax(dim=(0, 1, 2)) > 0).flatten()
                y0, y1 = int(rows[0]), int(rows[-1]) + 1
                x0, x1 = int(cols[0]), int(cols[-1]) + 1
                crop = yp[..., y0 : y1 + 2 * p, x0 : x1 + 2 * p]
                ch, cw = crop.shape[-2:]
                crop = F.pad(crop, (0, _fast_len(cw) - cw, 0, _fast_len(ch) - ch), mode="replicate")
                k = stack[r]
                if method == "wiener":
                    full = _wiener(crop, k, nsr)
                elif method == "rl":
                    full = _richardson_lucy(crop.clamp_min(0), k, iterations)
                else:
                    full = _hyper_laplacian(crop, k, lam, alpha)
                out[..., y0:y1, x0:x1] += weight[..., y0:y1, x0:x1] * full[..., p : p + y1 - y0, p : p + x1 - x0]
        out = out.clamp(0, 1)
        return linear_to_srgb(out, gamma) if gamma else out

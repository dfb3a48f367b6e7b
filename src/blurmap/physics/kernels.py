"""Dual-pixel (DP) defocus point-spread functions.

The model is DefocusGAN eq. 3, which follows the Butterworth construction of RDPD
(Abuolaim et al., ICCV 2021). For a circle of confusion (CoC) of integer radius ``r`` px:

1. kernel size ``k = 2r + 1``; a disk ``C`` of radius ``r`` (pixels with distance ``<= r``);
2. a Butterworth *high-pass* radial profile ``B = eq / (1 + eq)``, ``eq = (d / D0)^(2n)``,
   with ``D0 = (k - 1) / 2.5`` and order ``n = 3``, min-max rescaled to ``[beta, 1]`` over the
   ``k x k`` square (``beta = 0.1``), multiplied by the disk — a ring-shaped PSF that is dim in
   the middle, as measured DP PSFs are;
3. smoothed by a Gaussian ``G(kappa)`` of odd size ``g ~ k / 7`` and the OpenCV sigma rule
   ``sigma = 0.3 ((g - 1) / 2 - 1) + 0.8``; the kernel grows by ``g // 2`` on each side so the
   smoothing is not truncated (natural size ``k + 2 (g // 2)``);
4. the *left* view's PSF is that times a linear ramp across x that is 1 at the left edge and 0
   at the right edge, so its centroid lies left of centre; the *right* view's PSF is its
   mirror image in x. Each is normalised to sum 1.

Sign convention (docs/design.md): a positive CoC is behind the focal plane, a negative one in front;
a negative radius swaps the left and right PSFs. ``r = 0`` is a delta (in focus). Because the
two ramps add up to 1, ``(left + right) / 2`` is the normalised un-split PSF.

Fractional radii interpolate linearly between the kernels of the neighbouring integer radii,
both here and in :class:`DPKernelBank`, so the two always agree.

Choices where the papers are vague (recorded here on purpose):

- The ramp direction: RDPD's left kernel ramps up to the right; our acceptance convention is
  "left kernel centroid left of centre for r > 0", i.e. a left view that is displaced to the
  left behind the focal plane. Only the sign convention differs; the shapes are the same.
- The Gaussian size ``round(k / 7)`` forced odd (RDPD uses ``round(k / s) + 1``).
- ``kind="gaussian"`` of :func:`dp_kernels` / :func:`dp_kernel_stack` (the "Gaussian" kernel of
  Table 5, FIXED in `configs/ablations/t5_gaussian.yaml`): an isotropic Gaussian with
  ``sigma = r / 2`` in the same window, split by the same ramps.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from torch import nn

View = Literal["left", "right", "combined"]

DEFAULT_MAX_RADIUS = 25


def _gauss_size(r: int) -> int:
    """Odd Gaussian smoothing size ``~ k / 7`` for kernel size ``k = 2r + 1`` (at least 1)."""
    g = int(round((2 * r + 1) / 7.0))
    if g % 2 == 0:
        g += 1
    return max(g, 1)


def natural_size(radius: float) -> int:
    """Side length of the support of the DP kernel of CoC radius ``radius`` (px).

    Args:
        radius: CoC radius in px (sign ignored; fractional radii use the larger neighbour).
    Returns:
        Odd int: ``2 ceil(|r|) + 1 + 2 (g // 2)`` with ``g`` the Gaussian smoothing size.
    """
    r = int(math.ceil(abs(float(radius)) - 1e-9))
    return 2 * r + 1 + 2 * (_gauss_size(r) // 2)


def _gaussian_1d(size: int, sigma: float) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def _ramps(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Left ramp (1 at the left column, 0 at the right) and its mirror, as (size,) arrays."""
    if size == 1:
        return np.ones(1), np.ones(1)
    left = 1.0 - np.arange(size, dtype=np.float64) / (size - 1)
    return left, left[::-1].copy()


def _pad_to(k: np.ndarray, size: int) -> np.ndarray:
    if k.shape[0] > size:
        raise ValueError(f"kernel of size {k.shape[0]} does not fit in size {size}")
    p = (size - k.shape[0]) // 2
    return np.pad(k, p)


def _butterworth_psf(r: int, order: int, beta: float, cutoff_factor: float) -> np.ndarray:
    """Un-split, un-normalised smoothed Butterworth-disk PSF of integer radius r >= 1."""
    k = 2 * r + 1
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    d = np.hypot(xx, yy)
    d0 = (k - 1) / cutoff_factor
    eq = (d / d0) ** (2 * order)
    bw = eq / (1.0 + eq)
    bw = (1.0 - beta) * (bw - bw.min()) / (bw.max() - bw.min()) + beta
    disk = (d <= r + 1e-9).astype(np.float64)
    psf = disk * bw
    g = _gauss_size(r)
    if g > 1:
        sigma = 0.3 * ((g - 1) * 0.5 - 1) + 0.8
        gk = _gaussian_1d(g, sigma)
        p = g // 2
        psf = np.pad(psf, p)
        # separable 'same' smoothing of the zero-padded PSF (nothing is truncated)
        psf = np.apply_along_axis(lambda v: np.convolve(v, gk, mode="same"), 0, psf)
        psf = np.apply_along_axis(lambda v: np.convolve(v, gk, mode="same"), 1, psf)
    return psf


def _gaussian_psf(r: int) -> np.ndarray:
    """Un-split isotropic Gaussian PSF (sigma = r / 2) in the Butterworth kernel's window."""
    size = natural_size(r)
    x = np.arange(size, dtype=np.float64) - size // 2
    g = np.exp(-0.5 * (x / (r / 2.0)) ** 2)
    return np.outer(g, g)


def _integer_kernels(
    r: int, size: int, kind: str, order: int, beta: float, cutoff_factor: float
) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) float64 kernels for integer radius r >= 0, centred in ``size x size``."""
    if r == 0:
        delta = np.zeros((size, size))
        delta[size // 2, size // 2] = 1.0
        return delta, delta.copy()
    if kind == "butterworth":
        psf = _butterworth_psf(r, order, beta, cutoff_factor)
    elif kind == "gaussian":
        psf = _gaussian_psf(r)
    else:
        raise ValueError(f"unknown kernel kind {kind!r}; expected 'butterworth' or 'gaussian'")
    ramp_l, ramp_r = _ramps(psf.shape[1])
    left = psf * ramp_l[None, :]
    right = psf * ramp_r[None, :]
    left, right = left / left.sum(), right / right.sum()
    return _pad_to(left, size), _pad_to(right, size)


def dp_kernels(
    radius: float,
    size: int | None = None,
    order: int = 3,
    beta: float = 0.1,
    cutoff_factor: float = 2.5,
    kind: str = "butterworth",
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Left and right dual-pixel PSFs for a signed CoC radius.

    Args:
        radius: signed CoC radius in px; negative swaps left and right; fractional radii
            interpolate linearly between the neighbouring integer radii.
        size: odd side length of the returned kernels (centred, zero-padded); default the
            natural size of ``ceil(|radius|)`` (see :func:`natural_size`).
        order: Butterworth order n.
        beta: lower end of the Butterworth profile's rescaled range ``[beta, 1]``.
        cutoff_factor: ``D0 = (k - 1) / cutoff_factor``.
        kind: ``"butterworth"`` (eq. 3) or ``"gaussian"`` (the Table 5 Gaussian ablation).
        dtype: torch dtype of the result.
    Returns:
        ``(left, right)``: two ``(size, size)`` tensors, each non-negative and summing to 1.
        ``right`` is ``left`` mirrored in x.
    """
    radius = float(radius)
    if not math.isfinite(radius):
        raise ValueError(f"radius must be finite, got {radius}")
    a = abs(radius)
    if size is None:
        size = natural_size(a)
    if size % 2 != 1:
        raise ValueError(f"kernel size must be odd, got {size}")
    if size < natural_size(a):
        raise ValueError(f"size {size} is smaller than the kernel's support {natural_size(a)}")
    lo = int(math.floor(a))
    t = a - lo
    left, right = _integer_kernels(lo, size, kind, order, beta, cutoff_factor)
    if t > 1e-12:
        l1, r1 = _integer_kernels(lo + 1, size, kind, order, beta, cutoff_factor)
        left, right = (1 - t) * left + t * l1, (1 - t) * right + t * r1
    if radius < 0:
        left, right = right, left
    return torch.as_tensor(left, dtype=dtype), torch.as_tensor(right, dtype=dtype)


def dp_kernel_stack(
    max_radius: int = DEFAULT_MAX_RADIUS, kind: str = "butterworth", **kwargs
) -> torch.Tensor:
    """Left-view kernels for the integer radii ``0..max_radius`` in one common window.

    Args:
        max_radius: largest CoC radius R in px.
        kind, kwargs: passed to :func:`dp_kernels` (order, beta, cutoff_factor).
    Returns:
        ``(R + 1, K, K)`` float32, ``K = natural_size(R)``; the right view is the x-mirror.
    """
    size = natural_size(max_radius)
    return torch.stack(
        [dp_kernels(r, size=size, kind=kind, **kwargs)[0] for r in range(max_radius + 1)]
    )


def kernels_for_view(left: torch.Tensor, view: View) -> torch.Tensor:
    """Kernels of one view from the left-view stack (right = x-mirror, combined = mean).

    Args:
        left: ``(N, K, K)`` left-view kernels.
        view: ``"left"``, ``"right"`` or ``"combined"``.
    Returns:
        ``(N, K, K)``.
    """
    if view == "left":
        return left
    if view == "right":
        return left.flip(-1)
    if view == "combined":
        return 0.5 * (left + left.flip(-1))
    raise ValueError(f"view must be 'left', 'right' or 'combined', got {view!r}")


def interpolate_kernels(stack: torch.Tensor, radius: torch.Tensor | float) -> torch.Tensor:
    """Linear interpolation of a per-integer-radius kernel stack at (non-negative) radii.

    Args:
        stack: ``(R + 1, K, K)`` kernels for radii ``0..R``.
        radius: scalar or ``(N,)`` radii in px, clamped to ``[0, R]``.
    Returns:
        ``(K, K)`` for a scalar, ``(N, K, K)`` otherwise.
    """
    rad = torch.as_tensor(radius, dtype=stack.dtype, device=stack.device)
    scalar = rad.dim() == 0
    rad = rad.reshape(-1).clamp(0, stack.shape[0] - 1)
    lo = rad.floor().long().clamp(max=stack.shape[0] - 1)
    hi = (lo + 1).clamp(max=stack.shape[0] - 1)
    t = (rad - lo.to(rad.dtype))[:, None, None]
    out = (1 - t) * stack[lo] + t * stack[hi]
    return out[0] if scalar else out


class DPKernelBank(nn.Module):
    """Learnable dual-pixel PSFs, one per integer CoC radius ``0..max_radius`` (the paper's g).

    The parameter ``weight`` holds the left-view kernels, initialised as eq. 3
    (``B_init = G(kappa) * B``, or Gaussians for the Table 5 ablation). The forward keeps the
    kernels physical: ``|weight|`` renormalised to sum 1 per radius, and the right view is the
    x-mirror of the left, so the DP symmetry holds while learning. Entries that are exactly 0
    at initialisation (outside the disk + smoothing margin) get no gradient through ``abs`` and
    stay 0: the support is the prior. The delta of radius 0 is kept fixed (in focus is in focus).

    Args:
        max_radius: largest CoC radius R in px (paper: 25).
        kind: ``"butterworth"`` (eq. 3) or ``"gaussian"``.
        learnable: whether ``weight`` requires grad.
        order, beta, cutoff_factor: eq. 3 parameters (see :func:`dp_kernels`).
        psf: initialise from a :class:`~blurmap.physics.psf.PSFSpec` or
            :class:`~blurmap.physics.psf.PSFTable` instead (``kind`` is then ignored); the
            left kernels are the mean of the family's left kernel and its mirrored right kernel.
    Shape:
        ``kernels(view)`` -> ``(R + 1, K, K)`` with ``K = natural_size(R)``.
    """

    def __init__(
        self,
        max_radius: int = DEFAULT_MAX_RADIUS,
        kind: str = "butterworth",
        learnable: bool = True,
        order: int = 3,
        beta: float = 0.1,
        cutoff_factor: float = 2.5,
        psf=None,
    ):
        super().__init__()
        if max_radius < 1:
            raise ValueError(f"max_radius must be >= 1, got {max_radius}")
        self.max_radius = int(max_radius)
        self.kind = kind if psf is None else "psf"
        if psf is None:
            stack = dp_kernel_stack(
                self.max_radius, kind=kind, order=order, beta=beta, cutoff_factor=cutoff_factor
            )
        else:  # any family member or table; the bank keeps mirror symmetry, so asymmetric PSFs
            # start from their closest mirror-symmetric pair
            from blurmap.physics.psf import psf_stack

            stack = psf_stack(psf, self.max_radius, "mirror-mean")
        self.weight = nn.Parameter(stack, requires_grad=learnable)

    @property
    def size(self) -> int:
        """Side length K of every kernel."""
        return self.weight.shape[-1]

    def kernels(self, view: View = "left") -> torch.Tensor:
        """Normalised non-negative kernels of one view, ``(R + 1, K, K)``, radius 0 a delta."""
        w = self.weight.abs()
        w = w / w.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
        delta = torch.zeros_like(w[:1])
        delta[0, self.size // 2, self.size // 2] = 1.0
        w = torch.cat([delta, w[1:]], dim=0)
        return kernels_for_view(w, view)

    def kernel(self, radius: float, view: View = "left") -> torch.Tensor:
        """Kernel of one view at a signed fractional radius (negative swaps views), ``(K, K)``."""
        if radius < 0:
            view = {"left": "right", "right": "left"}.get(view, view)
        return interpolate_kernels(self.kernels(view), abs(float(radius)))

    def forward(self, view: View = "left") -> torch.Tensor:
        return self.kernels(view)

    def extra_repr(self) -> str:
        return f"max_radius={self.max_radius}, kind={self.kind!r}, size={self.size}"


def resample_kernels(kernels: torch.Tensor, s: int) -> torch.Tensor:
    """PSFs expressed on a grid ``s`` times coarser (differentiable; tent splatting).

    A sample at offset ``v`` px lands at coarse offset ``v / s`` and is shared linearly
    between the two neighbouring coarse pixels, so each kernel's centroid (the DP disparity)
    is kept exactly in coarse units; the spread grows only by the tent's (~s/2.5 px at full
    resolution). Together with area-averaging the image by ``s``, this approximates blurring
    at full resolution and then area-averaging.

    Args:
        kernels: ``(..., K, K)`` with odd K, centred.
        s: integer factor >= 1.
    Returns:
        ``(..., K', K')`` with ``K' = 2 (ceil(K // 2 / s) + 1) + 1``, each summing like the input.
    """
    if s == 1:
        return kernels
    k = kernels.shape[-1]
    p = k // 2
    pl = -(-p // s) + 1
    v = torch.arange(-p, p + 1, dtype=kernels.dtype, device=kernels.device) / s
    j = torch.arange(-pl, pl + 1, dtype=kernels.dtype, device=kernels.device)
    tent = (1 - (j[:, None] - v[None, :]).abs()).clamp_min(0)  # (K', K)
    return tent @ kernels @ tent.T


def kernels_at_scale(left: torch.Tensor, s: int) -> torch.Tensor:
    """Left-view kernel stack for CoC radii ``0, 1, ..`` px of an image downscaled by ``s``.

    Coarse radius ``r`` corresponds to full-resolution radius ``r * s``; its kernel is that
    full-resolution kernel resampled with :func:`resample_kernels`.

    Args:
        left: ``(R + 1, K, K)`` full-resolution left-view kernels (radius 0..R).
        s: integer factor >= 1.
    Returns:
        ``(R // s + 1, K', K')``.
    """
    return resample_kernels(left[:: int(s)], int(s))

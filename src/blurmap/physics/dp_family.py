"""A low-dimensional, differentiable family of dual-pixel (DP) PSFs, for calibration.

:class:`DPKernelFamily` builds the left-view kernel of every integer CoC radius ``0..R`` from six
numbers, so a per-pair fit (or ``blurmap calibrate`` over several pairs) can adjust the PSF to a
camera by gradient descent without the freedom of a per-pixel kernel bank. For radius ``r``
(``rho = d / r``, ``d`` the distance from the centre in px):

- **profile** ``1 + rim * rho^power``: a bright rim for ``rim > 0`` (eq. 3's Butterworth
  high-pass ring is close to ``rim ~ 6, power ~ 4``; spherical aberration gives a milder rim),
  a bright centre for ``-1 < rim < 0``;
- **edge**: the disk of radius ``r`` with a logistic edge of width ``0.35 + softness * r`` px
  (eq. 3's Gaussian smoothing grows with ``r`` too: ``sigma ~ 0.04 r + 0.5``);
- **split**: the left view is the profile times ``floor + (1 - floor) * ramp(t)``, ``t`` from 0
  at ``x = -r`` to 1 at ``x = +r``, ``ramp = (1 - smooth) (1 - t) + smooth (1 - smoothstep(t))`` (clipped at 0; ``smooth`` in
  ``[-0.5, 1.5]`` so eq. 3 and the smoothstep are inside the range)
  (eq. 3: linear, ``smooth = 0``, ``floor = 0``); the right view is its mirror image in x;
- **vignetting** ``v``: not part of the kernels. The DP light split tilts across the frame:
  the left view is ``(1 + v x)`` and the right ``(1 - v x)`` times what the kernels give, in
  linear light, ``x`` from -1 (left border) to 1 (right border), as
  :func:`blurmap.physics.defocus.render_dual_pixel` renders it. :meth:`DPKernelFamily.devignette`
  undoes it.

Sign convention as everywhere in blurmap: a positive CoC is behind the focal plane and the left
view's PSF then has its centroid left of centre.

Each parameter is stored unconstrained (``raw``) and mapped into its range, so any optimiser
step gives a valid PSF. Kernels are normalised to sum 1; radius 0 is a delta.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from blurmap.physics.kernels import natural_size

__all__ = ["FAMILY_PARAMS", "FAMILY_RANGES", "DPKernelFamily"]

#: parameter names, in the order of :attr:`DPKernelFamily.raw`
FAMILY_PARAMS = ("rim", "power", "softness", "floor", "smooth", "vignetting")
#: (low, high) of each parameter: the sigmoid of the raw value is mapped into it
FAMILY_RANGES = {
    "rim": (-0.9, 12.0),
    "power": (1.0, 12.0),
    "softness": (0.0, 0.15),
    "floor": (0.0, 0.4),
    "smooth": (-0.5, 1.5),
    "vignetting": (-0.4, 0.4),
}
#: a starting point close to DefocusGAN eq. 3 (Butterworth ring, linear split), no vignetting
#: (every value inside its range, where the sigmoid still has a gradient: floor 0.02, not 0)
EQ3_LIKE = {"rim": 6.0, "power": 4.0, "softness": 0.04, "floor": 0.02, "smooth": 0.0, "vignetting": 0.0}


def _to_raw(name: str, value: float) -> float:
    lo, hi = FAMILY_RANGES[name]
    u = min(max((float(value) - lo) / (hi - lo), 1e-4), 1 - 1e-4)
    return math.log(u / (1 - u))


class DPKernelFamily(nn.Module):
    """Parametric DP PSF of the module docstring, differentiable in its parameters.

    Args:
        max_radius: largest CoC radius R in px.
        **values: starting values by name (:data:`FAMILY_PARAMS`; default :data:`EQ3_LIKE`).
    Shape:
        ``kernels(view)`` -> ``(R + 1, K, K)`` with ``K = natural_size(R)`` (eq. 3's window).
    Raises:
        ValueError: an unknown parameter name or ``max_radius < 1``.
    """

    def __init__(self, max_radius: int = 25, **values: float):
        super().__init__()
        if max_radius < 1:
            raise ValueError(f"max_radius must be >= 1, got {max_radius}")
        unknown = set(values) - set(FAMILY_PARAMS)
        if unknown:
            raise ValueError(f"unknown PSF family parameters {sorted(unknown)}; known: {', '.join(FAMILY_PARAMS)}")
        start = {**EQ3_LIKE, **values}
        self.max_radius = int(max_radius)
        self.raw = nn.Parameter(torch.tensor([_to_raw(n, start[n]) for n in FAMILY_PARAMS], dtype=torch.float32))
        self.init_kwargs = {"max_radius": self.max_radius}

    def value(self, name: str) -> torch.Tensor:
        """One parameter in its range (a differentiable scalar tensor)."""
        lo, hi = FAMILY_RANGES[name]
        return lo + (hi - lo) * torch.sigmoid(self.raw[FAMILY_PARAMS.index(name)])

    def set_value(self, name: str, value: float) -> None:
        """Set one parameter (clipped just inside its range)."""
        with torch.no_grad():
            self.raw[FAMILY_PARAMS.index(name)] = _to_raw(name, value)

    def values(self) -> dict[str, float]:
        """All parameters as plain floats."""
        with torch.no_grad():
            return {n: float(self.value(n)) for n in FAMILY_PARAMS}

    @property
    def size(self) -> int:
        return natural_size(self.max_radius)

    def kernels(self, view: str = "left") -> torch.Tensor:
        """Normalised kernels of ``view`` (``left``, ``right`` or ``combined``), ``(R + 1, K, K)``."""
        from blurmap.physics.kernels import kernels_for_view

        k = self.size
        c = k // 2
        dev = self.raw.device
        ax = torch.arange(k, dtype=torch.float32, device=dev) - c
        yy, xx = ax[:, None], ax[None, :]
        d = torch.sqrt(yy * yy + xx * xx)
        r = torch.arange(1, self.max_radius + 1, dtype=torch.float32, device=dev)[:, None, None]
        rho = (d / r).clamp(max=1.0)
        rim, power = self.value("rim"), self.value("power")
        width = 0.35 + self.value("softness") * r
        profile = (1 + rim * rho**power) * torch.sigmoid((r + 0.5 - d) / width)
        t = ((xx + r) / (2 * r)).clamp(0, 1)
        smooth = self.value("smooth")
        ramp = ((1 - smooth) * (1 - t) + smooth * (1 - t * t * (3 - 2 * t))).clamp_min(0)
        floor = self.value("floor")
        left = profile * (floor + (1 - floor) * ramp)
        left = left / left.sum(dim=(-2, -1), keepdim=True)
        delta = torch.zeros(1, k, k, dtype=left.dtype, device=dev)
        delta[0, c, c] = 1.0
        return kernels_for_view(torch.cat([delta, left], 0), view)

    def forward(self, view: str = "left") -> torch.Tensor:
        return self.kernels(view)

    def devignette(self, left: torch.Tensor, right: torch.Tensor, gamma: float = 2.2,
                   vignetting: torch.Tensor | float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Undo the DP light-split tilt on ``(B, C, H, W)`` encoded views (power-law ``gamma``).

        Differentiable in the vignetting parameter (or the ``vignetting`` given instead).
        """
        v = self.value("vignetting") if vignetting is None else vignetting
        return devignette(left, right, v, gamma)

    def extra_repr(self) -> str:
        return f"max_radius={self.max_radius}, " + ", ".join(f"{n}={v:.3g}" for n, v in self.values().items())


def devignette(left: torch.Tensor, right: torch.Tensor, v, gamma: float = 2.2) -> tuple[torch.Tensor, torch.Tensor]:
    """Divide the light-split tilt ``(1 +- v x)`` out of encoded ``(B, C, H, W)`` views.

    ``x`` runs from -1 at the left border to 1 at the right; in a power-law encoding with
    exponent ``gamma`` a linear gain ``g`` is an encoded gain ``g^(1 / gamma)``.
    """
    w = left.shape[-1]
    x = torch.linspace(-1.0, 1.0, w, dtype=left.dtype, device=left.device) if w > 1 else left.new_zeros(1)
    gl = (1 + v * x).clamp_min(1e-3) ** (-1.0 / gamma)
    gr = (1 - v * x).clamp_min(1e-3) ** (-1.0 / gamma)
    return left * gl, right * gr


def estimate_vignetting(left: torch.Tensor, right: torch.Tensor, gamma: float = 2.2, window: int = 31) -> float:
    """Closed-form estimate of the light-split tilt ``v`` of a DP pair.

    Locally averaged linear-light views satisfy ``L / R ~ (1 + v x) / (1 - v x)``, so
    ``log(L / R) / 2 ~ v x`` for small ``v``; ``v`` is its weighted least-squares slope over the
    frame (weights: the darker view's local mean, so dark, noisy areas count less).

    Args:
        left, right: ``(B, C, H, W)`` encoded views in [0, 1].
    Returns:
        ``v`` (positive under blurmap's convention: the left view is brighter towards the
        right border).
    """
    import torch.nn.functional as F

    lin_l = left.float().clamp(0, 1).mean(1, keepdim=True) ** gamma
    lin_r = right.float().clamp(0, 1).mean(1, keepdim=True) ** gamma
    k = max(1, min(window, lin_l.shape[-1], lin_l.shape[-2]) // 2 * 2 + 1)
    ls = F.avg_pool2d(lin_l, k, 1, k // 2, count_include_pad=False)
    rs = F.avg_pool2d(lin_r, k, 1, k // 2, count_include_pad=False)
    q = 0.5 * torch.log(ls.clamp_min(1e-4) / rs.clamp_min(1e-4))
    wgt = torch.minimum(ls, rs)
    w = lin_l.shape[-1]
    x = (torch.linspace(-1.0, 1.0, w) if w > 1 else torch.zeros(1)).expand_as(q)
    den = float((x * x * wgt).sum())
    return float((q * x * wgt).sum()) / den if den > 0 else 0.0

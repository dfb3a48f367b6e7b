"""Families of dual-pixel (DP) point-spread functions, for rendering and for the reblur operator.

A real camera's DP PSF is never exactly the model of DefocusGAN eq. 3
(:func:`blurmap.physics.kernels.dp_kernels`). This module describes PSFs by a small set of
parameters (:class:`PSFSpec`), so scenes can be rendered with other profiles, random PSFs can be
drawn per scene for robustness training, a measured or ray-traced PSF table can be plugged in
(:class:`PSFTable`), and :class:`~blurmap.physics.kernels.DPKernelBank` can start from any of them.

A DP PSF of integer CoC radius ``r`` is built as:

1. a radial **profile** on the ``(2r + 1)^2`` square, times the disk of radius ``r``:

   - ``butterworth``: eq. 3's Butterworth profile ``eq / (1 + eq)``, ``eq = (d / D0)^(2n)``,
     ``D0 = 2r / cutoff_factor``, min-max rescaled to ``[beta, 1]`` (``highpass=True``: dim
     centre, bright ring, as measured DP PSFs; ``highpass=False``: ``1 / (1 + eq)``, bright
     centre);
   - ``gaussian``: ``exp(-d^2 / (2 (sigma_factor r)^2))`` (the disk is not applied, so the tails
     reach the window edge, as Table 5's Gaussian kernel);
   - ``pillbox``: a uniform disk;
   - ``rim`` (held out of training, see :mod:`blurmap.synth.holdout`): ``1 + rim (d / r)^4``,
     a bright rim like spherical aberration, with an anti-aliased disk edge;

2. **smoothing** by a Gaussian of odd size ``g ~ (2r + 1) / smoothing`` and the OpenCV sigma rule
   (eq. 3: ``smoothing = 7``; ``0`` = none); the window grows by ``g // 2`` per side;
3. the **split** between the two photodiodes: the left view's PSF is the profile times a ramp
   across x, ``floor + (1 - floor) (1 - t)^p`` with ``t`` from 0 (left column) to 1 (right
   column) and ``p = ramp_power`` (eq. 3: linear, ``p = 1``, ``floor = 0``). The right view is
   the mirror image of the left built with ``p * (1 + asymmetry)``, so ``asymmetry != 0`` makes
   the two views differ by more than a mirror. ``ramp="smoothstep"`` (held out) uses a cubic
   smoothstep instead of the power ramp. Each view is normalised to sum 1.

``vignetting`` is not part of the per-radius kernel: the renderer multiplies the left view by
``1 + v x`` and the right by ``1 - v x`` (``x`` from -1 at the left border to 1 at the right),
the light split between the photodiodes changing across the frame while their sum, the
combined view, does not.

Sign convention as everywhere in blurmap: a positive CoC is behind the focal plane and its left
view's PSF has its centroid left of centre; a negative CoC swaps the two views.

Example:
    >>> import torch
    >>> from blurmap.physics.kernels import dp_kernels
    >>> kl, kr = psf_kernels(PSFSpec(), 4.5)
    >>> bool(torch.equal(kl, dp_kernels(4.5)[0]))   # the default spec is eq. 3 exactly
    True
    >>> round(float(psf_kernels(PSFSpec(profile="pillbox"), 3)[0].sum()), 6)
    1.0
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from blurmap.errors import BlurmapError
from blurmap.physics.kernels import _gaussian_1d, dp_kernels

__all__ = ["PSFSpec", "PSFTable", "PSF_FAMILIES", "psf_kernels", "psf_stack", "psf_natural_size",
           "random_psf_spec", "parse_psf", "load_psf_table"]

PROFILES = ("butterworth", "gaussian", "pillbox", "rim")
RAMPS = ("power", "smoothstep")


@dataclass(frozen=True)
class PSFSpec:
    """Parameters of a DP PSF family member (defaults: DefocusGAN eq. 3; see the module docstring).

    Attributes:
        profile: ``butterworth``, ``gaussian``, ``pillbox`` or ``rim``.
        order: Butterworth order n.
        cutoff_factor: Butterworth ``D0 = 2r / cutoff_factor``.
        beta: lower end of the rescaled Butterworth profile.
        highpass: Butterworth high-pass (ring) or low-pass (bright centre).
        sigma_factor: Gaussian ``sigma = sigma_factor * r``.
        rim: rim brightness of the ``rim`` profile.
        smoothing: Gaussian smoothing size divisor (``g ~ (2r + 1) / smoothing``), 0 = none.
        ramp: ``power`` or ``smoothstep`` split ramp.
        ramp_power: exponent p of the left view's power ramp.
        split_floor: share of light the far photodiode still gets at the PSF's edge, in [0, 1).
        asymmetry: the right view's ramp exponent is ``p * (1 + asymmetry)``.
        vignetting: DP light-split tilt across the frame (applied by the renderer), in [0, 1).
    """

    profile: str = "butterworth"
    order: int = 3
    cutoff_factor: float = 2.5
    beta: float = 0.1
    highpass: bool = True
    sigma_factor: float = 0.5
    rim: float = 1.5
    smoothing: float = 7.0
    ramp: str = "power"
    ramp_power: float = 1.0
    split_floor: float = 0.0
    asymmetry: float = 0.0
    vignetting: float = 0.0

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise BlurmapError(f"PSF profile must be one of {', '.join(PROFILES)}, got {self.profile!r}")
        if self.ramp not in RAMPS:
            raise BlurmapError(f"PSF ramp must be one of {', '.join(RAMPS)}, got {self.ramp!r}")
        checks = (
            (self.order >= 1, "order must be >= 1"),
            (self.cutoff_factor > 0, "cutoff_factor must be > 0"),
            (0 <= self.beta < 1, "beta must be in [0, 1)"),
            (self.sigma_factor > 0, "sigma_factor must be > 0"),
            (self.rim >= 0, "rim must be >= 0"),
            (self.smoothing == 0 or self.smoothing >= 1, "smoothing must be 0 or >= 1"),
            (self.ramp_power > 0, "ramp_power must be > 0"),
            (0 <= self.split_floor < 1, "split_floor must be in [0, 1)"),
            (self.ramp_power * (1 + self.asymmetry) > 0, "asymmetry must keep the right ramp power > 0"),
            (0 <= self.vignetting < 1, "vignetting must be in [0, 1)"),
        )
        for ok, message in checks:
            if not ok:
                raise BlurmapError(f"PSF: {message}, got {self}")

    @property
    def is_eq3(self) -> bool:
        """True for exactly DefocusGAN eq. 3 (then :func:`dp_kernels` builds the kernels)."""
        return replace(self, vignetting=0.0) == PSFSpec()

    def to_dict(self) -> dict:
        return asdict(self)

    def label(self) -> str:
        """Short text naming the parameters that differ from eq. 3 (``"butterworth"`` for eq. 3)."""
        diff = [f"{f.name}={getattr(self, f.name)}" for f in fields(self)
                if f.name != "profile" and getattr(self, f.name) != f.default]
        return self.profile + (":" + ",".join(diff) if diff else "")


#: Named families for ``--psf NAME`` (held-out ones live in :mod:`blurmap.synth.holdout`).
PSF_FAMILIES: dict[str, PSFSpec] = {
    "butterworth": PSFSpec(),
    "butterworth-n2": PSFSpec(order=2),
    "butterworth-n6": PSFSpec(order=6, cutoff_factor=2.0),
    "butterworth-lowpass": PSFSpec(highpass=False, beta=0.3),
    "gaussian": PSFSpec(profile="gaussian"),
    "pillbox": PSFSpec(profile="pillbox", smoothing=11.0),
    "asymmetric": PSFSpec(ramp_power=1.4, asymmetry=-0.3, split_floor=0.05),
    "vignetted": PSFSpec(vignetting=0.2),
}


def _smooth_size(r: int, smoothing: float) -> int:
    if smoothing == 0:
        return 1
    g = int(round((2 * r + 1) / float(smoothing)))
    return max(g + 1 if g % 2 == 0 else g, 1)


def psf_natural_size(spec: PSFSpec, radius: float) -> int:
    """Odd side of the support of ``spec``'s kernel at CoC radius ``radius`` (px, sign ignored)."""
    r = int(math.ceil(abs(float(radius)) - 1e-9))
    return 2 * r + 1 + 2 * (_smooth_size(r, spec.smoothing) // 2)


def _profile(spec: PSFSpec, r: int) -> np.ndarray:
    """Un-split, un-normalised profile of integer radius r >= 1 on the (2r + 1)^2 square."""
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    d = np.hypot(xx, yy)
    disk = (d <= r + 1e-9).astype(np.float64)
    if spec.profile == "butterworth":
        eq = (d / (2 * r / spec.cutoff_factor)) ** (2 * spec.order)
        bw = eq / (1.0 + eq) if spec.highpass else 1.0 / (1.0 + eq)
        bw = (1.0 - spec.beta) * (bw - bw.min()) / max(bw.max() - bw.min(), 1e-12) + spec.beta
        return disk * bw
    if spec.profile == "gaussian":
        return np.exp(-0.5 * (d / (spec.sigma_factor * r)) ** 2)
    if spec.profile == "pillbox":
        return disk
    # rim: bright outer ring, anti-aliased edge (coverage of a 1 px wide logistic step)
    edge = 1.0 / (1.0 + np.exp((d - r) / 0.35))
    return edge * (1.0 + spec.rim * np.clip(d / r, 0, 1) ** 4)


def _smooth(psf: np.ndarray, g: int) -> np.ndarray:
    if g <= 1:
        return psf
    gk = _gaussian_1d(g, 0.3 * ((g - 1) * 0.5 - 1) + 0.8)
    psf = np.pad(psf, g // 2)
    psf = np.apply_along_axis(lambda v: np.convolve(v, gk, mode="same"), 0, psf)
    return np.apply_along_axis(lambda v: np.convolve(v, gk, mode="same"), 1, psf)


def _ramp(spec: PSFSpec, size: int, power: float) -> np.ndarray:
    """Left-view split ramp over ``size`` columns (1 at the left edge)."""
    if size == 1:
        return np.ones(1)
    t = np.arange(size, dtype=np.float64) / (size - 1)
    base = (1.0 - t) ** power if spec.ramp == "power" else 1.0 - t * t * (3.0 - 2.0 * t)
    return spec.split_floor + (1.0 - spec.split_floor) * base


def _integer_pair(spec: PSFSpec, r: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    if r == 0:
        delta = np.zeros((size, size))
        delta[size // 2, size // 2] = 1.0
        return delta, delta.copy()
    psf = _smooth(_profile(spec, r), _smooth_size(r, spec.smoothing))
    n = psf.shape[1]
    left = psf * _ramp(spec, n, spec.ramp_power)[None, :]
    right = psf * _ramp(spec, n, spec.ramp_power * (1 + spec.asymmetry))[None, ::-1]
    left, right = left / left.sum(), right / right.sum()
    p = (size - n) // 2
    return np.pad(left, p), np.pad(right, p)


def psf_kernels(spec: PSFSpec, radius: float, size: int | None = None,
                dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Left and right PSFs of ``spec`` at a signed fractional CoC radius.

    Args:
        spec: the family member.
        radius: signed CoC radius in px; negative swaps the views; fractional radii interpolate
            linearly between the neighbouring integer radii.
        size: odd side of the returned kernels; default :func:`psf_natural_size`.
        dtype: torch dtype of the result.
    Returns:
        ``(left, right)``, each ``(size, size)``, non-negative, summing to 1.
    """
    if spec.is_eq3:
        return dp_kernels(radius, size=size, dtype=dtype)
    radius = float(radius)
    if not math.isfinite(radius):
        raise ValueError(f"radius must be finite, got {radius}")
    a = abs(radius)
    need = psf_natural_size(spec, a)
    size = need if size is None else int(size)
    if size % 2 != 1 or size < need:
        raise ValueError(f"kernel size must be odd and >= {need}, got {size}")
    lo = int(math.floor(a))
    t = a - lo
    left, right = _integer_pair(spec, lo, size)
    if t > 1e-12:
        l1, r1 = _integer_pair(spec, lo + 1, size)
        left, right = (1 - t) * left + t * l1, (1 - t) * right + t * r1
    if radius < 0:
        left, right = right, left
    return torch.as_tensor(left, dtype=dtype), torch.as_tensor(right, dtype=dtype)


class PSFTable:
    """A measured or ray-traced DP PSF, one kernel per integer CoC radius ``0..R``.

    Args:
        kernels: ``(R + 1, K, K)`` left-view kernels (the right view is their x-mirror) or
            ``(R + 1, 2, K, K)`` left and right kernels; K odd, R >= 1; every kernel finite,
            non-negative and with a positive sum (each is normalised to sum 1).
        name: where it came from (shown in manifests and errors).
    Raises:
        BlurmapError: any of the above is violated.
    """

    def __init__(self, kernels, name: str = "table"):
        k = np.asarray(kernels, dtype=np.float64)
        shape = k.shape
        if k.ndim == 3:
            k = np.stack([k, k[..., ::-1]], axis=1)
        if k.ndim != 4 or k.shape[1] != 2 or k.shape[-1] != k.shape[-2]:
            raise BlurmapError(f"{name}: a PSF table must be (R+1, K, K) or (R+1, 2, K, K), got shape {shape}")
        if k.shape[0] < 2 or k.shape[-1] % 2 != 1:
            raise BlurmapError(f"{name}: a PSF table needs R+1 >= 2 radii and an odd K, got shape {shape}")
        if not np.isfinite(k).all() or (k < 0).any():
            raise BlurmapError(f"{name}: PSF table values must be finite and non-negative")
        sums = k.sum(axis=(-2, -1), keepdims=True)
        if (sums <= 0).any():
            raise BlurmapError(f"{name}: every PSF table kernel needs a positive sum")
        self.kernels = k / sums
        self.kernels.setflags(write=False)
        self.name = str(name)
        self.vignetting = 0.0

    @property
    def max_radius(self) -> int:
        return self.kernels.shape[0] - 1

    @property
    def size(self) -> int:
        return self.kernels.shape[-1]

    def label(self) -> str:
        return f"table:{self.name}"

    def pair(self, radius: float, size: int | None = None, dtype=torch.float32):
        """``(left, right)`` at a signed fractional radius (clamped to ``[-R, R]``), ``(size, size)``."""
        a = min(abs(float(radius)), self.max_radius)
        lo = min(int(math.floor(a)), self.max_radius - 1)
        t = a - lo
        left, right = (1 - t) * self.kernels[lo] + t * self.kernels[lo + 1]
        if radius < 0:
            left, right = right, left
        size = self.size if size is None else int(size)
        if size < self.size or size % 2 != 1:
            raise ValueError(f"kernel size must be odd and >= {self.size}, got {size}")
        p = (size - self.size) // 2
        return (torch.as_tensor(np.pad(left, p), dtype=dtype), torch.as_tensor(np.pad(right, p), dtype=dtype))


def load_psf_table(path: str | os.PathLike) -> PSFTable:
    """Read a ``.npy`` PSF table (see :class:`PSFTable`); one clear error line on bad files."""
    path = Path(path)
    if not path.is_file():
        raise BlurmapError(f"{path}: PSF table not found")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as ex:
        raise BlurmapError(f"{path}: not a readable .npy PSF table ({ex})") from None
    return PSFTable(arr, name=str(path))


def pair(psf: PSFSpec | PSFTable, radius: float, size: int | None = None, dtype=torch.float32):
    """``(left, right)`` kernels of a spec or a table at a signed radius."""
    if isinstance(psf, PSFTable):
        return psf.pair(radius, size, dtype)
    return psf_kernels(psf, radius, size, dtype)


def natural_size_of(psf: PSFSpec | PSFTable, radius: float) -> int:
    """Kernel support side of a spec or a table at ``radius``."""
    return psf.size if isinstance(psf, PSFTable) else psf_natural_size(psf, radius)


def psf_stack(psf: PSFSpec | PSFTable, max_radius: int, view: str = "left") -> torch.Tensor:
    """Kernels of one view for the integer radii ``0..max_radius`` in one common window.

    Args:
        psf: a spec or a table (a table must reach ``max_radius``).
        max_radius: largest radius R, px.
        view: ``"left"``, ``"right"`` or ``"mirror-mean"`` (the mean of the left kernel and the
            mirrored right kernel: the closest mirror-symmetric pair, what a
            :class:`~blurmap.physics.kernels.DPKernelBank` can hold).
    Returns:
        ``(R + 1, K, K)`` float32.
    """
    if isinstance(psf, PSFTable) and psf.max_radius < max_radius:
        raise BlurmapError(f"{psf.name}: the PSF table reaches radius {psf.max_radius}, {max_radius} is needed")
    size = natural_size_of(psf, max_radius)
    out = []
    for r in range(int(max_radius) + 1):
        left, right = pair(psf, r, size, torch.float64)
        if view == "left":
            out.append(left)
        elif view == "right":
            out.append(right)
        elif view == "mirror-mean":
            out.append(0.5 * (left + right.flip(-1)))
        else:
            raise ValueError(f"view must be left, right or mirror-mean, got {view!r}")
    return torch.stack(out).float()


def random_psf_spec(rng: np.random.Generator) -> PSFSpec:
    """A random member of the training PSF family (never a held-out profile or ramp).

    Draws: profile (Butterworth high-pass 55 %, low-pass 10 %, Gaussian 15 %, pillbox 20 %),
    Butterworth order 1-6 and cut-off factor 1.8-3.5, beta 0.02-0.4, smoothing divisor 5-14 or
    none, ramp power 0.6-1.8, split floor 0-0.15, asymmetry +-0.35, vignetting 0-0.25.
    """
    u = rng.random()
    profile = "butterworth" if u < 0.65 else ("gaussian" if u < 0.8 else "pillbox")
    return PSFSpec(
        profile=profile,
        order=int(rng.integers(1, 7)),
        cutoff_factor=float(rng.uniform(1.8, 3.5)),
        beta=float(rng.uniform(0.02, 0.4)),
        highpass=bool(u >= 0.1),
        sigma_factor=float(rng.uniform(0.35, 0.6)),
        smoothing=0.0 if rng.random() < 0.15 else float(rng.uniform(5.0, 14.0)),
        ramp_power=float(np.exp(rng.uniform(np.log(0.6), np.log(1.8)))),
        split_floor=float(rng.uniform(0.0, 0.15)),
        asymmetry=float(rng.uniform(-0.35, 0.35)),
        vignetting=float(rng.uniform(0.0, 0.25)),
    )


@functools.lru_cache(maxsize=64)
def _cached_table(path: str) -> PSFTable:
    return load_psf_table(path)


def parse_psf(text: str, families: dict[str, PSFSpec] | None = None) -> PSFSpec | PSFTable | str:
    """A ``--psf`` value: a family name, ``NAME:key=value,...``, ``random``, or a ``.npy`` table.

    Args:
        text: the value.
        families: the names it may use (default :data:`PSF_FAMILIES`).
    Returns:
        a :class:`PSFSpec`, a :class:`PSFTable`, or the string ``"random"`` (a new
        :func:`random_psf_spec` per scene).
    Raises:
        BlurmapError: unknown name or key, a bad value, or a bad table (one line).
    """
    text = str(text).strip()
    if text == "random":
        return "random"
    if text.endswith(".npy"):
        return _cached_table(text)
    families = PSF_FAMILIES if families is None else families
    name, _, params = text.partition(":")
    base = families.get(name)
    if base is None:
        raise BlurmapError(f"--psf: unknown PSF family {name!r}; known: {', '.join([*families, 'random'])} "
                           f"or a .npy table")
    if not params:
        return base
    types = {f.name: f.type for f in fields(PSFSpec)}
    kwargs = {}
    for item in params.split(","):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in types or key == "profile":
            raise BlurmapError(f"--psf: bad parameter {item!r}; known: {', '.join(k for k in types if k != 'profile')}")
        kind = type(getattr(base, key))
        try:
            kwargs[key] = (value.strip().lower() in ("1", "true", "yes")) if kind is bool else kind(value)
        except ValueError:
            raise BlurmapError(f"--psf: {key} takes a {kind.__name__}, got {value!r}") from None
    return replace(base, **kwargs)

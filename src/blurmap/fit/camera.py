"""One PSF for one camera from several dual-pixel pairs (``blurmap calibrate``).

:func:`calibrate_camera` fits a single :class:`~blurmap.physics.dp_family.DPKernelFamily` member
to several DP pairs of one camera: every pair gets its own smooth CoC grid, and Adam minimises
the sum of their DP consistency losses over the grids and the family's shape parameters
together. The light-split tilt (vignetting) is estimated per pair in closed form
(:func:`~blurmap.physics.dp_family.estimate_vignetting`); the median starts the camera's tilt,
which is then fitted with the rest (the closed form is biased by the disparity itself). Under
blurmap's convention that tilt is positive (the left view is brighter towards the right border),
so pairs whose tilt is clearly negative look mirrored: the report says so, and
``--swap-views`` is the fix.

The result is saved as a small ``.safetensors`` file (:func:`save_camera_kernel`, model name
``dp_kernel_family``) that ``blurmap defocus-map --kernel`` reads back
(:func:`load_camera_kernel`, which also accepts ``dp_kernel_bank`` weights from training).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from blurmap.errors import BlurmapError, WeightsError
from blurmap.metrics import texture_mask
from blurmap.physics.dp_family import DPKernelFamily, devignette, estimate_vignetting

__all__ = [
    "CAMERA_KERNEL_NAME",
    "MIRROR_TILT",
    "Calibration",
    "calibrate_camera",
    "load_camera_kernel",
    "camera_kernel_stack",
    "save_camera_kernel",
    "textured_pixels",
]

CAMERA_KERNEL_NAME = "dp_kernel_family"
#: a pair whose light-split tilt is below minus this looks mirrored
MIRROR_TILT = 0.02
#: luminance gradient magnitude (per px) above which a pixel counts as textured
TEXTURE_GRADIENT = 0.02


def textured_pixels(view: torch.Tensor) -> int:
    """Pixels of a ``(1, 3, H, W)`` view whose luminance gradient magnitude exceeds 0.02 / px
    (:func:`blurmap.metrics.texture_mask`, the texture test of the map scores)."""
    return int(texture_mask(view.float(), TEXTURE_GRADIENT).sum())


@dataclass
class Calibration:
    """What :func:`calibrate_camera` found.

    Attributes:
        family: the fitted PSF, its light-split tilt included.
        tilts: the closed-form light-split tilt of every pair.
        mirrored: indices of the pairs that look mirrored (tilt < -:data:`MIRROR_TILT`).
        loss: the final mean consistency loss.
    """

    family: DPKernelFamily
    tilts: list[float] = field(default_factory=list)
    mirrored: list[int] = field(default_factory=list)
    loss: float = math.nan

    @property
    def looks_mirrored(self) -> bool:
        """True when most pairs look mirrored (use ``--swap-views``)."""
        return len(self.mirrored) * 2 > len(self.tilts)


def calibrate_camera(
    pairs: list[tuple[torch.Tensor, torch.Tensor]],
    *,
    names: list[str] | None = None,
    max_coc: float = 25.0,
    steps: int = 200,
    coarse_pixels: int = 50_000,
    grid: int = 4,
    lam: float = 0.003,
    lr: float = 0.3,
    kernel_lr: float = 0.05,
    gamma: float = 2.2,
    swap_views: bool = False,
    min_textured: int = 1000,
    progress=None,
) -> Calibration:
    """Fit one PSF family member to several DP pairs of one camera.

    Args:
        pairs: ``(left, right)`` views, each ``(1, 3, H, W)`` in [0, 1]; all pairs one size.
        names: a label per pair for error messages (default ``pair 1``, ...).
        max_coc: |CoC| bound in px (the family's largest radius is ``ceil(max_coc)``).
        steps: Adam steps.
        coarse_pixels: each pair is area-averaged to about this many pixels.
        grid, lam, lr: CoC grid cell (coarse px), gradient-prior weight, map learning rate.
        kernel_lr: learning rate of the family's raw parameters.
        gamma: power law used to undo the light-split tilt in linear light.
        swap_views: swap every pair's views first (a mirrored sensor).
        min_textured: fewest textured pixels (:func:`textured_pixels`) a pair must have.
        progress: optional callable ``(step, total, loss)``.
    Returns:
        a :class:`Calibration`.
    Raises:
        BlurmapError: no pairs, views or pairs of different sizes, or a pair with too little
            texture (one line naming the pair).
    """
    from blurmap.fit.defocus_map import _pool, auto_scale, consistency
    from blurmap.losses.reblur import gradient_prior

    if not pairs:
        raise BlurmapError("calibrate needs at least one --left/--right pair")
    names = names or [f"pair {i + 1}" for i in range(len(pairs))]
    shape0 = tuple(pairs[0][0].shape)
    for name, (lv, rv) in zip(names, pairs):
        if tuple(lv.shape) != tuple(rv.shape):
            raise BlurmapError(f"{name}: left view is {lv.shape[-1]}x{lv.shape[-2]} px but right is "
                               f"{rv.shape[-1]}x{rv.shape[-2]} px")
        if tuple(lv.shape) != shape0:
            raise BlurmapError(f"{name}: is {lv.shape[-1]}x{lv.shape[-2]} px but {names[0]} is "
                               f"{shape0[-1]}x{shape0[-2]} px; calibrate pairs of one camera at one size")
        n = textured_pixels(lv)
        if n < min_textured:
            raise BlurmapError(f"{name}: only {n} textured pixels, calibration needs at least {min_textured} "
                               f"(a flat or very blurred pair says nothing about the PSF)")
    if swap_views:
        pairs = [(r, lv) for lv, r in pairs]
    tilts = [estimate_vignetting(lv, rv, gamma) for lv, rv in pairs]
    mirrored = [i for i, t in enumerate(tilts) if t < -MIRROR_TILT]
    tilt = float(torch.tensor(tilts).median())
    family = DPKernelFamily(math.ceil(max_coc), vignetting=tilt)
    h, w = shape0[-2:]
    s = auto_scale(h, w, coarse_pixels)
    gh, gw = max(2, h // (s * grid)), max(2, w // (s * grid))
    # the tilt is a gain per column, so it commutes with the luminance mean and the area
    # averaging: it is divided out of the coarse views at every step, differentiably
    views = [(_pool(lv.float().mean(1, keepdim=True), s), _pool(rv.float().mean(1, keepdim=True), s))
             for lv, rv in pairs]
    grids = [torch.zeros(1, 1, gh, gw, requires_grad=True) for _ in pairs]
    family.raw.requires_grad_(True)
    opt = torch.optim.Adam([{"params": grids, "lr": lr}, {"params": [family.raw], "lr": kernel_lr}])
    loss_value = math.nan
    with torch.enable_grad():
        for step in range(steps):
            stack = family.kernels("left")
            loss = 0.0
            v = family.value("vignetting")
            for (l, r), g in zip(views, grids):
                l, r = devignette(l, r, v, gamma)
                coc = F.interpolate(g, size=l.shape[-2:], mode="bilinear", align_corners=False)
                loss = loss + consistency(l, r, coc, stack, s) + lam * gradient_prior(g)
            loss = loss / len(views)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for g in grids:
                    g.clamp_(-max_coc, max_coc)
            loss_value = float(loss.detach())
            if progress is not None:
                progress(step + 1, steps, loss_value)
    family.raw.requires_grad_(False)
    return Calibration(family, tilts, mirrored, loss_value)


def save_camera_kernel(path: str | os.PathLike, calibration: Calibration | DPKernelFamily,
                       extra: dict | None = None) -> Path:
    """Write a calibrated family as ``.safetensors`` (model name ``dp_kernel_family``)."""
    from blurmap.weights import save_weights

    family = calibration.family if isinstance(calibration, Calibration) else calibration
    info = {"parameters": family.values(), **(extra or {})}
    if isinstance(calibration, Calibration):
        info.update(tilts=calibration.tilts, mirrored=calibration.mirrored, loss=calibration.loss)
    return save_weights(path, {"raw": family.raw.detach()}, CAMERA_KERNEL_NAME, family.init_kwargs, info)


def load_camera_kernel(path: str | os.PathLike):
    """Read a kernel file: a calibrated camera (:class:`DPKernelFamily`) or a
    ``dp_kernel_bank`` from training (its ``(R + 1, K, K)`` left-view kernels).

    Callers name the option in their messages (``--kernel``, ``kernel_file``).

    Raises:
        BlurmapError: missing, unreadable or corrupt file, or weights of another model
            (one line naming the file).
    """
    from blurmap.weights import load_weights, read_metadata

    path = Path(path)
    try:
        meta = read_metadata(path)
        if meta["name"] == CAMERA_KERNEL_NAME:
            state, meta = load_weights(path, CAMERA_KERNEL_NAME)
            family = DPKernelFamily(int(meta["config"].get("max_radius", 25)))
            family.load_state_dict(state, strict=True)
            return family.requires_grad_(False)
        if meta["name"] == "dp_kernel_bank":
            from blurmap.weights import load_network

            return load_network(path, "dp_kernel_bank").kernels("left").detach()
    except WeightsError as ex:
        raise BlurmapError(str(ex)) from None
    except (RuntimeError, ValueError, TypeError) as ex:
        first = str(ex).splitlines()[0] if str(ex) else type(ex).__name__
        raise BlurmapError(f"{path}: does not hold a valid PSF ({first})") from None
    raise BlurmapError(f"{path}: holds {meta['name']!r} weights, expected a camera file from "
                       f"'blurmap calibrate' ({CAMERA_KERNEL_NAME}) or dp_kernel_bank weights")


def camera_kernel_stack(path: str | os.PathLike, max_radius: int, size: int) -> torch.Tensor:
    """The left-view kernels of a ``--kernel`` file as the start of a learnable kernel bank.

    The training recipes start g from a calibrated camera this way (``kernel_file``). The
    kernels are mirror-symmetrised (what :class:`~blurmap.physics.kernels.DPKernelBank` can
    hold), cut to radii ``0..max_radius`` and centred in a ``size`` window (cropped or padded
    with zeros; each kernel is renormalised to sum 1). A camera's vignetting is not part of a
    bank and is dropped.

    Args:
        path: a camera file from ``blurmap calibrate`` or ``dp_kernel_bank`` weights.
        max_radius: largest CoC radius R of the bank, px.
        size: odd kernel side K of the bank.
    Returns:
        ``(R + 1, K, K)`` float32.
    Raises:
        BlurmapError: an unreadable file, or one whose kernels stop short of ``max_radius``.
    """
    from blurmap.physics.psf import PSFTable, psf_stack

    bank = load_camera_kernel(path)
    left = bank.kernels("left") if isinstance(bank, torch.nn.Module) else bank
    table = PSFTable(left.detach().double().cpu().numpy(), name=str(path))
    stack = psf_stack(table, int(max_radius), "mirror-mean")
    k = stack.shape[-1]
    if k > size:
        c = (k - size) // 2
        stack = stack[..., c:c + size, c:c + size]
    elif k < size:
        p = (size - k) // 2
        stack = torch.nn.functional.pad(stack, (p, p, p, p))
    return (stack / stack.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)).float()

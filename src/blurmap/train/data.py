"""Training-time augmentation shared by recipes: random crops and rot90 / flip.

Samples are dicts of CHW tensors with keys such as ``blur``, ``sharp``, ``mask``, ``left``,
``right``, ``coc`` (other values, e.g. ``name`` strings, pass through untouched). Every
tensor in a sample gets the *same* crop window and the *same* rotation / flip, so pairs stay
aligned. Randomness comes only from the ``torch.Generator`` argument, which the engine seeds
per sample (so augmentation is reproducible and a resumed run sees the same crops).
"""

from __future__ import annotations

from typing import Optional

import torch


def _spatial_size(sample: dict) -> tuple[int, int]:
    sizes = {tuple(v.shape[-2:]) for v in sample.values() if torch.is_tensor(v) and v.dim() >= 2}
    if len(sizes) != 1:
        raise ValueError(f"sample tensors must share one spatial size, got {sorted(sizes)}")
    return sizes.pop()


def _randint(high: int, generator: Optional[torch.Generator]) -> int:
    return int(torch.randint(high, (1,), generator=generator).item())


def random_crop(sample: dict, size: int | tuple[int, int], generator: Optional[torch.Generator] = None) -> dict:
    """Crop the same random window out of every tensor of ``sample``.

    Args:
        sample: dict of ``(C, H, W)`` tensors (all with the same H, W) and other values.
        size: crop side ``s`` or ``(height, width)`` in px.
        generator: source of randomness (seeded per sample by the engine).

    Returns:
        A new dict; tensors are ``(C, h, w)`` views. Raises ``ValueError`` if the sample is
        smaller than the crop.
    """
    h, w = (size, size) if isinstance(size, int) else size
    H, W = _spatial_size(sample)
    if H < h or W < w:
        raise ValueError(f"cannot crop {h}x{w} out of a {H}x{W} sample")
    top = _randint(H - h + 1, generator)
    left = _randint(W - w + 1, generator)
    return {
        k: (v[..., top : top + h, left : left + w] if torch.is_tensor(v) and v.dim() >= 2 else v)
        for k, v in sample.items()
    }


def rot_flip(sample: dict, generator: Optional[torch.Generator] = None, *, dual_pixel: bool = False) -> dict:
    """Apply one random element of the dihedral group (rot90 x k, optional flip) to all tensors.

    Args:
        sample: dict of ``(C, H, W)`` tensors and other values.
        generator: source of randomness.
        dual_pixel: the sample holds dual-pixel views (``left`` / ``right``). Their disparity
            is horizontal, so a 90-degree rotation would break the physics. Only the vertical
            flip and the horizontal flip are used then; a horizontal flip mirrors the left and
            right PSFs into each other, so the ``left`` and ``right`` entries are swapped (the
            signed CoC keeps its sign: front/back of the focal plane does not change).

    Returns:
        A new dict of contiguous tensors.
    """
    if dual_pixel:
        vflip = _randint(2, generator) == 1
        hflip = _randint(2, generator) == 1
        dims = ([-2] if vflip else []) + ([-1] if hflip else [])
        out = {k: (v.flip(dims).contiguous() if torch.is_tensor(v) and v.dim() >= 2 and dims else v) for k, v in sample.items()}
        if hflip and "left" in out and "right" in out:
            out["left"], out["right"] = out["right"], out["left"]
        return out
    k = _randint(4, generator)
    flip = _randint(2, generator) == 1

    def t(v):
        if not (torch.is_tensor(v) and v.dim() >= 2):
            return v
        v = torch.rot90(v, k, dims=(-2, -1))
        return (v.flip(-1) if flip else v).contiguous()

    return {key: t(v) for key, v in sample.items()}


class Augment:
    """Transform for :meth:`Recipe.train_transform`: random crop, then random rot90/flip.

    Args:
        crop: crop side (or ``(h, w)``); None = no crop.
        rot_flip: apply :func:`rot_flip`.
        dual_pixel: see :func:`rot_flip` (flips only, left/right swapped on horizontal flip).
    """

    def __init__(self, crop: int | tuple[int, int] | None = None, rot_flip: bool = True, dual_pixel: bool = False):
        self.crop = crop
        self.rot_flip = rot_flip
        self.dual_pixel = dual_pixel

    def __call__(self, sample: dict, generator: Optional[torch.Generator] = None) -> dict:
        if self.crop is not None:
            sample = random_crop(sample, self.crop, generator)
        if self.rot_flip:
            sample = rot_flip(sample, generator, dual_pixel=self.dual_pixel)
        return sample

    def __repr__(self) -> str:
        return f"Augment(crop={self.crop}, rot_flip={self.rot_flip}, dual_pixel={self.dual_pixel})"

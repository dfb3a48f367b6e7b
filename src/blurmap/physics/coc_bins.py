"""Binning of the signed CoC map into one-hot |CoC| classes (the DefocusGAN defocus masks).

Lives in physics, not next to the generator, because both the generator (which gates its
branches with the masks) and the defocus-weighted adversarial loss (which weighs each score
cell by its bin) need the same edges.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["DEFAULT_COC_BINS", "defocus_masks"]

#: Default |CoC| bin edges in px (full resolution) for the 4 defocus masks.
DEFAULT_COC_BINS = (1.9, 4.2, 6.2)


def defocus_masks(defocus_map: torch.Tensor, bins: Sequence[float] = DEFAULT_COC_BINS) -> torch.Tensor:
    """One-hot defocus masks from |CoC| bins.

    Args:
        defocus_map: signed CoC radius in px, ``(B, 1, H, W)``.
        bins: increasing inner bin edges ``e_1 < ... < e_{N-1}``; mask ``i`` is
            ``e_i <= |CoC| < e_{i+1}`` with ``e_0 = 0`` and ``e_N = inf``.

    Returns:
        ``(B, N, H, W)`` float masks in {0, 1} that sum to 1 at every pixel.
    """
    a = defocus_map.abs()
    edges = torch.as_tensor(list(bins), dtype=a.dtype, device=a.device)
    idx = torch.bucketize(a, edges, right=True)  # 0..N-1; value == edge goes to the upper bin
    n = len(bins) + 1
    return F.one_hot(idx[:, 0], n).permute(0, 3, 1, 2).to(defocus_map.dtype)

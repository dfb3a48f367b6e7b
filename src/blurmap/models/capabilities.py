"""What each registered network can be used for, by registry name.

Kept next to the registry (not in the public API module) so every front end (Python API,
CLI, server, benchmarks) asks the same tables.
"""

from __future__ import annotations

__all__ = ["KIND_MODELS", "NOT_DEBLURRERS", "MAP_KINDS"]

#: Which registered networks serve each ``--model`` kind of ``blurmap deblur``.
KIND_MODELS: dict[str, tuple[str, ...]] = {
    "defocus": ("defocusgan",),
    "local": ("bladenet",),
}

#: Registered networks that take dual-pixel views (or are kernels), not one image to restore.
NOT_DEBLURRERS: tuple[str, ...] = ("defocus_map_net", "dp_kernel_bank")

#: What each network's ``"map"`` output means (for colour maps): ``"mask"`` = blur
#: probability in [0, 1], ``"coc"`` = signed CoC radius in px.
MAP_KINDS: dict[str, str] = {"bladenet": "mask", "lbp": "mask", "defocusgan": "coc"}

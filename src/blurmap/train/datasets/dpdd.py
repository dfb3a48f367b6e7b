"""``dpdd`` and ``dpdd_patches``: DPDD-layout folders (the dataset as it ships, or ``blurmap synth dp``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from blurmap.data.dpdd import DPDDDataset
from blurmap.data.dpdd_patches import DPDDPatches
from blurmap.train.datasets import register_dataset
from blurmap.train.network_maps import cache_network_maps


@register_dataset("dpdd")
def dpdd(cfg: Any, split: str) -> torch.utils.data.Dataset:
    """Whole DPDD frames with their DP views: ``cfg.train_split`` for training (no CoC maps
    needed), the first ``cfg.val_count`` frames of ``cfg.val_split`` for validation (all if 0).

    Args:
        cfg: a config with ``data_root``, ``train_split``, ``val_split``, ``val_count``.
        split: ``"train"`` or ``"val"``.
    """
    if split == "train":
        return DPDDDataset(cfg.data_root, cfg.train_split, with_coc=False)
    ds = DPDDDataset(cfg.data_root, cfg.val_split)
    n = min(len(ds), cfg.val_count) if cfg.val_count > 0 else len(ds)
    return torch.utils.data.Subset(ds, list(range(n)))


@register_dataset("dpdd_patches")
def dpdd_patches(cfg: Any, split: str) -> DPDDPatches:
    """DefocusGAN's data: overlapping training windows with their defocus maps; whole
    validation frames without maps (inference is unguided).

    Args:
        cfg: a config with ``data_root``, ``train_split``, ``val_split``, ``maps`` (gt, net,
            none), ``map_weights``, ``map_cache``, ``out``, ``patch_size``, ``patch_stride``,
            ``min_sharpness``.
        split: ``"train"`` or ``"val"``.
    """
    if split == "val":
        return DPDDPatches(cfg.data_root, cfg.val_split, patch=10**6, stride=10**6, maps="none")
    maps, cache = cfg.maps, None
    if maps == "net":  # the network maps are computed once per frame and cached as .npy
        cache = cfg.map_cache or str(Path(cfg.out) / "maps" / cfg.train_split)
        cache_network_maps(cfg.data_root, cfg.train_split, cfg.map_weights, cache)
        maps = "cache"
    return DPDDPatches(cfg.data_root, cfg.train_split, cfg.patch_size, cfg.patch_stride, maps, cache, cfg.min_sharpness)

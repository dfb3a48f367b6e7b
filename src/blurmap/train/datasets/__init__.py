"""The training datasets, by name: what a recipe trains and validates on.

A recipe names its datasets (``build_dataset("synthetic_dp", cfg, "train")``); the builders
live in this package, one module per kind of data, and read the recipe config's data fields
(declared once, in the same module, as a dataclass a recipe config inherits).

Names: ``synthetic_dp`` (DP scenes rendered on the fly), ``dpdd`` (DPDD-layout frames),
``dpdd_patches`` (DefocusGAN's overlapping DPDD windows), ``lbs`` (local-blur synthesis),
``reds`` (REDS frame pairs), ``local_folder`` (any local-deblurring layout,
:func:`blurmap.data.local.open_local_dataset`).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from blurmap.errors import ConfigError
from blurmap.registry import Registry

__all__ = ["DATASET_REGISTRY", "register_dataset", "build_dataset", "available_datasets"]

#: a builder: ``(recipe config, split ("train" or "val"), **overrides) -> Dataset``
DatasetBuilder = Callable[..., torch.utils.data.Dataset]

DATASET_REGISTRY: Registry[DatasetBuilder] = Registry(
    "dataset", __name__, error=ConfigError, known="known datasets"
)


def register_dataset(name: str):
    """Decorator: register a dataset builder under ``name``."""
    return DATASET_REGISTRY.register(name)


def build_dataset(name: str, cfg: Any, split: str, **overrides) -> torch.utils.data.Dataset:
    """The dataset ``name`` for one split of a run.

    Args:
        name: a registered dataset name.
        cfg: the recipe config (its data fields).
        split: ``"train"`` or ``"val"``.
        overrides: builder-specific values that replace the config's (e.g. ``size``, ``seed``).
    Raises:
        ConfigError: an unknown name or split, or a bad data field.
    """
    if split not in ("train", "val"):
        raise ConfigError(f"dataset split must be train or val, got {split!r}")
    return DATASET_REGISTRY.get(name)(cfg, split, **overrides)


def available_datasets() -> list[str]:
    """Every registered dataset name."""
    return DATASET_REGISTRY.names()

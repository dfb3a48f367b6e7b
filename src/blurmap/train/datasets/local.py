"""``lbs``, ``reds``, ``local_folder``: the local-blur data of the BladeNet recipe."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional

import torch

from blurmap.errors import BlurmapError, ConfigError
from blurmap.train.datasets import register_dataset

__all__ = ["LBSFields", "lbs_config"]


@dataclass
class LBSFields:
    """Config fields of the Local Blur Synthesis data (LODE §4.3)."""

    #: LBS backgrounds: "bundled", a folder of sharp images, or a REDS root (paper: the
    #: train_sharp frames of all clips; a REDS root walks train/train_sharp/<clip>/)
    lbs_backgrounds: str = "bundled"
    #: LBS moving/static objects: "bundled" or a PASCAL VOC 2012 root (paper: VOC)
    lbs_objects: str = "bundled"
    #: LBS samples per (virtual) epoch
    lbs_length: int = 24000
    lbs_seed: int = 0
    #: LBS object speed per frame as a fraction of the canvas's shorter side (null = the
    #: generator's default). Small CPU crops need faster motion for a visible blur.
    lbs_speed_min: Optional[float] = None
    lbs_speed_max: Optional[float] = None
    #: symmetric per-frame rotation (degrees) and log-zoom drift ranges (null = defaults)
    lbs_spin_max: Optional[float] = None
    lbs_zoom_max: Optional[float] = None
    #: more LBS options (blurmap.synth.local.local_config): total motion ranges (extent px,
    #: rotation degrees, scale, turn), distractors, object scale, camera effects, procedural
    #: background knobs
    lbs_options: Dict[str, Any] = field(default_factory=dict)
    #: training canvases to mix, ints or [H, W] (null = train.crop_size only). A sample takes
    #: one at random; different sizes cannot share a batch, so this needs train.batch_size 1
    #: (use train.accum_steps for larger effective batches)
    lbs_sizes: Optional[List[Any]] = None
    #: held-out LBS validation images (different seed) and their side in px
    val_count: int = 16
    val_size: int = 256
    val_seed: int = 10_000


def lbs_config(cfg: Any):
    """The :class:`~blurmap.synth.local.LocalBlurConfig` and procedural-background config of ``cfg``'s LBS fields.

    Returns:
        ``(LocalBlurConfig, ProceduralConfig or None)``.
    Raises:
        ConfigError: a bad speed range or LBS option.
    """
    from blurmap.synth.local import LocalBlurConfig, local_config

    base = LocalBlurConfig()
    lo, hi = cfg.lbs_speed_min, cfg.lbs_speed_max
    if lo is not None or hi is not None:
        d_lo, d_hi = base.motion.speed
        speed = (d_lo if lo is None else lo, d_hi if hi is None else hi)
        if not 0 <= speed[0] <= speed[1]:
            raise ConfigError(f"lbs_speed_min/max: need 0 <= min <= max, got {speed}")
        base = replace(base, motion=replace(base.motion, speed=speed))
    if cfg.lbs_spin_max is not None:
        base = replace(base, motion=replace(base.motion, spin=(-cfg.lbs_spin_max, cfg.lbs_spin_max)))
    if cfg.lbs_zoom_max is not None:
        base = replace(base, motion=replace(base.motion, zoom=(-cfg.lbs_zoom_max, cfg.lbs_zoom_max)))
    return local_config(base, dict(cfg.lbs_options))


@register_dataset("lbs")
def lbs(cfg: Any, split: str, *, size: Optional[int] = None, length: Optional[int] = None,
        seed: Optional[int] = None) -> torch.utils.data.Dataset:
    """LBS pairs with object masks, generated on the fly.

    Args:
        cfg: a config with the :class:`LBSFields` (and ``train.crop_size``).
        split: ``"train"`` (``lbs_length`` samples of ``train.crop_size``, ``lbs_seed``) or
            ``"val"`` (``val_count`` of ``val_size``, ``val_seed``).
        size, length, seed: override the split's side (px), sample count and seed.
    """
    from blurmap.synth.local import LocalBlurDataset

    train = split == "train"
    config, procedural = lbs_config(cfg)
    sizes = cfg.lbs_sizes if train and size is None else None
    if sizes is not None:
        if not isinstance(sizes, (list, tuple)) or not sizes:
            raise ConfigError(f"lbs_sizes: expected a list of sizes (ints or [H, W]), got {sizes!r}")
        if len(sizes) > 1 and cfg.train.batch_size != 1:
            raise ConfigError(f"lbs_sizes: samples of different sizes cannot share a batch; set "
                              f"train.batch_size=1 (and train.accum_steps), got batch_size {cfg.train.batch_size}")
    try:
        return LocalBlurDataset(
            size=size or (cfg.train.crop_size if train else cfg.val_size),
            length=length or (cfg.lbs_length if train else cfg.val_count),
            seed=seed if seed is not None else (cfg.lbs_seed if train else cfg.val_seed),
            config=config, backgrounds=cfg.lbs_backgrounds, objects=cfg.lbs_objects, procedural=procedural,
            sizes=sizes,
        )
    except BlurmapError as ex:
        raise ConfigError(str(ex)) from None
    except (ValueError, TypeError) as ex:  # a malformed lbs_sizes entry
        raise ConfigError(f"lbs_sizes: {ex}") from None


@register_dataset("reds")
def reds(cfg: Any, split: str) -> torch.utils.data.Dataset:
    """REDS blurred/sharp frame pairs of ``cfg.reds_split`` under ``cfg.reds_root`` (training only)."""
    from blurmap.data.reds import REDSDataset

    if split != "train":
        raise ConfigError("the reds dataset is a training set; validate with val_root")
    return REDSDataset(cfg.reds_root, cfg.reds_split)


@register_dataset("local_folder")
def local_folder(cfg: Any, split: str) -> torch.utils.data.Dataset:
    """Any local-deblurring layout (paired, REDS, ReLoBlur): ``finetune_root``/``finetune_split``
    for training, ``val_root``/``val_split`` for validation."""
    from blurmap.data.local import open_local_dataset

    if split == "train":
        return open_local_dataset(cfg.finetune_root, cfg.finetune_split)
    return open_local_dataset(cfg.val_root, cfg.val_split)

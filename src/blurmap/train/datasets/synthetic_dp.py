"""``synthetic_dp``: dual-pixel scenes rendered on the fly, for the defocus recipes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from blurmap.synth.bundled import bundled_split
from blurmap.synth.dp_dataset import SyntheticDPDataset
from blurmap.train.datasets import register_dataset

__all__ = ["SyntheticDPFields", "VAL_SEED_OFFSET"]

#: the validation scenes use ``train.seed + VAL_SEED_OFFSET``, so they never repeat a
#: training scene of a fixed (cached) training set
VAL_SEED_OFFSET = 10_000


@dataclass
class SyntheticDPFields:
    """Config fields of the synthetic DP data (used when ``synthetic_count > 0``)."""

    synthetic_count: int = 0
    #: side of a rendered scene (px)
    synthetic_size: int = 128
    #: largest |CoC| of a scene (px)
    synthetic_max_coc: float = 20.0
    #: times each training scene is repeated per epoch
    synthetic_repeats: int = 1
    #: random (layered depth, part in focus), plane (all out of focus) or mixed
    synthetic_scene: str = "random"
    #: true: a new scene per sample and epoch; false: a fixed set of scenes, cached in memory
    synthetic_fresh: bool = False
    #: the sample keys kept (null = all: blur, sharp, left, right, coc)
    synthetic_keys: Optional[List[str]] = None
    synthetic_val_count: int = 4
    #: bundled photos kept out of training (validation only)
    synthetic_holdout: List[str] = field(default_factory=lambda: ["chelsea"])
    #: add the scikit-image texture samples (``blurmap.synth.bundled.TEXTURE_NAMES``) to training
    synthetic_textures: bool = False
    #: training content scale range: 1 = the whole photo each time; Z > 1 = a random window of
    #: side size*z, z log-uniform in [1, Z] (native resolution up to a Z times wider view; see
    #: SyntheticDPDataset zoom)
    synthetic_zoom: float = 1.0
    #: a scene source spec used instead of the bundled photo split when set: "procedural",
    #: "procedural,bundled", a folder of sharp photos (blurmap.synth.sources)
    synthetic_source: Optional[str] = None
    #: PSF, focus and camera options of the synthetic scenes, e.g. {psf: random, noise: 0.001}
    #: (blurmap.synth.dp_dataset.dp_scene_config)
    scene_options: Dict[str, Any] = field(default_factory=dict)


@register_dataset("synthetic_dp")
def synthetic_dp(cfg: Any, split: str) -> SyntheticDPDataset:
    """Training scenes from the training photos, validation scenes (fixed) from the held-out ones.

    Args:
        cfg: a config with the :class:`SyntheticDPFields` and ``train.seed``.
        split: ``"train"`` or ``"val"``.
    """
    val = split == "val"
    photos = None if cfg.synthetic_source else bundled_split(cfg.synthetic_holdout, val,
                                                             cfg.synthetic_textures and not val)
    fixed = val or not cfg.synthetic_fresh  # a fixed set is rendered once and cached
    return SyntheticDPDataset(
        photos, cfg.synthetic_val_count if val else cfg.synthetic_count, cfg.synthetic_size, cfg.synthetic_max_coc,
        seed=cfg.train.seed + (VAL_SEED_OFFSET if val else 0), fixed=fixed, cache=fixed, scene=cfg.synthetic_scene,
        repeats=1 if val else cfg.synthetic_repeats, keys=cfg.synthetic_keys, zoom=1.0 if val else cfg.synthetic_zoom,
        source=cfg.synthetic_source, scene_options=dict(cfg.scene_options),
    )

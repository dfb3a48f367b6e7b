"""blurmap.train: the training engine and its recipe API.

Recipe authors need :mod:`blurmap.train.recipe` (``Recipe``, ``Phase``, ``ModelSpec``,
``RecipeConfig``, ``register_recipe``) and :mod:`blurmap.train.data` (``Augment``). Runs
start with ``load_config`` + ``train`` (what ``blurmap train`` does). See docs/training.md.
"""

from blurmap.train.data import Augment, random_crop, rot_flip
from blurmap.train.recipe import (
    ModelSpec,
    Phase,
    Recipe,
    RecipeConfig,
    TrainConfig,
    available_recipes,
    get_recipe,
    register_recipe,
)

__all__ = [
    "Augment", "random_crop", "rot_flip", "ModelSpec", "Phase", "Recipe", "RecipeConfig", "TrainConfig",
    "available_recipes", "get_recipe", "register_recipe", "load_config", "train",
]


def __getattr__(name):
    # load_config / train pull in OmegaConf, Accelerate and TensorBoard: import on first use
    if name == "load_config":
        from blurmap.train.config import load_config

        return load_config
    if name == "train":
        from blurmap.train.engine import train

        return train
    raise AttributeError(f"module 'blurmap.train' has no attribute {name!r}")

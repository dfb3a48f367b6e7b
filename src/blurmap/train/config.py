"""Load a recipe config: YAML + dotted ``key=value`` overrides, validated against the
recipe's structured (dataclass) schema with OmegaConf, before anything is built.

Every problem a user can cause (unreadable file, unknown recipe, unknown key, wrong type,
missing value, bad interpolation, out-of-range engine setting) raises
:class:`blurmap.errors.ConfigError` with one line naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, InterpolationResolutionError, OmegaConfBaseException, ValidationError

from blurmap.errors import ConfigError
from blurmap.train.recipe import Recipe, TrainConfig, available_recipes, get_recipe

_MIXED_PRECISION = ("no", "bf16", "fp16")
_PROGRESS = ("auto", "rich", "plain", "none")
_DEVICES = ("auto", "cpu", "cuda")
_OPTIMIZER_IMPLS = ("default", "foreach", "fused")


@dataclass
class LoadedConfig:
    """A validated config.

    Attributes:
        recipe_cls: the registered :class:`Recipe` subclass named by ``recipe:``.
        cfg: the validated config object (an instance of ``recipe_cls.Config``).
        node: the same config as an OmegaConf node (interpolations resolved).
    """

    recipe_cls: type[Recipe]
    cfg: Any
    node: DictConfig

    def to_yaml(self) -> str:
        """The resolved config as YAML (what the run directory stores as ``config.yaml``)."""
        return OmegaConf.to_yaml(self.node, resolve=True)


def _valid_keys(schema: DictConfig, parent: str) -> list[str]:
    node = OmegaConf.select(schema, parent) if parent else schema
    return sorted(node.keys()) if isinstance(node, DictConfig) else []


def _explain(err: OmegaConfBaseException, schema: DictConfig, source: str) -> ConfigError:
    full_key = getattr(err, "full_key", None) or ""
    parent = full_key.rpartition(".")[0]
    if isinstance(err, ConfigKeyError) and full_key:
        where = f" under '{parent}'" if parent else ""
        valid = ", ".join(_valid_keys(schema, parent))
        return ConfigError(f"{source}: unknown key '{full_key}'; valid keys{where}: {valid}")
    first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
    if isinstance(err, ValidationError) and full_key:
        return ConfigError(f"{source}: wrong type for '{full_key}': {first_line}")
    if full_key:
        return ConfigError(f"{source}: bad value for '{full_key}': {first_line}")
    return ConfigError(f"{source}: {first_line}")


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as ex:
        raise ConfigError(f"{path}: cannot read config ({ex.strerror or ex})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as ex:
        mark = getattr(ex, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{at}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a YAML mapping of keys to values")
    return data


def _parse_overrides(overrides: Sequence[str]) -> DictConfig:
    for item in overrides:
        key, eq, _ = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"override {item!r}: expected key=value (dotted keys, e.g. train.batch_size=4)")
    try:
        return OmegaConf.from_dotlist(list(overrides))
    except OmegaConfBaseException as ex:
        raise ConfigError(f"overrides: {str(ex).splitlines()[0]}") from None


def _check_train(train: TrainConfig, source: str) -> None:
    def bad(key, msg):
        raise ConfigError(f"{source}: bad value for 'train.{key}': {msg}")

    if train.mixed_precision not in _MIXED_PRECISION:
        bad("mixed_precision", f"{train.mixed_precision!r}; valid: {', '.join(_MIXED_PRECISION)}")
    if train.progress not in _PROGRESS:
        bad("progress", f"{train.progress!r}; valid: {', '.join(_PROGRESS)}")
    if train.device not in _DEVICES:
        bad("device", f"{train.device!r}; valid: {', '.join(_DEVICES)}")
    if train.optimizer_impl not in _OPTIMIZER_IMPLS:
        bad("optimizer_impl", f"{train.optimizer_impl!r}; valid: {', '.join(_OPTIMIZER_IMPLS)}")
    for key in ("batch_size", "accum_steps", "crop_size", "log_every", "checkpoint_every",
                "keep_checkpoints", "val_batch_size"):
        if getattr(train, key) < 1:
            bad(key, f"{getattr(train, key)} (must be >= 1)")
    for key in ("num_workers", "val_every", "val_images"):
        if getattr(train, key) < 0:
            bad(key, f"{getattr(train, key)} (must be >= 0)")
    if train.grad_clip is not None and train.grad_clip <= 0:
        bad("grad_clip", f"{train.grad_clip} (must be > 0 or null)")
    if train.ema_decay is not None and not 0.0 < train.ema_decay < 1.0:
        bad("ema_decay", f"{train.ema_decay} (must be in (0, 1) or null)")


def load_config(path: str | Path | None, overrides: Sequence[str] = (), *, data: dict | None = None) -> LoadedConfig:
    """Read, merge and validate a recipe config.

    Args:
        path: YAML file (or None when ``data`` is given).
        overrides: dotted ``key=value`` strings applied after the file
            (``train.batch_size=4``, ``recipe=tiny``, ``train.grad_clip=null``).
        data: a dict used instead of reading ``path`` (tests, programmatic runs).

    Returns:
        :class:`LoadedConfig`.

    Raises:
        ConfigError: one line naming the file and the key (unknown keys list the valid ones).
    """
    source = str(path) if path is not None else "config"
    raw = dict(data) if data is not None else _read_yaml(Path(path))
    over = _parse_overrides(overrides)
    name = over.get("recipe", raw.get("recipe"))
    if name is None:
        raise ConfigError(f"{source}: missing key 'recipe' (one of: {', '.join(available_recipes())})")
    if not isinstance(name, str):
        raise ConfigError(f"{source}: wrong type for 'recipe': expected a recipe name string")
    recipe_cls = get_recipe(name)
    schema = OmegaConf.structured(recipe_cls.Config)
    node = schema
    for part, label in ((raw, source), (over, "override")):
        try:
            node = OmegaConf.merge(node, OmegaConf.create(part) if isinstance(part, dict) else part)
        except OmegaConfBaseException as ex:
            raise _explain(ex, schema, label) from None
    missing = sorted(OmegaConf.missing_keys(node))
    if missing:
        raise ConfigError(f"{source}: missing value for '{missing[0]}'")
    # YAML reads an unquoted `no` as the boolean false (stored as 'False' in a str field)
    if str(node.train.mixed_precision) in ("False", "false", "off"):
        node.train.mixed_precision = "no"
    try:
        OmegaConf.resolve(node)
        cfg = OmegaConf.to_object(node)
    except InterpolationResolutionError as ex:
        raise ConfigError(f"{source}: cannot resolve '{getattr(ex, 'full_key', '')}': {str(ex).splitlines()[0]}") from None
    except OmegaConfBaseException as ex:
        raise _explain(ex, schema, source) from None
    _check_train(cfg.train, source)
    return LoadedConfig(recipe_cls=recipe_cls, cfg=cfg, node=node)

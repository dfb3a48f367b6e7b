"""Model weights as ``safetensors`` files that know which network they belong to.

The file's metadata (a str -> str map in the safetensors header) holds:

- ``blurmap.model``: registry name (:func:`blurmap.models.build_model`),
- ``blurmap.config``: JSON of the constructor kwargs,
- ``blurmap.version``: the blurmap version that wrote it,
- ``blurmap.extra``: JSON of anything else (training step, recipe, metrics, ...).

No pickle is ever loaded: safetensors holds only tensors and strings.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, Mapping, Optional

import torch
from torch import nn

from blurmap import __version__
from blurmap.errors import WeightsError
from blurmap.files import atomic_destination

_KEYS = ("blurmap.model", "blurmap.config", "blurmap.version", "blurmap.extra")


def save_weights(path: str | os.PathLike, model: nn.Module | Mapping[str, torch.Tensor], name: str,
                 config: Mapping[str, Any], extra: Optional[Mapping[str, Any]] = None) -> Path:
    """Write a model's weights with its registry name and config (atomic: temp + rename).

    Args:
        path: destination ``.safetensors`` file (parent folders are created).
        model: the module, or a state dict.
        name: registry name the model is built with.
        config: JSON-serialisable constructor kwargs (``build_model(name, **config)``).
        extra: JSON-serialisable extra information.

    Returns:
        The path written.

    Raises:
        WeightsError: ``config`` or ``extra`` is not JSON-serialisable.
    """
    from safetensors.torch import save_file

    path = Path(path)
    state = model.state_dict() if isinstance(model, nn.Module) else dict(model)
    # clone: safetensors refuses tensors that share memory (tied weights, views)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    try:
        meta = {
            "blurmap.model": str(name),
            "blurmap.config": json.dumps(dict(config), sort_keys=True),
            "blurmap.version": __version__,
            "blurmap.extra": json.dumps(dict(extra or {}), sort_keys=True),
        }
    except (TypeError, ValueError) as ex:
        raise WeightsError(f"{path}: model config / extra must be JSON-serialisable ({ex})") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_destination(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def _check_file(path: Path) -> None:
    if not path.exists():
        raise WeightsError(f"{path}: weights file not found")
    if not path.is_file():
        raise WeightsError(f"{path}: not a file")
    # A safetensors file starts with an 8-byte little-endian header size, then a JSON header.
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            size = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            ok = 2 <= size <= min(100_000_000, path.stat().st_size - 8) and fh.read(1) == b"{"
    except OSError as ex:
        raise WeightsError(f"{path}: cannot read weights ({ex.strerror or ex})") from None
    if not ok:
        raise WeightsError(f"{path}: not a safetensors weights file")


def _parse_metadata(path: Path, raw: Optional[Mapping[str, str]]) -> dict:
    raw = dict(raw or {})
    if "blurmap.model" not in raw:
        raise WeightsError(f"{path}: safetensors file without blurmap model metadata (not written by blurmap.weights)")
    try:
        config = json.loads(raw.get("blurmap.config", "{}"))
        extra = json.loads(raw.get("blurmap.extra", "{}"))
    except json.JSONDecodeError:
        raise WeightsError(f"{path}: corrupt blurmap metadata (config is not JSON)") from None
    meta = {k: v for k, v in raw.items() if k not in _KEYS}
    meta.update(name=raw["blurmap.model"], config=config, blurmap_version=raw.get("blurmap.version", ""), extra=extra)
    return meta


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a weights file, reading only its header.

    Returns:
        ``{"name": str, "config": dict, "blurmap_version": str, "extra": dict}`` plus any
        other raw metadata keys.

    Raises:
        WeightsError: missing file, not safetensors, or no blurmap metadata.
    """
    from safetensors import safe_open

    path = Path(path)
    _check_file(path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = fh.metadata()
    except Exception:
        raise WeightsError(f"{path}: not a safetensors weights file (unreadable header)") from None
    return _parse_metadata(path, raw)


def load_weights(path: str | os.PathLike, expected_name: Optional[str] = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a weights file written by :func:`save_weights` (on CPU).

    Args:
        path: ``.safetensors`` file.
        expected_name: if given, refuse weights of any other registry name.

    Returns:
        ``(state_dict, metadata)``; metadata as in :func:`read_metadata`.

    Raises:
        WeightsError: one line: missing file, not safetensors (truncated, a pickle, ...),
            no blurmap metadata, or a model-name mismatch.
    """
    from safetensors.torch import load_file

    path = Path(path)
    meta = read_metadata(path)
    if expected_name is not None and meta["name"] != expected_name:
        raise WeightsError(f"{path}: holds {meta['name']!r} weights, expected {expected_name!r}")
    try:
        state = load_file(str(path), device="cpu")
    except Exception:
        raise WeightsError(f"{path}: not a valid safetensors weights file (truncated or corrupt)") from None
    return state, meta


def load_network(path: str | os.PathLike, expected_name: Optional[str] = None) -> nn.Module:
    """Build the network named in a weights file and load its weights (strict), in eval mode.

    The bare ``nn.Module``; :func:`blurmap.load_model` wraps one in a :class:`blurmap.infer.Deblurrer`.

    Raises:
        WeightsError: as :func:`load_weights`, an unknown model name, or weights that do not
            fit the network built from the stored config.
    """
    from blurmap.models import build_model

    state, meta = load_weights(path, expected_name)
    try:
        model = build_model(meta["name"], **meta["config"])
    except KeyError as ex:
        raise WeightsError(f"{path}: {ex.args[0] if ex.args else ex}") from None
    except TypeError as ex:
        raise WeightsError(f"{path}: stored config does not fit model {meta['name']!r} ({ex})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as ex:
        first = str(ex).splitlines()[0]
        raise WeightsError(f"{path}: weights do not fit model {meta['name']!r} ({first})") from None
    return model.eval()

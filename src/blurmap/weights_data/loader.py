"""From a name or path to a loaded model: the resolution every front end shares.

A name is a shipped alias, model name or file name (:mod:`blurmap.weights_data`); anything
that looks like a path is a path. :func:`load_deblurrer` builds the network a file names and
wraps it for tiled inference, refusing networks that do not restore images.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from blurmap import weights_data
from blurmap.errors import BlurmapError, WeightsError
from blurmap.infer import Deblurrer
from blurmap.models.capabilities import KIND_MODELS, NOT_DEBLURRERS

__all__ = [
    "resolve_weights", "weights_model_name", "resolve_defocus_map_weights", "load_deblurrer", "load_defocus_map_runner",
]


def _is_explicit_path(name_or_path: str | os.PathLike) -> bool:
    """A Path object, a string with a folder part, or an existing file: never a shipped name."""
    s = str(name_or_path)
    return isinstance(name_or_path, os.PathLike) or os.sep in s or Path(s).is_file()


def resolve_weights(name_or_path: str | os.PathLike) -> Path:
    """The weights file a name or path refers to.

    Args:
        name_or_path: a path to a weights file, or a shipped name (alias such as
            ``"defocus"``/``"local"``, model name, or file name in :mod:`blurmap.weights_data`).

    Returns:
        Path of an existing file.

    Raises:
        WeightsError: the file does not exist, or no shipped weights answer to the name.
    """
    if _is_explicit_path(name_or_path):
        path = Path(name_or_path)
        if not path.is_file():
            raise WeightsError(f"{path}: no such weights file")
        return path
    name = str(name_or_path)
    found = weights_data.resolve(name)
    if found is not None:
        return found
    if name.endswith(".safetensors") and weights_data.find_entry(name) is None:
        raise WeightsError(f"{name}: no such weights file")
    entry = weights_data.find_entry(name)
    if entry is not None:
        raise WeightsError(
            f"no starter weights for {name!r} are shipped in this install yet "
            f"(expected {entry.path}); pass a weights file with --weights / load_model(PATH)"
        )
    known = sorted({e.alias for e in weights_data.SHIPPED} | {p.stem for p in weights_data.shipped_files()})
    raise WeightsError(f"unknown weights {name!r}: not a file, and not one of {', '.join(known)}")


def weights_model_name(path: str | os.PathLike) -> tuple[str, dict]:
    """The registry name and full metadata stored in a weights file (header only is trusted).

    Raises:
        WeightsError: not a safetensors file, or no model name in its metadata.
    """
    from blurmap.weights import read_metadata

    meta = read_metadata(path)
    return meta["name"], meta


def resolve_defocus_map_weights(name_or_path: str | os.PathLike) -> tuple[Path, dict]:
    """The file a shipped name or path refers to, checked to hold DefocusMapNet weights.

    Returns:
        ``(path, metadata)`` (header only; tensors are not loaded).
    Raises:
        WeightsError: no such file or name, or weights of another network.
    """
    path = resolve_weights(name_or_path)
    name, meta = weights_model_name(path)
    if name != "defocus_map_net":
        raise WeightsError(f"{path}: holds {name!r} weights, not a defocus-map network (defocus_map_net)")
    return path, meta


def load_deblurrer(
    name_or_path: str | os.PathLike,
    *,
    kind: str | None = None,
    device: str | None = "cpu",
    precision: str = "auto",
    tile: int | None = None,
    overlap: int | None = None,
) -> Deblurrer:
    """Load weights into their network and wrap it for inference (:func:`blurmap.load_model`).

    Args and errors as :func:`blurmap.api.load_model`.
    """
    from blurmap.weights import load_network as _load_network

    if kind is not None and kind not in KIND_MODELS:
        raise BlurmapError(f"unknown model kind {kind!r}; choose one of {', '.join(KIND_MODELS)}")
    path = resolve_weights(name_or_path)
    name, meta = weights_model_name(path)
    if kind is not None and name not in KIND_MODELS[kind]:
        raise WeightsError(
            f"{path}: holds {name!r} weights, not a {kind} model ({', '.join(KIND_MODELS[kind])})"
        )
    if name in NOT_DEBLURRERS:
        raise WeightsError(
            f"{path}: holds {name!r} weights, which estimate defocus maps from dual-pixel views and do not "
            "restore images (use `blurmap defocus-map --weights` or blurmap.estimate_defocus_map)"
        )
    network: nn.Module = _load_network(path)
    return Deblurrer(
        network,
        name=name,
        device=device,
        precision=precision,
        tile=tile,
        overlap=overlap,
        metadata={**meta, "path": str(path)},
    )


class _DualPixelInput(nn.Module):
    """Adapts a ``predict(left, right)`` defocus-map network to one stacked 6-channel input,
    so the tiled engine can run it (tiles cut both views at the same place)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.receptive_field = getattr(net, "receptive_field", None)
        self.size_multiple = getattr(net, "size_multiple", 1)

    def predict(self, x: torch.Tensor) -> dict:
        return {"image": x[:, :3], "map": self.net.predict(x[:, :3], x[:, 3:])["map"]}


def load_defocus_map_runner(name_or_path: str | os.PathLike, *, device: str | None = "cpu",
                            tile: int | None = None) -> Deblurrer:
    """DefocusMapNet weights wrapped for tiled inference on stacked ``(B, 6, H, W)`` views.

    The runner's ``"map"`` output is the signed CoC in px; see
    :func:`blurmap.api.estimate_defocus_map`, which feeds it.

    Raises:
        WeightsError: no such file or name, or weights of another network.
    """
    from blurmap.weights import load_network

    path, meta = resolve_defocus_map_weights(name_or_path)
    return Deblurrer(_DualPixelInput(load_network(path)), name=meta["name"], device=device, tile=tile,
                     metadata={**meta, "path": str(path)})

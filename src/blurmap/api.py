"""The public Python API: load a model, deblur arrays and tensors, estimate blur maps.

Three lines for a user::

    import blurmap
    model = blurmap.load_model("local")          # shipped BladeNet starter weights
    sharp = model.deblur(image)                  # numpy HxWx3 in [0,1] -> numpy HxWx3

``load_model`` accepts a shipped name (``"defocus"``, ``"local"``, a model name or file name
from :mod:`blurmap.weights_data`) or a path to a ``.safetensors`` file written by
:func:`blurmap.weights.save_weights`. It returns a :class:`blurmap.infer.Deblurrer`, which
runs tiled inference on images of any size.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from blurmap.batch import colorize_map, deblur_file, output_paths  # noqa: F401 (part of the API)
from blurmap.errors import BlurmapError
from blurmap.infer import Deblurrer
from blurmap.models.capabilities import KIND_MODELS, MAP_KINDS, NOT_DEBLURRERS  # noqa: F401 (part of the API)
from blurmap.weights_data.loader import (  # noqa: F401 (name resolution is part of the API)
    load_deblurrer,
    load_defocus_map_runner,
    resolve_defocus_map_weights,
    resolve_weights,
    weights_model_name,
)


def load_model(
    name_or_path: str | os.PathLike,
    *,
    kind: str | None = None,
    device: str | None = "cpu",
    precision: str = "auto",
    tile: int | None = None,
    overlap: int | None = None,
) -> Deblurrer:
    """Load weights into their network and wrap it for inference.

    Args:
        name_or_path: shipped name (``"defocus"``, ``"local"``, ``"defocusgan"``, ...) or a
            path to a ``.safetensors`` file written by :func:`blurmap.weights.save_weights`.
        kind: if given (``"defocus"`` or ``"local"``), refuse weights of any other network.
        device: ``"cpu"``, ``"cuda"`` or ``None`` (CUDA when available).
        precision: ``"auto"`` (default: bf16 on a CPU with native bf16, else fp32),
            ``"fp32"``, ``"bf16"`` (CPU/CUDA autocast) or ``"fp16"`` (CUDA).
        tile, overlap: default tiling in px (``None``: chosen per model).

    Returns:
        :class:`blurmap.infer.Deblurrer`: ``.deblur(x)``, ``.predict(x)``, ``.blur_map(x)``,
        ``.model`` (the ``nn.Module``), ``.metadata``.

    Raises:
        WeightsError: missing file, not safetensors, or weights of another model than ``kind``.

    Example (a weights file written on the spot; shipped names work the same way):
        >>> import tempfile, numpy as np, blurmap
        >>> from blurmap.models import build_model
        >>> from blurmap.weights import save_weights
        >>> config = {"width": 4, "bottleneck_mult": 2}
        >>> path = tempfile.mkdtemp() + "/tiny.safetensors"
        >>> _ = save_weights(path, build_model("bladenet", **config), "bladenet", config)
        >>> model = blurmap.load_model(path, kind="local")
        >>> model.deblur(np.zeros((40, 60, 3), np.float32)).shape
        (40, 60, 3)
        >>> blurmap.load_model(path, kind="defocus")
        Traceback (most recent call last):
        ...
        blurmap.errors.WeightsError: ...tiny.safetensors: holds 'bladenet' weights, not a defocus model (defocusgan)
    """
    return load_deblurrer(name_or_path, kind=kind, device=device, precision=precision, tile=tile, overlap=overlap)


def deblur(
    image,
    model: str | os.PathLike | Deblurrer = "defocus",
    *,
    gate: bool = False,
    tile: int | None = None,
    overlap: int | None = None,
):
    """Deblur one image or batch with a shipped name, a weights file or a loaded model.

    Args:
        image: numpy ``HxWx3`` in [0,1] or torch ``(B,3,H,W)``/``(3,H,W)``.
        model: ``"defocus"`` (default), ``"local"``, a weights path, or a :class:`Deblurrer`.
        gate: background gate (local-blur models only): blend the restored image into the
            input by the blur mask; pixels with blur probability <= 0.1 come out unchanged
            (:func:`blurmap.infer.gate_blend`).
        tile, overlap: tiling override in px.

    Returns:
        The restored image in the input's kind, shape and (torch) dtype/device.

    Raises:
        BlurmapError: ``gate=True`` with a model that predicts no blur mask.
    """
    if not isinstance(model, Deblurrer):
        model = load_model(model)
    return model.deblur(image, gate=gate, tile=tile, overlap=overlap)


def blur_mask(image, *, weights: str | os.PathLike | Deblurrer = "local", tile: int | None = None):
    """Per-pixel probability that ``image`` is locally blurred (BladeNet's LBP map).

    Args:
        image: numpy ``HxWx3`` in [0,1] or torch ``(B,3,H,W)``/``(3,H,W)``.
        weights: BladeNet (or LBP) weights: shipped name, path, or a loaded :class:`Deblurrer`.
        tile: tile size in px (``None``: the model's default).

    Returns:
        numpy ``HxW`` float32 in [0,1], or torch ``(B,1,H,W)`` for tensor input.

    Raises:
        BlurmapError: the weights' network predicts no blur mask.
    """
    model = weights if isinstance(weights, Deblurrer) else load_model(weights)
    if MAP_KINDS.get(model.name) != "mask":
        raise BlurmapError(f"{model.name} weights predict no blur mask; use BladeNet (LBP) weights")
    return model.blur_map(image, tile=tile)


def map_kind(model: Deblurrer, values: np.ndarray | None = None) -> str:
    """``"mask"`` (probability in [0,1]) or ``"coc"`` (signed px) for a model's map output."""
    kind = MAP_KINDS.get(model.name)
    if kind is None and values is not None:
        kind = "mask" if float(np.min(values)) >= 0.0 and float(np.max(values)) <= 1.0 else "coc"
    return kind or "coc"


def estimate_defocus_map(
    left,
    right,
    *,
    weights: str | os.PathLike | None = None,
    steps: int = 150,
    device: str | None = "cpu",
    tile: int | None = None,
    progress=None,
    **optimize_options,
):
    """Signed defocus map (CoC radius in px) from the two dual-pixel views.

    Two methods, chosen explicitly:

    * ``weights=None`` (default): per-pair self-supervised estimation, no training data needed
      (:func:`blurmap.fit.optimize_defocus_map`: a smooth map fitted to the
      dual-pixel consistency loss with a gradient prior);
    * ``weights=`` a trained ``DefocusMapNet`` (shipped name or ``.safetensors`` path): one
      network pass, tiled for large images.

    Args:
        left, right: the DP views, numpy ``HxWx3`` in [0, 1] or torch ``(B,3,H,W)`` of equal size.
        weights: ``None`` for per-pair optimisation, else DefocusMapNet weights.
        steps: Adam steps of the per-pair optimisation (coarse stage).
        device: where to run (``"cpu"``, ``"cuda"``, ``None`` = CUDA when available).
        tile: tile size in px for the network (``None``: its default).
        progress: per-pair optimisation progress callback ``(step, total, loss)``.
        **optimize_options: further arguments of ``optimize_defocus_map`` (e.g.
            ``coarse_pixels``, ``refine_steps``, ``lam``, ``max_coc``).

    Returns:
        numpy ``HxW`` float32 (numpy input) or torch ``(B,1,H,W)`` float32 (torch input);
        positive behind the focal plane, negative in front, px at the input resolution.

    Raises:
        BlurmapError: views of different sizes or shapes; WeightsError: weights that are not a
        DefocusMapNet.

    Example (per-pair optimisation on a small synthetic pair, a few steps):
        >>> import numpy as np, blurmap
        >>> rng = np.random.default_rng(0)
        >>> left = rng.random((48, 64, 3), dtype=np.float32)
        >>> coc = blurmap.estimate_defocus_map(left, left, steps=5)
        >>> coc.shape, coc.dtype
        ((48, 64), dtype('float32'))
    """
    from blurmap.infer import resolve_device

    lt, rt, was_numpy = _as_tensor_pair(left, right)
    dev = resolve_device(device)
    if weights is None:
        from blurmap.fit import optimize_defocus_map

        coc = optimize_defocus_map(
            lt.to(dev), rt.to(dev), steps=steps, progress=progress, **optimize_options
        ).float().cpu()
    else:
        if optimize_options:
            raise BlurmapError(f"options {sorted(optimize_options)} only apply to per-pair optimisation (weights=None)")
        runner = load_defocus_map_runner(weights, device=dev, tile=tile)
        maps = []
        for lv, rv in zip(lt, rt):
            out = runner._predict_chw(torch.cat([lv, rv], 0), runner.tiling(tile), None)
            maps.append(out["map"])
        coc = torch.stack(maps)
    if was_numpy:
        return coc[0, 0].numpy()
    return coc


def _as_tensor_pair(left, right) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Two numpy HxWx3 / torch (B,3,H,W) views -> (B,3,H,W) float32 tensors, was_numpy."""
    was_numpy = isinstance(left, np.ndarray)
    out = []
    for view in (left, right):
        if isinstance(view, np.ndarray):
            if view.ndim != 3 or view.shape[2] != 3:
                raise BlurmapError(f"expected HxWx3 dual-pixel views, got shape {view.shape}")
            view = torch.from_numpy(np.ascontiguousarray(view, dtype=np.float32)).permute(2, 0, 1)[None]
        elif isinstance(view, torch.Tensor):
            view = view if view.ndim == 4 else view[None]
            view = view.float()
        else:
            raise BlurmapError(f"expected numpy arrays or torch tensors, got {type(view).__name__}")
        out.append(view)
    if out[0].shape != out[1].shape:
        raise BlurmapError(
            f"left and right views differ in size: {tuple(out[0].shape[-2:])} vs {tuple(out[1].shape[-2:])}"
        )
    return out[0], out[1], was_numpy

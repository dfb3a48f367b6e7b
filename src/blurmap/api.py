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
from pathlib import Path

import numpy as np
import torch
from torch import nn

from blurmap import weights_data
from blurmap.errors import BlurmapError, WeightsError
from blurmap.infer import Deblurrer

# Which registered networks serve each ``--model`` kind of ``blurmap deblur``.
KIND_MODELS: dict[str, tuple[str, ...]] = {
    "defocus": ("defocusgan",),
    "local": ("bladenet",),
}
#: registered networks that take dual-pixel views (or are kernels), not one image to restore
NOT_DEBLURRERS: tuple[str, ...] = ("defocus_map_net", "dp_kernel_bank")

# What each network's "map" output means (for colour maps): signed CoC px or probability.
MAP_KINDS: dict[str, str] = {"bladenet": "mask", "lbp": "mask", "defocusgan": "coc"}


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
    from blurmap.weights import load_model as _load_network

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


def colorize_map(values: np.ndarray, kind: str) -> np.ndarray:
    """Colour a map for viewing.

    Args:
        values: ``HxW`` map. ``kind="mask"``: probability in [0,1], coloured with magma over
            [0,1]. ``kind="coc"``: signed CoC in px, coloured with a diverging map (blue in
            front of the focal plane, red behind) over ``[-L, L]``, ``L = max(1, max |CoC|)``.
        kind: ``"mask"`` or ``"coc"``.

    Returns:
        float32 ``HxWx3`` RGB in [0,1].
    """
    from matplotlib import colormaps

    v = np.asarray(values, dtype=np.float32)
    if kind == "mask":
        norm = np.clip(v, 0.0, 1.0)
        cmap = colormaps["magma"]
    else:
        limit = max(1.0, float(np.abs(v).max()) if v.size else 1.0)
        norm = (np.clip(v, -limit, limit) / limit + 1.0) / 2.0
        cmap = colormaps["coolwarm"]
    return cmap(norm)[..., :3].astype(np.float32)


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
        path, meta = resolve_defocus_map_weights(weights)
        name = meta["name"]
        from blurmap.weights import load_model as _load_network

        runner = Deblurrer(_DualPixelInput(_load_network(path)), name=name, device=dev, tile=tile,
                           metadata={**meta, "path": str(path)})
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


# ------------------------------------------------------------------ files (blurmap deblur)

# Output formats kept as they are; anything else is written as PNG.
_KEEP_EXTENSIONS = {".png": ".png", ".tif": ".tif", ".tiff": ".tiff", ".jpg": ".jpg", ".jpeg": ".jpeg"}


def output_paths(path: Path, outdir: Path, *, suffix: str = "", save_map: bool = False) -> dict[str, Path]:
    """Where ``blurmap deblur`` writes the results for input ``path``.

    The restored image keeps the input's stem and extension (PNG for formats it cannot
    write), plus ``suffix``; the maps are ``<stem><suffix>_map.png`` and ``_map.npy``.
    """
    ext = _KEEP_EXTENSIONS.get(path.suffix.lower(), ".png")
    stem = f"{path.stem}{suffix}"
    outs = {"image": outdir / f"{stem}{ext}"}
    if save_map:
        outs["map_png"] = outdir / f"{stem}_map.png"
        outs["map_npy"] = outdir / f"{stem}_map.npy"
    return outs


def _is_grey(array: np.ndarray) -> bool:
    return bool(np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 1], array[..., 2]))


def deblur_file(
    path: str | os.PathLike,
    outdir: str | os.PathLike,
    restore,
    *,
    suffix: str = "",
    overwrite: bool = False,
    save_map: bool = False,
    map_kind_name: str = "coc",
    protected: frozenset[Path] = frozenset(),
    max_pixels: int | None = None,
    warn=None,
) -> list[Path]:
    """Restore one image file into ``outdir``; all or nothing.

    The input's bit depth, size, orientation (the EXIF rotation is applied on reading, so the
    written pixels are upright) and ICC profile are kept. A grey input (three equal channels
    after reading) is written grey.

    Args:
        path: input image.
        outdir: existing output folder.
        restore: ``restore(array HxWx3 float32) -> {"image": HxWx3, "map": HxW (optional)}``.
        suffix: appended to the output stem.
        overwrite: replace existing outputs (never an input: see ``protected``).
        save_map: also write the map as a colour PNG and a raw float32 ``.npy``.
        map_kind_name: ``"coc"`` or ``"mask"`` (colouring of the map PNG).
        protected: resolved input paths that must never be written.
        max_pixels: decompression-bomb limit for reading (None: io's default).
        warn: called with each warning line (e.g. an alpha channel dropped).

    Returns:
        The files written.

    Raises:
        BlurmapError: one line naming the file and the problem; nothing is left behind.
    """
    import io as _stdio
    import warnings

    from blurmap.io import read_image, write_bytes_atomic, write_image

    path, outdir = Path(path), Path(outdir)
    outs = output_paths(path, outdir, suffix=suffix, save_map=save_map)
    for out in outs.values():
        if out.resolve() in protected:
            raise BlurmapError(f"{path}: output {out} would overwrite an input file; use another -o folder or --suffix")
        if out.exists() and not overwrite:
            raise BlurmapError(f"{path}: output {out} already exists (use --overwrite to replace it)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = read_image(path, max_pixels=max_pixels)
    for w in caught:
        if warn is not None:
            warn(str(w.message))
    bits, icc, grey = image.bits, image.icc_profile, _is_grey(image.array)
    array = image.array
    del image  # keep one reference only, so the input buffer is freed before writing
    try:
        result = restore(array)
    except BlurmapError as err:
        raise BlurmapError(f"{path}: {err}") from None
    del array
    restored = result["image"]
    if grey:
        restored = restored.mean(axis=2)
    if save_map and "map" not in result:
        raise BlurmapError(f"{path}: the model predicts no map (--save-map)")

    written: list[Path] = []
    try:
        if save_map:
            buf = _stdio.BytesIO()
            np.save(buf, np.asarray(result["map"], dtype=np.float32))
            write_bytes_atomic(outs["map_npy"], buf.getvalue(), overwrite=overwrite)
            written.append(outs["map_npy"])
            write_image(outs["map_png"], colorize_map(result["map"], map_kind_name), bits=8, overwrite=overwrite)
            written.append(outs["map_png"])
        write_image(outs["image"], restored, bits=bits, icc_profile=icc, overwrite=overwrite)
        written.append(outs["image"])
    except BaseException:
        for out in written:  # all or nothing for this input
            out.unlink(missing_ok=True)
        raise
    return written

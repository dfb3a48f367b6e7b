"""Deblurring image files: where outputs go, which inputs clash, the per-file step and the loop.

One file is all or nothing (:func:`deblur_file`); a batch (:func:`deblur_files`) reports each
failed file on one line and carries on. The restoring itself is a callable handed in (a
network's tiled ``predict``, or the deconvolution baseline), so this module sits below the
models' front ends and is shared by ``blurmap deblur`` and the Python API.
"""

from __future__ import annotations

import io as _stdio
import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from blurmap.errors import BlurmapError
from blurmap.io import list_images, read_image, write_bytes_atomic, write_image

__all__ = ["output_paths", "output_clashes", "expand_inputs", "colorize_map", "is_grey", "deblur_file", "deblur_files"]


def expand_inputs(items: list[str], report) -> list[Path]:
    """Files, folders and globs -> image paths; an item that matches nothing is one failure.

    Deterministic (sorted folder listings and globs), so every process of a multi-process
    run expands the same list and :meth:`blurmap.ranks.Ranks.shard` splits it consistently."""
    paths: list[Path] = []
    seen: set[Path] = set()
    for item in items:
        try:
            found = list_images([item])
        except BlurmapError as err:
            report(str(err))
            continue
        for p in found:
            if p.resolve() not in seen:
                seen.add(p.resolve())
                paths.append(p)
    return paths


def output_clashes(paths: list[Path], output: Path, *, suffix: str, save_map: bool) -> dict[int, str]:
    """Inputs whose outputs an earlier input of the batch also writes (same stem from two
    folders): ``{index: error line}``. Decided on the whole list before it is split, so the
    same input is refused however many processes share the batch."""
    owner: dict[Path, Path] = {}
    clashes: dict[int, str] = {}
    for index, path in enumerate(paths):
        outs = [o.resolve() for o in output_paths(path, output, suffix=suffix, save_map=save_map).values()]
        taken = [o for o in outs if o in owner]
        if taken:
            clashes[index] = f"{path}: output {taken[0]} is also the output of an earlier input ({owner[taken[0]]})"
            continue
        owner.update({o: path for o in outs})
    return clashes


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


# Output formats kept as they are; anything else is written as PNG.
KEEP_EXTENSIONS = {".png": ".png", ".tif": ".tif", ".tiff": ".tiff", ".jpg": ".jpg", ".jpeg": ".jpeg"}


def output_paths(path: Path, outdir: Path, *, suffix: str = "", save_map: bool = False) -> dict[str, Path]:
    """Where ``blurmap deblur`` writes the results for input ``path``.

    The restored image keeps the input's stem and extension (PNG for formats it cannot
    write), plus ``suffix``; the maps are ``<stem><suffix>_map.png`` and ``_map.npy``.
    """
    ext = KEEP_EXTENSIONS.get(path.suffix.lower(), ".png")
    stem = f"{path.stem}{suffix}"
    outs = {"image": outdir / f"{stem}{ext}"}
    if save_map:
        outs["map_png"] = outdir / f"{stem}_map.png"
        outs["map_npy"] = outdir / f"{stem}_map.npy"
    return outs


def is_grey(array: np.ndarray) -> bool:
    """Whether an ``(H, W, 3)`` image has three equal channels (a grey file read as RGB)."""
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
    bits, icc, grey = image.bits, image.icc_profile, is_grey(image.array)
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


def deblur_files(
    items: list[tuple[int, Path]],
    outdir: str | os.PathLike,
    restore_for: Callable[[Path], Callable],
    *,
    report: Callable[[str], None],
    clashes: dict[int, str] | None = None,
    on_file: Callable[[Path], None] | None = None,
    on_done: Callable[[Path], None] | None = None,
    **file_options,
) -> int:
    """Restore many files, one failure never stopping the others.

    Args:
        items: ``(index, path)`` in the batch (the indices of :func:`output_clashes`).
        outdir: existing output folder.
        restore_for: ``restore_for(path)`` -> the ``restore`` callable of :func:`deblur_file`
            for that file (lets a caller attach per-file progress or per-file maps).
        report: called with the one-line error of each failed file.
        clashes: ``{index: error line}`` of inputs refused up front (:func:`output_clashes`).
        on_file, on_done: called with each path before and after it is processed.
        **file_options: the keyword options of :func:`deblur_file`.

    Returns:
        How many files were written.
    """
    clashes = clashes or {}
    done = 0
    for index, path in items:
        if on_file is not None:
            on_file(path)
        try:
            if index in clashes:
                raise BlurmapError(clashes[index])
            deblur_file(path, outdir, restore_for(path), **file_options)
            done += 1
        except BlurmapError as err:
            report(str(err))
        except (RuntimeError, MemoryError, OSError, ValueError) as ex:  # keep the batch going
            report(f"{path}: {type(ex).__name__}: {str(ex).splitlines()[0] if str(ex) else ''}")
        if on_done is not None:
            on_done(path)
    return done

"""Peak memory and speed of tiled inference against image size (``blurmap bench memory``).

Each size runs in a fresh process (:mod:`blurmap.bench._child`, so peaks do not carry over)
that builds the model, makes a random HxWx3 float32 image (4:3), deblurs it with
``Deblurrer.deblur`` and reports its own peak RSS (``ru_maxrss``) and the inference time.
Target: peak RSS flat in image size apart from the image-sized buffers (input + output,
24 B/px), <= 3 GB at 24 MP.

``path="cli"`` measures the whole ``blurmap deblur`` command instead (read a 16-bit PNG,
deblur, write a 16-bit PNG), including the image I/O buffers.

:func:`accuracy_rows` compares the default tiling with a single whole-image tile on a bundled
photo (PSNR and max |difference| between the two outputs).

Without weights the shipped starter weights of the model kind are used when present;
otherwise a network of the starter architecture with random weights (speed and memory do
not depend on the values).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from blurmap.bench._child import run_in_child
from blurmap.bench.table import Column
from blurmap.errors import BlurmapError

# Architectures used when no weights file is available (same as the starter recipes aim for).
FALLBACK = {  # configs/bladenet_starter.yaml and configs/defocusgan_starter.yaml
    "local": ("bladenet", {"width": 16, "bottleneck_mult": 8}),
    "defocus": ("defocusgan", {"dgb_widths": [[8, 16, 24, 32], [16, 24, 32], [16, 32]]}),
}
DEFAULT_MEGAPIXELS = (2.0, 6.0, 12.0, 24.0)
PATHS = ("engine", "cli")
PRECISIONS = ("fp32", "bf16")

MEMORY_COLUMNS = [
    Column("mp", "MP", ".2f"),
    Column("h", "H x W", lambda r: f"{r['h']} x {r['w']}"),
    Column("tiles", "tiles", "d"),
    Column("peak_mb", "peak RSS MB", ".0f"),
    Column("base_mb", "RSS-before MB", ".0f"),
    Column("seconds", "s", ".2f"),
    Column("cpu_seconds", "cpu s", ".2f"),
    Column("s_per_mp", "s/MP", ".2f"),
]
MEMORY_FOOTER = [
    "peak RSS = whole child process (torch + model + image in/out buffers + one tile's activations);",
    "RSS-before = after importing torch and building the model, before the image exists;",
    "cpu s = CPU time of the process over the deblur (a quiet machine takes about cpu s / threads).",
]
ACCURACY_COLUMNS = [
    Column("output", "output", align="<"),
    Column("tile", "tile", "d"),
    Column("overlap", "overlap", "d"),
    Column("tiles", "tiles", "d"),
    Column("psnr_db", "PSNR tiled vs whole (dB)", ".2f"),
    Column("max_abs_diff", "max |diff|", ".2e"),
]


def megapixel_size(mp: float) -> tuple[int, int]:
    """``(H, W)`` of a 4:3 landscape image of ``mp`` megapixels (rounded to whole px)."""
    w = int(round((mp * 1e6 * 4 / 3) ** 0.5))
    return int(round(mp * 1e6 / w)), w


def _load(model: str, weights: str | None, precision: str, tile: int | None, overlap: int | None):
    """(Deblurrer, label, weights path or None, fallback (name, cfg) or None)."""
    from blurmap import api
    from blurmap.infer import Deblurrer
    from blurmap.models import build_model

    source = weights
    if source is None:
        try:
            source = str(api.resolve_weights(model))
        except BlurmapError:  # not shipped in this install: random weights of the same architecture
            source = None
    if source is not None:
        net = api.load_model(source, precision=precision, tile=tile, overlap=overlap)
        return net, f"{net.name} ({source})", source, None
    name, cfg = FALLBACK[model]
    net = Deblurrer(build_model(name, **cfg), precision=precision, tile=tile, overlap=overlap)
    return net, f"{name} {json.dumps(cfg)} (random weights)", None, (name, cfg)


def measure_memory(mp: float, model: str = "local", weights: str | None = None, precision: str = "bf16",
                   tile: int | None = None, overlap: int | None = None, path: str = "engine",
                   input_png: str | None = None, cli_entry: str | None = None) -> dict:
    """Deblur one random image of ``mp`` megapixels and report this process's peak RSS.

    Runs in the child process. Args as :func:`memory_rows`; ``input_png`` is the 16-bit PNG the
    parent wrote for ``path="cli"`` and ``cli_entry`` the command run on it.

    Returns:
        ``{"mp", "h", "w", "tiles", "tile", "overlap" (px), "peak_mb" (peak RSS of the
        process), "base_mb" (RSS after building the model), "seconds", "s_per_mp", "label",
        "threads"}``.
    """
    import resource
    import time

    import numpy as np
    import torch

    from blurmap.infer import count_tiles, model_size_multiple

    torch.manual_seed(0)
    net, label, source, fallback = _load(model, weights, precision, tile, overlap)
    h, w = megapixel_size(mp)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tiling = net.tiling()
    if path == "cli":
        import importlib

        from blurmap.weights import save_weights

        module, func = cli_entry.split(":")
        cli_main = getattr(importlib.import_module(module), func)

        tmp = Path(input_png).parent
        if source is None:
            source = str(save_weights(tmp / "w.safetensors", net.model, *fallback))
        t0, c0 = time.perf_counter(), time.process_time()
        argv = ["deblur", input_png, "-o", str(tmp / "out"), "--weights", source, "--overwrite",
                "--precision", precision, "--tile", str(tiling.tile), "--overlap", str(tiling.overlap)]
        if cli_main(argv) != 0:
            raise BlurmapError(f"blurmap deblur failed on {input_png}")
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    else:
        image = np.random.default_rng(0).random((h, w, 3), dtype=np.float32)
        t0, c0 = time.perf_counter(), time.process_time()
        out = net.deblur(image)
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
        assert out.shape == image.shape
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    mp_exact = h * w / 1e6
    return {
        "mp": mp_exact, "h": h, "w": w, "tiles": count_tiles(h, w, tiling, model_size_multiple(net.model)), "tile": tiling.tile,
        "overlap": tiling.overlap, "peak_mb": peak / 1024, "base_mb": rss_before / 1024,
        "seconds": seconds, "cpu_seconds": cpu_seconds, "s_per_mp": seconds / mp_exact, "label": label,
        "threads": torch.get_num_threads(),
    }


def check_memory_args(megapixels, model: str, precision: str, tile, overlap, path: str) -> None:
    """Refuse bad arguments with one line.

    Raises:
        BlurmapError: unknown model kind / precision / path, a size under 16x16 px,
        a non-positive tile or a negative overlap.
    """
    if model not in FALLBACK:
        raise BlurmapError(f"unknown model {model!r}; choose from {', '.join(FALLBACK)}")
    if precision not in PRECISIONS:
        raise BlurmapError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if path not in PATHS:
        raise BlurmapError(f"unknown path {path!r}; choose from {', '.join(PATHS)}")
    if not megapixels:
        raise BlurmapError("--megapixels needs at least one size")
    for mp in megapixels:
        if not mp > 0 or min(megapixel_size(mp)) < 16:
            raise BlurmapError(f"--megapixels {mp}: the image must be at least 16x16 px (>= 0.0004 MP)")
    if tile is not None and tile < 16:
        raise BlurmapError(f"--tile must be at least 16 px, got {tile}")
    if overlap is not None and overlap < 0:
        raise BlurmapError(f"--overlap must be >= 0, got {overlap}")


def _write_input(path: Path, mp: float) -> None:
    """A 16-bit PNG of noise, written by the parent so it does not count in the child's peak."""
    import numpy as np

    from blurmap.io import write_image

    h, w = megapixel_size(mp)
    write_image(path, np.random.default_rng(0).random((h, w, 3), dtype=np.float32), bits=16)


def memory_rows(
    megapixels=DEFAULT_MEGAPIXELS,
    model: str = "local",
    weights: str | None = None,
    precision: str = "bf16",
    tile: int | None = None,
    overlap: int | None = None,
    path: str = "engine",
    cli_entry: str | None = None,
) -> list[dict]:
    """Peak RSS and time of tiled inference, one fresh process per size.

    Args:
        megapixels: image sizes (4:3) in megapixels.
        model: ``"local"`` (BladeNet) or ``"defocus"`` (DefocusGAN).
        weights: weights file or shipped name; default: the shipped starter of ``model``,
            else the starter architecture with random weights.
        precision: ``"fp32"`` or ``"bf16"``.
        tile, overlap: tiling in px (default: the model's).
        path: ``"engine"`` (``Deblurrer.deblur`` on an array) or ``"cli"`` (the whole
            ``blurmap deblur`` command on a 16-bit PNG).
        cli_entry: for ``path="cli"``, the command's entry point as ``"module:function"``
            (``function(argv) -> exit code``; the CLI passes its own, ``"blurmap.cli:main"``).
            Named by the caller because the benchmarks sit below the CLI and never import it.

    Returns:
        One row per size as :func:`measure_memory` returns it.

    Raises:
        BlurmapError: bad arguments, or a child failed (the message is its last error line).
    """
    megapixels = [float(mp) for mp in megapixels]
    check_memory_args(megapixels, model, precision, tile, overlap, path)
    if path == "cli" and not cli_entry:
        raise BlurmapError("path 'cli' needs the command's entry point (cli_entry='module:function')")
    if weights is not None:
        from blurmap import api

        api.resolve_weights(weights)  # a missing file is the user's error: say so before starting
    rows = []
    for mp in megapixels:
        job = dict(mp=mp, model=model, weights=weights, precision=precision, tile=tile, overlap=overlap, path=path)
        if path == "cli":
            job["cli_entry"] = cli_entry
        tmpdir = None
        try:
            if path == "cli":
                tmpdir = Path(tempfile.mkdtemp(prefix="blurmap_bench_memory_"))
                job["input_png"] = str(tmpdir / "in.png")
                _write_input(tmpdir / "in.png", mp)
            rows.append(run_in_child("memory", job))
        finally:
            if tmpdir is not None:
                shutil.rmtree(tmpdir, ignore_errors=True)
    return rows


def memory_notes(rows: list[dict], precision: str, path: str) -> list[str]:
    """The line printed above the memory table (model, precision, tiling, threads)."""
    if not rows:
        return []
    first = rows[0]
    return [f"path: {path}; model: {first['label']}; precision {precision}; tile {first['tile']} px, overlap "
            f"{first['overlap']} px; torch threads {first['threads']}"]


def accuracy_rows(
    model: str = "local",
    weights: str | None = None,
    precision: str = "bf16",
    tile: int | None = None,
    overlap: int | None = None,
    size: tuple[int, int] = (1024, 1536),
) -> tuple[list[dict], str]:
    """Tiled (default tiling) vs untiled output of the same model on one bundled photo.

    Runs in this process (it measures agreement, not memory).

    Args:
        model, weights, precision, tile, overlap: as :func:`memory_rows`.
        size: ``(H, W)`` the astronaut photo is resized to.

    Returns:
        ``(rows, label)``: one row per output (``"image"``, and ``"map"`` when the model has
        one) with ``tile``, ``overlap``, ``tiles``, ``psnr_db`` (PSNR of tiled vs whole, peak
        1 for the image, max(1, max|map|) for the map) and ``max_abs_diff``; the model label.
    """
    import numpy as np
    import torch
    from skimage import data, transform

    from blurmap.infer import count_tiles, model_size_multiple

    check_memory_args([1.0], model, precision, tile, overlap, "engine")
    torch.manual_seed(0)
    net, label, _, _ = _load(model, weights, precision, tile, overlap)
    h, w = size
    img = transform.resize(data.astronaut(), (h, w), anti_aliasing=True).astype(np.float32)
    tiling = net.tiling()
    tiled = net.predict(img)
    whole = net.predict(img, tile=max(h, w) + 64, overlap=32)
    rows = []
    for key in tiled:
        a, b = np.asarray(tiled[key], np.float64), np.asarray(whole[key], np.float64)
        mse = float(np.mean((a - b) ** 2))
        peak = 1.0 if key == "image" else max(1.0, float(np.abs(b).max()))
        psnr = float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))
        rows.append({"output": key, "tile": tiling.tile, "overlap": tiling.overlap,
                     "tiles": count_tiles(h, w, tiling, model_size_multiple(net.model)), "psnr_db": psnr,
                     "max_abs_diff": float(np.abs(a - b).max())})
    return rows, f"model: {label}; precision {precision}; image {h} x {w}"

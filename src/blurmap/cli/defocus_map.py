"""``blurmap defocus-map``: a signed defocus map (CoC px) from a dual-pixel pair."""

from __future__ import annotations

import io
from pathlib import Path

import typer

from blurmap.cli._app import app
from blurmap.errors import BlurmapError


def _map_png(coc, max_coc: float) -> bytes:
    """Colour-mapped map with a colour bar (diverging: blue in front, red behind focus)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h, w = coc.shape
    fig, ax = plt.subplots(figsize=(6.4 * w / max(h, w) + 1.4, 6.4 * h / max(h, w)), dpi=100)
    lim = max(float(abs(coc).max()), 1.0)
    lim = min(lim, max_coc)
    im = ax.imshow(coc, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_axis_off()
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("signed CoC radius (px); + behind focus")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


@app.command("defocus-map")
def defocus_map(
    left: Path = typer.Option(..., "--left", help="Left dual-pixel view (PNG/TIFF/JPEG, 8/16-bit)."),
    right: Path = typer.Option(..., "--right", help="Right dual-pixel view (same size)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output .npy: float32 (H, W) signed CoC in px."),
    png: Path | None = typer.Option(None, "--png", help="Also write a colour-mapped PNG with a colour bar."),
    weights: str | None = typer.Option(
        None, "--weights", help="Trained defocus_map_net weights: a .safetensors file, or 'defocus-map' (the shipped starter)."
    ),
    optimize: bool = typer.Option(False, "--optimize", help="Per-pair self-supervised estimation (no weights; the default)."),
    steps: int = typer.Option(300, "--steps", min=1, help="Optimisation steps of the coarse stage (--optimize)."),
    kernel: Path | None = typer.Option(
        None, "--kernel", help="Camera PSF for --optimize: a file from 'blurmap calibrate' (or dp_kernel_bank weights)."
    ),
    calibrate: bool = typer.Option(
        False, "--calibrate/--no-calibrate",
        help="--optimize without --kernel: also fit the PSF family to this one pair (off: eq. 3; one pair "
        "rarely pins the PSF down, prefer 'blurmap calibrate' over several pairs).",
    ),
    swap_views: bool = typer.Option(
        False, "--swap-views", help="The sensor's left and right views are mirrored: swap them (flips the map's sign)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
):
    """Estimate the defocus map of a DP pair: with --weights the trained network, otherwise
    (--optimize) a smooth map fitted to this pair by the dual-pixel consistency loss."""
    import numpy as np
    import torch

    from blurmap.io import read_image, write_bytes_atomic

    if weights is not None and optimize:
        raise BlurmapError("give either --weights or --optimize, not both")
    if weights is not None and kernel is not None:
        raise BlurmapError("--kernel applies to --optimize only, not to --weights")
    for out in [output] + ([png] if png else []):
        if out.exists() and not overwrite:
            raise BlurmapError(f"{out}: already exists (use --overwrite to replace it)")
        if not (out.parent if str(out.parent) else Path(".")).is_dir():
            raise BlurmapError(f"{out}: output folder {out.parent} does not exist")
    path = None
    if weights is not None:  # settle the weights before the images are read
        from blurmap.api import resolve_defocus_map_weights

        path, _ = resolve_defocus_map_weights(weights)
    bank = None
    if kernel is not None:  # likewise the camera PSF
        from blurmap.fit import load_camera_kernel

        try:
            bank = load_camera_kernel(kernel)
        except BlurmapError as ex:
            raise BlurmapError(f"--kernel: {ex}") from None
    lv, rv = read_image(left).array, read_image(right).array
    if lv.shape != rv.shape:
        raise BlurmapError(
            f"{right}: right view is {rv.shape[1]}x{rv.shape[0]} px but the left view {left} is {lv.shape[1]}x{lv.shape[0]}"
        )
    lt = torch.from_numpy(np.ascontiguousarray(lv.transpose(2, 0, 1)))[None]
    rt = torch.from_numpy(np.ascontiguousarray(rv.transpose(2, 0, 1)))[None]
    if swap_views and path is not None:
        lt, rt = rt, lt
    if path is not None:
        from blurmap.api import estimate_defocus_map

        coc = estimate_defocus_map(lt, rt, weights=path)  # tiled: any image size in flat memory
    else:
        from blurmap.fit import optimize_defocus_map

        coc = optimize_defocus_map(lt, rt, steps=steps, bank=bank, calibrate=calibrate and kernel is None,
                                   swap_views=swap_views)
    coc = coc[0, 0].float().numpy().astype(np.float32)
    buf = io.BytesIO()
    np.save(buf, coc, allow_pickle=False)
    png_bytes = _map_png(coc, 25.0) if png else None  # render before writing anything
    write_bytes_atomic(output, buf.getvalue(), overwrite=overwrite)
    if png_bytes is not None:
        write_bytes_atomic(png, png_bytes, overwrite=overwrite)
    typer.echo(f"{output}: defocus map {coc.shape[1]}x{coc.shape[0]}, CoC {coc.min():.2f}..{coc.max():.2f} px")

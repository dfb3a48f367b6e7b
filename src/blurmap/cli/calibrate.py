"""``blurmap calibrate``: one dual-pixel PSF for one camera, fitted to several pairs."""

from __future__ import annotations

from pathlib import Path

import typer

from blurmap.cli._app import app
from blurmap.errors import BlurmapError


@app.command("calibrate")
def calibrate(
    left: list[Path] = typer.Option(..., "--left", help="Left DP view of a pair (repeat: one --left per pair)."),
    right: list[Path] = typer.Option(..., "--right", help="Right DP view of the pair (same order as --left)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output .safetensors camera PSF (for defocus-map --kernel)."),
    steps: int = typer.Option(200, "--steps", min=1, help="Adam steps of the joint fit."),
    max_coc: float = typer.Option(25.0, "--max-coc", min=1.0, help="Largest |CoC| the pairs may hold, px."),
    swap_views: bool = typer.Option(False, "--swap-views", help="The sensor's left and right views are mirrored."),
    min_textured: int = typer.Option(1000, "--min-textured", min=1, help="Fewest textured pixels a pair must have."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
):
    """Fit one PSF (a six-parameter DP family: rim profile, edge softness, split ramp and floor,
    light-split tilt) to several pairs from one camera, jointly with a smooth defocus map per pair."""
    import numpy as np
    import torch

    from blurmap.fit import calibrate_camera, save_camera_kernel
    from blurmap.io import read_image

    if len(left) != len(right):
        raise BlurmapError(f"give one --right per --left ({len(left)} --left, {len(right)} --right)")
    if output.exists() and not overwrite:
        raise BlurmapError(f"{output}: already exists (use --overwrite to replace it)")
    if not (output.parent if str(output.parent) else Path(".")).is_dir():
        raise BlurmapError(f"{output}: output folder {output.parent} does not exist")
    pairs, names = [], []
    for lp, rp in zip(left, right):
        views = []
        for p in (lp, rp):
            a = read_image(p).array
            views.append(torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None])
        pairs.append(tuple(views))
        names.append(f"{lp} / {rp}")
    cal = calibrate_camera(pairs, names=names, steps=steps, max_coc=max_coc, swap_views=swap_views,
                           min_textured=min_textured)
    save_camera_kernel(output, cal, {"pairs": names, "swap_views": swap_views})
    values = ", ".join(f"{k} {v:.3g}" for k, v in cal.family.values().items())
    typer.echo(f"{output}: PSF of {len(pairs)} pair(s): {values}")
    if cal.mirrored:
        which = ", ".join(names[i] for i in cal.mirrored)
        hint = "rerun with --swap-views" if not swap_views else "drop --swap-views"
        typer.echo(f"warning: {len(cal.mirrored)} of {len(pairs)} pair(s) look mirrored (the left view is brighter "
                   f"towards the left border: {which}); if the maps come out with the wrong sign, {hint}", err=True)

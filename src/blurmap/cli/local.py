"""Local-blur commands: ``blurmap blur-mask`` and ``blurmap analyze blur-area``.

``blurmap eval --task local`` lives in :mod:`blurmap.cli.eval` (it calls
:func:`blurmap.eval.local.evaluate_local`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from blurmap.cli._app import app
from blurmap.errors import BlurmapError

analyze = typer.Typer(help="Dataset analyses (LODE Figure 3).", no_args_is_help=True)
app.add_typer(analyze, name="analyze")


@app.command("blur-mask")
def blur_mask_cmd(
    images: List[str] = typer.Argument(..., help="Image files, folders or glob patterns."),
    out_dir: Path = typer.Option(..., "-o", "--out", help="Output folder for <stem>_mask.png."),
    weights: str = typer.Option(
        "local", "--weights", help="BladeNet or LBP weights file, or a shipped name (default: local)."
    ),
    tile: Optional[int] = typer.Option(None, "--tile", help="Tile size in px (default: the model's)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    bits: int = typer.Option(8, "--bits", help="PNG bit depth of the maps: 8 or 16."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
) -> None:
    """Write LBP blur-probability maps (grey PNG, white = locally blurred)."""
    from blurmap.api import blur_mask, load_model
    from blurmap.io import list_images, read_image, write_image

    if bits not in (8, 16):
        raise BlurmapError(f"--bits must be 8 or 16, got {bits}")
    files = list_images(images)
    model = load_model(weights, device=device)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as ex:
        raise BlurmapError(f"{out_dir}: cannot create output folder ({ex.strerror})") from None
    failures = []
    for path in files:
        try:
            img = read_image(path)
            prob = blur_mask(img.array, weights=model, tile=tile)
            dest = out_dir / f"{Path(path).stem}_mask.png"
            write_image(dest, prob, bits=bits, overwrite=overwrite)
            typer.echo(f"{path} -> {dest}")
        except BlurmapError as err:
            failures.append(str(err))
            print(f"blurmap: error: {err}", file=sys.stderr)
    if failures:
        raise BlurmapError(f"{len(failures)} of {len(files)} images failed (see above)")


@analyze.command("blur-area")
def blur_area_cmd(
    data: List[Path] = typer.Option(..., "--data", help="Dataset folder; repeat for several curves."),
    out_dir: Path = typer.Option(Path("."), "-o", "--out", help="Folder for blur_area.csv / .png."),
    label: Optional[List[str]] = typer.Option(None, "--label", help="Curve names, one per --data."),
    split: str = typer.Option("train", "--split", help="Split for REDS / paired / ReLoBlur layouts."),
    step: Optional[List[int]] = typer.Option(
        None, "--step", help="Frame distance per --data (1 at 120 fps, 2 at 240/250 fps)."
    ),
    max_threshold: float = typer.Option(20.0, "--max-threshold", help="Largest flow threshold, px."),
    num_thresholds: int = typer.Option(41, "--num-thresholds", help="Points on the curve."),
    pairs: int = typer.Option(20, "--pairs", help="Frame pairs per dataset (one per clip)."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Blurred-area ratio against the optical-flow threshold, one curve per dataset."""
    import numpy as np

    from blurmap.eval.blur_area import blur_area_curves, write_blur_area

    if step and len(step) not in (1, len(data)):
        raise BlurmapError("give one --step, or one per --data")
    steps = (step * len(data) if len(step) == 1 else list(step)) if step else 1
    thresholds = np.linspace(0.0, max_threshold, num_thresholds)
    curves = blur_area_curves(
        list(data), thresholds, labels=list(label) if label else None, split=split,
        step=steps, max_pairs=pairs, seed=seed,
    )
    csv_path, png_path = write_blur_area(curves, thresholds, out_dir)
    for name, c in curves.items():
        j = len(thresholds) // 2
        typer.echo(
            f"{name}: {c['pairs']} pairs ({c['kind']}), blurred-area ratio "
            f"{c['ratio'][0]:.3f} at 0 px, {c['ratio'][j]:.3f} at {thresholds[j]:g} px"
        )
    typer.echo(f"wrote {csv_path} and {png_path}")

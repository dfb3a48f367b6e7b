"""``blurmap metrics``: score any method's outputs against ground truth with the DPDD protocol."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from blurmap.cli._app import app
from blurmap.errors import BlurmapError

_COLUMNS = {
    "psnr": ("PSNR", "{:.3f}"),
    "ssim": ("SSIM", "{:.4f}"),
    "mae": ("MAE", "{:.5f}"),
    "masked_psnr": ("mPSNR", "{:.3f}"),
    "masked_ssim": ("mSSIM", "{:.4f}"),
    "lpips": ("LPIPS", "{:.4f}"),
}


def _print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    keys = list(report["mean"])
    bits = report["bits"]
    net = report["lpips_net"] or "none"
    title = f"blurmap metrics — {bits}{'-bit' if bits != 'native' else ' bit depth'}, LPIPS {net}"
    table = Table(title=title)
    table.add_column("image")
    for k in keys:
        table.add_column(_COLUMNS[k][0], justify="right")
    for row in report["images"]:
        table.add_row(row["name"], *(_COLUMNS[k][1].format(row[k]) for k in keys))
    table.add_section()
    table.add_row(f"mean ({report['count']})", *(_COLUMNS[k][1].format(report["mean"][k]) for k in keys))
    Console(file=sys.stdout, width=max(100, 12 * (len(keys) + 2))).print(table)


@app.command("metrics")
def metrics_command(
    pred: Path = typer.Option(..., "--pred", help="Folder of restored images (any method's outputs)."),
    gt: Path = typer.Option(..., "--gt", help="Folder of ground-truth images; paired by file name."),
    mask: Optional[Path] = typer.Option(None, "--mask", help="Folder of blur masks -> masked PSNR/SSIM."),
    bits: Optional[int] = typer.Option(
        None, "--bits", help="Protocol bit depth 8 or 16: quantise both images first (default: each file's own)."
    ),
    lpips: str = typer.Option("alex", "--lpips", help="LPIPS backbone: alex (default), vgg or none."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write per-image and mean results here."),
) -> None:
    """Score restored images against ground truth: PSNR, SSIM, MAE (+ masked), LPIPS.

    Prints a table (per image + mean). Any missing pair or unreadable file is reported on its own
    line and makes the command fail without writing the JSON.
    """
    from blurmap.eval.folders import evaluate_folders
    from blurmap.files import write_json_atomic
    from blurmap.metrics import LPIPS

    if bits not in (None, 8, 16):
        raise BlurmapError(f"--bits must be 8 or 16, got {bits}")
    if lpips not in ("alex", "vgg", "none"):
        raise BlurmapError(f"--lpips must be alex, vgg or none, got {lpips!r}")
    if json_out is not None and not json_out.parent.is_dir():
        raise BlurmapError(f"{json_out}: output folder {json_out.parent} does not exist")
    model = LPIPS(lpips) if lpips != "none" else None  # WeightsError if weights are missing

    report, failures = evaluate_folders(pred, gt, mask, bits=bits, lpips=model)
    if report["images"]:
        _print_table(report)
    if failures:
        for line in failures:
            print(f"blurmap: error: {line}", file=sys.stderr)
        print(
            f"blurmap: error: {len(failures)} problem(s), {report['count']} pair(s) scored"
            + ("; no JSON written" if json_out is not None else ""),
            file=sys.stderr,
        )
        raise typer.Exit(1)
    if json_out is not None:
        write_json_atomic(json_out, report)  # PSNR of identical images -> "inf", empty masks -> null
        print(f"wrote {json_out}")

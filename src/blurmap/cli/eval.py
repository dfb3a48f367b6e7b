"""``blurmap eval --task defocus|local``: run a model on a benchmark split and score it.

Tasks are dispatched through :data:`TASKS` (task name -> ``"module:function"``, imported
lazily). Contract of a task function::

    fn(data, weights, *, split, bits, lpips, out, device, precision, tile, progress,
       [indoor_list]) -> report

``indoor_list`` is passed only when given. ``report`` is a dict with at least ``"table"``
(Markdown, printed here), ``"params"`` (int), ``"count"`` (images) and ``"model"``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Optional

import typer

from blurmap.cli._app import app
from blurmap.errors import BlurmapError

#: task name -> "module:function" (add one line per task)
TASKS = {
    "defocus": "blurmap.eval.defocus:evaluate_defocus",
    "local": "blurmap.eval.local:evaluate_local_task",
}


def _task_function(task: str):
    if task not in TASKS:
        raise BlurmapError(f"unknown --task {task!r}; choose one of {', '.join(sorted(TASKS))}")
    module, func = TASKS[task].split(":")
    return getattr(importlib.import_module(module), func)


@app.command("eval")
def eval_command(
    task: str = typer.Option(..., "--task", help="Benchmark: defocus (DPDD layout) or local."),
    data: Path = typer.Option(..., "--data", help="Dataset root in the task's on-disk layout."),
    weights: str = typer.Option(..., "--weights", help="Weights file (.safetensors) or shipped name (defocus, local)."),
    split: str = typer.Option("test", "--split", help="Split to evaluate (test, val, train)."),
    bits: int = typer.Option(16, "--bits", help="Protocol bit depth: 16 (DPDD native) or 8 (16-bit PNGs read as OpenCV's imread does: "
                                 "high byte; the 8-bit published numbers)."),
    lpips: str = typer.Option("alex", "--lpips", help="LPIPS backbone: alex (default), vgg or none."),
    indoor_list: Optional[Path] = typer.Option(None, "--indoor-list", help="Text file of indoor scene names -> indoor/outdoor rows."),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Write restored images, JSON, Markdown and a best/worst grid here."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    precision: str = typer.Option("fp32", "--precision", help="fp32 or bf16 (autocast)."),
    tile: Optional[int] = typer.Option(None, "--tile", help="Tile size in px (default: whole image)."),
    regions: Optional[str] = typer.Option(None, "--regions", help="local only: region split, flow (default) or mask."),
) -> None:
    """Evaluate a model on a benchmark split: PSNR, SSIM, MAE, LPIPS and parameters."""
    fn = _task_function(task)
    kwargs = dict(split=split, bits=bits, lpips=lpips, out=out, device=device, precision=precision, tile=tile)
    if indoor_list is not None:
        kwargs["indoor_list"] = indoor_list
    if regions is not None:
        if task != "local":
            raise BlurmapError("--regions applies to --task local only")
        kwargs["regions"] = regions
    report = fn(data, weights, progress=lambda name: print(f"  {name}", file=sys.stderr), **kwargs)
    print(f"{task} benchmark: {data} ({split}, {report['count']} images, {bits}-bit, LPIPS {lpips}); "
          f"model {report.get('model')} with {report['params'] / 1e6:.2f} M parameters")
    print(report["table"], end="")
    if task == "defocus":
        from blurmap.eval.protocol import protocol_note

        print(protocol_note(bits))
    if out is not None:
        print(f"wrote {out}")

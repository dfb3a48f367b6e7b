"""``blurmap train CONFIG.yaml [key=value ...] [--resume|--no-resume] [--out DIR]``."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import List, Optional

import typer

from blurmap.cli._app import app


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"blurmap: warning: {message}", file=sys.stderr, flush=True)


@app.command("train")
def train_command(
    config: Path = typer.Argument(..., help="Recipe config (YAML) naming its recipe with `recipe: NAME`."),
    overrides: Optional[List[str]] = typer.Argument(None, help="Dotted overrides, e.g. train.batch_size=4 epochs=2."),
    resume: Optional[bool] = typer.Option(
        None, "--resume/--no-resume",
        help="Continue from the newest valid checkpoint in the run directory (default: when there is one)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory (default: the config's `out`)."),
) -> None:
    """Train a recipe; checkpoints, logs (TensorBoard, train.log) and final weights go to the run directory.

    Multi-GPU / multi-node: start it with `accelerate launch -m blurmap train ...` or
    `torchrun --nproc_per_node N -m blurmap train ...` (see docs/training.md).
    """
    from blurmap.train.config import load_config
    from blurmap.train.engine import train

    # the config is validated (unknown keys, wrong types) before anything is built
    loaded = load_config(config, overrides or [])
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            result = train(loaded, out=out, resume=resume)
        finally:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():  # launched by torchrun / accelerate
                dist.destroy_process_group()
    if result.final_weights:
        typer.echo(f"final weights: {', '.join(str(p) for p in result.final_weights.values())}")

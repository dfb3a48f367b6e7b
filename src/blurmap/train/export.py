"""Turn a training run's checkpoint into ``.safetensors`` weights files (one per model).

Lives in train, not in :mod:`blurmap.weights`, because it reads the training checkpoint
format; the weights module only knows the safetensors files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from blurmap.errors import WeightsError
from blurmap.train.checkpoint import load_checkpoint, load_latest_checkpoint, verify_checkpoint
from blurmap.weights import save_weights

__all__ = ["export_weights"]


def export_weights(source: str | os.PathLike, out: str | os.PathLike, model: Optional[str] = None) -> list[Path]:
    """Export model weights from a training run directory or a checkpoint file.

    Args:
        source: run directory (its newest valid checkpoint is used) or a ``step_*.pt`` file.
        out: output folder (one ``<model>.safetensors`` per model) or, with a single model
            (or ``model`` given), a ``.safetensors`` file path.
        model: export only this model of the run.

    Returns:
        Paths written. EMA weights are exported when the run kept them.

    Raises:
        WeightsError: no usable checkpoint, or an unknown model name.
    """
    source = Path(source)
    if source.is_dir():
        ckpt_path, state = load_latest_checkpoint(source)
        if state is None:
            raise WeightsError(f"{source}: no usable checkpoint in {source / 'checkpoints'}")
    elif source.is_file():
        reason = verify_checkpoint(source)
        if reason:
            raise WeightsError(f"{source}: {reason}")
        try:
            state = load_checkpoint(source)
        except Exception as ex:
            raise WeightsError(f"{source}: not a blurmap training checkpoint ({type(ex).__name__})") from None
        ckpt_path = source
    else:
        raise WeightsError(f"{source}: no such run directory or checkpoint")
    specs = state.get("model_specs", {})
    names = [model] if model is not None else sorted(state["models"])
    for n in names:
        if n not in state["models"]:
            raise WeightsError(f"{ckpt_path}: no model {n!r}; models: {', '.join(sorted(state['models']))}")
    out = Path(out)
    single_file = out.suffix == ".safetensors"
    if single_file and len(names) != 1:
        raise WeightsError(f"{out}: the run has several models ({', '.join(names)}); give a folder or a model name")
    written = []
    for n in names:
        weights = state.get("ema", {}).get(n) or state["models"][n]
        spec = specs.get(n, {"name": n, "config": {}})
        extra = {"step": state.get("step"), "recipe": state.get("recipe"), "run_model": n,
                 "ema": n in state.get("ema", {})}
        dest = out if single_file else out / f"{n}.safetensors"
        written.append(save_weights(dest, weights, spec["name"], spec["config"], extra))
    return written

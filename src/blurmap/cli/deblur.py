"""``blurmap deblur INPUT... -o OUTDIR``: restore image files with a trained model."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import List, Optional

import typer

from blurmap.batch import deblur_files, expand_inputs, output_clashes
from blurmap.cli._app import app
from blurmap.errors import BlurmapError
from blurmap.infer import model_receptive_field, recommended_overlap

MODEL_CHOICES = ("auto", "defocus", "local", "deconv")


def _console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


@app.command("deblur")
def deblur_command(
    inputs: List[str] = typer.Argument(..., help="Image files, folders or glob patterns.", show_default=False),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder (created if missing)."),
    model: str = typer.Option(
        "auto", "--model", help="defocus (DefocusGAN), local (BladeNet), deconv (needs --map), "
        "or auto (whatever --weights holds)."
    ),
    weights: Optional[str] = typer.Option(
        None, "--weights", help="Weights file (.safetensors) or shipped name; default: the shipped starter weights."
    ),
    map_path: Optional[Path] = typer.Option(
        None, "--map", help="--model deconv: defocus map .npy (one input) or a folder of <stem>.npy maps."
    ),
    tile: Optional[int] = typer.Option(None, "--tile", help="Tile size in px (default: per model)."),
    overlap: Optional[int] = typer.Option(None, "--overlap", help="Tile overlap in px (default: per model)."),
    device: str = typer.Option(
        "auto", "--device", help="auto (CUDA when available), cpu or cuda; under torchrun / accelerate "
        "launch each process takes its own GPU (LOCAL_RANK)."
    ),
    precision: str = typer.Option(
        "auto", "--precision", help="auto (bf16 on CPUs with native bf16, else fp32), fp32, bf16 (CPU/CUDA) or fp16 (CUDA)."
    ),
    gate: bool = typer.Option(
        False, "--gate/--no-gate", help="Background gate (--model local): blend the restored image into the input "
        "by the blur mask, so pixels with blur probability <= 0.1 stay exactly as they were."
    ),
    save_map: bool = typer.Option(False, "--save-map", help="Also write the blur map (colour PNG + raw .npy)."),
    suffix: str = typer.Option("", "--suffix", help="Appended to output file names (before the extension)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs (inputs are never replaced)."),
) -> None:
    """Deblur images; outputs keep the input's name, size, bit depth and ICC profile.

    Started by ``torchrun --nproc-per-node N -m blurmap deblur ...`` or ``accelerate launch
    -m blurmap deblur ...``, the processes split the inputs (each file is done by exactly one),
    rank 0 prints the summary, and every process exits 1 if any input failed anywhere.
    """
    from blurmap import api
    from blurmap.ranks import Ranks

    if model not in MODEL_CHOICES:
        raise BlurmapError(f"unknown --model {model!r}; choose one of {', '.join(MODEL_CHOICES)}")
    ranks = Ranks.from_env()
    device = ranks.device(device)
    console = _console()
    failures: list[str] = []

    def report(line: str) -> None:
        failures.append(line)
        console.print(f"blurmap: error: {line}", markup=False)

    def report_once(line: str) -> None:
        """A failure every process sees the same (an input that matches nothing): counted and
        printed by rank 0 only."""
        if ranks.is_main:
            report(line)

    def warn(line: str) -> None:
        console.print(f"blurmap: warning: {line}", markup=False)

    # Settings errors (model, weights, map) stop everything before any file is touched.
    if model == "deconv":
        if gate:
            raise BlurmapError("--gate needs a model that predicts a blur mask (--model local); deconv has none")
        restore_for, map_kind_name, label = _deconv_restorer(map_path)
    else:
        if map_path is not None:
            raise BlurmapError("--map is only used with --model deconv")
        if model == "auto" and weights is None:
            raise BlurmapError("choose --model defocus or local (or give --weights FILE)")
        kind = None if model == "auto" else model
        deblurrer = api.load_model(
            weights if weights is not None else kind,
            kind=kind,
            device=device,
            precision=precision,
            tile=tile,
            overlap=overlap,
        )
        if save_map and not deblurrer.has_map:
            raise BlurmapError(
                f"{deblurrer.name} predicts no map from a single image (--save-map); "
                "defocus maps need dual-pixel views: blurmap defocus-map --left L --right R"
            )
        if gate and not deblurrer.can_gate:
            raise BlurmapError(
                f"--gate needs a model that predicts a blur mask (--model local); {deblurrer.name} has none"
            )
        map_kind_name = api.map_kind(deblurrer)
        label = deblurrer.name
        restore_for = None
        tiling = deblurrer.tiling()
        rf = model_receptive_field(deblurrer.model)
        if tiling.overlap < recommended_overlap(deblurrer.model):
            warn(f"--overlap {tiling.overlap} px is below {label}'s receptive field ({rf} px); seams may show")

    paths = expand_inputs(inputs, report_once)
    if model == "deconv" and map_path.is_file() and len(paths) > 1:
        raise BlurmapError("--map is one file but several inputs were given; pass a folder of <stem>.npy maps")
    if paths:
        try:
            output.mkdir(parents=True, exist_ok=True)
        except OSError as ex:
            raise BlurmapError(f"{output}: cannot create the output folder ({ex.strerror})") from None
    protected = frozenset(p.resolve() for p in paths)
    clashes = output_clashes(paths, output, suffix=suffix, save_map=save_map)
    mine = ranks.shard(list(enumerate(paths)))
    # Inputs that matched nothing were already counted as failures; the summary counts them too.
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with progress, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="overlap .* below the model's receptive field")
        files_task = progress.add_task("files", total=len(mine))
        tiles_task = progress.add_task("tiles", total=1)

        def on_tile(i: int, n: int) -> None:
            progress.update(tiles_task, completed=i, total=n)

        if restore_for is None:
            def restore_for(path: Path):
                return lambda a: deblurrer.predict(a, on_tile=on_tile, gate=gate)

        done = deblur_files(
            mine,
            output,
            restore_for,
            report=report,
            clashes=clashes,
            on_file=lambda path: progress.update(tiles_task, completed=0, total=1, description=f"{path.name}"),
            on_done=lambda path: progress.advance(files_task),
            suffix=suffix,
            overwrite=overwrite,
            save_map=save_map,
            map_kind_name=map_kind_name,
            protected=protected,
            warn=warn,
        )

    # One batch, however many processes: the counts are summed over all of them, rank 0
    # prints the summary, and every process exits with the status of the whole batch.
    def print_summary(per_rank: list[list[int]]) -> None:
        n_done, n_failed = sum(c[0] for c in per_rank), sum(c[1] for c in per_rank)
        summary = f"deblurred {n_done} of {n_done + n_failed} input(s) with {label} into {output}"
        if ranks.distributed:
            summary += f" ({ranks.world_size} processes: {' + '.join(str(c[0]) for c in per_rank)})"
        if n_failed:
            summary += f"; {n_failed} failed"
        typer.echo(summary, err=bool(n_failed))

    per_rank = ranks.gather_counts([done, len(failures)], on_main=print_summary)
    if any(c[1] for c in per_rank):
        raise typer.Exit(1)


def _deconv_restorer(map_path: Optional[Path]):
    """For --model deconv: a per-file restore built on blurmap.deconv and the given map(s)."""
    import numpy as np

    try:
        from blurmap.deconv import deconvolve
    except ImportError:
        raise BlurmapError("the deconvolution baseline (blurmap.deconv) is not available in this install") from None

    if map_path is None:
        raise BlurmapError("--model deconv needs --map MAP.npy (or a folder of <stem>.npy maps)")
    if not map_path.exists():
        raise BlurmapError(f"{map_path}: no such map file or folder")

    def restore_for(path: Path):
        mp = map_path if map_path.is_file() else map_path / f"{path.stem}.npy"

        def restore(array):
            if not mp.is_file():
                raise BlurmapError(f"no defocus map {mp} for this input")
            try:
                coc = np.load(mp, allow_pickle=False)
            except (ValueError, OSError) as ex:
                raise BlurmapError(f"{mp}: not a readable .npy map ({ex})") from None
            coc = np.squeeze(coc).astype(np.float32)
            if coc.shape != array.shape[:2]:
                raise BlurmapError(f"map {mp} is {coc.shape[1]}x{coc.shape[0]} px, image is {array.shape[1]}x{array.shape[0]}")
            import torch

            x = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None]
            restored = deconvolve(x, torch.from_numpy(coc)[None, None])
            return {"image": restored[0].clamp(0, 1).permute(1, 2, 0).numpy(), "map": coc}

        return restore

    return restore_for, "coc", "deconvolution"

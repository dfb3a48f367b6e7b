"""``blurmap bench speed|memory|synth``: speed and memory tables (library: :mod:`blurmap.bench`).

List options take a comma-separated list or the flag repeated (``--models defocusgan,bladenet``
or ``--models defocusgan --models bladenet``): click options take a fixed number of values.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import typer

from blurmap.cli._app import app
from blurmap.errors import BlurmapError

bench = typer.Typer(help="Speed and memory tables (generators, tiled inference, data synthesis).",
                    no_args_is_help=True)
app.add_typer(bench, name="bench")

#: How the memory benchmark runs this very command in its child (`--path cli`): the bench
#: library sits below the CLI, so the CLI names its own entry point.
CLI_ENTRY = "blurmap.cli:main"
_JSON_HELP = "Also write the rows as JSON to this file."


def split_list(values: Optional[List[str]], flag: str) -> Optional[List[str]]:
    """Repeated and/or comma-separated option values -> one flat list (None if not given)."""
    if not values:
        return None
    items = [v.strip() for value in values for v in value.split(",") if v.strip()]
    if not items:
        raise BlurmapError(f"{flag} needs at least one value")
    return items


def _floats(values: List[str], flag: str) -> List[float]:
    try:
        return [float(v) for v in values]
    except ValueError:
        raise BlurmapError(f"{flag} takes numbers, got {', '.join(values)}") from None


def _emit(table: str, name: str, notes: list[str], rows: list[dict], json_out: Optional[Path], overwrite: bool,
          **meta) -> None:
    from blurmap.bench import json_safe, write_json

    typer.echo(table)
    if json_out is not None:
        payload = {"table": name, **meta, "notes": notes, "rows": json_safe(rows)}
        typer.echo(f"wrote {write_json(json_out, payload, overwrite=overwrite)}")


def _check_json(json_out: Optional[Path], overwrite: bool) -> None:
    """Refuse an existing --json file, or one in a missing folder, before measuring for minutes."""
    if json_out is None:
        return
    if json_out.exists() and not overwrite:
        raise BlurmapError(f"{json_out}: already exists (pass --overwrite to replace it)")
    if not json_out.parent.is_dir():
        raise BlurmapError(f"{json_out}: folder {json_out.parent} does not exist")


@bench.command("speed")
def speed_cmd(
    models: Optional[List[str]] = typer.Option(None, "--models",
        help="Registered model names (default: defocusgan, bladenet at paper width).",
    ),
    size: Tuple[int, int] = typer.Option((1120, 1680), "--size", help="Input H W in px."),
    precision: Optional[List[str]] = typer.Option(None, "--precision", help="fp32 and/or bf16 (default: both)."),
    repeats: int = typer.Option(3, "--repeats", help="Timed runs per row (best kept), after one warm-up."),
    raw: bool = typer.Option(False, "--raw",
        help="Time the modules as built (training form), not the inference runner blurmap deblur uses.",
    ),
    json_out: Optional[Path] = typer.Option(None, "--json", help=_JSON_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --json file."),
) -> None:
    """Generator forward time, CPU time and peak added memory per model and precision."""
    from blurmap.bench import SPEED_COLUMNS, format_table, speed_notes, speed_rows
    from blurmap.bench.speed import PRECISIONS, SECTIONS, check_speed_args

    names = split_list(models, "--models")
    precisions = split_list(precision, "--precision") or list(PRECISIONS)
    check_speed_args(names or list(SECTIONS), size, precisions, repeats)
    _check_json(json_out, overwrite)
    notes = speed_notes(size, repeats)
    rows = speed_rows(names, size, precisions, repeats,
                      on_row=lambda r: typer.echo(f"measured {r['model']} {r['precision']}", err=True), raw=raw)
    _emit(format_table(rows, SPEED_COLUMNS, notes=notes), "speed", notes, rows, json_out, overwrite,
          size=list(size), repeats=repeats)
    failed = [f"{r['model']} {r['precision']}" for r in rows if "error" in r]
    if failed:  # the table (and JSON) keep the other rows; the exit code says something failed
        raise BlurmapError(f"{len(failed)} of {len(rows)} rows failed: {', '.join(failed)}")


@bench.command("memory")
def memory_cmd(
    megapixels: Optional[List[str]] = typer.Option(None, "--megapixels", help="Image sizes in MP, 4:3 (default: 2,6,12,24)."),
    model: str = typer.Option("local", "--model", help="local (BladeNet) or defocus (DefocusGAN)."),
    weights: Optional[str] = typer.Option(None, "--weights",
        help="Weights file (default: the shipped starter, else random weights of its architecture).",
    ),
    precision: str = typer.Option("bf16", "--precision", help="fp32 or bf16."),
    tile: Optional[int] = typer.Option(None, "--tile", help="Tile size in px (default: the model's)."),
    overlap: Optional[int] = typer.Option(None, "--overlap", help="Tile overlap in px (default: the model's)."),
    path: str = typer.Option("engine", "--path",
        help="engine (Deblurrer.deblur on an array) or cli (whole `blurmap deblur` on a 16-bit PNG).",
    ),
    accuracy: bool = typer.Option(False, "--accuracy", help="Instead: tiled vs whole-image outputs on a 1024x1536 photo."),
    json_out: Optional[Path] = typer.Option(None, "--json", help=_JSON_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --json file."),
) -> None:
    """Peak RSS and seconds per megapixel of tiled inference, one fresh process per size."""
    from blurmap.bench import ACCURACY_COLUMNS, MEMORY_COLUMNS, MEMORY_FOOTER, accuracy_rows, format_table, memory_notes, memory_rows
    from blurmap.bench.memory import DEFAULT_MEGAPIXELS, check_memory_args

    sizes = _floats(split_list(megapixels, "--megapixels") or [str(m) for m in DEFAULT_MEGAPIXELS], "--megapixels")
    check_memory_args(sizes, model, precision, tile, overlap, path)
    _check_json(json_out, overwrite)
    if accuracy:
        rows, label = accuracy_rows(model, weights, precision, tile, overlap)
        notes = [label]
        _emit(format_table(rows, ACCURACY_COLUMNS, notes=notes), "accuracy", notes, rows, json_out, overwrite)
        return
    rows = memory_rows(sizes, model, weights, precision, tile, overlap, path, cli_entry=CLI_ENTRY)
    notes = memory_notes(rows, precision, path)
    _emit(format_table(rows, MEMORY_COLUMNS, notes=notes, footer=MEMORY_FOOTER), "memory", notes, rows,
          json_out, overwrite, path=path, precision=precision)


@bench.command("synth")
def synth_cmd(
    repeats: int = typer.Option(3, "--repeats", help="Timed runs per DP row (best kept), after one warm-up."),
    threads: int = typer.Option(2, "--threads", help="Torch threads for the DP rows (LBS uses one)."),
    lbs_samples: int = typer.Option(20, "--lbs-samples", help="LBS samples timed."),
    size: Tuple[int, int] = typer.Option((1120, 1680), "--size", help="DP rows: H W in px."),
    lbs_size: int = typer.Option(512, "--lbs-size", help="LBS canvas side in px."),
    json_out: Optional[Path] = typer.Option(None, "--json", help=_JSON_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --json file."),
) -> None:
    """Dual-pixel render / DP sample time and LBS samples per second."""
    from blurmap.bench import SYNTH_COLUMNS, format_table, synth_rows
    from blurmap.bench.synth import check_synth_args

    check_synth_args(size, repeats, threads, lbs_samples, lbs_size)
    _check_json(json_out, overwrite)
    rows = synth_rows(repeats, threads, lbs_samples, size, lbs_size)
    _emit(format_table(rows, SYNTH_COLUMNS), "synth", [], rows, json_out, overwrite,
          size=list(size), repeats=repeats, threads=threads)


@bench.command("quality")
def quality_cmd(
    weights: Optional[List[str]] = typer.Option(None, "--weights", help="Shipped names or .safetensors files "
                                                "(default: every shipped model)."),
    optimize: bool = typer.Option(True, "--optimize/--no-optimize", help="Also score the per-pair defocus-map fit."),
    split: str = typer.Option("both", "--split", help="in, shifted or both."),
    in_split: Optional[str] = typer.Option(None, "--in-split", help="Score the models of this split's task on it as "
                                           "their in split (e.g. new weights on a shipped model's training scenes)."),
    count: int = typer.Option(12, "--count", help="Scenes per split."),
    quick: bool = typer.Option(False, "--quick", help="2 small scenes per split (a smoke test, under a minute)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help=_JSON_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --json file."),
) -> None:
    """Quality in and out of the training distribution (fixed seeds; docs/benchmarks.md)."""
    from blurmap.bench.quality import plan_models, quality_rows, quality_tables, with_in_split

    if split not in ("in", "shifted", "both"):
        raise BlurmapError(f"--split must be in, shifted or both, got {split!r}")
    if count < 1:
        raise BlurmapError(f"--count must be >= 1, got {count}")
    _check_json(json_out, overwrite)
    plan = plan_models(split_list(weights, "--weights"), optimize)
    if in_split is not None:
        plan = with_in_split(plan, in_split)
    splits = ("in", "shifted") if split == "both" else (split,)
    rows = quality_rows(plan, count=count, quick=quick, splits=splits, on_progress=lambda s: typer.echo(s, err=True))
    _emit(quality_tables(rows), "quality", [], rows, json_out, overwrite, count=count, quick=quick)

"""``blurmap weights list`` and ``blurmap weights info W``: what weights are shipped / in a file."""

from __future__ import annotations

import json

import typer

from blurmap.cli._app import app

weights_app = typer.Typer(help="Shipped and user weights: list them, inspect one.", no_args_is_help=True)
app.add_typer(weights_app, name="weights")


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


@weights_app.command("list")
def list_command() -> None:
    """List the weights shipped with this install (and any other file in their folder)."""
    from blurmap import weights_data
    from blurmap.errors import BlurmapError

    rows = []
    listed = set()
    entries = [(e.alias, e.path, e.model, e.task) for e in weights_data.SHIPPED]
    entries += [(p.stem, p, "-", "") for p in weights_data.shipped_files()]
    for alias, path, model, task in entries:
        if path in listed:
            continue
        listed.add(path)
        if not path.is_file():
            rows.append((alias, path.name, model, "-", "-", "-", f"NOT SHIPPED in this install ({task})"))
            continue
        try:
            info = weights_data.describe(path)
        except BlurmapError as err:
            rows.append((alias, path.name, "-", "-", "-", "-", f"unreadable: {err}"))
            continue
        rows.append((alias, path.name, info["name"], f"{info['parameters']:,}", _mb(info["bytes"]),
                     info["sha256"][:12], task))
    header = ("name", "file", "model", "params", "size", "sha256", "what")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    typer.echo(f"weights folder: {weights_data.WEIGHTS_DIR}")
    for row in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths)]
        typer.echo("  ".join([*cells, str(row[-1])]).rstrip())


@weights_app.command("info")
def info_command(
    weights: str = typer.Argument(..., help="Weights file (.safetensors) or shipped name (defocus, local, ...)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Model name, config, size, sha256 and training metadata of a weights file."""
    from blurmap import weights_data
    from blurmap.api import resolve_weights

    info = weights_data.describe(resolve_weights(weights))
    if as_json:
        typer.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    typer.echo(f"file:       {info['path']}")
    typer.echo(f"model:      {info['name']}")
    typer.echo(f"config:     {json.dumps(info['config'], sort_keys=True)}")
    typer.echo(f"parameters: {info['parameters']:,} in {info['tensors']} tensors")
    typer.echo(f"size:       {_mb(info['bytes'])} ({info['bytes']:,} bytes)")
    typer.echo(f"sha256:     {info['sha256']}")
    typer.echo(f"written by: blurmap {info['blurmap_version'] or '?'}")
    if info["extra"]:
        typer.echo("metadata (from training):")
    for key, value in sorted(info["extra"].items()):
        typer.echo(f"  {key + ':':<14} {json.dumps(value) if not isinstance(value, str) else value}")

"""``blurmap demo -o DIR``: an HTML page of examples built from the bundled photos."""

from __future__ import annotations

from pathlib import Path

import typer

from blurmap.cli._app import app


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("demo-output"), "-o", "--out", help="Output folder (index.html + figures/)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the synthetic examples."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty folder that is not a previous demo."),
) -> None:
    """Synthesize dual-pixel defocus and local-blur examples and write DIR/index.html."""
    from blurmap.demo import build_demo

    index = build_demo(out, seed=seed, overwrite=overwrite)
    typer.echo(f"wrote {index}")

"""``blurmap --version``."""

from typing import Optional

import typer

from blurmap import __version__
from blurmap.cli._app import app


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"blurmap {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Blur-map-guided deblurring: defocus maps, DefocusGAN, BladeNet."""

"""The typer application every sub-command module registers on.

Each ``blurmap/cli/<job>.py`` module holds the sub-commands of one job and stays thin: it
parses arguments and calls the library. Errors a user caused are raised as
:class:`blurmap.errors.BlurmapError` and printed as one line by :func:`blurmap.cli.main`.
"""

import typer

app = typer.Typer(
    name="blurmap",
    help="Blur-map-guided deblurring: defocus maps, DefocusGAN, BladeNet.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

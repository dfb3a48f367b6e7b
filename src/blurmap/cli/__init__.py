"""The ``blurmap`` command. One module per job registers its sub-commands on ``app``."""

from __future__ import annotations

import importlib
import sys

from blurmap.cli._app import app
from blurmap.errors import BlurmapError

# Sub-command modules, imported for their registrations (order = order in --help).
_COMMAND_MODULES = [
    "blurmap.cli.version",
    "blurmap.cli.metrics",
    "blurmap.cli.local",
    "blurmap.cli.deblur",
    "blurmap.cli.export",
    "blurmap.cli.weights",
    "blurmap.cli.synth",
    "blurmap.cli.train",
    "blurmap.cli.demo",
    "blurmap.cli.eval",
    "blurmap.cli.defocus_map",
    "blurmap.cli.calibrate",
    "blurmap.cli.bench",
    "blurmap.cli.serve",
]


def _load_commands() -> None:
    for name in _COMMAND_MODULES:
        importlib.import_module(name)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code.

    A :class:`BlurmapError` becomes one line on stderr (``blurmap: error: ...``) and exit 1.
    """
    _load_commands()
    try:
        # standalone mode: click prints usage errors itself and raises SystemExit.
        app(args=argv, prog_name="blurmap")
    except SystemExit as ex:
        return ex.code if isinstance(ex.code, int) else (0 if ex.code is None else 1)
    except BlurmapError as err:
        print(f"blurmap: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("blurmap: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Speed and memory tables (``blurmap bench speed|memory|synth``).

Each table is a function returning its rows (a list of dicts of plain numbers and strings,
what ``--json`` writes) and a list of :class:`~blurmap.bench.table.Column` for
:func:`~blurmap.bench.table.format_table`:

- :func:`speed_rows` / ``SPEED_COLUMNS``: generator forward time and peak RSS per model and
  precision, each row in a fresh process;
- :func:`memory_rows` / ``MEMORY_COLUMNS``: peak RSS and s/MP of tiled inference per image
  size, each size in a fresh process; :func:`accuracy_rows`: tiled vs whole-image outputs;
- :func:`synth_rows` / ``SYNTH_COLUMNS``: dual-pixel render and LBS sample speed.

The scripts in ``benchmarks/`` are thin wrappers around these. Heavy imports (torch, the
models) happen inside the functions, so importing this package is cheap.

Example:
    >>> from blurmap.bench import format_table, Column
    >>> print(format_table([{"model": "a", "seconds": 1.5}], [Column("model", "model", align="<"),
    ...                                                        Column("seconds", "time (s)", ".2f")]))
    model  time (s)
    -----  --------
    a          1.50
"""

from blurmap.bench.memory import ACCURACY_COLUMNS, MEMORY_COLUMNS, MEMORY_FOOTER, accuracy_rows, memory_notes, memory_rows
from blurmap.bench.speed import SECTIONS, SPEED_COLUMNS, speed_notes, speed_rows
from blurmap.bench.synth import SYNTH_COLUMNS, synth_rows
from blurmap.bench.table import Column, format_table, write_json
from blurmap.files import json_safe

__all__ = [
    "ACCURACY_COLUMNS", "MEMORY_COLUMNS", "MEMORY_FOOTER", "SECTIONS", "SPEED_COLUMNS", "SYNTH_COLUMNS",
    "Column", "accuracy_rows", "format_table", "json_safe", "memory_notes", "memory_rows",
    "speed_notes", "speed_rows", "synth_rows", "write_json",
]

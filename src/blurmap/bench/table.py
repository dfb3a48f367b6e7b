"""Plain-text tables and JSON files for the benchmark rows.

Every benchmark returns its rows as a list of dicts of plain numbers and strings (what
``--json`` writes); a table is a list of :class:`Column` saying how to show each key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

from blurmap.errors import BlurmapError
from blurmap.files import write_json_atomic

Cell = Union[str, Callable[[dict], str]]


@dataclass(frozen=True)
class Column:
    """One column of a printed table.

    Args:
        key: the row key shown (also used for a missing-value check).
        header: column title.
        fmt: a format spec for ``format(row[key], fmt)`` (e.g. ``".2f"``), or a function
            ``row -> str`` for cells that combine keys (a value and its unit).
        align: ``"<"`` (text) or ``">"`` (numbers).
    """

    key: str
    header: str
    fmt: Cell = ""
    align: str = ">"

    def cell(self, row: dict) -> str:
        """The text of this column for ``row`` (``-`` when the key is absent)."""
        if callable(self.fmt):
            return self.fmt(row)
        if self.key not in row or row[self.key] is None:
            return "-"
        return format(row[self.key], self.fmt)


def format_table(rows: list[dict], columns: list[Column], *, notes: list[str] = (), footer: list[str] = ()) -> str:
    """Render rows as an aligned plain-text table.

    Layout: the ``notes`` lines, a header line, a line of dashes, one line per row, then the
    ``footer`` lines. Columns are as wide as their widest cell or header and separated by two
    spaces; trailing spaces are stripped. A row holding an ``"error"`` key shows the text
    cells it has and ``failed: <error>`` in place of its numbers.

    Args:
        rows: the measured rows (dicts).
        columns: how to show them.
        notes: lines printed above the table (conditions of the measurement).
        footer: lines printed below it (how to read the columns).

    Returns:
        The table as one string without a final newline.
    """
    ok = [row for row in rows if "error" not in row]
    widths = [max([len(c.header)] + [len(c.cell(row)) for row in ok]) for c in columns]
    for row in rows:  # the text cells (model, precision) of failed rows need room too
        if "error" in row:
            widths = [max(w, len(row[c.key])) if _is_text(row, c) else w for w, c in zip(widths, columns)]

    def line(values: list[str]) -> str:
        return "  ".join(f"{v:{c.align}{w}}" for v, c, w in zip(values, columns, widths)).rstrip()

    out = list(notes)
    out.append(line([c.header for c in columns]))
    out.append("  ".join("-" * w for w in widths))
    for row in rows:
        if "error" in row:
            lead = [f"{row[c.key]:{c.align}{w}}" for c, w in zip(columns, widths) if _is_text(row, c)]
            out.append("  ".join([*lead, f"failed: {row['error']}"]))
        else:
            out.append(line([c.cell(row) for c in columns]))
    out.extend(footer)
    return "\n".join(out)


def _is_text(row: dict, column: Column) -> bool:
    return not callable(column.fmt) and isinstance(row.get(column.key), str)


def write_json(path: str | os.PathLike, payload: dict, *, overwrite: bool = False) -> Path:
    """Write ``payload`` as indented JSON, atomically (:func:`blurmap.files.write_json_atomic`).

    Args:
        path: destination file.
        payload: dict (``{"table": ..., "notes": [...], "rows": [...]}``); non-finite floats are
            written as :func:`blurmap.files.json_safe` does (``"inf"``, NaN as null).
        overwrite: replace an existing file; otherwise an existing file is an error.

    Returns:
        The path written.

    Raises:
        BlurmapError: the file exists (and ``overwrite`` is false) or its folder does not.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise BlurmapError(f"{path}: already exists (pass --overwrite to replace it)")
    if not path.parent.is_dir():
        raise BlurmapError(f"{path}: folder {path.parent} does not exist")
    return write_json_atomic(path, payload)

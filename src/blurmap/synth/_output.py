"""All-or-nothing output folders for the generators, and their JSON manifests."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from blurmap.errors import BlurmapError


def check_output_dir(out: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse a file, or a non-empty folder unless ``overwrite`` (before any work is done)."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise BlurmapError(f"{out}: output exists and is not a folder")
        if any(out.iterdir()) and not overwrite:
            raise BlurmapError(f"{out}: output folder exists and is not empty (pass --overwrite to replace it)")
    return out


@contextmanager
def staged_output(out: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temp folder next to ``out``; on success it replaces ``out`` in one rename.

    On any exception the temp folder is deleted and ``out`` is left as it was, so a failed
    run never leaves a partial dataset. An existing ``out`` is only replaced when it is empty
    or ``overwrite`` is set.

    Raises:
        BlurmapError: ``out`` is a file, or a non-empty folder without ``overwrite``.
    """
    out = check_output_dir(out, overwrite)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    except OSError as ex:
        raise BlurmapError(f"{out}: cannot create output folder ({ex.strerror or ex})") from None
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(out, old)
    os.rename(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_manifest(folder: Path, manifest: dict) -> None:
    """Write ``manifest.json`` (sorted keys, no timestamps: same seed -> same bytes)."""
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")

"""Writing files safely: atomic replacement and JSON without NaN/Infinity.

Every writer in blurmap goes through here, so a crash or a full disk never leaves a
half-written output behind: the content goes to a temporary file in the destination's own
folder (same file system), is flushed to disk, and is renamed over the destination in one
step.

JSON has no NaN or Infinity. :func:`json_safe` writes ``+inf`` / ``-inf`` as the strings
``"inf"`` / ``"-inf"`` (a PSNR of identical images is infinite, and that is information worth
keeping) and NaN as ``null`` (an undefined value, e.g. a metric over an empty mask).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from blurmap.errors import ImageWriteError

__all__ = ["write_bytes_atomic", "write_text_atomic", "write_json_atomic", "atomic_destination", "json_safe"]


def _first_line(ex: BaseException) -> str:
    text = str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__
    return text[:160]


def _check_destination(p: Path, overwrite: bool) -> Path:
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise ImageWriteError(f"{p}: output folder {folder} does not exist")
    if p.is_dir():
        raise ImageWriteError(f"{p}: is a folder")
    if not overwrite and p.exists():
        raise ImageWriteError(f"{p}: already exists (refusing to overwrite)")
    return folder


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not every file system lets a folder be opened.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _publish(tmp: str, p: Path, folder: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
    os.replace(tmp, p)
    _fsync_folder(folder)


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename).

    Args:
        path: destination; its folder must exist.
        data: the complete file content.
        overwrite: if False, refuse when ``path`` already exists.

    Raises:
        ImageWriteError: folder missing, destination exists (``overwrite=False``), or an OS
            error; the destination is then untouched and no temp file is left behind.
    """
    p = Path(path)
    folder = _check_destination(p, overwrite)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{p.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, p, folder)
        tmp = None
    except OSError as ex:
        raise ImageWriteError(f"{p}: cannot write ({ex.strerror or _first_line(ex)})") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_text_atomic(path: str | os.PathLike, text: str, *, overwrite: bool = True) -> None:
    """:func:`write_bytes_atomic` of ``text`` encoded as UTF-8."""
    write_bytes_atomic(path, text.encode("utf-8"), overwrite=overwrite)


def json_safe(value: Any) -> Any:
    """A copy of ``value`` that standard JSON can hold, at any depth.

    ``+inf``/``-inf`` become ``"inf"``/``"-inf"``, NaN becomes ``None``, numpy scalars become
    Python numbers; dicts, lists and tuples (as lists) are copied recursively.

    >>> json_safe({"psnr": float("inf"), "rows": [float("nan"), 1.5]})
    {'psnr': 'inf', 'rows': [None, 1.5]}
    """
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # numpy / torch scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json_atomic(path: str | os.PathLike, obj: Any, *, overwrite: bool = True, indent: int = 2) -> Path:
    """Write ``json_safe(obj)`` as indented JSON (plus a newline), atomically.

    Raises:
        ImageWriteError: as :func:`write_bytes_atomic`.
    """
    text = json.dumps(json_safe(obj), indent=indent, allow_nan=False) + "\n"
    write_text_atomic(path, text, overwrite=overwrite)
    return Path(path)


@contextlib.contextmanager
def atomic_destination(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """A temporary path to write ``path``'s content to, renamed over ``path`` on success.

    For writers that want a file name rather than bytes (``np.save``, ``savefig``,
    safetensors, the ONNX exporter). The temporary file sits in the same folder and keeps the
    destination's extension (some writers pick the format from it). When the block raises,
    the temporary file is removed and ``path`` is untouched.

    Raises:
        ImageWriteError: folder missing, or destination exists (``overwrite=False``).
    """
    p = Path(path)
    folder = _check_destination(p, overwrite)
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{p.stem}.", suffix=f".tmp{p.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        _publish(name, p, folder)
    finally:
        tmp.unlink(missing_ok=True)

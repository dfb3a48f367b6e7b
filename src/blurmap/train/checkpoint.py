"""Training checkpoints: atomic writes, sha256 sidecars, keep-last-K, fall back on corruption.

Layout: ``RUN/checkpoints/step_00000050.pt`` (a ``torch.save`` dict of tensors and plain
python values, loadable with ``weights_only=True``) and ``step_00000050.pt.sha256`` (hex
digest of the .pt file). Both are written to a temporary name, fsync'ed and renamed, the
sidecar last, so a checkpoint without a matching sidecar is incomplete or corrupt.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from pathlib import Path
from typing import Any, Optional

import torch

from blurmap.files import write_bytes_atomic

_NAME = re.compile(r"^step_(\d{8,})\.pt$")


class CheckpointWarning(UserWarning):
    """A checkpoint was skipped (corrupt, truncated, or without checksum)."""


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def save_checkpoint(run_dir: str | Path, step: int, state: dict, keep: int) -> Path:
    """Write ``state`` as the checkpoint of ``step`` and delete all but the newest ``keep``.

    Returns:
        Path of the .pt file.
    """
    folder = checkpoint_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    path = folder / f"step_{step:08d}.pt"
    write_bytes_atomic(path, data)
    write_bytes_atomic(path.with_name(path.name + ".sha256"), (hashlib.sha256(data).hexdigest() + "\n").encode())
    for old in list_checkpoints(run_dir)[:-keep]:
        for p in (old, old.with_name(old.name + ".sha256")):
            p.unlink(missing_ok=True)
    return path


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoint files of a run, oldest first."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def verify_checkpoint(path: Path) -> Optional[str]:
    """None if ``path`` matches its sha256 sidecar, else the reason it does not."""
    side = path.with_name(path.name + ".sha256")
    try:
        expected = side.read_text().strip()
    except OSError:
        return "its .sha256 checksum file is missing"
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        return "checksum mismatch (truncated or corrupt)"
    return None


def load_checkpoint(path: str | Path) -> dict:
    """Load one checkpoint (no checksum test) on CPU with ``weights_only=True``."""
    return torch.load(path, map_location="cpu", weights_only=True)


def load_latest_checkpoint(run_dir: str | Path) -> tuple[Optional[Path], Optional[dict]]:
    """The newest valid checkpoint of a run.

    Invalid ones (checksum mismatch, missing sidecar, unreadable) are skipped with a
    :class:`CheckpointWarning` naming the file, and the previous one is tried.

    Returns:
        ``(path, state)``, or ``(None, None)`` if the run has no valid checkpoint.
    """
    for path in reversed(list_checkpoints(run_dir)):
        reason = verify_checkpoint(path)
        state: Any = None
        if reason is None:
            try:
                state = load_checkpoint(path)
            except Exception as ex:  # a valid checksum but unreadable content
                reason = f"cannot be loaded ({type(ex).__name__})"
        if reason is None:
            return path, state
        warnings.warn(CheckpointWarning(f"checkpoint {path} is unusable: {reason}; trying the previous one"), stacklevel=2)
    return None, None

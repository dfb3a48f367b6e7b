"""Run one measurement in a fresh Python process: ``python -m blurmap.bench._child KIND JOB``.

Peak resident memory (``ru_maxrss``) only ever grows, so each row of the speed and memory
tables is measured in its own process. The parent (:func:`run_in_child`) starts
``sys.executable -m blurmap.bench._child`` with the job as a JSON argument; the child calls
the measuring function named by ``KIND`` and prints its result as the last line of stdout.

Why a ``-m`` subprocess rather than ``multiprocessing`` (spawn):

- the child imports only this module and the measuring function (python + torch + blurmap),
  never the caller's ``__main__`` (spawn re-imports it: the ``blurmap`` CLI, pytest, a
  notebook or a ``python -c`` one-liner), so the "RSS before" baseline is the same whoever
  calls, and the same as the old scripts measured;
- it works from any caller, including interactive ones whose ``__main__`` spawn cannot import;
- a child killed by the OOM killer or crashing inside oneDNN is a return code and a stderr
  line for the parent, not a hung pool or a ``BrokenProcessPool``;
- ``PYTHONPATH`` is set to the folder holding the parent's ``blurmap`` package, so the
  child measures the same copy of the code as the parent imported (a checkout or an install).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

from blurmap.errors import BlurmapError


class BenchChildError(BlurmapError):
    """A measuring child process failed; ``reason`` is the last line of its stderr."""

    def __init__(self, kind: str, reason: str):
        self.reason = reason
        super().__init__(f"benchmark child ({kind}) failed: {reason}")

#: KIND -> "module:function" measured in the child; the function takes the job's keys.
MEASURES = {
    "speed": "blurmap.bench.speed:measure_speed",
    "memory": "blurmap.bench.memory:measure_memory",
}


def _package_root() -> str:
    import blurmap

    return str(Path(blurmap.__file__).resolve().parent.parent)


def run_in_child(kind: str, job: dict) -> dict:
    """Measure ``job`` with ``MEASURES[kind]`` in a fresh process and return its result.

    Args:
        kind: a key of :data:`MEASURES`.
        job: JSON-serialisable keyword arguments of the measuring function.

    Returns:
        The dict the measuring function returned.

    Raises:
        BenchChildError: the child failed; ``reason`` is the last line of its stderr.
    """
    if kind not in MEASURES:
        raise ValueError(f"unknown measurement {kind!r}")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(), env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "blurmap.bench._child", kind, json.dumps(job)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        err = out.stderr.strip().splitlines()
        reason = err[-1] if err else f"exit code {out.returncode}"
        if out.returncode < 0:
            reason = f"killed by signal {-out.returncode} ({reason})"
        raise BenchChildError(kind, reason)
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    """Child side: ``KIND JOB_JSON`` -> the result as one JSON line on stdout."""
    kind, job = (argv if argv is not None else sys.argv[1:])
    module, func = MEASURES[kind].split(":")
    try:
        result = getattr(importlib.import_module(module), func)(**json.loads(job))
    except BlurmapError as err:  # one line for the parent, no traceback
        print(err, file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

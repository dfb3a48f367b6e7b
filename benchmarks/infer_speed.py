"""Inference speed and peak memory of the restoration generators on CPU.

Thin wrapper around :mod:`blurmap.bench.speed` (the same table as ``blurmap bench speed``).
Prints one table row per (model, precision): parameters, best-of-N wall time, the CPU time
of that run (on a shared machine wall time stretches with the load; ``cpu / threads`` is
what a quiet machine would take) and the peak resident memory added by the forward pass,
at 1120x1680 (a DPDD frame) by default. The load average is printed first.
Each row runs in a fresh subprocess so the peak RSS of one row does not hide the next.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/infer_speed.py [--size 1120 1680] [--repeats 3]
        [--models defocusgan ...] [--precisions fp32 bf16]

Targets (the project's inference-speed goals, 2-core CPU, 1120x1680): DefocusGAN fp32 <= 9 s, bf16 <= 3 s, peak <= 2 GB
(official implementation: 45 s / 9.4 GB). Models benched by default: ``SECTIONS`` in
``src/blurmap/bench/speed.py``.
"""

from __future__ import annotations

import argparse
import sys

from blurmap.bench import SECTIONS, SPEED_COLUMNS, format_table, speed_notes, speed_rows
from blurmap.errors import BlurmapError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, nargs=2, default=(1120, 1680), metavar=("H", "W"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", nargs="*", default=list(SECTIONS))
    ap.add_argument("--precisions", nargs="*", default=["fp32", "bf16"])
    args = ap.parse_args(argv)
    try:
        notes = speed_notes(args.size, args.repeats)
        rows = speed_rows(args.models, tuple(args.size), args.precisions, args.repeats)
    except BlurmapError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(format_table(rows, SPEED_COLUMNS, notes=notes))
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed of the data generators (against the project's data-synthesis speed goals).

Thin wrapper around :mod:`blurmap.bench.synth` (the same table as ``blurmap bench synth``).

Rows:
- ``dp render``: one 1680x1120 dual-pixel triplet (left, right, combined) with
  ``render_dual_pixel`` whose CoC spans the full ``[-25, 25]`` px range, at 32 layers and at
  the renderer's default (layer spacing <= 1 px, ~50 layers), for a ``layers`` scene (fronto-
  parallel planes) and a ``ramp`` scene (one tilted plane: every CoC layer is a band across
  the whole image, the renderer's worst case). Target <= 3 s on the 2-core CPU (2 threads).
- ``dp sample``: the whole generator step for that size (resize, scene depth, CoC, render).
- ``lbs 512``: ``LocalBlurDataset`` samples/s at 512x512 with ``torch.set_num_threads(1)``
  (one data-loader worker). Target >= 5/s.

Best of ``--repeats`` wall times (first call excluded as warm-up), with the process CPU time
of that run: on a box shared with other jobs the wall time is inflated, the CPU time is not
(with 2 threads, wall >= CPU / 2 on an idle machine).

    .venv/bin/python benchmarks/synth_speed.py [--repeats 3] [--threads 2] [--lbs-samples 20]
"""

from __future__ import annotations

import argparse
import sys

from blurmap.bench import SYNTH_COLUMNS, format_table, synth_rows
from blurmap.errors import BlurmapError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the DP rows")
    ap.add_argument("--lbs-samples", type=int, default=20)
    args = ap.parse_args(argv)
    try:
        rows = synth_rows(args.repeats, args.threads, args.lbs_samples)
    except BlurmapError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(format_table(rows, SYNTH_COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())

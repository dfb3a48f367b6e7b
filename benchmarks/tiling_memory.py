"""Peak memory and speed of tiled inference against image size (blurmap.infer).

Thin wrapper around :mod:`blurmap.bench.memory` (the same table as ``blurmap bench memory``).
Each size runs in a fresh subprocess (so peaks do not carry over), which builds the model,
makes a random HxWx3 float32 image (4:3), deblurs it with ``Deblurrer.deblur`` and reports
its own peak RSS (``ru_maxrss``) and the inference time. Target: peak RSS flat in image size
apart from the image-sized buffers (input + output, 24 B/px), <= 3 GB at 24 MP.

``--accuracy`` instead compares the default tiling with a single whole-image tile on a bundled
photo resized to 1024 x 1536 (PSNR and max |difference| between the two outputs).

``--path cli`` measures the whole ``blurmap deblur`` command instead (read a 16-bit PNG,
deblur, write a 16-bit PNG), including the image I/O buffers.

Usage:
    OMP_NUM_THREADS=2 python benchmarks/tiling_memory.py [--model local|defocus] [--weights W]
        [--precision fp32|bf16] [--sizes 2 6 12 24] [--tile N] [--overlap N] [--path engine|cli]

Without --weights the shipped starter weights of --model are used when present; otherwise a
network of the starter architecture with random weights (speed and memory do not depend on
the values). The table goes to stdout.
"""

from __future__ import annotations

import argparse
import sys

from blurmap.bench import ACCURACY_COLUMNS, MEMORY_COLUMNS, MEMORY_FOOTER, accuracy_rows, format_table, memory_notes, memory_rows
from blurmap.bench.memory import FALLBACK
from blurmap.errors import BlurmapError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(FALLBACK), default="local")
    p.add_argument("--weights", default=None)
    p.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    p.add_argument("--sizes", type=float, nargs="+", default=[2, 6, 12, 24], help="megapixels")
    p.add_argument("--tile", type=int, default=None)
    p.add_argument("--overlap", type=int, default=None)
    p.add_argument("--path", choices=["engine", "cli"], default="engine")
    p.add_argument("--accuracy", action="store_true", help="tiled vs whole-image agreement instead")
    args = p.parse_args(argv)
    try:
        if args.accuracy:
            rows, label = accuracy_rows(args.model, args.weights, args.precision, args.tile, args.overlap)
            print(format_table(rows, ACCURACY_COLUMNS, notes=[label]))
            return 0
        rows = memory_rows(args.sizes, args.model, args.weights, args.precision, args.tile, args.overlap, args.path,
                           cli_entry="blurmap.cli:main")
    except BlurmapError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(format_table(rows, MEMORY_COLUMNS, notes=memory_notes(rows, args.precision, args.path), footer=MEMORY_FOOTER))
    return 0


if __name__ == "__main__":
    sys.exit(main())

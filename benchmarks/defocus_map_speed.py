"""Per-pair defocus-map speed at DPDD size (goal: ``--optimize`` <= 120 s at 1680x1120).

Rows: ``optimize`` (``blurmap.fit.optimize_defocus_map`` with its defaults, the
code path of ``blurmap defocus-map --optimize``) and, if ``--weights`` is given, the trained
net. Input: one synthetic DP pair rendered from a bundled photo at ``--size``. Prints the wall
time and the process CPU time of the run (on a box shared with other jobs the wall time is
inflated; the CPU time is not), and the map's MAE of |CoC| against the ground truth.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/defocus_map_speed.py [--size 1120x1680] [--weights defocus-map|W]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="1120x1680", help="HxW")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--weights")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from blurmap.fit import optimize_defocus_map
    from blurmap.synth.bundled import bundled_image
    from blurmap.synth.dp import DPConfig, make_dp_sample

    h, w = (int(v) for v in args.size.lower().split("x"))
    s = make_dp_sample(bundled_image("chelsea"), np.random.default_rng(7), (h, w), DPConfig(max_coc=20.0))
    left = torch.from_numpy(s["left"].transpose(2, 0, 1).copy())[None]
    right = torch.from_numpy(s["right"].transpose(2, 0, 1).copy())[None]
    rows = []

    def timed(name, fn):
        t, c = time.time(), _cpu()
        coc = fn()[0, 0].numpy()
        rows.append((name, time.time() - t, _cpu() - c, np.abs(np.abs(coc) - np.abs(s["coc"])).mean()))

    timed("optimize", lambda: optimize_defocus_map(left, right, steps=args.steps))
    if args.weights:
        from blurmap.api import estimate_defocus_map

        # the code path of `blurmap defocus-map --weights` (tiled, whatever the image size)
        timed("net (tiled)", lambda: estimate_defocus_map(left, right, weights=args.weights))
    print(f"{w}x{h} pair ({s['info']['scene']}, peak |CoC| {s['info']['peak_coc']:.1f} px), {args.threads} thread(s)")
    print("| method | wall s | CPU s | MAE |CoC| px (all pixels) |")
    print("|---|---|---|---|")
    for name, wall, cpu, err in rows:
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {err:.2f} |")


if __name__ == "__main__":
    main()

"""Speed of the data generators (issue 3 targets).

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
import time

import numpy as np
import torch


def _best(fn, repeats: int) -> tuple[float, float]:
    """Best wall time and the CPU time of that run (CPU time is robust to other load)."""
    fn()  # warm-up (kernel caches, imports)
    best = (float("inf"), 0.0)
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - t, time.process_time() - c))
    return best


def _dp_inputs(kind: str = "layers", H: int = 1120, W: int = 1680, max_coc: float = 25.0):
    import cv2

    from blurmap.synth.bundled import bundled_image
    from blurmap.synth.dp import random_inverse_depth

    img = cv2.resize(bundled_image("chelsea"), (W, H), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    u = random_inverse_depth(np.random.default_rng(0), img, kind)
    # focal plane in the middle of the depth range, |CoC| spanning the full [-25, 25] px
    mid = 0.5 * (u.max() + u.min())
    coc = (u - mid) / (0.5 * (u.max() - u.min())) * -max_coc
    aif = torch.from_numpy(img.transpose(2, 0, 1).copy())[None]
    return aif, torch.from_numpy(coc.astype(np.float32))[None, None], img


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the DP rows")
    ap.add_argument("--lbs-samples", type=int, default=20)
    args = ap.parse_args()

    from blurmap.physics.defocus import render_dual_pixel
    from blurmap.synth.dp import DPConfig, make_dp_sample
    from blurmap.synth.local import LocalBlurDataset

    rows = []
    torch.set_num_threads(args.threads)
    for kind in ("layers", "ramp"):
        aif, coc, img = _dp_inputs(kind)
        span = f"{kind} scene, CoC [{coc.min():.1f}, {coc.max():.1f}] px"
        for layers in (32, None):
            with torch.no_grad():
                t, c = _best(lambda: render_dual_pixel(aif, coc, num_layers=layers, max_radius=25.0), args.repeats)
            label = f"{layers} layers" if layers else "default layers (<=1 px)"
            rows.append((f"dp render 1680x1120, {label}", f"{args.threads} thr", f"{t:.2f} s", f"{c:.2f} s", "<= 3 s", span))
    rng_seed = iter(range(10**6))
    t, c = _best(lambda: make_dp_sample(img, np.random.default_rng(next(rng_seed)), None, DPConfig()), args.repeats)
    rows.append(("dp sample 1680x1120 (scene + render)", f"{args.threads} thr", f"{t:.2f} s", f"{c:.2f} s", "-", "random scene, peak 10-25 px"))

    torch.set_num_threads(1)
    ds = LocalBlurDataset(size=512, length=10**6, seed=0)
    ds[0]
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(1, args.lbs_samples + 1):
        ds[i]
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    n = args.lbs_samples
    rows.append(("lbs LocalBlurDataset 512x512", "1 thr", f"{n / dt:.1f} samples/s", f"{n / dc:.1f} samples/s", ">= 5/s", f"{n} samples"))

    head = ("case", "threads", "wall", "per CPU time", "target", "note")
    w = [max(len(r[i]) for r in rows) for i in range(len(head))]
    w = [max(a, len(b)) for a, b in zip(w, head)]
    fmt = "  ".join(f"{{:<{n}}}" for n in w)
    print(fmt.format(*head))
    print("  ".join("-" * n for n in w))
    for r in rows:
        print(fmt.format(*r))


if __name__ == "__main__":
    main()

"""Speed of the data generators (``blurmap bench synth``).

Rows:

- ``dp render``: one dual-pixel triplet (left, right, combined) at 1680x1120 by default, with
  :func:`blurmap.physics.defocus.render_dual_pixel` whose CoC spans the full ``[-25, 25]`` px
  range, at 32 layers and at the renderer's default (layer spacing <= 1 px, ~50 layers), for
  a ``layers`` scene (fronto-parallel planes) and a ``ramp`` scene (one tilted plane: every
  CoC layer is a band across the whole image, the renderer's worst case). Target <= 3 s on
  the 2-core CPU (2 threads).
- ``dp sample``: the whole generator step for that size (resize, scene depth, CoC, render).
- ``lbs``: ``LocalBlurDataset`` samples/s at 512x512 with one torch thread (one data-loader
  worker). Target >= 5/s.
- ``dp procedural scene`` / ``local procedural sample``: :func:`procedural_rows`, the procedural
  training data on one thread (targets >= 5 DP scenes/s at 256x256, >= 2 local samples/s at 512x512).

Best of ``repeats`` wall times (first call excluded as warm-up), with the process CPU time of
that run: on a box shared with other jobs the wall time is inflated, the CPU time is not
(with 2 threads, wall >= CPU / 2 on an idle machine). Runs in the calling process; the torch
thread count is restored afterwards.
"""

from __future__ import annotations

import time

from blurmap.bench.table import Column
from blurmap.errors import BlurmapError

DEFAULT_SIZE = (1120, 1680)
MAX_COC = 25.0


def _value(key: str):
    return lambda r: f"{r[key]:.2f} {r['unit']}" if r["unit"] == "s" else f"{r[key]:.1f} {r['unit']}"


SYNTH_COLUMNS = [
    Column("case", "case", align="<"),
    Column("threads", "threads", lambda r: f"{r['threads']} thr", align="<"),
    Column("wall", "wall", _value("wall"), align="<"),
    Column("per_cpu", "per CPU time", _value("per_cpu"), align="<"),
    Column("target", "target", align="<"),
    Column("note", "note", align="<"),
]


def _best(fn, repeats: int) -> tuple[float, float]:
    """Best wall time and the CPU time of that run (CPU time is robust to other load)."""
    fn()  # warm-up (kernel caches, imports)
    best = (float("inf"), 0.0)
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - t, time.process_time() - c))
    return best


def dp_inputs(kind: str = "layers", height: int = 1120, width: int = 1680, max_coc: float = MAX_COC):
    """A bundled photo resized to ``(height, width)`` and a CoC map spanning ``[-max_coc, max_coc]`` px.

    Returns:
        ``(aif (1,3,H,W), coc (1,1,H,W) signed px, image HxWx3 float32)``; the focal plane is
        in the middle of the scene's inverse-depth range.
    """
    import cv2
    import numpy as np
    import torch

    from blurmap.synth.bundled import bundled_image
    from blurmap.synth.dp import random_inverse_depth

    img = cv2.resize(bundled_image("chelsea"), (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    u = random_inverse_depth(np.random.default_rng(0), img, kind)
    mid = 0.5 * (u.max() + u.min())
    coc = (u - mid) / (0.5 * (u.max() - u.min())) * -max_coc
    aif = torch.from_numpy(img.transpose(2, 0, 1).copy())[None]
    return aif, torch.from_numpy(coc.astype(np.float32))[None, None], img


def check_synth_args(size: tuple[int, int], repeats: int, threads: int, lbs_samples: int, lbs_size: int) -> None:
    """Refuse bad arguments with one line.

    Raises:
        BlurmapError: a side under 16 px, or a count under 1.
    """
    if min(size) < 16:
        raise BlurmapError(f"--size must be at least 16 16 (H W), got {size[0]} {size[1]}")
    if lbs_size < 16:
        raise BlurmapError(f"--lbs-size must be at least 16, got {lbs_size}")
    for flag, value in (("--repeats", repeats), ("--threads", threads), ("--lbs-samples", lbs_samples)):
        if value < 1:
            raise BlurmapError(f"{flag} must be at least 1, got {value}")


def synth_rows(
    repeats: int = 3,
    threads: int = 2,
    lbs_samples: int = 20,
    size: tuple[int, int] = DEFAULT_SIZE,
    lbs_size: int = 512,
) -> list[dict]:
    """Time the DP renderer, the DP sample generator and the LBS dataset.

    Args:
        repeats: timed runs per DP row (best kept) after one warm-up.
        threads: torch threads for the DP rows (the LBS row always uses one).
        lbs_samples: LBS samples timed (after one warm-up sample).
        size: ``(H, W)`` of the DP rows in px.
        lbs_size: side of the square LBS canvas in px.

    Returns:
        Rows ``{"case", "threads", "wall", "per_cpu", "unit", "target", "note"}`` (``target``
        is shown at the default sizes only): for the DP rows
        ``wall`` / ``per_cpu`` are seconds (best wall time, CPU time of that run; ``unit="s"``),
        for the LBS row samples per wall second and per CPU second (``unit="samples/s"``).
    """
    import numpy as np
    import torch

    from blurmap.physics.defocus import render_dual_pixel
    from blurmap.synth.dp import DPConfig, make_dp_sample
    from blurmap.synth.local import LocalBlurDataset

    h, w = int(size[0]), int(size[1])
    check_synth_args((h, w), repeats, threads, lbs_samples, lbs_size)
    # the targets are for these sizes only; elsewhere the rows show no target
    dp_target = "<= 3 s" if (h, w) == DEFAULT_SIZE else "-"
    lbs_target = ">= 5/s" if lbs_size == 512 else "-"
    saved_threads = torch.get_num_threads()
    rows = []
    try:
        torch.set_num_threads(threads)
        for kind in ("layers", "ramp"):
            aif, coc, img = dp_inputs(kind, h, w)
            span = f"{kind} scene, CoC [{coc.min():.1f}, {coc.max():.1f}] px"
            for layers in (32, None):
                with torch.no_grad():
                    t, c = _best(lambda n=layers: render_dual_pixel(aif, coc, num_layers=n, max_radius=MAX_COC), repeats)  # noqa: B023 (called at once)
                label = f"{layers} layers" if layers else "default layers (<=1 px)"
                rows.append({"case": f"dp render {w}x{h}, {label}", "threads": threads, "wall": t, "per_cpu": c,
                             "unit": "s", "target": dp_target, "note": span})
        seeds = iter(range(10**6))
        t, c = _best(lambda: make_dp_sample(img, np.random.default_rng(next(seeds)), None, DPConfig()), repeats)
        rows.append({"case": f"dp sample {w}x{h} (scene + render)", "threads": threads, "wall": t, "per_cpu": c,
                     "unit": "s", "target": "-", "note": "random scene, peak 10-25 px"})

        torch.set_num_threads(1)
        ds = LocalBlurDataset(size=lbs_size, length=10**6, seed=0)
        ds[0]  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(1, lbs_samples + 1):
            ds[i]
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        rows.append({"case": f"lbs LocalBlurDataset {lbs_size}x{lbs_size}", "threads": 1,
                     "wall": lbs_samples / dt, "per_cpu": lbs_samples / max(dc, 1e-9), "unit": "samples/s",
                     "target": lbs_target, "note": f"{lbs_samples} samples"})
        rows += procedural_rows(lbs_samples, lbs_size, 256 if (h, w) == DEFAULT_SIZE else min(h, w))
    finally:
        torch.set_num_threads(saved_threads)
    return rows


def procedural_rows(samples: int = 20, local_size: int = 512, dp_size: int = 256) -> list[dict]:
    """Procedural training data speed on one thread: DP scenes (scene, depth, CoC, render with a
    random PSF) at ``dp_size``^2 and local-blur samples (procedural backgrounds and objects, 0-60 px
    motion, camera effects) at ``local_size``^2, per wall and per CPU second.

    Targets (at the default sizes): >= 5 DP scenes/s and >= 2 local samples/s, so data never
    limits CPU training.
    """
    import torch

    from blurmap.bench.quality import PROCEDURAL_DP_OPTIONS, PROCEDURAL_LOCAL_OPTIONS
    from blurmap.synth.dp_dataset import SyntheticDPDataset
    from blurmap.synth.local import LocalBlurConfig, LocalBlurDataset, local_config

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = []
    try:
        dp = SyntheticDPDataset(None, 10**6, dp_size, 25.0, seed=1, source="procedural", scene_options=PROCEDURAL_DP_OPTIONS)
        cfg, proc = local_config(LocalBlurConfig(), PROCEDURAL_LOCAL_OPTIONS)
        local = LocalBlurDataset(local_size, 10**6, 1, "procedural", "procedural", cfg, proc)
        for name, ds, size, target in (("dp procedural scene", dp, dp_size, ">= 5/s" if dp_size == 256 else "-"),
                                       ("local procedural sample", local, local_size,
                                        ">= 2/s" if local_size == 512 else "-")):
            ds[0]  # warm-up
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(1, samples + 1):
                ds[i]
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            rows.append({"case": f"{name} {size}x{size}", "threads": 1, "wall": samples / dt,
                         "per_cpu": samples / max(dc, 1e-9), "unit": "samples/s", "target": target,
                         "note": f"{samples} samples"})
    finally:
        torch.set_num_threads(saved)
    return rows

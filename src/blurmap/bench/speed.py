"""Inference speed and peak memory of the restoration generators on CPU (``blurmap bench speed``).

One row per (model, precision): parameters, best-of-N wall time, the CPU time of that run
(on a shared machine wall time stretches with the load; ``cpu / threads`` is what a quiet
machine would take) and the peak resident memory added by the forward pass, at 1120x1680 (a
DPDD frame) by default. Each row runs in a fresh process (:mod:`blurmap.bench._child`) so the
peak of one row does not hide the next.

Targets (the project's inference-speed goals, 2-core CPU, 1120x1680): DefocusGAN fp32 <= 9 s, bf16 <= 3 s, peak <= 2 GB
(official implementation: 45 s / 9.4 GB).
"""

from __future__ import annotations

import os

from blurmap.bench._child import BenchChildError, run_in_child
from blurmap.bench.table import Column
from blurmap.errors import BlurmapError

#: model name -> constructor kwargs ({} = paper defaults). Add a model here to bench it by default.
SECTIONS: dict[str, dict] = {
    "defocusgan": {},
    # BladeNet at the paper width (LBP + main U-Net with BSA, 37.6 M parameters); LODE
    # frames are 1920x1080, REDS 1280x720: run with --models bladenet --size 720 1280 / 1080 1920
    "bladenet": {},
}

DEFAULT_SIZE = (1120, 1680)
PRECISIONS = ("fp32", "bf16")
MIN_SIZE = 16

SPEED_COLUMNS = [
    Column("model", "model", align="<"),
    Column("precision", "precision", align="<"),
    Column("module", "module", align="<"),
    Column("params_M", "params (M)", ".2f"),
    Column("seconds", "time (s)", ".2f"),
    Column("cpu_seconds", "cpu (s)", ".2f"),
    Column("peak_GB", "peak (GB)", ".2f"),
    Column("threads", "threads", "d"),
]


def measure_speed(name: str, kwargs: dict, height: int, width: int, precision: str, repeats: int,
                  raw: bool = False) -> dict:
    """Build a model, warm it up, time ``repeats`` forwards and report the peak RSS added.

    Runs in the child process (peak RSS is per process).

    Args:
        name: registered model name; kwargs: its constructor arguments.
        height, width: input size in px (input ``(1, 3, H, W)`` uniform noise, channels-last).
        precision: ``"fp32"`` or ``"bf16"`` (CPU autocast).
        repeats: timed forwards after one warm-up.
        raw: time the module as built (training form) instead of the inference runner that
            ``blurmap deblur`` uses (:func:`blurmap.infer.inference_runner`: BatchNorm folded,
            bf16-stored conv weights; same output).

    Returns:
        ``{"model", "precision", "module" ("runner"/"raw"), "params_M", "seconds" (best wall),
        "cpu_seconds" (process CPU time of that run), "peak_GB" (peak RSS of the forward minus
        RSS after building), "threads"}``.
    """
    import resource
    import time

    import torch

    from blurmap.infer import inference_runner
    from blurmap.models import build_model, count_parameters

    model = build_model(name, **kwargs).eval().to(memory_format=torch.channels_last)
    params = count_parameters(model)
    if not raw:
        model = inference_runner(model, precision)
    x = torch.rand(1, 3, height, width).contiguous(memory_format=torch.channels_last)
    use_bf16 = precision == "bf16"

    def run():
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            return model(x)

    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run()  # warm-up: oneDNN builds its kernels for these shapes on the first call
    times, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        y = run()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    if tuple(y.shape) != tuple(x.shape):
        raise BlurmapError(f"{name}: output {tuple(y.shape)} is not the input's shape {tuple(x.shape)}; "
                           "not a restoration model")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    best = times.index(min(times))
    return {
        "model": name,
        "precision": precision,
        "module": "raw" if raw else "runner",
        "params_M": params / 1e6,
        "seconds": times[best],
        # CPU seconds of the fastest run: on a shared machine wall time stretches with the
        # load, CPU time much less; cpu / threads estimates the wall time of a quiet machine.
        "cpu_seconds": cpu[best],
        "peak_GB": (peak_kb - base_kb) / 2**20,
        "threads": torch.get_num_threads(),
    }


def check_speed_args(models: list[str], size: tuple[int, int], precisions: list[str], repeats: int) -> None:
    """Refuse bad arguments with one line before any process starts.

    Raises:
        BlurmapError: unknown model or precision, a side < 16 px, or repeats < 1.
    """
    from blurmap.models import available_models

    known = available_models()
    for name in models:
        if name not in known:
            raise BlurmapError(f"unknown model {name!r}; choose from {', '.join(known)}")
    for p in precisions:
        if p not in PRECISIONS:
            raise BlurmapError(f"unknown precision {p!r}; choose from {', '.join(PRECISIONS)}")
    if min(size) < MIN_SIZE:
        raise BlurmapError(f"--size must be at least {MIN_SIZE} {MIN_SIZE} (H W), got {size[0]} {size[1]}")
    if repeats < 1:
        raise BlurmapError(f"--repeats must be at least 1, got {repeats}")


def load_average() -> float:
    """1-minute load average (NaN where the OS has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def speed_rows(
    models: list[str] | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
    precisions: list[str] | tuple[str, ...] = PRECISIONS,
    repeats: int = 3,
    on_row=None,
    raw: bool = False,
) -> list[dict]:
    """Measure every (model, precision), each in a fresh process.

    Args:
        models: registered model names (default: :data:`SECTIONS`); built with the kwargs in
            :data:`SECTIONS` (paper defaults for a model not listed there).
        size: ``(H, W)`` of the input in px.
        precisions: ``"fp32"`` and/or ``"bf16"``.
        repeats: timed runs per row (best is kept) after one warm-up.
        on_row: optional callback called with each row as soon as it is measured.
        raw: time the modules as built instead of their inference runners (see
            :func:`measure_speed`).

    Returns:
        Rows as :func:`measure_speed` returns them, plus ``"load_before"`` (1-minute load
        average when the row started). A row whose child failed holds ``model``,
        ``precision`` and ``error`` (one line) instead of numbers.

    Raises:
        BlurmapError: bad arguments (see :func:`check_speed_args`).
    """
    models = list(SECTIONS) if models is None else list(models)
    h, w = int(size[0]), int(size[1])
    check_speed_args(models, (h, w), list(precisions), repeats)
    rows = []
    for name in models:
        for precision in precisions:
            job = dict(name=name, kwargs=SECTIONS.get(name, {}), height=h, width=w,
                       precision=precision, repeats=int(repeats), raw=bool(raw))
            load = load_average()
            try:
                row = run_in_child("speed", job)
            except BenchChildError as err:  # one failed row (e.g. out of memory) must not lose the others
                row = {"model": name, "precision": precision, "module": "raw" if raw else "runner",
                       "error": err.reason}
            row["load_before"] = load
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows


def speed_notes(size: tuple[int, int], repeats: int) -> list[str]:
    """The lines printed above the speed table (input and machine load)."""
    h, w = size
    cores = os.cpu_count()
    return [f"input 1x3x{h}x{w}, channels_last, best of {repeats} after one warm-up",
            f"load average before: {load_average():.2f} on {cores} cores"]

"""Inference speed and peak memory of the restoration generators on CPU.

Prints one table row per (model, precision): parameters, best-of-N wall time, the CPU time
of that run (on a shared machine wall time stretches with the load; ``cpu / threads`` is
what a quiet machine would take) and the peak resident memory added by the forward pass,
at 1120x1680 (a DPDD frame) by default. The load average is printed first.
Each row runs in a fresh subprocess so the peak RSS of one row does not hide the next.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/infer_speed.py [--size 1120 1680] [--repeats 3]
        [--models defocusgan ...]

Targets (issue 6, 2-core CPU, 1120x1680): DefocusGAN fp32 <= 9 s, bf16 <= 3 s, peak <= 2 GB
(official implementation: 45 s / 9.4 GB). Other sections (e.g. BladeNet) add their model to
``SECTIONS``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

#: model name -> constructor kwargs ({} = paper defaults). Other helpers append here.
SECTIONS: dict[str, dict] = {
    "defocusgan": {},
    # BladeNet at the paper width (LBP + main U-Net with BSA, 37.6 M parameters); LODE
    # frames are 1920x1080, REDS 1280x720: run with --models bladenet --size 720 1280 / 1080 1920
    "bladenet": {},
}


def _measure(name: str, kwargs: dict, height: int, width: int, precision: str, repeats: int) -> dict:
    """Run in a child process: build, warm up, time ``repeats`` forwards, report peak RSS."""
    import resource
    import time

    import torch

    from blurmap.models import build_model

    model = build_model(name, **kwargs).eval().to(memory_format=torch.channels_last)
    params = sum(p.numel() for p in model.parameters())
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
    assert y.shape == x.shape
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "model": name,
        "precision": precision,
        "params_M": params / 1e6,
        "seconds": min(times),
        # CPU seconds of the fastest run: on a shared machine wall time stretches with the
        # load, CPU time much less; cpu / threads estimates the wall time of a quiet machine.
        "cpu_seconds": cpu[times.index(min(times))],
        "peak_GB": (peak_kb - base_kb) / 2**20,
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, nargs=2, default=(1120, 1680), metavar=("H", "W"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", nargs="*", default=list(SECTIONS))
    ap.add_argument("--precisions", nargs="*", default=["fp32", "bf16"])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        job = json.loads(args.child)
        print(json.dumps(_measure(**job)))
        return 0

    h, w = args.size
    print(f"input 1x3x{h}x{w}, channels_last, best of {args.repeats} after one warm-up")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average before: {load:.2f} on {os.cpu_count()} cores")
    print(f"{'model':<14}{'precision':<10}{'params (M)':>11}{'time (s)':>10}{'cpu (s)':>9}{'peak (GB)':>11}{'threads':>9}")
    for name in args.models:
        for precision in args.precisions:
            job = dict(name=name, kwargs=SECTIONS.get(name, {}), height=h, width=w,
                       precision=precision, repeats=args.repeats)
            out = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{name:<14}{precision:<10} failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{r['model']:<14}{r['precision']:<10}{r['params_M']:>11.2f}{r['seconds']:>10.2f}"
                  f"{r['cpu_seconds']:>9.2f}{r['peak_GB']:>11.2f}{r['threads']:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Load test of ``blurmap serve``: latency, throughput and peak memory under concurrent requests.

Starts ``blurmap serve`` on a free loopback port (or uses ``--url`` of a running server), then
sends ``--requests`` ``POST /v1/deblur`` requests of a ``--size`` x ``--size`` bundled photo
(8-bit PNG) from ``--concurrency`` client threads at once. Reports:

- latency p50 / p95 / max of the successful requests (client side: upload + queue + model +
  download), and the server's own time (``X-Blurmap-Seconds``) p50;
- throughput: successful requests per second of wall time;
- peak RSS of the server process (``VmHWM``; only for a server this script started);
- the status counts. 429/503 (queue full) are allowed answers; anything else is an error and
  the script exits 1.

    .venv/bin/python benchmarks/serve_load.py [--requests 50] [--concurrency 8] [--size 512]
        [--model local] [--workers 1] [--queue 8] [--threads 2] [--url http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

ALLOWED = {200, 429, 503}


def _photo_png(size: int) -> bytes:
    from blurmap.io import encode_image
    from blurmap.synth.bundled import bundled_image

    photo = bundled_image("astronaut")  # 512x512
    reps = -(-size // min(photo.shape[:2]))
    tiled = np.tile(photo, (reps, reps, 1))[:size, :size]
    return encode_image(tiled, "png", bits=8)


def _start_server(args) -> tuple[subprocess.Popen, str]:
    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": str(args.threads)}
    cmd = [sys.executable, "-m", "blurmap", "serve", "--port", "0", "--models", args.model,
           "--workers", str(args.workers), "--queue", str(args.queue), "--timeout", str(args.timeout),
           "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"server did not start: {line.strip()} {proc.stderr.read()[:500]}")
    url = match.group(1).rstrip("/")
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("server did not answer /healthz within 60 s")
        time.sleep(0.1)


def _peak_rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else None


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--size", type=int, default=512, help="image side in px")
    parser.add_argument("--model", default="local")
    parser.add_argument("--workers", type=int, default=1, help="server --workers (started server only)")
    parser.add_argument("--queue", type=int, default=8, help="server --queue (started server only)")
    parser.add_argument("--timeout", type=float, default=600.0, help="server --timeout (started server only)")
    parser.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS of the started server")
    parser.add_argument("--url", default=None, help="use this running server instead of starting one")
    parser.add_argument("--token", default=os.environ.get("BLURMAP_SERVE_TOKEN"))
    args = parser.parse_args(argv)

    image = _photo_png(args.size)
    proc, url = (None, args.url.rstrip("/")) if args.url else _start_server(args)
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}

    def one(_):
        t0 = time.perf_counter()
        try:
            with httpx.Client(timeout=args.timeout + 60) as c:
                r = c.post(url + "/v1/deblur", files={"file": ("load.png", image)}, data={"model": args.model},
                           headers=headers)
            server_s = float(r.headers.get("x-blurmap-seconds", "nan"))
            return r.status_code, time.perf_counter() - t0, server_s, (r.text[:200] if r.status_code != 200 else "")
        except httpx.HTTPError as ex:
            return f"{type(ex).__name__}", time.perf_counter() - t0, float("nan"), str(ex)[:200]

    try:
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
            results = list(pool.map(one, range(args.requests)))
        wall = time.perf_counter() - start
        alive = httpx.get(url + "/healthz", timeout=10).status_code == 200
        peak = _peak_rss_mb(proc.pid) if proc else None
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=30)

    statuses = collections.Counter(r[0] for r in results)
    ok = [r for r in results if r[0] == 200]
    latencies = [r[1] for r in ok]
    server_times = [r[2] for r in ok]
    errors = [r for r in results if r[0] not in ALLOWED]
    print(f"{args.requests} requests of a {args.size}x{args.size} PNG to {args.model} at concurrency {args.concurrency}"
          f" (server: --workers {args.workers} --queue {args.queue}, OMP_NUM_THREADS={args.threads})")
    print(f"statuses:        {dict(sorted(statuses.items(), key=str))}")
    print(f"latency p50:     {_pct(latencies, 50):.2f} s")
    print(f"latency p95:     {_pct(latencies, 95):.2f} s")
    print(f"latency max:     {max(latencies) if latencies else float('nan'):.2f} s")
    print(f"server time p50: {_pct(server_times, 50):.2f} s per request (decode + model + encode)")
    print(f"throughput:      {len(ok) / wall:.2f} requests/s ({wall:.1f} s wall)")
    print(f"peak RSS:        {peak:.0f} MB (server process)" if peak else "peak RSS:        n/a (server not started here)")
    print(f"healthz after:   {'200' if alive else 'FAILED'}")
    print(f"errors other than 429/503: {len(errors)}")
    for status, _, _, text in errors[:5]:
        print(f"  {status}: {text}")
    return 1 if errors or not alive else 0


if __name__ == "__main__":
    sys.exit(main())

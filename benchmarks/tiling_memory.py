"""Peak memory and speed of tiled inference against image size (blurmap.infer).

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
import json
import subprocess
import sys

# Architectures used when no weights file is available (same as the starter recipes aim for).
FALLBACK = {  # configs/bladenet_starter.yaml and configs/defocusgan_starter.yaml
    "local": ("bladenet", {"width": 16, "bottleneck_mult": 8}),
    "defocus": ("defocusgan", {"dgb_widths": [[8, 16, 24, 32], [16, 24, 32], [16, 32]]}),
}


def _size(mp: float) -> tuple[int, int]:
    w = int(round((mp * 1e6 * 4 / 3) ** 0.5))
    return int(round(mp * 1e6 / w)), w


def _write_input(path, mp: float) -> None:
    """A 16-bit PNG of noise, written by the parent so it does not count in the child's peak."""
    import numpy as np

    from blurmap.io import write_image

    h, w = _size(mp)
    write_image(path, np.random.default_rng(0).random((h, w, 3), dtype=np.float32), bits=16)


def _child(args) -> None:
    import resource
    import time

    import numpy as np
    import torch

    from blurmap import api
    from blurmap.infer import Deblurrer, count_tiles
    from blurmap.models import build_model

    torch.manual_seed(0)
    source = args.weights
    if source is None:
        try:
            source = str(api.resolve_weights(args.model))
        except Exception:  # noqa: BLE001 - fall back to random weights of the same architecture
            source = None
    if source is not None:
        model = api.load_model(source, precision=args.precision, tile=args.tile, overlap=args.overlap)
        label = f"{model.name} ({source})"
    else:
        name, cfg = FALLBACK[args.model]
        model = Deblurrer(build_model(name, **cfg), precision=args.precision, tile=args.tile, overlap=args.overlap)
        label = f"{name} {json.dumps(cfg)} (random weights)"
    h, w = _size(args.child)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tiling = model.tiling()
    if args.path == "cli":
        from pathlib import Path

        from blurmap.cli import main as cli_main
        from blurmap.weights import save_weights

        tmp = Path(args.input).parent
        weights = source
        if weights is None:
            weights = str(save_weights(tmp / "w.safetensors", model.model, name, cfg))
        t0 = time.perf_counter()
        argv = ["deblur", args.input, "-o", str(tmp / "out"), "--weights", weights, "--overwrite",
                "--precision", args.precision, "--tile", str(tiling.tile), "--overlap", str(tiling.overlap)]
        assert cli_main(argv) == 0
        seconds = time.perf_counter() - t0
    else:
        image = np.random.default_rng(0).random((h, w, 3), dtype=np.float32)
        t0 = time.perf_counter()
        out = model.deblur(image)
        seconds = time.perf_counter() - t0
        assert out.shape == image.shape
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({
        "mp": h * w / 1e6, "h": h, "w": w, "tiles": count_tiles(h, w, tiling), "tile": tiling.tile,
        "overlap": tiling.overlap, "peak_mb": peak / 1024, "base_mb": rss_before / 1024,
        "seconds": seconds, "label": label, "threads": torch.get_num_threads(),
    }))


def _accuracy(args) -> None:
    """Tiled (default tiling) vs untiled output of the same model on one photo."""
    import numpy as np
    import torch
    from skimage import data, transform

    from blurmap import api
    from blurmap.infer import Deblurrer, Tiling, count_tiles
    from blurmap.models import build_model

    torch.manual_seed(0)
    try:
        source = args.weights or str(api.resolve_weights(args.model))
        model = api.load_model(source, precision=args.precision, tile=args.tile, overlap=args.overlap)
        label = f"{model.name} ({source})"
    except Exception:  # noqa: BLE001
        name, cfg = FALLBACK[args.model]
        model = Deblurrer(build_model(name, **cfg), precision=args.precision, tile=args.tile, overlap=args.overlap)
        label = f"{name} {json.dumps(cfg)} (random weights)"
    img = transform.resize(data.astronaut(), (1024, 1536), anti_aliasing=True).astype(np.float32)
    tiling = model.tiling()
    tiled = model.predict(img)
    whole = model.predict(img, tile=max(img.shape[:2]) + 64, overlap=32)
    print(f"model: {label}; precision {args.precision}; image 1024 x 1536")
    print(f"{'output':>7} {'tile':>5} {'overlap':>8} {'tiles':>6} {'PSNR tiled vs whole (dB)':>25} {'max |diff|':>11}")
    for key in tiled:
        a, b = np.asarray(tiled[key], np.float64), np.asarray(whole[key], np.float64)
        mse = float(np.mean((a - b) ** 2))
        peak = 1.0 if key == "image" else max(1.0, float(np.abs(b).max()))
        psnr = float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)
        print(f"{key:>7} {tiling.tile:5d} {tiling.overlap:8d} {count_tiles(1024, 1536, tiling):6d} {psnr:25.2f} "
              f"{np.abs(a - b).max():11.2e}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(FALLBACK), default="local")
    p.add_argument("--weights", default=None)
    p.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    p.add_argument("--sizes", type=float, nargs="+", default=[2, 6, 12, 24], help="megapixels")
    p.add_argument("--tile", type=int, default=None)
    p.add_argument("--overlap", type=int, default=None)
    p.add_argument("--path", choices=["engine", "cli"], default="engine")
    p.add_argument("--accuracy", action="store_true", help="tiled vs whole-image agreement instead")
    p.add_argument("--input", default=None, help=argparse.SUPPRESS)
    p.add_argument("--child", type=float, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is not None:
        _child(args)
        return
    if args.accuracy:
        _accuracy(args)
        return
    rows = []
    for mp in args.sizes:
        cmd = [sys.executable, __file__, "--child", str(mp), "--model", args.model, "--precision", args.precision,
               "--path", args.path]
        if args.path == "cli":
            import tempfile

            tmpdir = tempfile.mkdtemp(prefix="tiling_memory_")
            cmd += ["--input", f"{tmpdir}/in.png"]
            _write_input(f"{tmpdir}/in.png", mp)
        for flag in ("weights", "tile", "overlap"):
            if getattr(args, flag) is not None:
                cmd += [f"--{flag}", str(getattr(args, flag))]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if args.path == "cli":
            import shutil

            shutil.rmtree(tmpdir, ignore_errors=True)
        if res.returncode != 0:
            print(res.stderr, file=sys.stderr)
            sys.exit(f"child for {mp} MP failed")
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    first = rows[0]
    print(f"path: {args.path}; model: {first['label']}; precision {args.precision}; tile {first['tile']} px, overlap "
          f"{first['overlap']} px; torch threads {first['threads']}")
    print(f"{'MP':>6} {'H x W':>13} {'tiles':>6} {'peak RSS MB':>12} {'RSS-before MB':>14} {'s':>8} {'s/MP':>7}")
    for r in rows:
        print(f"{r['mp']:6.1f} {str(r['h']) + ' x ' + str(r['w']):>13} {r['tiles']:6d} {r['peak_mb']:12.0f} "
              f"{r['base_mb']:14.0f} {r['seconds']:8.1f} {r['seconds'] / r['mp']:7.2f}")
    print("peak RSS = whole child process (torch + model + image in/out buffers + one tile's activations);")
    print("RSS-before = after importing torch and building the model, before the image exists.")


if __name__ == "__main__":
    main()

"""Train a CPU BladeNet with the ``bladenet`` recipe, then score it on held-out LBS images.

The longer run behind ``tests/test_bladenet_training.py`` (the CPU BladeNet acceptance run), and the
measurement script of the shipped starter weights (``configs/bladenet_starter.yaml``):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bladenet_cpu_acceptance.py \
        [--config configs/bladenet_cpu.yaml] [--out runs/bladenet_cpu_acc] [key=value ...] \
        [--eval-count 32] [--eval-size 128] [--lpips alex|none] [--skip-train]

Prints: wall time and CPU time of training, LBP IoU (p >= 0.5 vs the true masks) and the
local-deblurring table (full-image and mask-weighted PSNR/SSIM, LPIPS, static/blurred
regions) of the trained network against the blurred input. The held-out images are LBS
samples with the run's generator settings and a seed never used in training
(``val_seed + 1``).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/bladenet_cpu.yaml")
    ap.add_argument("--out", default=None, help="run directory (default: the config's out)")
    ap.add_argument("--eval-count", type=int, default=32)
    ap.add_argument("--eval-size", type=int, default=None, help="side of held-out images (default: val_size)")
    ap.add_argument("--lpips", default="alex")
    ap.add_argument("--skip-train", action="store_true", help="only evaluate RUN/final/net.safetensors")
    ap.add_argument("overrides", nargs="*", help="config overrides key=value")
    args = ap.parse_args(argv)

    import torch

    from blurmap.eval.local import evaluate_local, format_local_report
    from blurmap.train.config import load_config
    from blurmap.train.recipes.bladenet import mask_iou
    from blurmap.weights import load_network

    lc = load_config(args.config, args.overrides)
    recipe = lc.recipe_cls(lc.cfg)
    run = Path(args.out or lc.cfg.out)
    if not args.skip_train:
        from blurmap.train.engine import train

        t0, c0 = time.time(), _cpu_seconds()
        train(lc, out=run)
        print(f"training: {time.time() - t0:.0f} s wall, {(_cpu_seconds() - c0) / 3600:.3f} CPU h, "
              f"{torch.get_num_threads()} thread(s)")
    net = load_network(run / "final" / "net.safetensors").eval()
    params = sum(p.numel() for p in net.parameters())
    print(f"model: bladenet {net.config}, {params / 1e6:.3f} M parameters")

    size = args.eval_size or lc.cfg.val_size
    held_out = recipe._lbs(size, args.eval_count, lc.cfg.val_seed + 1)
    if getattr(net, "lbp", None) is not None:
        probs, masks = [], []
        with torch.no_grad():
            for i in range(len(held_out)):
                item = held_out[i]
                probs.append(net.predict(item["blur"][None])["map"])
                masks.append(item["mask"][None])
        print(f"LBP IoU (p >= 0.5) on {len(held_out)} held-out {size}x{size} LBS images: "
              f"{mask_iou(torch.cat(probs), torch.cat(masks)):.3f}")
    t0 = time.time()
    lp = None if args.lpips == "none" else args.lpips
    res = evaluate_local(net, held_out, regions="mask", lpips=lp)
    print(f"held-out LBS evaluation ({len(held_out)} images, {size}x{size}, whole images, fp32, "
          f"{time.time() - t0:.0f} s):")
    print(format_local_report(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())

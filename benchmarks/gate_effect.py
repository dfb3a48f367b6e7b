"""Effect of the background gate on held-out LBS images (local-deblurring metrics).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gate_effect.py \
        [--weights local] [--config configs/bladenet_starter.yaml] [--eval-count 32] [--eval-size 128]

The held-out images are LBS samples with the config's generator settings and the seed
``val_seed + 1`` (never used in training; the same images as
``benchmarks/bladenet_cpu_acceptance.py``). Each image is restored once; the rows blend that
restoration into the input with different gate ramps ``w(p) = clip((p - low) / (high - low), 0, 1)``
of the LBP probability ``p``:

- ``off``: the restored image as the network gives it;
- ``low-high``: gated (the shipped gate is ``0.1-0.5``);
- ``oracle``: blended by the true mask (an upper bound for any gate by the mask).

Columns: full-image PSNR, mask-weighted PSNR (blurred pixels), PSNR of the static (mask < 0.5)
and blurred regions, MAE of the static region (the background MAE that local-deblurring papers
report), the share of static pixels the gate passes through unchanged (``p <= low``), and the
number of images whose full-image PSNR is below the input's.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="local", help="BladeNet weights: shipped name or file")
    ap.add_argument("--config", default="configs/bladenet_starter.yaml", help="recipe config of the LBS generator")
    ap.add_argument("--eval-count", type=int, default=32)
    ap.add_argument("--eval-size", type=int, default=128)
    ap.add_argument("--ramps", default="0.1-0.3,0.1-0.5,0.1-0.9", help="gate ramps low-high, comma-separated")
    ap.add_argument("--precision", default="fp32")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    import blurmap
    from blurmap.infer import gate_weight
    from blurmap.metrics import masked_psnr, psnr
    from blurmap.train.config import load_config

    torch.set_num_threads(max(1, torch.get_num_threads()))
    lc = load_config(args.config, [])
    recipe = lc.recipe_cls(lc.cfg)
    held_out = recipe._lbs(args.eval_size, args.eval_count, lc.cfg.val_seed + 1)
    model = blurmap.load_model(args.weights, kind="local", precision=args.precision)
    ramps = [tuple(float(v) for v in r.split("-")) for r in args.ramps.split(",") if r]

    names = ["input", "off"] + [f"{lo:g}-{hi:g}" for lo, hi in ramps] + ["oracle"]
    rows: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    t0 = time.perf_counter()
    for i in range(len(held_out)):
        item = held_out[i]
        blur = item["blur"].permute(1, 2, 0).numpy().astype(np.float32)
        sharp = item["sharp"].permute(1, 2, 0).numpy().astype(np.float64)
        mask = item["mask"][0].numpy().astype(np.float64)
        out = model.predict(blur)
        restored, prob = out["image"], torch.from_numpy(out["map"])
        variants = {"input": blur, "off": restored}
        for (lo, hi), name in zip(ramps, names[2:-1]):
            w = gate_weight(prob, lo, hi).numpy()[..., None]
            restored_t = torch.from_numpy(restored)
            variants[name] = torch.lerp(torch.from_numpy(blur), restored_t, torch.from_numpy(w).expand_as(restored_t)).numpy()
            outside = mask < 0.5
            passed = float((prob.numpy()[outside] <= lo).mean()) if outside.any() else float("nan")
            rows[name].setdefault("passed", []).append(passed)
        variants["oracle"] = blur + (restored - blur) * mask[..., None].astype(np.float32)
        static = (mask < 0.5).astype(np.float64)
        for name, pred in variants.items():
            p = pred.astype(np.float64)
            r = rows[name]
            r.setdefault("psnr", []).append(psnr(p, sharp))
            r.setdefault("masked_psnr", []).append(masked_psnr(p, sharp, mask) if mask.sum() > 0 else float("nan"))
            r.setdefault("static_psnr", []).append(masked_psnr(p, sharp, static) if static.sum() > 0 else float("nan"))
            r.setdefault("blurred_psnr", []).append(masked_psnr(p, sharp, 1 - static) if static.sum() < static.size else float("nan"))
            r.setdefault("static_mae", []).append(float(np.abs(p - sharp)[static > 0].mean()) if static.sum() > 0 else float("nan"))
        base = rows["input"]["psnr"][-1]
        for name in names:
            rows[name].setdefault("below_input", []).append(float(rows[name]["psnr"][-1] < base - 1e-9))
    seconds = time.perf_counter() - t0

    print(f"gate effect: {args.weights} on {len(held_out)} held-out {args.eval_size}x{args.eval_size} LBS images "
          f"({args.config}, seed val_seed + 1), {args.precision}, {seconds:.0f} s")
    head = f"{'row':<10} {'PSNR':>7} {'masked':>7} {'static':>7} {'blurred':>7} {'static MAE':>10} {'passed':>7} {'< input':>7}"
    print(head)
    for name in names:
        r = rows[name]
        m = {k: float(np.nanmean(v)) if not all(np.isnan(v)) else float("nan") for k, v in r.items()}
        passed = f"{m['passed']:.3f}" if "passed" in m else "-"
        below = int(sum(r["below_input"])) if name != "input" else 0
        print(f"{name:<10} {m['psnr']:7.2f} {m['masked_psnr']:7.2f} {m['static_psnr']:7.2f} {m['blurred_psnr']:7.2f} "
              f"{m['static_mae']:10.5f} {passed:>7} {below:7d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Effect of the LBS object-scale cap (``max_object_frac``) on the synthetic local-blur data.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lbs_object_cap.py \
        [--objects bundled|VOCdevkit] [--backgrounds bundled|REDS_ROOT] [--size 256] [--samples 48]

LODE scales every VOC cut-out by 1.2; blurmap also caps an object's longer side at
``max_object_frac`` (0.5) of the crop's shorter side, so one object cannot fill a small
training crop. For each cap (``inf`` = the paper's plain x1.2) this prints, over the object
bank (``--draws`` random cut-outs): the share of objects the cap shrinks and their mean
applied scale; and over ``--samples`` LBS samples at ``--size`` px: the mean blurred-area
fraction (object mask), the share of samples whose mask covers more than half the crop (no
longer *local* blur), and the share whose mask is empty.
"""

from __future__ import annotations

import argparse
import math


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", default="bundled")
    ap.add_argument("--backgrounds", default="bundled")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--samples", type=int, default=48)
    ap.add_argument("--draws", type=int, default=400)
    ap.add_argument("--caps", default="0.25,0.5,0.75,inf")
    args = ap.parse_args(argv)

    from dataclasses import replace

    import numpy as np

    from blurmap.synth.local import LocalBlurConfig, make_local_sample
    from blurmap.synth.sources import SceneSource, object_bank

    base = LocalBlurConfig()
    bank = object_bank(args.objects, base.min_object_area)
    backgrounds = SceneSource(args.backgrounds, flag="--backgrounds")
    rng = np.random.default_rng(0)
    sizes = [bank.random_cutout(rng).size for _ in range(args.draws)]
    print(f"objects {args.objects}, backgrounds {args.backgrounds}, crop {args.size} px, "
          f"{args.draws} cut-outs, {args.samples} samples")
    print("| max_object_frac | objects shrunk by the cap | mean applied scale | mean blurred area | "
          "samples > 50% blurred | samples with no blur |")
    print("|---|---|---|---|---|---|")
    for text in args.caps.split(","):
        cap = math.inf if text.strip() == "inf" else float(text)
        cfg = replace(base, max_object_frac=cap if math.isfinite(cap) else 1e9)
        scales = [min(cfg.object_scale, cfg.max_object_frac * args.size / max(h, w)) for h, w in sizes]
        shrunk = float(np.mean([s < cfg.object_scale for s in scales]))
        areas = []
        for i in range(args.samples):
            r = np.random.default_rng([1, i])
            bg = backgrounds.draw_random(r, (args.size, args.size))["image"]
            mask = make_local_sample(bg, bank, r, args.size, cfg)["mask"]
            areas.append(float(np.asarray(mask).mean()))
        areas = np.asarray(areas)
        print(f"| {text.strip()} | {shrunk:.0%} | {np.mean(scales):.2f} | {areas.mean():.1%} | "
              f"{np.mean(areas > 0.5):.0%} | {np.mean(areas == 0):.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

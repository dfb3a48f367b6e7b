"""bf16 vs fp32 inference of the shipped restorers on held-out images: PSNR against the truth.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/precision_check.py [--count 32] [--size 256]

- ``local`` (BladeNet starter): held-out LBS images of ``configs/bladenet_starter.yaml`` (seed
  ``val_seed + 1``, never trained on), full-image and mask-weighted PSNR;
- ``defocus`` (DefocusGAN starter): synthetic DP scenes rendered from the held-out bundled
  photo ``chelsea`` (``random`` and ``plane`` scenes, |CoC| <= 6 px, seed 20000, as
  ``benchmarks/defocusgan_heldout.py``), full-image PSNR.

Both run through :class:`blurmap.infer.Deblurrer` as ``blurmap deblur`` does (tiled engine,
BatchNorm-folded runner). Prints the mean PSNR per precision, the difference bf16 - fp32 and
the PSNR of the bf16 output against the fp32 output. The CPU default becomes bf16 where the
difference stays within 0.05 dB.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=32, help="images per model (per scene type for defocus)")
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args(argv)

    import numpy as np

    import blurmap
    from blurmap.metrics import masked_psnr, psnr
    from blurmap.synth import SyntheticDPDataset
    from blurmap.synth.bundled import bundled_image
    from blurmap.train.config import load_config

    lc = load_config("configs/bladenet_starter.yaml", [])
    lbs = lc.recipe_cls(lc.cfg)._lbs(args.size, args.count, lc.cfg.val_seed + 1)
    local = [(s["blur"], s["sharp"], s["mask"][0]) for s in (lbs[i] for i in range(len(lbs)))]
    defocus = []
    for scene in ("random", "plane"):
        ds = SyntheticDPDataset([bundled_image("chelsea")], args.count, args.size, 6.0, seed=20_000, fixed=True,
                                scene=scene, keys=("blur", "sharp"))
        defocus += [(s["blur"], s["sharp"], None) for s in (ds[i] for i in range(len(ds)))]

    def hwc(t):
        return t.permute(1, 2, 0).numpy().astype(np.float32)

    print(f"held-out images: {len(local)} LBS ({args.size} px) for local, {len(defocus)} DP scenes for defocus")
    print(f"{'model':<8} {'metric':<13} {'input':>7} {'fp32':>7} {'bf16':>7} {'bf16-fp32':>9} {'bf16 vs fp32':>12}")
    for name, items in (("local", local), ("defocus", defocus)):
        outs = {}
        for precision in ("fp32", "bf16"):
            model = blurmap.load_model(name, precision=precision)
            outs[precision] = [model.deblur(hwc(blur)) for blur, _, _ in items]
        rows = {"psnr": lambda p, g, m: psnr(p, g)}
        if items[0][2] is not None:
            rows["masked psnr"] = lambda p, g, m: masked_psnr(p, g, m)
        for metric, fn in rows.items():
            score = {k: float(np.mean([fn(o.astype(np.float64), hwc(g).astype(np.float64), None if m is None else m.numpy())
                                       for o, (_, g, m) in zip(v, items)])) for k, v in outs.items()}
            base = float(np.mean([fn(hwc(b).astype(np.float64), hwc(g).astype(np.float64), None if m is None else m.numpy())
                                  for b, g, m in items]))
            agree = float(np.mean([psnr(a.astype(np.float64), b.astype(np.float64)) for a, b in zip(outs["bf16"], outs["fp32"])]))
            print(f"{name:<8} {metric:<13} {base:7.3f} {score['fp32']:7.3f} {score['bf16']:7.3f} "
                  f"{score['bf16'] - score['fp32']:+9.4f} {agree:9.1f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""DefocusGAN weights on held-out synthetic DP scenes vs the blurred input and deconvolution.

Scenes are rendered from photos that training never saw (default: the bundled ``chelsea``,
held out by ``configs/defocusgan_starter.yaml``) with the recipe's own generator
(:class:`blurmap.synth.dp_dataset.SyntheticDPDataset`, as the recipe uses it), for each scene type separately.
Scores (``blurmap.metrics``, float images, no quantisation): PSNR, SSIM, LPIPS (AlexNet)
of the blurred input, of the model, and of the Wiener deconvolution baseline
(:func:`blurmap.deconv.deconvolve`) given the **ground-truth** CoC map (an oracle map, so
this baseline is stronger than it would be in practice).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/defocusgan_heldout.py \
        --weights src/blurmap/weights_data/defocusgan_starter.safetensors [--count 12] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--photos", nargs="*", default=["chelsea"], help="bundled photos to render (held out)")
    ap.add_argument("--count", type=int, default=12, help="scenes per scene type")
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--max-coc", type=float, default=6.0)
    ap.add_argument("--seed", type=int, default=20_000, help="differs from training/validation seeds")
    ap.add_argument("--scenes", nargs="*", default=["random", "plane"])
    ap.add_argument("--json", help="write the table here")
    args = ap.parse_args(argv)

    from blurmap.deconv import deconvolve
    from blurmap.metrics import LPIPS, evaluate_pair
    from blurmap.synth import SyntheticDPDataset
    from blurmap.synth.bundled import bundled_image
    from blurmap.weights import load_network

    model = load_network(args.weights).eval()
    lpips = LPIPS("alex")
    photos = [bundled_image(n) for n in args.photos]
    hwc = lambda t: t.float().clamp(0, 1)[0].permute(1, 2, 0).numpy()  # noqa: E731
    results: dict = {}
    for k, scene in enumerate(args.scenes):
        data = SyntheticDPDataset(photos, args.count, args.size, args.max_coc, seed=args.seed + k, scene=scene,
                                  keys=("blur", "sharp", "coc"))
        rows = {"input": [], "model": [], "wiener_gt_map": []}
        for i in range(args.count):
            s = data[i]
            blur, sharp, coc = s["blur"][None], s["sharp"][None], s["coc"][None]
            with torch.no_grad():
                restored = model.predict(blur)["image"]
                deconv = deconvolve(blur, coc, method="wiener")
            gt = hwc(sharp)
            for name, img in (("input", blur), ("model", restored), ("wiener_gt_map", deconv)):
                m = evaluate_pair(hwc(img), gt, lpips=lpips)
                rows[name].append({k2: m[k2] for k2 in ("psnr", "ssim", "lpips")})
        results[scene] = {name: {m: float(np.mean([r[m] for r in rs])) for m in ("psnr", "ssim", "lpips")}
                          for name, rs in rows.items()}
        results[scene]["gain_psnr_vs_input"] = results[scene]["model"]["psnr"] - results[scene]["input"]["psnr"]
        results[scene]["count"] = args.count

    print(f"held-out scenes from {args.photos}, {args.size}px, |CoC| <= {args.max_coc} px, LPIPS alex")
    print(f"{'scene':<8}{'method':<16}{'PSNR':>8}{'SSIM':>8}{'LPIPS':>8}")
    for scene, r in results.items():
        for name in ("input", "model", "wiener_gt_map"):
            v = r[name]
            print(f"{scene:<8}{name:<16}{v['psnr']:>8.2f}{v['ssim']:>8.3f}{v['lpips']:>8.3f}")
        print(f"{scene:<8}{'model - input':<16}{r['gain_psnr_vs_input']:>+8.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "results": results}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

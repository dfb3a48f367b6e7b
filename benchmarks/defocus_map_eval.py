"""Defocus-map quality on held-out synthetic DP scenes (the defocus-map acceptance bar; paper Tables 3 and 5).

Scenes: ``blurmap.eval.defocus_map.heldout_dp_scenes`` (layered planes / ramps, occlusion-aware
linear-light rendering) with ``|CoC| <= --max-coc`` (20 px), fixed seeds, on photos the CPU
training never sees: bundled ``chelsea`` (held out by every DP config) and scikit-image's
``camera`` (held out of the texture samples by ``configs/defocus_map_starter.yaml``; a run of
another config with ``synthetic_textures: true`` trains on it: score such weights with
``--photos chelsea``).

Tables printed:

1. **Map error**: MAE of |CoC| in px over all pixels and over *textured* pixels (AiF
   luminance gradient magnitude > ``--texture`` per px, central differences), and the signed
   MAE over textured pixels — for the trained net (``--weights``), per-pair ``--optimize``
   (Butterworth kernels), and the ground truth (0 by definition).
2. **Table 3 protocol**: the combined (blurred) view deconvolved with each map
   (``blurmap.deconv``, ``--deconv`` method), PSNR / SSIM / MAE of the recovered AiF against
   the true AiF (DPDD protocol, ``blurmap.metrics``); the blurred input is the baseline row.
3. **Table 5 ablation**: per-pair maps estimated with Gaussian, Butterworth (eq. 3) and learned
   kernels (``--kernels``: the ``g.safetensors`` a ``defocus_map`` training run exports),
   scored as in tables 1 and 2.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/defocus_map_eval.py \\
        [--weights defocus-map | runs/.../final/f.safetensors] [--kernels runs/.../final/g.safetensors] \\
        [--scenes 4] [--size 192x256] [--margin 0] [--steps 300] [--deconv rl] [--no-optimize]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", help="defocus_map_net weights (trained net row): a file, or 'defocus-map' (shipped)")
    ap.add_argument("--kernels", help="dp_kernel_bank weights (learned-kernel row of the ablation)")
    ap.add_argument("--scenes", type=int, default=4)
    ap.add_argument("--photos", default="chelsea,camera", help="held-out photos, cycled: chelsea and/or camera")
    ap.add_argument("--size", default="192x256", help="HxW of the scenes")
    ap.add_argument("--max-coc", type=float, default=20.0)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--texture", type=float, default=0.02)
    ap.add_argument("--margin", type=int, default=0, help="border px left out of the map scores")
    ap.add_argument("--no-optimize", action="store_true", help="skip the per-pair --optimize rows (net only)")
    ap.add_argument("--deconv", default="rl", choices=["wiener", "rl", "hyper_laplacian"])
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    from blurmap.deconv import deconvolve
    from blurmap.eval.defocus_map import HELDOUT_PHOTOS, heldout_dp_scenes, map_errors, texture_mask
    from blurmap.fit import optimize_defocus_map
    from blurmap.metrics import mae, psnr, ssim
    from blurmap.physics.kernels import dp_kernel_stack

    h, w = (int(v) for v in args.size.lower().split("x"))
    t0 = time.time()
    names = [n.strip() for n in args.photos.split(",") if n.strip()]
    if not names or any(n not in HELDOUT_PHOTOS for n in names):
        ap.error(f"--photos: expected chelsea and/or camera, got {args.photos!r}")
    scenes = heldout_dp_scenes(args.scenes, (h, w), args.max_coc, names)
    print(f"{len(scenes)} scenes {h}x{w}, |CoC| <= {args.max_coc} px, texture threshold {args.texture} "
          f"(rendered in {time.time() - t0:.1f} s)")
    for s in scenes:
        print("  ", s["name"], f"textured {100 * texture_mask(s['aif'], args.texture).mean():.0f}% of px")

    estimators = {}
    if args.weights:
        from blurmap.api import resolve_weights
        from blurmap.weights import load_network

        net = load_network(resolve_weights(args.weights), expected_name="defocus_map_net")

        def run_net(s, net=net):
            with torch.no_grad():
                return net.estimate(_t(s["left"]), _t(s["right"]))[0, 0].numpy()

        estimators["net"] = run_net
    kernel_sets = {"gaussian": dp_kernel_stack(25, kind="gaussian"), "butterworth": dp_kernel_stack(25)}
    if args.kernels:
        from blurmap.weights import load_network

        kernel_sets["learned"] = load_network(args.kernels, expected_name="dp_kernel_bank")("left").detach()
    for kname, stack in ({} if args.no_optimize else kernel_sets).items():
        def run_opt(s, stack=stack):
            return optimize_defocus_map(_t(s["left"]), _t(s["right"]), steps=args.steps, bank=stack)[0, 0].numpy()

        estimators[f"optimize/{kname}"] = run_opt
    estimators["ground truth"] = lambda s: s["coc"]

    rows = {}
    for name, fn in estimators.items():
        errs, errs_tex, signed_tex, scores, secs = [], [], [], [], []
        for s in scenes:
            t = time.time()
            coc = np.asarray(fn(s), dtype=np.float32)
            secs.append(time.time() - t)
            e = map_errors(coc, s["coc"], s["aif"], args.texture, args.margin)
            errs.append(e["mae"])
            errs_tex.append(e["mae_textured"])
            signed_tex.append(e["signed_mae_textured"])
            rec = deconvolve(_t(s["combined"]), torch.from_numpy(coc)[None, None], args.deconv)[0].permute(1, 2, 0).numpy()
            scores.append((psnr(rec, s["aif"]), ssim(rec, s["aif"]), mae(rec, s["aif"])))
        rows[name] = (np.mean(errs), np.mean(errs_tex), np.mean(signed_tex), *np.mean(scores, 0), np.mean(secs))
        print(f"  done {name} ({np.mean(secs):.1f} s per scene)", flush=True)
    base = np.mean([(psnr(s["combined"], s["aif"]), ssim(s["combined"], s["aif"]), mae(s["combined"], s["aif"]))
                    for s in scenes], 0)

    print("\nTable A - defocus map error (px), mean over scenes")
    print(f"| {'map':22s} | MAE |CoC| all | MAE |CoC| textured | signed MAE textured | s/scene |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name:22s} | {r[0]:.2f} | {r[1]:.2f} | {r[2]:.2f} | {r[6]:.1f} |")
    print(f"\nTable B - AiF recovered by {args.deconv} deconvolution with each map (Table 3 / 5 protocol)")
    print(f"| {'map':22s} | PSNR | SSIM | MAE |")
    print("|---|---|---|---|")
    print(f"| {'(blurred input)':22s} | {base[0]:.2f} | {base[1]:.3f} | {base[2]:.4f} |")
    for name, r in rows.items():
        print(f"| {name:22s} | {r[3]:.2f} | {r[4]:.3f} | {r[5]:.4f} |")


if __name__ == "__main__":
    main()

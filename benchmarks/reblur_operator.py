"""How close each reblur operator of the defocus-map loss comes to the DP image formation.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/reblur_operator.py [--count 4] [--size 96 128] [--max-coc 8]

Scenes: the held-out DP scenes of the defocus-map benchmark (all-in-focus photo + layered
signed CoC map). Their left/right views are re-rendered with the exact layered,
occlusion-aware DP renderer (``render_dual_pixel``, eq. 3 kernels, ``max_downsample=1``,
gamma 2.2). Each operator then reblurs the all-in-focus image with the *true* map and the
same eq. 3 kernels in linear light, as the reblur loss does, and is scored against the
rendered views: PSNR over the whole frame and over depth edges (pixels within the largest
radius of a CoC jump > 1 px), and seconds per call. With the true map, a perfect operator
scores infinity: whatever is left is what the loss would ask the map to absorb.
"""

from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--size", type=int, nargs=2, default=(96, 128), metavar=("H", "W"))
    ap.add_argument("--max-coc", type=float, default=8.0)
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    from scipy.ndimage import binary_dilation

    from blurmap.eval.defocus_map import heldout_dp_scenes
    from blurmap.physics.crf import linear_to_srgb, srgb_to_linear
    from blurmap.physics.defocus import defocus_blur, render_dual_pixel
    from blurmap.physics.kernels import dp_kernel_stack
    from blurmap.physics.layered import layered_defocus_blur

    r = int(np.ceil(args.max_coc))
    stack = dp_kernel_stack(r).float()
    ops = {"interp": defocus_blur, "layered": layered_defocus_blur}
    rows = {k: {"all": [], "edges": [], "s": []} for k in ops}
    for scene in heldout_dp_scenes(args.count, tuple(args.size), args.max_coc):
        aif = torch.from_numpy(scene["aif"]).permute(2, 0, 1)[None].float()
        coc = torch.from_numpy(scene["coc"])[None, None].float()
        left, right, _ = render_dual_pixel(aif, coc, max_downsample=1, max_radius=r)
        jump = np.zeros(scene["coc"].shape, bool)
        c = scene["coc"]
        jump[:, 1:] |= np.abs(np.diff(c, axis=1)) > 1
        jump[1:, :] |= np.abs(np.diff(c, axis=0)) > 1
        edges = binary_dilation(jump, iterations=r) if jump.any() else jump
        for name, op in ops.items():
            t0 = time.perf_counter()
            with torch.no_grad():
                outs = [linear_to_srgb(op(srgb_to_linear(aif), coc, stack, v)).clamp(0, 1) for v in ("left", "right")]
            rows[name]["s"].append((time.perf_counter() - t0) / 2)
            err = torch.cat([(outs[0] - left) ** 2, (outs[1] - right) ** 2], 1)[0].mean(0).numpy()
            rows[name]["all"].append(10 * np.log10(1 / max(err.mean(), 1e-12)))
            if edges.any():
                rows[name]["edges"].append(10 * np.log10(1 / max(err[edges].mean(), 1e-12)))
    print(f"{args.count} scenes {args.size[0]}x{args.size[1]}, |CoC| <= {args.max_coc} px, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print("| operator | PSNR all (dB) | PSNR depth edges (dB) | s per view |")
    print("|---|---|---|---|")
    for name, v in rows.items():
        edge = f"{np.mean(v['edges']):.2f}" if v["edges"] else "n/a"
        print(f"| {name} | {np.mean(v['all']):.2f} | {edge} | {np.mean(v['s']):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

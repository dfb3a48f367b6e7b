"""Ways to restore the shifted DP scenes, scored like ``blurmap bench quality`` scores DefocusGAN.

Every route is scored by :func:`blurmap.bench.quality.score_defocus` on the same split (default
``dp-shifted``, 12 scenes): PSNR gain over the blurred input, all pixels, ``|CoC| >= 6`` px and
per ``|CoC|`` bin. Routes:

- ``gan xS``: the DefocusGAN weights on the image downscaled ``S`` times (area), the result
  upscaled (bicubic). At ``S`` times smaller a blur of ``c`` px is ``c / S`` px, which may fall
  inside the range the net learned.
- ``gan scale-aware (true map)``: per pixel, a blend of the ``gan xS`` results with
  triangular weights in the **true** ``|CoC|`` around the centres ``4, 10, 15, 20`` px (for
  ``S = 1..4``; each weight falls to 0 six px from its centre). An upper bound for a map-guided
  choice of scale: an estimated map can only do worse.
- ``rl (true | fit | net map)``: Richardson-Lucy deconvolution (:func:`blurmap.deconv.deconvolve`,
  eq. 3 kernels, linear light, ``--iterations``) with the true map, with the per-pair fit's
  map (:func:`blurmap.estimate_defocus_map`, 150 steps as the bench's fit) or with the
  DefocusMapNet weights' map.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/defocus_restore_routes.py [--weights defocus]
        [--map-weights defocus-map] [--split dp-shifted] [--count 12] [--iterations 10] [--json out.json]

The fit takes about 20 s per 256x384 scene on one thread.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

SCALES = (1, 2, 3, 4)
CENTRES = (4.0, 10.0, 15.0, 20.0)  # px of true |CoC| where scale S = 1..4 gets all the weight
HALF_WIDTH = 6.0


class _Outputs:
    """A stand-in model whose ``deblur`` returns precomputed outputs in scene order."""

    def __init__(self, outputs):
        self._outputs = list(outputs)

    def deblur(self, image):
        return self._outputs.pop(0)


def _resize(img: np.ndarray, hw: tuple[int, int], interpolation) -> np.ndarray:
    import cv2

    return cv2.resize(img.astype(np.float32), (hw[1], hw[0]), interpolation=interpolation)


def gan_at_scale(model, image: np.ndarray, scale: int) -> np.ndarray:
    """``(H, W, 3)`` output of ``model`` run on ``image`` downscaled ``scale`` times, upscaled back."""
    import cv2

    if scale == 1:
        return np.asarray(model.deblur(image), np.float32)
    H, W = image.shape[:2]
    small = _resize(image, (H // scale, W // scale), cv2.INTER_AREA)
    return _resize(np.asarray(model.deblur(small), np.float32), (H, W), cv2.INTER_CUBIC)


def scale_blend(outputs: dict[int, np.ndarray], coc: np.ndarray) -> np.ndarray:
    """Blend of per-scale outputs with triangular weights in ``|coc|`` (see the module docstring)."""
    c = np.abs(coc).astype(np.float32)
    w = np.stack([np.maximum(0.0, 1.0 - np.abs(c - ce) / HALF_WIDTH) for ce in CENTRES]) + 1e-6
    w /= w.sum(0)
    return sum(w[k][..., None] * outputs[s] for k, s in enumerate(SCALES))


def rl_restore(image: np.ndarray, coc: np.ndarray, iterations: int) -> np.ndarray:
    import torch

    from blurmap.deconv import deconvolve

    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))[None]).float()
    c = torch.from_numpy(np.abs(coc).astype(np.float32)[None, None])
    out = deconvolve(x, c, method="rl", iterations=iterations)
    return out[0].permute(1, 2, 0).clamp(0, 1).numpy()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="defocus", help="DefocusGAN weights (file or shipped name)")
    ap.add_argument("--map-weights", default="defocus-map", help="DefocusMapNet weights for the rl (net map) row")
    ap.add_argument("--split", default="dp-shifted", help="a dp split of blurmap bench quality")
    ap.add_argument("--count", type=int, default=12)
    ap.add_argument("--iterations", type=int, default=10, help="Richardson-Lucy iterations")
    ap.add_argument("--fit-steps", type=int, default=150)
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args(argv)

    import torch

    from blurmap.api import estimate_defocus_map, load_model
    from blurmap.bench.quality import SPLITS, score_defocus

    split = SPLITS.get(args.split)
    if split is None or split.task != "dp":
        print(f"defocus_restore_routes: --split must be a dp split, one of "
              f"{', '.join(n for n, s in SPLITS.items() if s.task == 'dp')}; got {args.split!r}", file=sys.stderr)
        return 2
    scenes = split.make(args.count, False)
    model = load_model(args.weights)
    routes: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        per_scale = [{s: gan_at_scale(model, sc["combined"], s) for s in SCALES} for sc in scenes]
    for s in SCALES:
        routes[f"gan x{s}"] = [o[s] for o in per_scale]
    routes["gan scale-aware (true map)"] = [scale_blend(o, sc["coc"]) for o, sc in zip(per_scale, scenes)]
    maps = {"true": [sc["coc"] for sc in scenes],
            "fit": [np.asarray(estimate_defocus_map(sc["left"], sc["right"], steps=args.fit_steps)) for sc in scenes],
            "net": [np.asarray(estimate_defocus_map(sc["left"], sc["right"], weights=args.map_weights))
                    for sc in scenes]}
    for name, ms in maps.items():
        routes[f"rl ({name} map)"] = [rl_restore(sc["combined"], m, args.iterations) for sc, m in zip(scenes, ms)]

    rows = []
    for route, outputs in routes.items():
        for r in score_defocus(_Outputs(outputs), scenes):
            rows.append({"route": route, **r})
    bins = list(dict.fromkeys(r["bin"] for r in rows))
    print(f"split {args.split}, {len(scenes)} scenes; PSNR gain over the input (dB)")
    print("| route | " + " | ".join(bins) + " |")
    print("|---|" + "---:|" * len(bins))
    for route in routes:
        cells = [next(r for r in rows if r["route"] == route and r["bin"] == b) for b in bins]
        print(f"| {route} | " + " | ".join(f"{c['psnr_gain']:+.2f}" if "psnr_gain" in c else "" for c in cells) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""SHA-256 of what the shipped weights output on fixed scenes: a refactor must not change them.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/shipped_output_hashes.py [-o hashes.json]

Run it on the tree before and after a change on one machine and compare the JSON: equal
hashes mean bit-identical outputs (different CPUs, thread counts or library versions may
differ in the last bit, so the hashes are not committed as a test). The scenes use only the
public API and numpy/scipy, so the script also runs on older versions of the package:

- ``defocus``: DefocusGAN on three bundled photos (240x320) defocused by a Gaussian whose
  sigma grows from 0 to 3 px across the image;
- ``local`` and ``local-mask``: BladeNet's restoration and its LBP blur mask on the same photos
  with a 96x128 window smeared by a 15 px horizontal box (a moving object);
- ``defocus-map``: the DefocusMapNet's signed CoC map on dual-pixel views made by shifting the
  left and right halves of a box kernel apart by the same growing amount.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys

import numpy as np
from scipy import ndimage

PHOTOS = ("chelsea", "coffee", "astronaut")
SIZE = (240, 320)


def _photo(name: str) -> np.ndarray:
    from skimage import data
    from skimage.transform import resize

    return resize(getattr(data, name)()[..., :3], SIZE, anti_aliasing=True).astype(np.float32)


def _ramp_blur(img: np.ndarray, sigma_max: float = 3.0, levels: int = 7) -> np.ndarray:
    """Blur growing left to right: each column takes the nearest of ``levels`` Gaussian levels."""
    w = img.shape[1]
    sigmas = np.linspace(0.0, sigma_max, levels)
    stack = [img if s == 0 else ndimage.gaussian_filter(img, (s, s, 0)) for s in sigmas]
    idx = np.rint(np.linspace(0, levels - 1, w)).astype(int)
    return np.stack([stack[i][:, c] for c, i in enumerate(idx)], axis=1).astype(np.float32)


def _moving_window(img: np.ndarray) -> np.ndarray:
    out = img.copy()
    y, x = 60, 100
    out[y:y + 96, x:x + 128] = ndimage.uniform_filter1d(img, 15, axis=1)[y:y + 96, x:x + 128]
    return out


def _dp_views(img: np.ndarray, shift_max: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Left/right views whose disparity grows left to right (column-wise nearest level)."""
    w = img.shape[1]
    lefts, rights = [], []
    for s in range(shift_max + 1):
        k = 2 * s + 1
        lefts.append(ndimage.shift(ndimage.uniform_filter1d(img, k, axis=1), (0, -s / 2, 0), order=1, mode="reflect"))
        rights.append(ndimage.shift(ndimage.uniform_filter1d(img, k, axis=1), (0, s / 2, 0), order=1, mode="reflect"))
    idx = np.rint(np.linspace(0, shift_max, w)).astype(int)
    left = np.stack([lefts[i][:, c] for c, i in enumerate(idx)], axis=1).astype(np.float32)
    right = np.stack([rights[i][:, c] for c, i in enumerate(idx)], axis=1).astype(np.float32)
    return left, right


def _digest(a) -> str:
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    return hashlib.sha256(a.tobytes() + str(a.shape).encode()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", help="also write the hashes to this JSON file")
    args = ap.parse_args(argv)

    import blurmap

    defocus = blurmap.load_model("defocus")
    local = blurmap.load_model("local")
    hashes: dict[str, str] = {}
    for name in PHOTOS:
        img = _photo(name)
        hashes[f"defocus/{name}"] = _digest(blurmap.deblur(_ramp_blur(img), defocus))
        moving = _moving_window(img)
        hashes[f"local/{name}"] = _digest(blurmap.deblur(moving, local))
        hashes[f"local-mask/{name}"] = _digest(blurmap.blur_mask(moving, weights=local))
        left, right = _dp_views(img)
        hashes[f"defocus-map/{name}"] = _digest(blurmap.estimate_defocus_map(left, right, weights="defocus-map"))
    text = json.dumps(hashes, indent=1, sort_keys=True)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Synthetic dual-pixel (DP) defocus data in the DPDD layout, with ground-truth defocus maps.

Each sample takes an all-in-focus (AiF) photo, invents a scene depth for it, turns the depth
into a signed circle-of-confusion (CoC) map and renders the left / right DP views with
:func:`blurmap.physics.defocus.render_dual_pixel` (occlusion-aware, linear light).

Scene depth, as *inverse depth* ``u`` (disparity-like; the thin-lens CoC is affine in ``1/z``,
``coc = K * (u_focus - u)``, positive behind the focal plane):

- ``layers``: a background plane (a ramp in a random direction) plus 1-3 nearer fronto-
  parallel-ish planes (small tilt). Each near plane's region is a random ellipse *snapped to
  the photo's superpixels* (Felzenszwalb segments at low resolution; a segment belongs to the
  plane if most of it lies inside the ellipse), so depth edges follow image edges like real
  object boundaries do.
- ``ramp``: one tilted plane over the whole image (a floor, a wall at an angle): the CoC
  changes sign across the image.
- ``disparity``: the real disparity of scikit-image's ``stereo_motorcycle`` (holes filled with
  the nearest valid value); disparity is inverse depth, so the mapping is exact up to K.

The focal plane is the inverse depth of a random pixel (so something is always in focus);
K is set so ``max |CoC|`` is uniform in ``[0.4, 1] * max_coc``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage.segmentation import felzenszwalb

from blurmap.errors import BlurmapError
from blurmap.io import write_image
from blurmap.synth._output import staged_output, write_manifest
from blurmap.synth.bundled import bundled_disparity
from blurmap.synth.sources import BUNDLED, ImageSource

__all__ = ["DPConfig", "random_inverse_depth", "coc_from_inverse_depth", "make_dp_sample", "split_counts", "generate_dp"]

SPLITS = ("train", "val", "test")
DPDD_SPLIT = (350, 74, 76)  # DPDD's train / val / test sizes


@dataclass
class DPConfig:
    """Parameters of the DP generator.

    Attributes:
        max_coc: largest |CoC| in px (DESIGN.md default 25).
        min_coc_frac: the sample's peak |CoC| is uniform in ``[min_coc_frac, 1] * max_coc``.
        num_layers: out-of-focus CoC layers of the renderer; None = the renderer's default
            (layer spacing <= 1 px over the map's range, i.e. ~50 layers at |CoC| <= 25).
        ramp_prob: probability of a ``ramp`` scene (else ``layers``) for photos without depth.
        gamma: CRF power law.
    """

    max_coc: float = 25.0
    min_coc_frac: float = 0.4
    num_layers: int | None = None
    ramp_prob: float = 0.3
    gamma: float = 2.2

    def to_dict(self) -> dict:
        return asdict(self)


def _plane(rng: np.random.Generator, H: int, W: int, base: float, tilt: float) -> np.ndarray:
    """``base + tilt * (direction . normalized coords)`` over an H x W grid."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    xn = 2 * xx / max(W - 1, 1) - 1
    yn = 2 * yy / max(H - 1, 1) - 1
    t = rng.uniform(0, 2 * np.pi)
    return (base + tilt * (np.cos(t) * xn + np.sin(t) * yn)).astype(np.float32)


def _snapped_ellipse(rng: np.random.Generator, segments: np.ndarray) -> np.ndarray:
    """Random ellipse mask snapped to superpixels (a segment is in if >= half of it is inside)."""
    h, w = segments.shape
    cy, cx = rng.uniform(0.15, 0.85) * h, rng.uniform(0.15, 0.85) * w
    ay, ax = rng.uniform(0.12, 0.35) * h, rng.uniform(0.12, 0.35) * w
    th = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    dy, dx = yy - cy, xx - cx
    u = (dx * np.cos(th) + dy * np.sin(th)) / ax
    v = (-dx * np.sin(th) + dy * np.cos(th)) / ay
    inside = (u * u + v * v) <= 1.0
    n = segments.max() + 1
    frac = np.bincount(segments.ravel(), weights=inside.ravel(), minlength=n) / np.maximum(
        np.bincount(segments.ravel(), minlength=n), 1
    )
    snapped = frac[segments] >= 0.5
    return snapped if snapped.any() else inside


def random_inverse_depth(rng: np.random.Generator, image: np.ndarray, kind: str) -> np.ndarray:
    """Random scene inverse depth for a photo (``layers`` or ``ramp``; see module docstring).

    Args:
        rng: numpy generator.
        image: ``(H, W, 3)`` float32 photo (its superpixels shape the ``layers`` regions).
        kind: ``"layers"`` or ``"ramp"``.
    Returns:
        ``(H, W)`` float32 inverse depth in arbitrary units (larger = nearer).
    """
    H, W = image.shape[:2]
    if kind == "ramp":
        return _plane(rng, H, W, 0.5, rng.uniform(0.3, 0.5))
    if kind != "layers":
        raise ValueError(f"unknown scene kind {kind!r}")
    u = _plane(rng, H, W, rng.uniform(0.1, 0.3), rng.uniform(0.0, 0.1))  # far background
    # Superpixels at <= 256 px (fast), masks upsampled linearly and thresholded.
    f = min(1.0, 256.0 / max(H, W))
    small = cv2.resize(image, (max(1, round(W * f)), max(1, round(H * f))), interpolation=cv2.INTER_AREA)
    segments = felzenszwalb(small, scale=100, sigma=0.8, min_size=40)
    level = 0.4
    for _ in range(int(rng.integers(1, 4))):
        m = _snapped_ellipse(rng, segments).astype(np.float32)
        # linear upsampling + threshold: smooth outlines instead of nearest-neighbour stairs
        m = cv2.resize(m, (W, H), interpolation=cv2.INTER_LINEAR) >= 0.5
        level += rng.uniform(0.1, 0.25)  # each new plane nearer than the previous ones
        u = np.where(m, _plane(rng, H, W, level, rng.uniform(0.0, 0.04)), u)
    return u.astype(np.float32)


def coc_from_inverse_depth(
    rng: np.random.Generator, u: np.ndarray, max_coc: float, min_frac: float = 0.4
) -> tuple[np.ndarray, dict]:
    """Signed CoC map ``K * (u_focus - u)`` with the focal plane at a random pixel's depth.

    Args:
        rng: numpy generator.
        u: ``(H, W)`` inverse depth (larger = nearer).
        max_coc: upper bound of ``|CoC|`` (px).
        min_frac: the peak ``|CoC|`` is uniform in ``[min_frac, 1] * max_coc``.
    Returns:
        ``(coc (H, W) float32 px, info dict with focus and K)``; positive behind focus.
    """
    flat = u.ravel()
    u_f = float(flat[int(rng.integers(flat.size))])
    spread = float(np.abs(u_f - flat).max())
    peak = rng.uniform(min_frac, 1.0) * max_coc
    k = peak / spread if spread > 1e-8 else 0.0
    coc = np.clip(k * (u_f - u), -max_coc, max_coc).astype(np.float32)
    return coc, {"focus_inverse_depth": round(u_f, 6), "gain": round(k, 6), "peak_coc": round(float(np.abs(coc).max()), 4)}


def _fit(img: np.ndarray, size: tuple[int, int] | None, rng: np.random.Generator, extra: np.ndarray | None = None):
    """Resize to cover ``size`` (H, W) and random-crop; apply the same to ``extra`` (a map)."""
    if size is None:
        return img, extra
    H, W = size
    h, w = img.shape[:2]
    f = max(H / h, W / w)
    if abs(f - 1) > 1e-9:
        nw, nh = max(W, round(w * f)), max(H, round(h * f))
        interp = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
        img = np.clip(cv2.resize(img, (nw, nh), interpolation=interp), 0, 1)
        if extra is not None:
            extra = cv2.resize(extra, (nw, nh), interpolation=cv2.INTER_LINEAR)
        h, w = nh, nw
    y = int(rng.integers(0, h - H + 1))
    x = int(rng.integers(0, w - W + 1))
    img = img[y : y + H, x : x + W]
    if extra is not None:
        extra = extra[y : y + H, x : x + W]
    return np.ascontiguousarray(img), extra


def make_dp_sample(
    image: np.ndarray,
    rng: np.random.Generator,
    size: tuple[int, int] | None = None,
    config: DPConfig | None = None,
    disparity: np.ndarray | None = None,
) -> dict:
    """One DP sample: AiF, CoC map and the rendered views.

    Args:
        image: ``(H, W, 3)`` float32 AiF photo in ``[0, 1]``.
        rng: numpy generator (the only source of randomness).
        size: output ``(H, W)`` (resize to cover + random crop), None keeps the photo's size.
        config: generator parameters.
        disparity: optional ``(H, W)`` real disparity of the photo (used instead of a random scene).
    Returns:
        dict of float32 numpy arrays ``aif``, ``left``, ``right``, ``combined`` ``(H, W, 3)``,
        ``coc`` ``(H, W)`` signed px, and ``info`` (scene kind, focus, gain).
    """
    from blurmap.physics.defocus import render_dual_pixel

    cfg = config or DPConfig()
    aif, disp = _fit(np.asarray(image, dtype=np.float32), size, rng, disparity)
    if disp is not None:
        kind, u = "disparity", disp.astype(np.float32)
    else:
        kind = "ramp" if rng.random() < cfg.ramp_prob else "layers"
        u = random_inverse_depth(rng, aif, kind)
    coc, info = coc_from_inverse_depth(rng, u, cfg.max_coc, cfg.min_coc_frac)
    with torch.no_grad():
        a = torch.from_numpy(aif.transpose(2, 0, 1).copy())[None]
        c = torch.from_numpy(coc)[None, None]
        left, right, combined = render_dual_pixel(
            a, c, num_layers=cfg.num_layers, gamma=cfg.gamma, max_radius=cfg.max_coc
        )

    def img(t: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(t[0].clamp(0, 1).permute(1, 2, 0).numpy(), dtype=np.float32)

    return {
        "aif": aif,
        "left": img(left),
        "right": img(right),
        "combined": img(combined),
        "coc": coc,
        "info": {"scene": kind, **info},
    }


def split_counts(count: int) -> tuple[int, int, int]:
    """Train / val / test sizes in DPDD's proportions (350/74/76); each split gets at least one
    sample when ``count >= 3``.

    Returns:
        ``(n_train, n_val, n_test)`` summing to ``count``.
    """
    total = sum(DPDD_SPLIT)
    n_val = round(count * DPDD_SPLIT[1] / total)
    n_test = round(count * DPDD_SPLIT[2] / total)
    if count >= 3:
        n_val, n_test = max(n_val, 1), max(n_test, 1)
    n_train = count - n_val - n_test
    return n_train, n_val, n_test


def generate_dp(
    images: str | os.PathLike,
    out: str | os.PathLike,
    count: int,
    *,
    seed: int = 0,
    size: tuple[int, int] | None = None,
    max_coc: float = 25.0,
    overwrite: bool = False,
    config: DPConfig | None = None,
) -> Path:
    """Write a synthetic DP dataset in the DPDD layout, plus ground-truth CoC maps.

    Layout (16-bit sRGB PNG; pairs ``source``/``target`` by sorted order like DPDD)::

        OUT/{train,val,test}_c/source/1P0A0000.png    combined view (the blurred input)
        OUT/{train,val,test}_c/target/1P0A0001.png    all-in-focus (next frame number)
        OUT/{train,val,test}_l/source/1P0A0000_L.png  left DP view
        OUT/{train,val,test}_r/source/1P0A0000_R.png  right DP view
        OUT/{train,val,test}_c/coc/1P0A0000.npy       float32 (H, W) signed CoC, px
        OUT/manifest.json                             parameters, seed, per-sample scene info

    Sample ``i`` uses photo ``i mod len(images)`` and ``default_rng([seed, i])``; samples
    ``0..n_train-1`` go to train, then val, then test (:func:`split_counts`). The bundled
    ``motorcycle_left`` photo uses its real disparity.

    Args:
        images: ``"bundled"`` or a folder of all-in-focus photos.
        out: output folder (must not exist or be empty, unless ``overwrite``).
        count: number of samples (>= 1).
        seed: base seed.
        size: ``(H, W)``; None keeps each photo's size (DPDD itself is 1120 x 1680).
        max_coc: largest |CoC| (px).
        overwrite: replace a non-empty ``out``.
        config: generator parameters (``max_coc`` overrides ``config.max_coc``).
    Returns:
        The output folder. Nothing is left behind on error.
    """
    if count < 1:
        raise BlurmapError(f"--count must be >= 1, got {count}")
    if not max_coc > 0:
        raise BlurmapError(f"--max-coc must be > 0, got {max_coc}")
    cfg = config or DPConfig()
    cfg = DPConfig(**{**cfg.to_dict(), "max_coc": float(max_coc)})
    src = ImageSource(images)
    disparity = None
    if src.spec == BUNDLED:
        disparity = bundled_disparity()[1]
    n_train, n_val, n_test = split_counts(count)
    split_of = ["train"] * n_train + ["val"] * n_val + ["test"] * n_test
    width = max(4, len(str(2 * count - 1)))
    out = Path(out)
    with staged_output(out, overwrite) as tmp:
        for split in SPLITS:
            for d in (f"{split}_c/source", f"{split}_c/target", f"{split}_c/coc", f"{split}_l/source", f"{split}_r/source"):
                (tmp / d).mkdir(parents=True)
        samples = []
        for i in range(count):
            rng = np.random.default_rng([seed, i])
            k = i % len(src)
            photo, _ = src.load(k)
            disp = disparity if (disparity is not None and src.names[k] == "motorcycle_left") else None
            s = make_dp_sample(photo, rng, size, cfg, disp)
            split = split_of[i]
            stem = f"1P0A{2 * i:0{width}d}"
            target = f"1P0A{2 * i + 1:0{width}d}"
            write_image(tmp / f"{split}_c/source/{stem}.png", s["combined"], bits=16)
            write_image(tmp / f"{split}_c/target/{target}.png", s["aif"], bits=16)
            write_image(tmp / f"{split}_l/source/{stem}_L.png", s["left"], bits=16)
            write_image(tmp / f"{split}_r/source/{stem}_R.png", s["right"], bits=16)
            np.save(tmp / f"{split}_c/coc/{stem}.npy", s["coc"])
            samples.append({"split": split, "source": stem, "target": target, "image": src.names[k], **s["info"]})
        write_manifest(
            tmp,
            {
                "generator": "blurmap synth dp",
                "layout": "DPDD (dd_dp_dataset_canon) + {split}_c/coc/<source stem>.npy float32 (H, W) signed CoC px",
                "seed": seed,
                "count": count,
                "splits": {"train": n_train, "val": n_val, "test": n_test},
                "size_hw": list(size) if size else None,
                "images": str(images),
                "config": cfg.to_dict(),
                "samples": samples,
            },
        )
    return out

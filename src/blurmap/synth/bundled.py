"""Bundled photos and object cut-outs (scikit-image's sample data; no download needed).

``bundled_images()`` returns the photos used for demos, tests and as a background bank when no
dataset is given. ``bundled_objects()`` is the offline stand-in for the PASCAL VOC object bank
of the LODE LBS: objects cut from the bundled photos by masks made here:

- GrabCut (OpenCV's graph-cut segmentation, initialised with a hand-chosen rectangle, run on a
  copy downscaled to 256 px on the long side for speed, fixed RNG seed so it is deterministic)
  for the photos with one clear subject: chelsea's cat, the coffee cup, the astronaut's head.
- Simple geometric masks (ellipse, star polygon, blob of disks) over textured crops of
  immunohistochemistry, retina and the motorcycle, so the bank also holds objects with hard,
  synthetic outlines and textures unlike natural objects.

Alpha edges are feathered by a Gaussian of sigma 0.7 px (cut-outs from real segmentations
have soft, anti-aliased edges too). Everything is computed once per process and cached.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from scipy import ndimage
from skimage import data as skdata
from skimage import draw

from blurmap.data.cutout import Cutout, crop_to_alpha

__all__ = ["BUNDLED_NAMES", "TEXTURE_NAMES", "bundled_images", "bundled_image", "bundled_objects", "bundled_disparity",
           "bundled_split"]

BUNDLED_NAMES = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "immunohistochemistry",
    "retina",
    "motorcycle_left",
)

#: More scikit-image samples, used only as extra *training* content for the DP recipes
#: (``synthetic_textures: true``): fine natural textures (brick, grass, gravel), grey-scale
#: photos (camera, coins, moon) and hard edges (page, text, the Hubble field's point sources).
#: Grey-scale ones are repeated to 3 channels. Not part of ``bundled_images()`` (demos, LBS).
TEXTURE_NAMES = ("brick", "grass", "gravel", "camera", "coins", "moon", "page", "text", "hubble_deep_field")


def _load(name: str) -> np.ndarray:
    if name == "motorcycle_left":
        img = skdata.stereo_motorcycle()[0]
    else:
        img = getattr(skdata, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3], dtype=np.float32) / 255.0


@functools.lru_cache(maxsize=None)
def _cached(name: str) -> np.ndarray:
    arr = _load(name)
    arr.setflags(write=False)
    return arr


def bundled_image(name: str) -> np.ndarray:
    """One bundled photo by name (see ``BUNDLED_NAMES``) as float32 ``(H, W, 3)`` in ``[0, 1]``."""
    if name not in BUNDLED_NAMES and name not in TEXTURE_NAMES:
        raise KeyError(f"unknown bundled image {name!r}; known: {', '.join(BUNDLED_NAMES + TEXTURE_NAMES)}")
    return _cached(name).copy()


def bundled_images() -> list[np.ndarray]:
    """The bundled photos (astronaut, chelsea, coffee, rocket, immunohistochemistry, retina,
    motorcycle left) as float32 ``(H, W, 3)`` sRGB arrays in ``[0, 1]`` (fresh copies)."""
    return [bundled_image(n) for n in BUNDLED_NAMES]


def bundled_split(holdout_names, holdout: bool, textures: bool = False) -> list[np.ndarray]:
    """The bundled photos on one side of a train/held-out split.

    Args:
        holdout_names: names kept out of training: bundled photos (``BUNDLED_NAMES``) and, for
            runs with ``textures``, texture samples (``TEXTURE_NAMES``, e.g. ``camera``, so a
            benchmark can score on it).
        holdout: True for the held-out photos, False for the training ones.
        textures: add the ``TEXTURE_NAMES`` images not held out to the training side (never
            to the held-out side, so validation numbers stay comparable).
    Returns:
        list of HxWx3 float32 photos in ``BUNDLED_NAMES`` order (then ``TEXTURE_NAMES``).
    Raises:
        ConfigError: an unknown name, or a split that leaves one side empty.
    """
    from blurmap.errors import ConfigError

    unknown = [n for n in holdout_names if n not in BUNDLED_NAMES + TEXTURE_NAMES]
    if unknown:
        raise ConfigError(f"synthetic_holdout: unknown bundled photo {unknown[0]!r}; "
                          f"known: {', '.join(BUNDLED_NAMES + TEXTURE_NAMES)}")
    names = [n for n in BUNDLED_NAMES if (n in holdout_names) == holdout]
    if holdout:
        names += [n for n in TEXTURE_NAMES if n in holdout_names]
    if not names:
        raise ConfigError("synthetic_holdout leaves no photos for " + ("validation" if holdout else "training"))
    if textures and not holdout:
        names += [n for n in TEXTURE_NAMES if n not in holdout_names]
    return [bundled_image(n) for n in names]


def bundled_disparity() -> tuple[np.ndarray, np.ndarray]:
    """The motorcycle stereo pair's left image and its disparity with holes filled.

    Returns:
        ``(image (H, W, 3) float32, disparity (H, W) float32 px)``; the ground truth's
        invalid (inf/nan) pixels take the value of the nearest valid pixel.
    """
    left, _, disp = skdata.stereo_motorcycle()
    disp = np.asarray(disp, dtype=np.float32)
    bad = ~np.isfinite(disp)
    if bad.any():
        idx = ndimage.distance_transform_edt(bad, return_distances=False, return_indices=True)
        disp = disp[tuple(idx)]
    return np.asarray(left, dtype=np.float32) / 255.0, disp


# (photo, GrabCut rectangle x, y, w, h in the photo's pixels)
_GRABCUT = (
    ("chelsea", (60, 20, 300, 280)),
    ("coffee", (90, 20, 450, 330)),
    ("astronaut", (140, 10, 190, 210)),
)


def _grabcut_alpha(img: np.ndarray, rect: tuple[int, int, int, int], long_side: int = 256) -> np.ndarray:
    h, w = img.shape[:2]
    f = long_side / max(h, w)
    small = cv2.resize((img * 255).astype(np.uint8), (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    r = tuple(int(round(v * f)) for v in rect)
    m = np.zeros(small.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(0)
    cv2.grabCut(small[..., ::-1].copy(), m, r, bgd, fgd, 4, cv2.GC_INIT_WITH_RECT)
    fg = ((m == cv2.GC_FGD) | (m == cv2.GC_PR_FGD)).astype(np.float32)
    # Drop specks: keep connected components of at least 10 % of the largest one.
    lab, n = ndimage.label(fg > 0)
    if n > 1:
        sizes = np.asarray(ndimage.sum(fg > 0, lab, index=range(1, n + 1)))
        keep = np.flatnonzero(sizes >= 0.1 * sizes.max()) + 1
        fg = np.isin(lab, keep).astype(np.float32)
    fg = ndimage.binary_fill_holes(fg > 0).astype(np.float32)
    return cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR)


def _feather(mask: np.ndarray) -> np.ndarray:
    return np.clip(ndimage.gaussian_filter(mask.astype(np.float32), 0.7), 0.0, 1.0)


def _geometric_objects() -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    ihc = _cached("immunohistochemistry")[120:340, 140:420]
    m = np.zeros(ihc.shape[:2], np.float32)
    rr, cc = draw.ellipse(110, 140, 100, 130, shape=m.shape, rotation=0.4)
    m[rr, cc] = 1
    out.append(("immunohistochemistry-ellipse", ihc, m))

    ret = cv2.resize(np.asarray(_cached("retina")[450:950, 450:950]), (250, 250), interpolation=cv2.INTER_AREA)
    ang = np.linspace(0, 2 * np.pi, 11)[:-1] + 0.3
    rad = np.where(np.arange(10) % 2 == 0, 118.0, 50.0)
    m = np.zeros(ret.shape[:2], np.float32)
    rr, cc = draw.polygon(124 + rad * np.sin(ang), 124 + rad * np.cos(ang), shape=m.shape)
    m[rr, cc] = 1
    out.append(("retina-star", ret, m))

    moto = _cached("motorcycle_left")[150:400, 200:520]
    m = np.zeros(moto.shape[:2], np.float32)
    for cy, cx, r in ((125, 100, 70), (110, 180, 80), (140, 240, 60), (90, 150, 55)):
        rr, cc = draw.disk((cy, cx), r, shape=m.shape)
        m[rr, cc] = 1
    out.append(("motorcycle-blob", moto, m))
    return out


@functools.lru_cache(maxsize=1)
def _objects() -> tuple[Cutout, ...]:
    cuts = []
    for name, rect in _GRABCUT:
        img = _cached(name)
        fg = _grabcut_alpha(img, rect) > 0.5
        # Objects cut by the photo's border (the cat's chest) get a soft edge there too.
        fg[:2], fg[-2:], fg[:, :2], fg[:, -2:] = False, False, False, False
        alpha = _feather(fg)
        c = crop_to_alpha(img, alpha, f"bundled:{name}", pad=2)
        if c is not None:
            cuts.append(c)
    for name, img, m in _geometric_objects():
        c = crop_to_alpha(np.asarray(img), _feather(m), f"bundled:{name}", pad=2)
        if c is not None:
            cuts.append(c)
    for c in cuts:
        c.rgb.setflags(write=False)
        c.alpha.setflags(write=False)
    return tuple(cuts)


def bundled_objects() -> list[Cutout]:
    """Object cut-outs made from the bundled photos (offline fallback for PASCAL VOC).

    Returns:
        List of :class:`~blurmap.data.cutout.Cutout` (``rgb (h, w, 3)``, ``alpha (h, w)``,
        float32, read-only arrays shared between calls; copy before editing).
    """
    return list(_objects())

"""Content held out of every training recipe, and the *shifted* scenes built from it.

The distribution-shift split of ``blurmap bench quality`` must show models scenes no recipe can
train on. Everything below is unreachable from the source specs the recipes and generators
accept (``bundled``, ``procedural``, folders; :mod:`blurmap.synth.sources`), from the PSF
families of ``--psf`` and from the tone curves of :class:`~blurmap.synth.camera.CameraConfig`'s
training set; ``tests/test_holdout.py`` checks this for every shipped config.

Held out:

- **photos**: ``grace_hopper`` (matplotlib's sample portrait) and scikit-image's ``clock`` and
  ``cell`` (no bundled photo or texture sample);
- **objects**: scikit-image's ``horse`` silhouette textured with held-out photo windows,
  matplotlib's ``present`` (an RGBA product shot) and scikit-image's ``logo`` (RGBA);
- **textures**: ``voronoi`` and ``rings`` (:data:`blurmap.synth.textures.HELD_OUT_KINDS`);
- **scene layout**: ``ground`` (a ground plane receding to a horizon with upright leaves standing
  on it; training scenes are stacks of surfaces);
- **DP PSF**: ``aberrated``, a bright-rim profile (spherical-aberration-like) with a soft
  anti-aliased edge, a smoothstep light split with a floor, unequal left and right ramps and a
  vignetted split; no training family has its profile or its ramp;
- **tone curve**: ``filmic`` (:data:`blurmap.synth.camera.HELD_OUT_TONE_CURVES`);
- **motion**: curved paths (``turn``; training paths are straight with jitter).

Blur *ranges* of the shifted split (|CoC| up to 20 px; 12-40 px of motion with up to 10 degrees
of rotation and 15 % of scale) lie inside the ranges the current recipes train on: they are
what real photos show, not something a model should never have seen.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch

from blurmap.data.cutout import Cutout, crop_to_alpha
from blurmap.physics.psf import PSFSpec
from blurmap.synth.camera import CameraConfig
from blurmap.synth.textures import HELD_OUT_KINDS

__all__ = ["HELD_OUT_PHOTOS", "HELD_OUT_OBJECTS", "HELD_OUT_PSFS", "HELD_OUT_LAYOUTS", "held_out_photos",
           "held_out_objects", "shifted_dp_scene", "shifted_local_sample", "SHIFTED_CAMERA_DP",
           "SHIFTED_CAMERA_LOCAL", "SHIFTED_MOTION"]

HELD_OUT_PHOTOS = ("grace_hopper", "clock", "cell")
HELD_OUT_OBJECTS = ("horse", "present", "logo")
HELD_OUT_LAYOUTS = ("ground",)
HELD_OUT_PSFS = {
    "aberrated": PSFSpec(profile="rim", rim=1.5, smoothing=0.0, ramp="smoothstep", split_floor=0.04,
                         asymmetry=0.25, vignetting=0.12),
}
#: the shifted scenes' cameras: the held-out tone curve; light noise on local samples
SHIFTED_CAMERA_DP = CameraConfig(tone_curves=("filmic",))
SHIFTED_CAMERA_LOCAL = CameraConfig(tone_curves=("filmic",), noise=2e-4, read_noise=2e-3)


def _shifted_motion():
    from blurmap.physics.motion import MotionRanges

    return MotionRanges(extent=(12.0, 40.0), rotation=10.0, scale=0.15, turn=60.0)


SHIFTED_MOTION = _shifted_motion()


def _rgb(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return np.ascontiguousarray(a[..., :3], dtype=np.float32) / 255.0


def _mpl_sample(name: str) -> np.ndarray:
    import matplotlib.cbook as cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data(name, asfileobj=False)) as im:
        return np.asarray(im.convert("RGBA"))


@functools.lru_cache(maxsize=1)
def _photos() -> dict[str, np.ndarray]:
    from skimage import data as skdata

    photos = {"grace_hopper": _rgb(_mpl_sample("grace_hopper.jpg")), "clock": _rgb(skdata.clock()),
              "cell": _rgb(skdata.cell())}
    for p in photos.values():
        p.setflags(write=False)
    return photos


def held_out_photos() -> dict[str, np.ndarray]:
    """The held-out photos by name, float32 ``(H, W, 3)`` sRGB in [0, 1] (read-only)."""
    return dict(_photos())


@functools.lru_cache(maxsize=1)
def _objects() -> tuple[Cutout, ...]:
    from scipy import ndimage
    from skimage import data as skdata

    cuts = []
    horse = ~skdata.horse()  # the silhouette is False on white
    alpha = np.clip(ndimage.gaussian_filter(horse.astype(np.float32), 0.7), 0, 1)
    tex = cv2.resize(_photos()["grace_hopper"][40:440, 30:500], (alpha.shape[1], alpha.shape[0]),
                     interpolation=cv2.INTER_AREA)
    cuts.append(crop_to_alpha(tex, alpha, "holdout:horse", pad=2))
    present = _mpl_sample("Minduka_Present_Blue_Pack.png")
    cuts.append(crop_to_alpha(_rgb(present), present[..., 3].astype(np.float32) / 255.0, "holdout:present", pad=1))
    logo = skdata.logo()
    cuts.append(crop_to_alpha(_rgb(logo), logo[..., 3].astype(np.float32) / 255.0, "holdout:logo", pad=1))
    for c in cuts:
        c.rgb.setflags(write=False)
        c.alpha.setflags(write=False)
    return tuple(cuts)


def held_out_objects() -> list[Cutout]:
    """The held-out object cut-outs (read-only arrays)."""
    return list(_objects())


def _held_out_procedural(**kw):
    from blurmap.synth.procedural import ProceduralConfig

    return ProceduralConfig(textures=("flat", "gradient", *HELD_OUT_KINDS, "photo"), **kw)


def _photo_window(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, str]:
    names = list(_photos())
    name = names[int(rng.integers(len(names)))]
    photo = _photos()[name]
    H, W = size
    h, w = photo.shape[:2]
    f = max(H / h, W / w) * float(np.exp(rng.uniform(0.0, np.log(1.6))))
    img = cv2.resize(photo, (max(W, round(w * f)), max(H, round(h * f))), interpolation=cv2.INTER_AREA if f < 1
                     else cv2.INTER_CUBIC)
    y, x = int(rng.integers(0, img.shape[0] - H + 1)), int(rng.integers(0, img.shape[1] - W + 1))
    return np.ascontiguousarray(np.clip(img[y : y + H, x : x + W], 0, 1)), name


def shifted_dp_scene(index: int, seed: int, size: tuple[int, int], max_coc: float = 20.0) -> dict:
    """Scene ``index`` of the shifted dual-pixel split.

    Even scenes are procedural ``ground`` layouts with held-out textures (and held-out photo
    windows as textures); odd scenes are a held-out photo seen as a floor or wall at an angle
    (its inverse depth rises linearly from top to bottom, with a random tilt). The focal plane
    is at a random pixel (one scene in five: beyond the scene, nothing in focus); peak |CoC| is
    uniform in ``[0.4, 1] * max_coc``. Rendered with the ``aberrated`` PSF and the ``filmic``
    tone curve.

    Returns:
        :func:`~blurmap.synth.dp.make_dp_sample`'s dict (``aif``, ``left``, ``right``,
        ``combined`` ``(H, W, 3)``, ``coc`` ``(H, W)``, ``info`` with the photo name).
    """
    from blurmap.synth.dp import DPConfig, make_dp_sample
    from blurmap.synth.procedural import procedural_scene

    rng = np.random.default_rng([seed, index, 0x5D])
    H, W = size
    if index % 2 == 0:
        scene = procedural_scene(rng, (H, W), _held_out_procedural(layout="ground", leaves=(30, 100)),
                                 list(_photos().values()))
        image, depth, name = scene["image"], scene["inverse_depth"], "procedural-ground"
    else:
        image, name = _photo_window(rng, (H, W))
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        tilt = rng.uniform(-0.3, 0.3)
        depth = (yy / max(H - 1, 1) + tilt * (xx / max(W - 1, 1) - 0.5)).astype(np.float32)
    cfg = DPConfig(max_coc=max_coc, psf=HELD_OUT_PSFS["aberrated"], nothing_in_focus=0.2, camera=SHIFTED_CAMERA_DP)
    s = make_dp_sample(image, rng, None, cfg, depth, "shifted")
    s["info"]["image"] = name
    return s


class _HeldOutObjects:
    """Held-out cut-outs and procedural shapes with held-out textures (an object bank)."""

    def __init__(self):
        from blurmap.synth.sources import ProceduralObjects

        self.fixed = held_out_objects()
        self.shapes = ProceduralObjects((60, 260), _held_out_procedural(), list(_photos().values()))

    def random_cutout(self, rng: np.random.Generator) -> Cutout:
        if rng.random() < 0.6:
            return self.fixed[int(rng.integers(len(self.fixed)))]
        return self.shapes.random_cutout(rng)


def shifted_local_sample(index: int, seed: int, size: tuple[int, int]) -> dict:
    """Sample ``index`` of the shifted local-blur split.

    Backgrounds: a held-out photo window (even samples) or a procedural stack of held-out
    textures (odd samples); 1-2 moving objects and 0-2 static ones from the held-out objects and
    held-out-texture shapes, at 1x object scale capped at 40 % of the shorter side; motion
    :data:`SHIFTED_MOTION` (12-40 px, curved paths); the ``filmic`` tone curve and light noise.

    Returns:
        :func:`~blurmap.synth.local.make_local_sample`'s dict (``blur``, ``sharp`` ``(3, H, W)``,
        ``mask`` ``(1, H, W)``, ``info``).
    """
    from blurmap.synth.local import LocalBlurConfig, make_local_sample
    from blurmap.synth.procedural import procedural_scene

    rng = np.random.default_rng([seed, index, 0x10C])
    H, W = size
    if index % 2 == 0:
        bg, name = _photo_window(rng, (H, W))
    else:
        bg = procedural_scene(rng, (H, W), _held_out_procedural(), list(_photos().values()))["image"]
        name = "procedural-held-out"
    cfg = LocalBlurConfig(num_moving=int(rng.integers(1, 3)), num_static=(0, 2), object_scale=1.0,
                          max_object_frac=0.4, motion=SHIFTED_MOTION, camera=SHIFTED_CAMERA_LOCAL)
    with torch.no_grad():
        s = make_local_sample(bg, _HeldOutObjects(), rng, (H, W), cfg)
    s["info"]["background"] = name
    return s

"""On-the-fly synthetic dual-pixel (DP) scenes as a torch dataset (training and validation data).

One class, :class:`SyntheticDPDataset`, serves both DP recipes: the defocus-map recipe (new
scenes every epoch, DP views needed) and the DefocusGAN recipe (a fixed, cached set of scenes,
optionally the all-out-of-focus ``plane`` curriculum). For the same arguments it renders the
same bits as the two classes it replaced (``SyntheticDPScenes`` and ``SyntheticDP``), so runs
and weights trained with those are reproducible.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from blurmap.errors import BlurmapError, ConfigError
from blurmap.io import array_to_chw

__all__ = ["SyntheticDPDataset", "SCENES", "KEYS"]

#: scene types (see :class:`SyntheticDPDataset`)
SCENES = ("random", "plane", "mixed")
#: every key an item can have
KEYS = ("blur", "sharp", "left", "right", "coc", "name")


def _cover_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Scale ``(H, W, 3)`` so its short side is ``size`` (area filter), then a random square crop."""
    import cv2

    h, w = image.shape[:2]
    f = size / min(h, w)
    if abs(f - 1) > 1e-9:
        image = cv2.resize(image, (max(size, round(w * f)), max(size, round(h * f))),
                           interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
    h, w = image.shape[:2]
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return np.ascontiguousarray(np.clip(image[y:y + size, x:x + size], 0, 1))


def render_plane_scene(photo: np.ndarray, size: int, max_coc: float, rng: np.random.Generator,
                       config=None) -> dict:
    """A random square crop of ``photo`` seen as one slightly slanted plane, all out of focus.

    The CoC at the centre is ``c0 = u * max_coc * sign`` with ``u ~ U(0.3, 1)`` and a random
    sign; it varies linearly by ``+-0.3 * c0 * 0.5`` (so ``+-15 %``) towards the crop's edges
    along a random direction (the corners reach ``1 +- 0.3 / sqrt(2)``, i.e. ``+-21 %``, only on
    diagonal directions; everywhere ``|CoC| >= 0.3 * (1 - 0.3 / sqrt(2)) * max_coc``). Rendered
    with :func:`blurmap.physics.defocus.render_dual_pixel` with a CoC limit of ``1.2 * max_coc``
    (the returned map is not clipped: in a corner it can reach ``1.21 * max_coc``).

    Args:
        photo: ``(H, W, 3)`` all-in-focus sRGB photo in [0, 1].
        size: side of the square crop (px).
        max_coc: CoC scale (px).
        rng: numpy generator (the only source of randomness).
        config: optional :class:`~blurmap.synth.dp.DPConfig` whose ``psf`` and ``camera`` tone
            curve the render uses (its CoC fields are not used).
    Returns:
        dict of tensors: ``aif``, ``left``, ``right``, ``combined`` ``(3, size, size)`` sRGB in
        [0, 1] and ``coc`` ``(1, size, size)`` signed px.
    """
    from blurmap.physics.defocus import render_dual_pixel

    aif = _cover_crop(np.asarray(photo, dtype=np.float32), size, rng)
    n = size
    c0 = rng.uniform(0.3, 1.0) * max_coc * rng.choice([-1.0, 1.0])
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:n, 0:n] / max(n - 1, 1) - 0.5
    coc = (c0 * (1 + 0.3 * (np.cos(angle) * xx + np.sin(angle) * yy))).astype(np.float32)
    psf, crf = None, None
    if config is not None:
        psf = config.draw_psf(rng)
        if not config.camera.is_identity:
            crf = config.camera.draw(rng).crf
    with torch.no_grad():
        a = array_to_chw(aif)[None]
        left, right, combined = render_dual_pixel(a, torch.from_numpy(coc)[None, None], max_radius=max_coc * 1.2,
                                                  psf=psf, crf=crf)
    return {"aif": a[0], "left": left[0].clamp(0, 1), "right": right[0].clamp(0, 1),
            "combined": combined[0].clamp(0, 1), "coc": torch.from_numpy(coc)[None]}


#: keys of ``scene_options`` (see :func:`dp_scene_config`)
SCENE_OPTIONS = ("psf", "eq3_share", "min_coc_frac", "nothing_in_focus", "all_in_focus", "tone_curves", "noise",
                 "read_noise", "vignetting", "jpeg_prob", "jpeg_quality", "procedural")


def dp_scene_config(max_coc: float, options: dict | None = None):
    """The :class:`~blurmap.synth.dp.DPConfig` and procedural config a recipe's ``scene_options`` ask for.

    Keys (all optional): ``psf`` (a ``--psf`` value: family name, ``random``, ``.npy`` table),
    ``eq3_share`` (with ``psf: random``, the share of scenes with the eq. 3 kernel), ``min_coc_frac``,
    ``nothing_in_focus``, ``all_in_focus``, the
    :class:`~blurmap.synth.camera.CameraConfig` fields (``tone_curves``, ``noise``,
    ``read_noise``, ``vignetting``, ``jpeg_prob``, ``jpeg_quality``) and ``procedural`` (a dict of
    :class:`~blurmap.synth.procedural.ProceduralConfig` fields).

    Returns:
        ``(DPConfig, ProceduralConfig or None)``.
    Raises:
        ConfigError: an unknown key or a bad value.
    """
    from blurmap.physics.psf import parse_psf
    from blurmap.synth.camera import CameraConfig
    from blurmap.synth.dp import DPConfig
    from blurmap.synth.procedural import ProceduralConfig

    opts = dict(options or {})
    bad = sorted(set(opts) - set(SCENE_OPTIONS))
    if bad:
        raise ConfigError(f"scene_options: unknown key {bad[0]!r}; known: {', '.join(SCENE_OPTIONS)}")
    cam_keys = ("tone_curves", "noise", "read_noise", "vignetting", "jpeg_prob", "jpeg_quality")
    cam = {k: (tuple(opts[k]) if k in ("tone_curves", "jpeg_quality") else opts[k]) for k in cam_keys if k in opts}
    proc = opts.get("procedural")
    try:
        procedural = None if proc is None else ProceduralConfig(**{k: tuple(v) if isinstance(v, (list, tuple)) else v
                                                                   for k, v in dict(proc).items()})
        cfg = DPConfig(max_coc=float(max_coc), psf=parse_psf(opts["psf"]) if opts.get("psf") else None,
                       eq3_share=float(opts.get("eq3_share", 0.0)),
                       min_coc_frac=float(opts.get("min_coc_frac", 0.4)),
                       nothing_in_focus=float(opts.get("nothing_in_focus", 0.0)),
                       all_in_focus=float(opts.get("all_in_focus", 0.0)), camera=CameraConfig(**cam))
    except TypeError as ex:
        raise ConfigError(f"scene_options: {ex}") from None
    except BlurmapError as ex:
        raise ConfigError(f"scene_options: {ex}") from None
    return cfg, procedural


class SyntheticDPDataset(torch.utils.data.Dataset):
    """DP scenes rendered from photos: blurred (combined) view, AiF target, DP views, CoC map.

    Sample ``i`` (taken modulo ``count``) uses photo ``i mod len(photos)`` and its own numpy
    generator:

    * ``fixed=True``: ``numpy.random.default_rng([seed, i])`` — the same scene for the same
      ``i`` every time (validation sets, cached training sets);
    * ``fixed=False``: ``default_rng(numpy.random.randint(2**31))``, drawn from numpy's global
      RNG (which the training engine seeds per sample and step), so every epoch sees new scenes
      and a resumed run sees the same ones. ``seed`` is then unused.

    Scene types:

    * ``"random"``: :func:`blurmap.synth.dp.make_dp_sample` (layered or ramp depth, focal plane
      at a random pixel so part of the scene is sharp; peak ``|CoC|`` in ``[0.4, 1] * max_coc``,
      ``|CoC| <= max_coc``);
    * ``"plane"``: :func:`render_plane_scene` (everything out of focus: an easier, nearly
      uniform-blur curriculum);
    * ``"mixed"``: even ``i`` random, odd ``i`` plane.

    Args:
        photos: list of ``(H, W, 3)`` float32 sRGB photos in [0, 1].
        count: number of distinct scenes (indices ``0 .. count - 1``).
        size: side of the square samples (px).
        max_coc: CoC scale in px (see the scene types).
        seed: base seed of ``fixed`` mode.
        fixed: scenes fixed by index (True) or fresh per draw (False).
        cache: keep rendered samples in memory (only with ``fixed=True``). Items share the
            cached tensors: transforms must not modify them in place.
        scene: ``"random"``, ``"plane"`` or ``"mixed"``.
        repeats: the dataset's length is ``count * repeats`` (a longer virtual epoch); index
            ``i`` and ``i + count`` are the same scene in ``fixed`` mode.
        keys: the item keys to return, a subset of :data:`KEYS` (default: all).
        zoom: content scale range (>= 1). At 1 (default) the whole photo is scaled so its
            short side is ``size`` before the scene's random crop, i.e. every scene of a photo
            shows nearly the same content at the same scale. Above 1, a random square window of
            side ``size * z`` is cut from the photo first, with ``z`` log-uniform in
            ``[1, min(zoom, short side / size)]``: from the photo's native resolution (``z = 1``)
            to a ``zoom`` times wider view (at most the whole photo). More distinct content and
            texture scales is what stops a deblurring net trained on a handful of photos from
            memorising them. The draws come from the sample's own generator before the
            scene's, so ``zoom=1`` renders the same bits as before this option existed.
        source: a scene source spec instead of ``photos`` (``"procedural"``, ``"bundled"``, a
            folder, or a mix; :class:`~blurmap.synth.sources.SceneSource`): scene ``i`` is the
            source's scene ``i``; procedural scenes bring their own depth.
        scene_options: PSF, focus and camera options (:func:`dp_scene_config`).
    Items (dict):
        ``blur``: combined DP view (the mean of ``left`` and ``right``), ``sharp``: all-in-focus
        crop, ``left`` / ``right``: DP views — each ``(3, size, size)`` float32 sRGB in [0, 1];
        ``coc``: ``(1, size, size)`` float32 signed CoC radius in px (positive behind the focal
        plane); ``name``: ``"synthetic_{i:05d}"``.

    Raises:
        ConfigError: unknown ``scene`` or key, ``cache`` without ``fixed``, non-positive sizes.
    """

    def __init__(self, photos: Sequence[np.ndarray] | None, count: int, size: int, max_coc: float, *, seed: int = 0,
                 fixed: bool = True, cache: bool = False, scene: str = "random", repeats: int = 1,
                 keys: Sequence[str] | None = None, zoom: float = 1.0, source: str | None = None,
                 scene_options: dict | None = None):
        if scene not in SCENES:
            raise ConfigError(f"synthetic scene must be random, plane or mixed, got {scene!r}")
        keys = tuple(KEYS if keys is None else keys)
        bad = [k for k in keys if k not in KEYS]
        if bad or not keys:
            raise ConfigError(f"synthetic DP keys must be a non-empty subset of {', '.join(KEYS)}, got {list(keys)}")
        if not float(zoom) >= 1.0:
            raise ConfigError(f"synthetic DP zoom must be >= 1, got {zoom}")
        if cache and not fixed:
            raise ConfigError("synthetic DP: cache=True needs fixed=True (fresh scenes change every draw)")
        if int(count) <= 0 or int(size) <= 0 or int(repeats) <= 0 or not (photos or source):
            raise ConfigError(f"synthetic DP needs photos or a source and positive count/size/repeats, got "
                              f"{len(photos or ())} photos, count={count}, size={size}, repeats={repeats}")
        from blurmap.synth.sources import SceneSource

        self.photos, self.count, self.size = list(photos or ()), int(count), int(size)
        self.dp_config, procedural = dp_scene_config(max_coc, scene_options)
        try:
            self.source = None if source is None else SceneSource(source, procedural, flag="synthetic_source")
        except BlurmapError as ex:
            raise ConfigError(str(ex)) from None
        self.max_coc, self.seed, self.fixed, self.cache = float(max_coc), int(seed), bool(fixed), bool(cache)
        self.scene, self.repeats, self.keys, self.zoom = scene, int(repeats), keys, float(zoom)
        self._cache: dict[int, dict] = {}

    def __len__(self) -> int:
        return self.count * self.repeats

    def scene_of(self, i: int) -> str:
        """Scene type of sample ``i`` (``"random"`` or ``"plane"``)."""
        return "plane" if self.scene == "plane" or (self.scene == "mixed" and i % 2 == 1) else "random"

    def render(self, i: int) -> dict:
        """Render scene ``i`` (``0 <= i < count``) with all :data:`KEYS`; no cache."""
        from blurmap.synth.dp import DPConfig, make_dp_sample

        rng = np.random.default_rng([self.seed, i]) if self.fixed else np.random.default_rng(np.random.randint(2**31))
        depth = None
        if self.source is None:
            photo = self._zoom_window(self.photos[i % len(self.photos)], rng)
        else:
            scene = self.source.draw(i, rng, (self.size, self.size))
            depth = scene["inverse_depth"]
            photo = scene["image"] if depth is not None else self._zoom_window(scene["image"], rng)
        default = self.source is None and self.dp_config == DPConfig(max_coc=self.max_coc)
        if self.scene_of(i) == "random":
            s = make_dp_sample(photo, rng, (self.size, self.size), self.dp_config, depth,
                               "procedural" if depth is not None else None)
            s = {k: array_to_chw(s[k]) for k in ("aif", "left", "right", "combined", "coc")}
        else:
            s = render_plane_scene(photo, self.size, self.max_coc, rng, None if default else self.dp_config)
        out = {"blur": s["combined"], "sharp": s["aif"], "left": s["left"], "right": s["right"], "coc": s["coc"],
               "name": f"synthetic_{i:05d}"}
        return {k: out[k] for k in self.keys}

    def _zoom_window(self, photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A random square window of side ``size * z`` of ``photo`` (see ``zoom``); no draw at zoom 1."""
        h, w = photo.shape[:2]
        z_max = min(self.zoom, min(h, w) / self.size)
        if z_max <= 1.0:
            return photo
        side = int(round(self.size * float(np.exp(rng.uniform(0.0, np.log(z_max))))))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        return photo[y:y + side, x:x + side]

    def __getitem__(self, i: int) -> dict:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {n} samples")
        i = (i % n) % self.count
        if not self.cache:
            return self.render(i)
        if i not in self._cache:
            self._cache[i] = self.render(i)
        return dict(self._cache[i])

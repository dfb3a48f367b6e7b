"""Local blur synthesis (LODE §4.1, "LBS"): moving objects over a sharp background.

Per sample: one background image; static distractor objects pasted at fixed positions (they
are in both the blurred and the sharp image, so a model cannot learn "object = blurred"); two
moving objects, each scaled by 1.2 (LODE: VOC objects are small next to REDS frames), moved
along random trajectories of odd length 7..13 (:mod:`blurmap.physics.motion`) and averaged in
linear light. Outputs: ``blur``, ``sharp`` (middle frame) and ``mask`` (union of the moving
objects' footprints, binary).

Choices where the paper is vague (recorded in the manifest too):

- Object size: x1.2 as in the paper, but capped so the object's longer side is at most
  ``max_object_frac`` (0.5) of the canvas's shorter side -- with small training crops a VOC
  object x1.2 could cover the whole crop, and the blur would no longer be *local*.
- Distractors: 0 to 2 per image (``num_static``), same bank, same size rule.
- Positions: uniform over the canvas (the object centre in the middle frame); initial
  rotation uniform in +-15 degrees; random horizontal flip of every cut-out.
- Canvas: with ``size`` set, a random crop of the background (upscaled first if smaller);
  without it, the whole background.

Two entry points: :class:`LocalBlurDataset` (on the fly, for training) and
:func:`generate_local` (writes ``blur/``, ``sharp/``, ``mask/`` + ``manifest.json``).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from blurmap.data.cutout import Cutout
from blurmap.errors import BlurmapError
from blurmap.io import write_image
from blurmap.physics.crf import CRF
from blurmap.physics.motion import MotionRanges, MovingObject, synthesize_local_blur
from blurmap.synth._output import staged_output, write_manifest
from blurmap.synth.camera import CameraConfig, add_noise, jpeg_round_trip, vignette_gain
from blurmap.synth.sources import SceneSource, object_bank

__all__ = ["LocalBlurConfig", "make_local_sample", "LocalBlurDataset", "generate_local", "local_config",
           "LOCAL_OPTIONS"]


@dataclass
class LocalBlurConfig:
    """Parameters of the LBS generator (defaults = LODE where it says, documented otherwise).

    Attributes:
        num_moving: moving objects per image (LODE: 2), or an inclusive range ``(lo, hi)`` drawn
            per sample. ``lo = 0`` gives samples with no moving object (an all-zero mask): hard
            negatives that teach a blur-mask net that a smooth region is not by itself blurred.
        num_static: inclusive range of static distractors per image.
        object_scale: rescale of every cut-out (LODE: 1.2).
        max_object_frac: cap of an object's longer side relative to the canvas's shorter side.
        max_initial_angle: initial rotation range, degrees.
        gamma: CRF power law (LODE: 2.2), used when ``camera`` is the identity.
        min_object_area: VOC instances smaller than this (px, before scaling) are not used.
        motion: trajectory ranges (:class:`~blurmap.physics.motion.MotionRanges`).
        defocus_prob: probability that the background is rendered out of focus first (a
            layered or tilted depth, peak ``|CoC|`` uniform in ``[0.2, 1] * defocus_max_coc``,
            the DP renderer's combined view), in both outputs. The mask stays the moving
            objects' footprint: a blur mask marks *motion* blur, and an out-of-focus background
            is left to the defocus tools (and passes the gate of ``blurmap deblur --gate``).
        defocus_max_coc: the largest |CoC| of a defocused background, px.
        camera: :class:`~blurmap.synth.camera.CameraConfig`. Its effects are applied to both
            outputs in the same way (one noise field, one vignetting), so the two stay
            bit-identical outside the mask, except with JPEG: its blocks that straddle the mask
            differ between the two.
    """

    num_moving: int | tuple[int, int] = 2
    num_static: tuple[int, int] = (0, 2)
    object_scale: float = 1.2
    max_object_frac: float = 0.5
    max_initial_angle: float = 15.0
    gamma: float = 2.2
    min_object_area: int = 2000
    motion: MotionRanges = field(default_factory=MotionRanges)
    #: camera effects (tone curve, noise, vignetting, JPEG), applied alike to ``blur`` and ``sharp``
    camera: CameraConfig = field(default_factory=CameraConfig)
    #: probability that the background is out of focus (defocus is not motion blur: mask 0 there)
    defocus_prob: float = 0.0
    #: largest |CoC| (px) of a defocused background
    defocus_max_coc: float = 12.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["motion"] = self.motion.to_dict()
        d["camera"] = self.camera.to_dict()
        return d


#: keys of a recipe's ``lbs_options`` (see :func:`local_config`)
LOCAL_OPTIONS = ("num_moving", "num_static", "object_scale", "max_object_frac", "max_initial_angle", "defocus_prob",
                 "defocus_max_coc", "extent",
                 "rotation", "scale", "turn", "tone_curves", "noise", "read_noise", "vignetting", "jpeg_prob",
                 "jpeg_quality", "procedural")


def local_config(base: LocalBlurConfig, options: dict | None = None):
    """``base`` with a recipe's ``lbs_options`` applied, and the procedural config they ask for.

    Keys (all optional): the :class:`LocalBlurConfig` fields ``num_moving``, ``num_static``,
    ``object_scale``, ``max_object_frac``, ``max_initial_angle``, ``defocus_prob``,
    ``defocus_max_coc``; the total motion ranges of
    :class:`~blurmap.physics.motion.MotionRanges` (``extent`` px, ``rotation`` degrees,
    ``scale``, ``turn``); the :class:`~blurmap.synth.camera.CameraConfig` fields; and
    ``procedural`` (:class:`~blurmap.synth.procedural.ProceduralConfig` fields of procedural
    backgrounds).

    Returns:
        ``(LocalBlurConfig, ProceduralConfig or None)``.
    Raises:
        ConfigError: an unknown key or a bad value.
    """
    from dataclasses import replace

    from blurmap.errors import ConfigError
    from blurmap.synth.procedural import ProceduralConfig

    opts = dict(options or {})
    bad = sorted(set(opts) - set(LOCAL_OPTIONS))
    if bad:
        raise ConfigError(f"lbs_options: unknown key {bad[0]!r}; known: {', '.join(LOCAL_OPTIONS)}")
    def tup(v):
        return tuple(v) if isinstance(v, (list, tuple)) else v

    try:
        motion = replace(base.motion, **{k: tup(opts[k]) for k in ("extent", "rotation", "scale", "turn") if k in opts})
        camera = CameraConfig(**{k: tup(opts[k]) for k in ("tone_curves", "noise", "read_noise", "vignetting",
                                                            "jpeg_prob", "jpeg_quality") if k in opts})
        fields_ = {k: tup(opts[k]) for k in ("num_moving", "num_static", "object_scale", "max_object_frac",
                                              "max_initial_angle", "defocus_prob", "defocus_max_coc") if k in opts}
        cfg = replace(base, motion=motion, camera=camera, **fields_)
        n = cfg.num_moving
        if not (isinstance(n, int) and n >= 0 or isinstance(n, tuple) and len(n) == 2
                and all(isinstance(v, int) for v in n) and 0 <= n[0] <= n[1]):
            raise ValueError(f"num_moving: expected a count >= 0 or a range [lo, hi] with 0 <= lo <= hi, got {n!r}")
        proc = opts.get("procedural")
        procedural = None if proc is None else ProceduralConfig(**{k: tup(v) for k, v in dict(proc).items()})
    except (TypeError, ValueError, BlurmapError) as ex:
        raise ConfigError(f"lbs_options: {ex}") from None
    return cfg, procedural


def _as_hw(size) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    h, w = size
    return int(h), int(w)


def _crop_background(img: np.ndarray, size: tuple[int, int] | None, rng: np.random.Generator) -> np.ndarray:
    if size is None:
        return img
    H, W = size
    h, w = img.shape[:2]
    f = max(H / h, W / w)
    if f > 1:  # upscale so a crop fits
        img = cv2.resize(img, (max(W, round(w * f)), max(H, round(h * f))), interpolation=cv2.INTER_LINEAR)
        h, w = img.shape[:2]
    y = int(rng.integers(0, h - H + 1))
    x = int(rng.integers(0, w - W + 1))
    return img[y : y + H, x : x + W]


def _prepare(cut: Cutout, canvas: tuple[int, int], cfg: LocalBlurConfig, rng: np.random.Generator):
    """Scale (x1.2, capped) and randomly flip a cut-out; returns (rgb, alpha) numpy."""
    h, w = cut.size
    s = min(cfg.object_scale, cfg.max_object_frac * min(canvas) / max(h, w))
    nh, nw = max(2, round(h * s)), max(2, round(w * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    rgb = cv2.resize(np.asarray(cut.rgb), (nw, nh), interpolation=interp)
    alpha = np.clip(cv2.resize(np.asarray(cut.alpha), (nw, nh), interpolation=interp), 0.0, 1.0)
    if rng.random() < 0.5:
        rgb, alpha = rgb[:, ::-1], alpha[:, ::-1]
    return np.ascontiguousarray(rgb), np.ascontiguousarray(alpha)


def _paste_static(bg: torch.Tensor, rgb: np.ndarray, alpha: np.ndarray, x: int, y: int, crf: CRF) -> None:
    """Alpha-composite a cut-out into ``bg`` (3, H, W) in place, in linear light, top-left (x, y)."""
    H, W = bg.shape[-2:]
    h, w = alpha.shape
    y0, y1, x0, x1 = max(y, 0), min(y + h, H), max(x, 0), min(x + w, W)
    if y0 >= y1 or x0 >= x1:
        return
    o_rgb = torch.from_numpy(rgb[y0 - y : y1 - y, x0 - x : x1 - x]).permute(2, 0, 1)[None]
    o_a = torch.from_numpy(alpha[y0 - y : y1 - y, x0 - x : x1 - x])[None, None]
    region = bg[:, y0:y1, x0:x1][None]
    lin = crf.to_linear(o_rgb) * o_a + crf.to_linear(region) * (1 - o_a)
    bg[:, y0:y1, x0:x1] = torch.where(o_a[0] > 0, crf.to_encoded(lin)[0], bg[:, y0:y1, x0:x1])


def _defocus(img: np.ndarray, rng: np.random.Generator, max_coc: float, crf: CRF) -> np.ndarray:
    """The background out of focus: random layered / tilted depth, the DP combined view."""
    from blurmap.physics.defocus import render_dual_pixel
    from blurmap.synth.dp import coc_from_inverse_depth, random_inverse_depth

    u = random_inverse_depth(rng, img, "ramp" if rng.random() < 0.3 else "layers")
    coc, _ = coc_from_inverse_depth(rng, u, max_coc, 0.2, nothing_in_focus=0.5)
    with torch.no_grad():
        _, _, combined = render_dual_pixel(torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None],
                                           torch.from_numpy(coc)[None, None], max_radius=max_coc, crf=crf)
    return np.ascontiguousarray(combined[0].permute(1, 2, 0).numpy(), dtype=np.float32)


def make_local_sample(
    background: np.ndarray,
    bank,
    rng: np.random.Generator,
    size: tuple[int, int] | int | None = None,
    config: LocalBlurConfig | None = None,
) -> dict:
    """One LBS sample.

    Args:
        background: ``(H, W, 3)`` float32 sRGB in ``[0, 1]``.
        bank: object bank with ``random_cutout(rng) -> Cutout`` (bundled or VOC).
        rng: numpy generator (the only source of randomness).
        size: canvas ``(H, W)`` (random crop) or None for the whole background.
        config: generator parameters.
    Returns:
        dict with ``blur``, ``sharp`` ``(3, H, W)``, ``mask`` ``(1, H, W)`` float32 tensors and
        ``info`` (object names, positions, trajectory length) for the manifest.
    """
    cfg = config or LocalBlurConfig()
    cam = cfg.camera.draw(rng)
    crf = CRF(gamma=cfg.gamma) if cfg.camera.is_identity else cam.crf
    img = _crop_background(np.asarray(background, dtype=np.float32), _as_hw(size), rng)
    defocused = cfg.defocus_prob > 0 and rng.random() < cfg.defocus_prob
    if defocused:
        img = _defocus(img, rng, cfg.defocus_max_coc, crf)
    H, W = img.shape[:2]
    bg = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).clone()
    info = {"static": [], "moving": [], "defocused_background": bool(defocused)}
    for _ in range(int(rng.integers(cfg.num_static[0], cfg.num_static[1] + 1))):
        cut = bank.random_cutout(rng)
        rgb, alpha = _prepare(cut, (H, W), cfg, rng)
        x = int(rng.integers(-alpha.shape[1] // 4, W - 3 * alpha.shape[1] // 4 + 1))
        y = int(rng.integers(-alpha.shape[0] // 4, H - 3 * alpha.shape[0] // 4 + 1))
        _paste_static(bg, rgb, alpha, x, y, crf)
        info["static"].append({"object": cut.name, "x": x, "y": y})
    movers = []
    num_moving = cfg.num_moving
    if not isinstance(num_moving, int):  # a range; an int draws nothing, so its scenes stay as they were
        num_moving = int(rng.integers(num_moving[0], num_moving[1] + 1))
    for _ in range(num_moving):
        cut = bank.random_cutout(rng)
        rgb, alpha = _prepare(cut, (H, W), cfg, rng)
        pos = (float(rng.uniform(0, W - 1)), float(rng.uniform(0, H - 1)))
        angle = float(rng.uniform(-cfg.max_initial_angle, cfg.max_initial_angle))
        movers.append(
            MovingObject(
                torch.from_numpy(rgb.transpose(2, 0, 1).copy()), torch.from_numpy(alpha[None].copy()), pos, angle
            )
        )
        info["moving"].append({"object": cut.name, "x": round(pos[0], 2), "y": round(pos[1], 2), "angle": round(angle, 2)})
    res = synthesize_local_blur(bg, movers, rng, cfg.motion, crf)
    info["num_frames"] = res.num_frames
    blur, sharp = res.blur, res.sharp
    if not cfg.camera.is_identity:
        blur, sharp = _camera(blur, sharp, cam, rng)
        info["camera"] = cam.info()
    return {"blur": blur, "sharp": sharp, "mask": res.mask, "info": info}


def _camera(blur: torch.Tensor, sharp: torch.Tensor, cam, rng: np.random.Generator):
    """The same vignetting and noise field (linear light), then JPEG, on both images."""
    if cam.vignetting or cam.noise:
        gain = vignette_gain(*blur.shape[-2:], cam.vignetting) if cam.vignetting else None
        z = np.random.default_rng(int(rng.integers(2**62)))  # one stream -> one field for both
        state = z.bit_generator.state
        pair = []
        for img in (blur, sharp):
            lin = cam.crf.to_linear(img[None])[0]
            if gain is not None:
                lin = lin * gain
            if cam.noise:
                z.bit_generator.state = state
                lin = add_noise(lin, cam.noise, z)
            pair.append(cam.crf.to_encoded(lin.clamp(0, 1)[None])[0])
        blur, sharp = pair
    if cam.jpeg_quality is not None:
        blur, sharp = jpeg_round_trip(blur, cam.jpeg_quality), jpeg_round_trip(sharp, cam.jpeg_quality)
    return blur, sharp


class LocalBlurDataset(Dataset):
    """On-the-fly LBS samples for training (deterministic per ``(seed, index)``).

    Args:
        size: canvas ``(H, W)`` or an int for square crops.
        length: number of samples an epoch has.
        seed: base seed; sample ``i`` uses ``numpy.random.default_rng([seed, i])``.
        backgrounds: a scene source spec (:mod:`blurmap.synth.sources`): ``"bundled"``,
            ``"procedural"``, a folder of background images (e.g. REDS sharp frames), or a mix.
        objects: an object source spec: ``"bundled"``, ``"procedural"``, a PASCAL VOC 2012 root,
            or a mix.
        config: :class:`LocalBlurConfig`.
        procedural: :class:`~blurmap.synth.procedural.ProceduralConfig` of procedural backgrounds.
        sizes: optional list of canvases (ints or ``(H, W)``); sample ``i`` then takes one of
            them, drawn from its own seed, so a run sees small and full-image scenes. Samples of
            different sizes cannot share a batch: train such a set at batch size 1.
    Yields:
        dicts ``{"blur": (3, H, W), "sharp": (3, H, W), "mask": (1, H, W)}`` float32 in [0, 1].
    """

    def __init__(
        self,
        size: tuple[int, int] | int = 256,
        length: int = 1000,
        seed: int = 0,
        backgrounds: str | os.PathLike = "bundled",
        objects: str | os.PathLike = "bundled",
        config: LocalBlurConfig | None = None,
        procedural=None,
        sizes=None,
    ):
        self.size = _as_hw(size)
        self.sizes = [_as_hw(v) for v in sizes] if sizes else None
        if self.sizes is not None and any(h < 16 or w < 16 for h, w in self.sizes):
            raise ValueError(f"each canvas of sizes needs at least 16x16 px, got {sizes}")
        self.length = int(length)
        self.seed = int(seed)
        self.config = config or LocalBlurConfig()
        self.backgrounds = SceneSource(backgrounds, procedural, flag="--backgrounds")
        self.objects = object_bank(objects, self.config.min_object_area)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, int(index)])
        size = self.size
        if self.sizes is not None:
            # its own stream, so the scene drawn for a given size is the same as without ``sizes``
            pick = np.random.default_rng([self.seed, int(index), 0x512E]).integers(len(self.sizes))
            size = self.sizes[int(pick)]
        bg = self.backgrounds.draw_random(rng, size)["image"]
        s = make_local_sample(bg, self.objects, rng, size, self.config)
        return {"blur": s["blur"], "sharp": s["sharp"], "mask": s["mask"]}


def generate_local(
    backgrounds: str | os.PathLike,
    objects: str | os.PathLike,
    out: str | os.PathLike,
    count: int,
    *,
    seed: int = 0,
    size: tuple[int, int] | None = None,
    bits: int = 8,
    overwrite: bool = False,
    config: LocalBlurConfig | None = None,
    procedural=None,
) -> Path:
    """Write an LBS dataset: ``OUT/{blur,sharp,mask}/NNNNNN.png`` + ``OUT/manifest.json``.

    This is the "paired folders" layout (:mod:`blurmap.data.paired`). ``mask`` PNGs are 8-bit greyscale, 255
    on the moving objects' footprints. Background ``i`` is scene ``i`` of the source (with one
    photo source, ``i mod len(backgrounds)``); all other randomness comes from
    ``default_rng([seed, i])``, so the same seed gives the same files.

    Args:
        backgrounds: a scene source spec (``"bundled"``, ``"procedural"``, a folder, a mix).
        objects: an object source spec (``"bundled"``, ``"procedural"``, a VOC root, a mix).
        out: output folder (must not exist or be empty, unless ``overwrite``).
        count: number of samples (>= 1).
        seed: base seed.
        size: ``(H, W)`` random crop; None keeps each background's size.
        bits: 8 or 16 for ``blur``/``sharp``.
        overwrite: replace a non-empty ``out``.
        config: generator parameters.
        procedural: :class:`~blurmap.synth.procedural.ProceduralConfig` of procedural backgrounds.
    Returns:
        The output folder. Nothing is left behind on error.
    """
    if count < 1:
        raise BlurmapError(f"--count must be >= 1, got {count}")
    if bits not in (8, 16):
        raise BlurmapError(f"--bits must be 8 or 16, got {bits}")
    cfg = config or LocalBlurConfig()
    src = SceneSource(backgrounds, procedural, flag="--backgrounds")
    bank = object_bank(objects, cfg.min_object_area)
    out = Path(out)
    with staged_output(out, overwrite) as tmp:
        for sub in ("blur", "sharp", "mask"):
            (tmp / sub).mkdir()
        samples = []
        width = max(6, len(str(count - 1)))
        for i in range(count):
            rng = np.random.default_rng([seed, i])
            scene = src.draw(i, rng, size)
            s = make_local_sample(scene["image"], bank, rng, size, cfg)
            name = f"{i:0{width}d}.png"
            write_image(tmp / "blur" / name, s["blur"].permute(1, 2, 0).numpy(), bits=bits)
            write_image(tmp / "sharp" / name, s["sharp"].permute(1, 2, 0).numpy(), bits=bits)
            write_image(tmp / "mask" / name, s["mask"][0].numpy(), bits=8)
            samples.append({"file": name, "background": scene["name"], **s["info"]})
        write_manifest(
            tmp,
            {
                "generator": "blurmap synth local",
                "layout": "paired folders: blur/, sharp/, mask/ (same file names)",
                "seed": seed,
                "count": count,
                "size_hw": list(size) if size else None,
                "bits": bits,
                "backgrounds": str(backgrounds),
                "objects": str(objects),
                "config": cfg.to_dict(),
                "samples": samples,
            },
        )
    return out

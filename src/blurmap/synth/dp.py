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
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage.segmentation import felzenszwalb

from blurmap.errors import BlurmapError
from blurmap.io import write_image
from blurmap.synth._output import staged_output, write_manifest
from blurmap.synth.bundled import bundled_disparity
from blurmap.synth.camera import CameraConfig, jpeg_round_trip, vignette_gain
from blurmap.synth.sources import BUNDLED, SceneSource

__all__ = ["DPConfig", "random_inverse_depth", "coc_from_inverse_depth", "make_dp_sample", "split_counts", "generate_dp"]

SPLITS = ("train", "val", "test")
DPDD_SPLIT = (350, 74, 76)  # DPDD's train / val / test sizes


@dataclass
class DPConfig:
    """Parameters of the DP generator.

    Attributes:
        max_coc: largest |CoC| in px (default 25, DPDD's range at 1680x1120; scale it with the
            image size to imitate downscaled frames).
        min_coc_frac: the sample's peak |CoC| is uniform in ``[min_coc_frac, 1] * max_coc``.
        num_layers: out-of-focus CoC layers of the renderer; None = the renderer's default
            (layer spacing <= 1.5 px over the map's range).
        ramp_prob: probability of a ``ramp`` scene (else ``layers``) for photos without depth.
        gamma: CRF power law (used when ``camera`` is the identity).
        psf: the DP PSF: None = eq. 3, a :class:`~blurmap.physics.psf.PSFSpec`, a
            :class:`~blurmap.physics.psf.PSFTable`, or ``"random"`` (a new
            :func:`~blurmap.physics.psf.random_psf_spec` per sample).
        eq3_share: with ``psf="random"``, the share of samples rendered with the eq. 3 kernel
            instead of a random family (mixing both keeps a net trained on varied PSFs good at
            the common one).
        nothing_in_focus: probability that the focal plane lies outside the scene's depth range
            (every pixel has ``|CoC| >= 0.5`` px).
        all_in_focus: probability that the whole scene is in focus (``|CoC| < 0.5`` px).
        camera: :class:`~blurmap.synth.camera.CameraConfig` (tone curve, noise, vignetting, and
            JPEG of the combined view); the identity by default.
    """

    max_coc: float = 25.0
    min_coc_frac: float = 0.4
    num_layers: int | None = None
    ramp_prob: float = 0.3
    gamma: float = 2.2
    psf: object = None
    eq3_share: float = 0.0
    nothing_in_focus: float = 0.0
    all_in_focus: float = 0.0
    camera: CameraConfig = field(default_factory=CameraConfig)

    def __post_init__(self):
        if not self.max_coc > 0:
            raise BlurmapError(f"max_coc must be > 0, got {self.max_coc}")
        if not 0 <= self.min_coc_frac <= 1:
            raise BlurmapError(f"min_coc_frac must be in [0, 1], got {self.min_coc_frac}")
        if not 0 <= self.eq3_share <= 1:
            raise BlurmapError(f"eq3_share must be in [0, 1], got {self.eq3_share}")
        p, q = self.nothing_in_focus, self.all_in_focus
        if not (0 <= p <= 1 and 0 <= q <= 1 and p + q <= 1):
            raise BlurmapError(f"nothing_in_focus and all_in_focus must be probabilities summing to <= 1, got {p}, {q}")

    def to_dict(self) -> dict:
        d = {f: getattr(self, f) for f in ("max_coc", "min_coc_frac", "num_layers", "ramp_prob", "gamma",
                                           "nothing_in_focus", "all_in_focus")}
        d["psf"] = psf_label(self.psf)
        if self.eq3_share:
            d["eq3_share"] = self.eq3_share
        d["camera"] = self.camera.to_dict()
        return d

    def draw_psf(self, rng: np.random.Generator):
        """The PSF of one sample: ``psf`` itself, or a draw when it is ``"random"`` (None = eq. 3)."""
        from blurmap.physics.psf import random_psf_spec

        if not (isinstance(self.psf, str) and self.psf == "random"):
            return self.psf
        # the share is drawn only when set, so recipes without it render the scenes they always did
        if self.eq3_share and rng.random() < self.eq3_share:
            return None
        return random_psf_spec(rng)


def psf_label(psf) -> str:
    """Text naming a DPConfig ``psf`` value (for manifests)."""
    if psf is None:
        return "butterworth"
    return psf if isinstance(psf, str) else psf.label()


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
    rng: np.random.Generator, u: np.ndarray, max_coc: float, min_frac: float = 0.4, *,
    nothing_in_focus: float = 0.0, all_in_focus: float = 0.0,
) -> tuple[np.ndarray, dict]:
    """Signed CoC map ``K * (u_focus - u)``.

    The focal plane is the inverse depth of a random pixel (part of the scene is sharp), or,
    with probability ``nothing_in_focus``, beyond the scene's depth range on a random side
    (nothing is in focus: ``|CoC| >= 0.5`` px everywhere), or, with probability
    ``all_in_focus``, the scene is entirely in focus (peak ``|CoC| < 0.5`` px). When both
    probabilities are 0 no draw decides the mode, so the generator stream is as without them.

    Args:
        rng: numpy generator.
        u: ``(H, W)`` inverse depth (larger = nearer).
        max_coc: upper bound of ``|CoC|`` (px).
        min_frac: the peak ``|CoC|`` is uniform in ``[min_frac, 1] * max_coc``.
        nothing_in_focus, all_in_focus: probabilities of the two other focus modes.
    Returns:
        ``(coc (H, W) float32 px, info dict with the focus mode, focus and K)``; positive behind
        focus.
    """
    flat = u.ravel()
    mode = "pixel"
    if nothing_in_focus > 0 or all_in_focus > 0:
        x = rng.random()
        mode = "nothing" if x < nothing_in_focus else ("all" if x < nothing_in_focus + all_in_focus else "pixel")
    lo, hi = float(flat.min()), float(flat.max())
    if mode == "nothing":
        d = rng.uniform(0.15, 0.6) * max(hi - lo, 1e-3)
        u_f = hi + d if rng.random() < 0.5 else lo - d
    else:
        u_f = float(flat[int(rng.integers(flat.size))])
    spread = float(np.abs(u_f - flat).max())
    peak = rng.uniform(0.0, 0.45) if mode == "all" else rng.uniform(min_frac, 1.0) * max_coc
    k = peak / spread if spread > 1e-8 else 0.0
    coc = np.clip(k * (u_f - u), -max_coc, max_coc).astype(np.float32)
    if mode == "nothing":  # keep every pixel out of focus (|CoC| >= 0.5 px) whatever the draws
        near = np.abs(coc).min()
        if near < 0.5:
            coc = np.clip(coc * (0.5 / max(near, 1e-6)), -max_coc, max_coc).astype(np.float32)
            coc = np.where(np.abs(coc) < 0.5, np.sign(u_f - u) * 0.5, coc).astype(np.float32)
    info = {"focus": mode, "focus_inverse_depth": round(u_f, 6), "gain": round(k, 6),
            "peak_coc": round(float(np.abs(coc).max()), 4)}
    if mode == "pixel" and not (nothing_in_focus > 0 or all_in_focus > 0):
        del info["focus"]  # the manifest of a default run stays as it was
    return coc, info


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
    scene: str | None = None,
) -> dict:
    """One DP sample: AiF, CoC map and the rendered views.

    Args:
        image: ``(H, W, 3)`` float32 AiF photo in ``[0, 1]``.
        rng: numpy generator (the only source of randomness).
        size: output ``(H, W)`` (resize to cover + random crop), None keeps the photo's size.
        config: generator parameters.
        disparity: optional ``(H, W)`` inverse depth of the photo (its real disparity, or a
            procedural scene's depth), used instead of a random scene depth.
        scene: the scene kind recorded in ``info`` when ``disparity`` is given (default
            ``"disparity"``).
    Returns:
        dict of float32 numpy arrays ``aif``, ``left``, ``right``, ``combined`` ``(H, W, 3)``,
        ``coc`` ``(H, W)`` signed px, and ``info`` (scene kind, focus, gain, PSF, camera).
    """
    from blurmap.physics.defocus import render_dual_pixel

    cfg = config or DPConfig()
    aif, disp = _fit(np.asarray(image, dtype=np.float32), size, rng, disparity)
    if disp is not None:
        kind, u = scene or "disparity", disp.astype(np.float32)
    else:
        kind = "ramp" if rng.random() < cfg.ramp_prob else "layers"
        u = random_inverse_depth(rng, aif, kind)
    coc, info = coc_from_inverse_depth(rng, u, cfg.max_coc, cfg.min_coc_frac,
                                       nothing_in_focus=cfg.nothing_in_focus, all_in_focus=cfg.all_in_focus)
    psf = cfg.draw_psf(rng)
    cam = cfg.camera.draw(rng)
    identity = cfg.camera.is_identity
    with torch.no_grad():
        a = torch.from_numpy(aif.transpose(2, 0, 1).copy())[None]
        if cam.vignetting:  # lens fall-off applies to everything the lens images, the AiF too
            a = cam.crf.to_encoded(cam.crf.to_linear(a) * vignette_gain(*a.shape[-2:], cam.vignetting))
            aif = np.ascontiguousarray(a[0].permute(1, 2, 0).numpy(), dtype=np.float32)
        c = torch.from_numpy(coc)[None, None]
        gen = torch.Generator().manual_seed(int(rng.integers(2**62))) if cam.noise else None
        left, right, combined = render_dual_pixel(
            a, c, num_layers=cfg.num_layers, gamma=cfg.gamma, max_radius=cfg.max_coc, psf=psf,
            crf=None if identity else cam.crf, noise=cam.noise, generator=gen,
        )
        if cam.jpeg_quality is not None:
            combined = jpeg_round_trip(combined[0], cam.jpeg_quality)[None]

    def img(t: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(t[0].clamp(0, 1).permute(1, 2, 0).numpy(), dtype=np.float32)

    info = {"scene": kind, **info}
    if psf is not None:
        info["psf"] = psf.to_dict() if hasattr(psf, "to_dict") else psf.label()
    if not identity:
        info["camera"] = cam.info()
    return {
        "aif": aif,
        "left": img(left),
        "right": img(right),
        "combined": img(combined),
        "coc": coc,
        "info": info,
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
    procedural=None,
) -> Path:
    """Write a synthetic DP dataset in the DPDD layout, plus ground-truth CoC maps.

    Layout (16-bit sRGB PNG; pairs ``source``/``target`` by sorted order like DPDD)::

        OUT/{train,val,test}_c/source/1P0A0000.png    combined view (the blurred input)
        OUT/{train,val,test}_c/target/1P0A0001.png    all-in-focus (next frame number)
        OUT/{train,val,test}_l/source/1P0A0000_L.png  left DP view
        OUT/{train,val,test}_r/source/1P0A0000_R.png  right DP view
        OUT/{train,val,test}_c/coc/1P0A0000.npy       float32 (H, W) signed CoC, px
        OUT/manifest.json                             parameters, seed, per-sample scene info

    Sample ``i`` is scene ``i`` of the source (:class:`~blurmap.synth.sources.SceneSource`:
    with one photo source, photo ``i mod len(images)``) and uses ``default_rng([seed, i])``;
    samples ``0..n_train-1`` go to train, then val, then test (:func:`split_counts`). The
    bundled ``motorcycle_left`` photo uses its real disparity; procedural scenes use their own
    depth (stacking order, slanted surfaces, smooth depth fields).

    Args:
        images: a source spec: ``"bundled"``, ``"procedural"``, a folder of all-in-focus photos,
            or a comma-separated mix.
        out: output folder (must not exist or be empty, unless ``overwrite``).
        count: number of samples (>= 1).
        seed: base seed.
        size: ``(H, W)``; None keeps each photo's size (procedural scenes: 1120 x 1680, DPDD's).
        max_coc: largest |CoC| (px).
        overwrite: replace a non-empty ``out``.
        config: generator parameters (``max_coc`` overrides ``config.max_coc``).
        procedural: :class:`~blurmap.synth.procedural.ProceduralConfig` of procedural scenes.
    Returns:
        The output folder. Nothing is left behind on error.
    """
    if count < 1:
        raise BlurmapError(f"--count must be >= 1, got {count}")
    if not max_coc > 0:
        raise BlurmapError(f"--max-coc must be > 0, got {max_coc}")
    cfg = config or DPConfig()
    cfg = replace(cfg, max_coc=float(max_coc))
    src = SceneSource(images, procedural)
    disparity = bundled_disparity()[1] if BUNDLED in src.parts else None
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
            scene = src.draw(i, rng, size)
            depth, kind = scene["inverse_depth"], ("procedural" if scene["inverse_depth"] is not None else None)
            if depth is None and scene["part"] == BUNDLED and scene["name"] == "motorcycle_left":
                depth = disparity
            s = make_dp_sample(scene["image"], rng, size, cfg, depth, kind)
            split = split_of[i]
            stem = f"1P0A{2 * i:0{width}d}"
            target = f"1P0A{2 * i + 1:0{width}d}"
            write_image(tmp / f"{split}_c/source/{stem}.png", s["combined"], bits=16)
            write_image(tmp / f"{split}_c/target/{target}.png", s["aif"], bits=16)
            write_image(tmp / f"{split}_l/source/{stem}_L.png", s["left"], bits=16)
            write_image(tmp / f"{split}_r/source/{stem}_R.png", s["right"], bits=16)
            np.save(tmp / f"{split}_c/coc/{stem}.npy", s["coc"])
            samples.append({"split": split, "source": stem, "target": target, "image": scene["name"], **s["info"]})
        manifest = {
            "generator": "blurmap synth dp",
            "layout": "DPDD (dd_dp_dataset_canon) + {split}_c/coc/<source stem>.npy float32 (H, W) signed CoC px",
            "seed": seed,
            "count": count,
            "splits": {"train": n_train, "val": n_val, "test": n_test},
            "size_hw": list(size) if size else None,
            "images": str(images),
            "config": cfg.to_dict(),
            "samples": samples,
        }
        if not src.photos_only:
            manifest["procedural"] = (procedural or _default_procedural()).to_dict()
        write_manifest(tmp, manifest)
    return out


def _default_procedural():
    from blurmap.synth.procedural import ProceduralConfig

    return ProceduralConfig()
